"""Everything that touches keys and proofs; imports only :mod:`schemas`.

Modules (imported by name, e.g. ``from signing.canonical import canonical_json``):

* ``canonical`` — canonical JSON (RFC 8785, JCS) and a strict JSON parser;
* ``algorithms`` — Ed25519, ECDSA P-256 and SM2 over raw bytes; ``suites`` — an
  exchange's cryptographic suite (``ed25519``, ``sm2``): its keys' algorithm and its hash;
  ``jose`` — the JWS ``alg`` of each key, and the govex-scoped ``GOVEX-SM2-SM3``;
  ``keys`` — seal keys:
  generation, encrypted storage, PEM/JWK exchange, stable key ids; ``multibase`` —
  multibase strings and Multikey keys;
* ``purposes`` — key purposes (``auth``, ``seal``, ``cert``) and their extended key usages;
  ``csr`` — PKCS#10 requests for department keys and their certification;
* ``ca`` — the exchange's root CA and the certificates it issues to department keys;
* ``proofs`` — W3C VC Data Integrity proofs (JCS cryptosuites); ``pool`` — signer
  processes that sign many messages on every core (worker pools that end with the
  process that made them); ``status_list`` — W3C
  Bitstring Status List (revocation, suspension);
* ``merkle/`` — RFC 6962 / RFC 9162 Merkle trees: ``hashing`` (leaf and node hashes,
  roots), ``proving`` (inclusion and consistency proofs, built and checked), ``tree``
  (the append-only tree over a node store); ``seal`` — batch seals: one signature per
  batch over a Merkle root, one inclusion path per record; ``tiles`` — the tree as C2SP
  tlog-tiles and entry bundles;
* ``checkpoint`` — C2SP signed notes and checkpoints; ``cosignature`` — C2SP
  tlog-cosignature v1 (a witness's signature on a checkpoint);
* ``gm/`` — the 国密 algorithms behind one door (see ``signing/gm/__init__.py``);
* ``errors`` — the error tree (``SigningError`` and its stable ``signing.*`` codes).
"""
