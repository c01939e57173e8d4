"""SM2-with-SM3 and SM3 against the standards' examples and the OpenSSL 3 command line."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import algos
from tongsuopy.crypto.hashes import SM3, Hash

from signing.errors import KeyLoadError, VerificationError
from signing.gm.sm2 import (
    DEFAULT_ID,
    ORDER,
    SM2PrivateKey,
    SM2PublicKey,
    from_der,
    sm3,
    to_der,
)

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[2] / "vectors" / "gm" / "sm2_sm3.json").read_text("utf-8")
)
SIG = VECTORS["sm2_signature"]
MESSAGE = SIG["message_ascii"].encode("ascii")
ANNEX_A = bytes.fromhex(SIG["r"] + SIG["s"])
OPENSSL = shutil.which("openssl")


def _annex_key() -> SM2PrivateKey:
    return SM2PrivateKey.from_private_value(int(SIG["private_key"], 16))


@pytest.mark.parametrize("example", VECTORS["sm3"]["examples"], ids=lambda e: e["section"])
def test_sm3_gives_the_gbt_32905_annex_a_digests(example: dict[str, str]) -> None:
    assert sm3(example["message_ascii"].encode("ascii")).hex() == example["digest"]


@pytest.mark.parametrize("size", [0, 1, 55, 56, 64, 65, 1500])
def test_sm3_agrees_with_tongsuo(size: int) -> None:
    data = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    digest = Hash(SM3())
    digest.update(data)
    assert sm3(data) == digest.finalize()


def test_the_annex_a_private_key_gives_its_public_key() -> None:
    x, y = _annex_key().public_key().point
    assert (x, y) == (int(SIG["public_x"], 16), int(SIG["public_y"], 16))


def test_za_and_e_are_the_annex_a_values_with_the_default_identifier() -> None:
    curve = SIG["curve"]
    identity = SIG["id_ascii"].encode("ascii")
    assert identity == DEFAULT_ID
    za = sm3(
        (8 * len(identity)).to_bytes(2, "big")
        + identity
        + b"".join(bytes.fromhex(curve[n]) for n in ("a", "b", "gx", "gy"))
        + bytes.fromhex(SIG["public_x"] + SIG["public_y"])
    )
    assert za.hex() == SIG["za"]
    assert sm3(za + MESSAGE).hex() == SIG["e"]


def test_the_annex_a_signature_verifies_and_any_change_is_refused() -> None:
    public = SM2PublicKey.from_point(int(SIG["public_x"], 16), int(SIG["public_y"], 16))
    public.verify(ANNEX_A, MESSAGE)
    with pytest.raises(VerificationError):
        public.verify(ANNEX_A, MESSAGE + b".")
    for i in (0, 31, 32, 63):
        changed = bytearray(ANNEX_A)
        changed[i] ^= 1
        with pytest.raises(VerificationError):
            public.verify(bytes(changed), MESSAGE)


def test_sign_verify_round_trip_and_key_encodings() -> None:
    key = SM2PrivateKey.generate()
    signature = key.sign(b"govex")
    assert len(signature) == 64
    key.public_key().verify(signature, b"govex")
    assert SM2PublicKey.from_spki_der(key.public_key().spki_der()) == key.public_key()
    again = SM2PrivateKey.from_pkcs8_der(key.pkcs8_der())
    assert again.public_key() == key.public_key()
    with pytest.raises(VerificationError):
        SM2PrivateKey.generate().public_key().verify(signature, b"govex")


def test_der_signatures_are_strict() -> None:
    assert from_der(to_der(ANNEX_A)) == ANNEX_A
    with pytest.raises(VerificationError):
        from_der(to_der(ANNEX_A) + b"\x00")
    with pytest.raises(VerificationError):
        from_der(b"\x30\x00")
    with pytest.raises(VerificationError):
        to_der(ANNEX_A[:63])


@pytest.mark.parametrize(
    ("r", "s"),
    [
        (1, 1),
        (0x7F, 0x80),  # one byte; a high bit needs a leading 0x00
        (1 << 255, (1 << 248) - 1),  # 33 bytes with the sign byte; 31 bytes
        (ORDER - 1, 0x80 << 240),
    ],
)
def test_der_pairs_match_asn1_at_the_edges(r: int, s: int) -> None:
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    der = algos.DSASignature({"r": r, "s": s}).dump()
    assert to_der(raw) == der
    assert from_der(der) == raw


def test_der_signatures_that_are_not_minimal_are_refused() -> None:
    der = to_der(ANNEX_A)
    r_len = der[3]
    padded = b"\x02" + bytes([r_len + 1]) + b"\x00" + der[4 : 4 + r_len]
    body = padded + der[4 + r_len :]
    with pytest.raises(VerificationError):  # r with a needless leading zero byte
        from_der(b"\x30" + bytes([len(body)]) + body)
    negative = bytearray(to_der((1).to_bytes(32, "big") + ANNEX_A[32:]))
    negative[4] = 0x81  # r = -127
    with pytest.raises(VerificationError):
        from_der(bytes(negative))
    zero = to_der(bytes(32) + ANNEX_A[32:])
    with pytest.raises(VerificationError):  # r = 0
        from_der(zero)
    order = to_der(ORDER.to_bytes(32, "big") + ANNEX_A[32:])
    with pytest.raises(VerificationError):  # r = n
        from_der(order)


def test_bad_keys_are_refused() -> None:
    with pytest.raises(KeyLoadError):
        SM2PublicKey.from_point(1, 2)
    with pytest.raises(KeyLoadError):
        SM2PrivateKey.from_private_value(0)
    with pytest.raises(KeyLoadError):
        SM2PublicKey.from_spki_der(b"\x30\x00")


def _openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    assert OPENSSL is not None
    return subprocess.run([OPENSSL, *map(str, args)], capture_output=True, text=True, check=False)


# OpenSSL 3's pkeyutl applies no distinguishing identifier unless told: pass the default.
_DISTID = ("-pkeyopt", f"distid:{DEFAULT_ID.decode('ascii')}")


@pytest.mark.skipif(OPENSSL is None, reason="the openssl command line is not installed")
def test_govex_signatures_verify_in_openssl_and_openssl_signatures_in_govex(
    tmp_path: Path,
) -> None:
    key = SM2PrivateKey.generate()
    (tmp_path / "key.der").write_bytes(key.pkcs8_der())
    (tmp_path / "pub.der").write_bytes(key.public_key().spki_der())
    message = tmp_path / "message"
    message.write_bytes("电子证照 govex".encode())
    (tmp_path / "govex.sig").write_bytes(to_der(key.sign(message.read_bytes())))
    verified = _openssl(
        "pkeyutl",
        "-verify",
        "-pubin",
        "-keyform",
        "DER",
        "-inkey",
        tmp_path / "pub.der",
        "-rawin",
        "-digest",
        "sm3",
        *_DISTID,
        "-in",
        message,
        "-sigfile",
        tmp_path / "govex.sig",
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    signed = _openssl(
        "pkeyutl",
        "-sign",
        "-keyform",
        "DER",
        "-inkey",
        tmp_path / "key.der",
        "-rawin",
        "-digest",
        "sm3",
        *_DISTID,
        "-in",
        message,
        "-out",
        tmp_path / "openssl.sig",
    )
    assert signed.returncode == 0, signed.stderr
    from_openssl = from_der((tmp_path / "openssl.sig").read_bytes())
    key.public_key().verify(from_openssl, message.read_bytes())
    with pytest.raises(VerificationError):
        key.public_key().verify(from_openssl, message.read_bytes() + b"!")


@pytest.mark.skipif(OPENSSL is None, reason="the openssl command line is not installed")
def test_openssl_verifies_the_annex_a_signature(tmp_path: Path) -> None:
    (tmp_path / "pub.der").write_bytes(_annex_key().public_key().spki_der())
    (tmp_path / "m").write_bytes(MESSAGE)
    (tmp_path / "a.sig").write_bytes(to_der(ANNEX_A))
    verified = _openssl(
        "pkeyutl",
        "-verify",
        "-pubin",
        "-keyform",
        "DER",
        "-inkey",
        tmp_path / "pub.der",
        "-rawin",
        "-digest",
        "sm3",
        *_DISTID,
        "-in",
        tmp_path / "m",
        "-sigfile",
        tmp_path / "a.sig",
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
