"""国密 (GM/T) algorithms behind one door: the only place govex touches the GM library.

Modules:

* ``sm2`` — SM2 signatures with SM3 (GB/T 32918.2, GM/T 0003.2; the default
  distinguishing identifier ``1234567812345678``) over raw ``r‖s``; SM2 keys as
  SubjectPublicKeyInfo / PKCS#8 DER; SM3 (GB/T 32905);
* ``csr`` — PKCS#10 certificate requests for SM2 keys, self-signed with SM2-with-SM3;
* ``x509`` — GM/T 0015 X.509 certificates (SM2 keys, SM2-with-SM3 signatures) built and
  checked with ``asn1crypto``, because ``cryptography`` refuses the SM2 curve;
* ``sm4`` — SM4 at rest: private keys as encrypted PKCS#8 (PBES2 with scrypt and SM4-CBC,
  GB/T 32907), which OpenSSL 3 reads.

The library is Tongsuo's ``tongsuopy`` (see ``docs/gm-crypto.md`` for the choice); no
module outside this package imports it (``tests/test_layers.py``).
"""
