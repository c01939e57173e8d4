"""SM4 at rest: SM2 keys as PBES2 (scrypt, SM4-CBC) encrypted PKCS#8, read back by govex and
by the OpenSSL 3 command line, OpenSSL's own such files read by govex, and keys written
before SM4 still loading."""

from __future__ import annotations

import base64
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from asn1crypto import core

from signing.algorithms import sign, verify
from signing.errors import KeyLoadError
from signing.gm.sm2 import SM2PrivateKey
from signing.gm.sm4 import (
    PBES2_OID,
    SCRYPT_OID,
    SM4_CBC_OID,
    _EncryptedPrivateKeyInfo,
    decrypt_pkcs8,
    encrypt_pkcs8,
    is_sm4_pkcs8,
)
from signing.keys import generate_key, load_private_key, save_private_key

OPENSSL = shutil.which("openssl")
PASS = b"\xe7\x9c\x81\xe6\x94\xbf\xe5\x8a\xa1 passphrase"  # "省政务 passphrase" in UTF-8
needs_openssl = pytest.mark.skipif(
    OPENSSL is None, reason="the openssl command line is not installed"
)


def _openssl(*args: str | Path) -> subprocess.CompletedProcess[bytes]:
    assert OPENSSL is not None
    return subprocess.run([OPENSSL, *map(str, args)], capture_output=True, check=False)


def _der(pem: bytes) -> bytes:
    body = pem.split(b"-----")[2]
    return base64.b64decode(b"".join(body.split()))


def _sm2(tmp_path: Path) -> tuple[SM2PrivateKey, Path]:
    key = generate_key("SM2")
    assert isinstance(key, SM2PrivateKey)
    path = tmp_path / "seal.pem"
    save_private_key(key, path, PASS)
    return key, path


def test_an_sm2_key_is_stored_as_pbes2_with_scrypt_and_sm4_cbc(tmp_path: Path) -> None:
    key, path = _sm2(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    pem = path.read_bytes()
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n")
    outer = core.Sequence.load(_der(pem))
    algorithm = outer[0]
    assert algorithm[0].dotted == PBES2_OID
    kdf, cipher = algorithm[1][0], algorithm[1][1]
    assert kdf[0].dotted == SCRYPT_OID
    salt, n, r, p = (kdf[1][i].native for i in range(4))
    assert (len(salt), n, r, p) == (16, 2**14, 8, 1)
    assert cipher[0].dotted == SM4_CBC_OID
    assert len(cipher[1].native) == 16
    assert key.secret_scalar() not in _der(pem)
    loaded = load_private_key(path, PASS)
    assert loaded.public_key() == key.public_key()
    verify(key.public_key(), sign(loaded, b"m"), b"m")


def test_a_wrong_passphrase_or_a_damaged_file_is_a_clear_key_error(tmp_path: Path) -> None:
    _, path = _sm2(tmp_path)
    with pytest.raises(KeyLoadError, match="wrong passphrase"):
        load_private_key(path, b"not the passphrase")
    pem = path.read_bytes()
    der = bytearray(_der(pem))
    der[-1] ^= 1  # the last block of the ciphertext: the padding no longer checks out
    damaged = base64.encodebytes(bytes(der))
    path.write_bytes(
        b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n"
        + damaged
        + b"-----END ENCRYPTED PRIVATE KEY-----\n"
    )
    with pytest.raises(KeyLoadError):
        load_private_key(path, PASS)


def test_a_key_file_asking_scrypt_for_too_much_memory_is_refused() -> None:
    pem = encrypt_pkcs8(SM2PrivateKey.generate().pkcs8_der(), PASS)
    info = _EncryptedPrivateKeyInfo.load(_der(pem))
    kdf = info["encryption_algorithm"]["parameters"]["key_derivation_func"]["parameters"]
    kdf["cost_parameter"] = 2**22  # 4 GiB of scrypt memory
    text = base64.encodebytes(info.dump(force=True))
    greedy = (
        b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n" + text + b"-----END ENCRYPTED PRIVATE KEY-----\n"
    )
    assert is_sm4_pkcs8(greedy)
    with pytest.raises(KeyLoadError, match="out of range"):
        decrypt_pkcs8(greedy, PASS)


@needs_openssl
def test_openssl_decrypts_the_sm4_key_file(tmp_path: Path) -> None:
    key, path = _sm2(tmp_path)
    secret = tmp_path / "pass.txt"
    secret.write_bytes(PASS)
    out = _openssl("pkey", "-in", path, "-passin", f"file:{secret}", "-pubout", "-outform", "DER")
    assert out.returncode == 0, out.stderr
    assert out.stdout == key.public_key().spki_der()
    clear = _openssl("pkey", "-in", path, "-passin", f"file:{secret}", "-outform", "DER")
    assert clear.returncode == 0, clear.stderr
    assert SM2PrivateKey.from_pkcs8_der(clear.stdout).public_key() == key.public_key()
    wrong = tmp_path / "wrong.txt"
    wrong.write_bytes(b"wrong")
    assert _openssl("pkey", "-in", path, "-passin", f"file:{wrong}", "-noout").returncode != 0


@needs_openssl
@pytest.mark.parametrize(
    ("cipher", "kdf"),
    [
        ("sm4-cbc", ["-scrypt"]),  # OpenSSL's own SM4 envelope: govex reads it
        ("aes-256-cbc", ["-v2prf", "hmacWithSHA256"]),  # how SM2 keys were stored before SM4
    ],
)
def test_openssl_made_and_older_sm2_key_files_load(
    tmp_path: Path, cipher: str, kdf: list[str]
) -> None:
    plain = tmp_path / "plain.pem"
    made = _openssl(
        "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:SM2", "-out", plain
    )
    assert made.returncode == 0, made.stderr
    secret = tmp_path / "pass.txt"
    secret.write_bytes(PASS)
    path = tmp_path / "key.pem"
    wrapped = _openssl(
        "pkcs8", "-topk8", "-in", plain, "-v2", cipher, *kdf, "-passout", f"file:{secret}",
        "-out", path,
    )  # fmt: skip
    assert wrapped.returncode == 0, wrapped.stderr
    assert is_sm4_pkcs8(path.read_bytes()) is (cipher == "sm4-cbc")
    pub = _openssl("pkey", "-in", plain, "-pubout", "-outform", "DER")
    key = load_private_key(path, PASS)
    assert isinstance(key, SM2PrivateKey)
    assert key.public_key().spki_der() == pub.stdout
    with pytest.raises(KeyLoadError):
        load_private_key(path, b"wrong")


def test_ed25519_and_p256_keys_are_stored_as_before(tmp_path: Path) -> None:
    for alg in ("Ed25519", "ES256"):
        path = tmp_path / f"{alg}.pem"
        save_private_key(generate_key(alg), path, PASS)  # type: ignore[arg-type]
        assert not is_sm4_pkcs8(path.read_bytes())
        load_private_key(path, PASS)
