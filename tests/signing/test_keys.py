"""Seal keys: encrypted storage, PEM/JWK round trips, key ids, Multikey."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from signing import keys, multibase
from signing.algorithms import Algorithm, algorithm_of, sign, verify
from signing.errors import KeyLoadError
from signing.keys import (
    generate_key,
    kid_of,
    load_jwk,
    load_private_key,
    load_public_pem,
    public_jwk,
    public_pem,
    save_private_key,
)
from signing.multibase import (
    MultibaseError,
    b58decode,
    b58encode,
    decode_multibase,
    decode_multikey,
    decode_secret_multikey,
    encode_base64url,
    encode_multikey,
    encode_secret_multikey,
)

ALGS: list[Algorithm] = ["Ed25519", "ES256"]
PASS = b"correct horse battery staple"


def _raw(pub: object) -> bytes:
    assert isinstance(pub, ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey)
    return pub.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_public_api_is_listed() -> None:
    for module in (keys, multibase):
        for name in module.__all__:
            assert hasattr(module, name), name


@pytest.mark.parametrize("alg", ALGS)
def test_generated_key_has_the_requested_algorithm(alg: Algorithm) -> None:
    assert algorithm_of(generate_key(alg)) == alg


def test_default_key_is_ed25519() -> None:
    assert isinstance(generate_key(), ed25519.Ed25519PrivateKey)


@pytest.mark.parametrize("alg", ALGS)
def test_saved_key_is_encrypted_owner_only_and_loads_back(alg: Algorithm, tmp_path: Path) -> None:
    key = generate_key(alg)
    path = tmp_path / "seal.pem"
    save_private_key(key, path, PASS)
    text = path.read_bytes()
    assert text.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = load_private_key(path, PASS)
    assert _raw(loaded.public_key()) == _raw(key.public_key())
    verify(loaded.public_key(), sign(loaded, b"msg"), b"msg")
    assert [p.name for p in tmp_path.iterdir()] == ["seal.pem"]


def test_saving_over_a_world_readable_file_leaves_it_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "seal.pem"
    path.write_text("old")
    path.chmod(0o644)
    save_private_key(generate_key(), path, PASS)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_empty_passphrase_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyLoadError, match="passphrase is required"):
        save_private_key(generate_key(), tmp_path / "k.pem", b"")


def test_wrong_passphrase_says_so(tmp_path: Path) -> None:
    path = tmp_path / "seal.pem"
    save_private_key(generate_key(), path, PASS)
    with pytest.raises(KeyLoadError, match="wrong passphrase"):
        load_private_key(path, b"not it")


def test_file_that_is_not_a_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(KeyLoadError, match="not a PEM private key"):
        load_private_key(path, PASS)


def test_missing_file_is_a_key_load_error(tmp_path: Path) -> None:
    with pytest.raises(KeyLoadError, match="cannot read key file"):
        load_private_key(tmp_path / "absent.pem", PASS)


def test_unencrypted_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "plain.pem"
    path.write_bytes(
        generate_key().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(KeyLoadError, match="not encrypted"):
        load_private_key(path, PASS)


def test_rsa_key_file_is_an_unsupported_type(tmp_path: Path) -> None:
    path = tmp_path / "rsa.pem"
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(
        rsa_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(PASS),
        )
    )
    with pytest.raises(KeyLoadError, match="unsupported key type"):
        load_private_key(path, PASS)


def test_p384_key_file_is_an_unsupported_curve(tmp_path: Path) -> None:
    path = tmp_path / "p384.pem"
    path.write_bytes(
        ec.generate_private_key(ec.SECP384R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(PASS),
        )
    )
    with pytest.raises(KeyLoadError, match="unsupported key type"):
        load_private_key(path, PASS)


@pytest.mark.parametrize("alg", ALGS)
def test_public_pem_round_trips(alg: Algorithm) -> None:
    pub = generate_key(alg).public_key()
    text = public_pem(pub)
    assert text.startswith("-----BEGIN PUBLIC KEY-----")
    assert _raw(load_public_pem(text)) == _raw(pub)


def test_garbage_public_pem_is_refused() -> None:
    with pytest.raises(KeyLoadError, match="not a PEM public key"):
        load_public_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")


def test_kid_is_stable_prefixed_and_distinct() -> None:
    ed = generate_key("Ed25519").public_key()
    p256 = generate_key("ES256").public_key()
    assert kid_of(ed) == kid_of(load_public_pem(public_pem(ed)))
    assert kid_of(ed).startswith("ed25519-")
    assert kid_of(p256).startswith("es256-")
    assert len(kid_of(ed).split("-", 1)[1]) == 26  # 16 bytes in unpadded base32
    assert kid_of(ed) != kid_of(generate_key("Ed25519").public_key())


def test_kid_of_a_known_key_is_fixed() -> None:
    # RFC 8032 test 1 public key. SPKI DER = 302a300506032b6570032100 ‖ key; SHA-256 of it
    # starts 06e3fd8fda29bb60ab59557de61edb0a. The kid is stored data: it must never drift.
    pub = ed25519.Ed25519PublicKey.from_public_bytes(
        bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    )
    assert kid_of(pub) == "ed25519-a3r73d62fg5wbk2zkv66mhw3bi"


@pytest.mark.parametrize("alg", ALGS)
def test_jwk_round_trips(alg: Algorithm) -> None:
    pub = generate_key(alg).public_key()
    jwk = public_jwk(pub, "k1")
    assert jwk["kid"] == "k1"
    assert _raw(load_jwk(jwk)) == _raw(pub)


def test_jwk_shapes_follow_rfc_8037_and_7518() -> None:
    ed = public_jwk(generate_key("Ed25519").public_key())
    assert (ed["kty"], ed["crv"], len(ed["x"])) == ("OKP", "Ed25519", 43)
    p256 = public_jwk(generate_key("ES256").public_key())
    assert (p256["kty"], p256["crv"], len(p256["x"]), len(p256["y"])) == ("EC", "P-256", 43, 43)
    assert p256["kid"].startswith("es256-")


def test_sm2_jwk_is_the_govex_scoped_ec_sm2_form_and_round_trips() -> None:
    pub = generate_key("SM2").public_key()
    jwk = public_jwk(pub)
    assert (jwk["kty"], jwk["crv"], jwk["alg"]) == ("EC", "SM2", "GOVEX-SM2-SM3")
    assert (len(jwk["x"]), len(jwk["y"]), jwk["kid"]) == (43, 43, kid_of(pub))
    assert load_jwk(jwk) == pub
    p256 = public_jwk(generate_key("ES256").public_key())
    with pytest.raises(KeyLoadError, match="not on the SM2 curve"):
        load_jwk({**p256, "crv": "SM2"})  # a P-256 point named SM2
    with pytest.raises(KeyLoadError):
        load_jwk({**jwk, "d": jwk["x"]})


def test_jwk_rfc8037_example_loads() -> None:
    # RFC 8037 Appendix A.2 public key.
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
    pub = load_jwk(jwk)
    assert isinstance(pub, ed25519.Ed25519PublicKey)
    assert pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex() == (
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    )


@pytest.mark.parametrize(
    ("jwk", "reason"),
    [
        ({"kty": "RSA", "n": "AQAB", "e": "AQAB"}, "unsupported JWK"),
        ({"kty": "OKP", "crv": "X25519", "x": "AAAA"}, "unsupported JWK"),
        ({"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}, "32 bytes"),
        (
            {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo="},
            "unpadded",
        ),
        (
            {
                "kty": "OKP",
                "crv": "Ed25519",
                "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
                "d": "x",
            },
            "private",
        ),
        ({"kty": "EC", "crv": "P-256", "x": "A" * 43, "y": "A" * 43}, "not on the P-256 curve"),
        ({"kty": "EC", "crv": "P-256", "x": "A" * 43}, "'y'"),
        ({"kty": "EC", "crv": "SM2", "x": "A" * 43, "y": "A" * 43}, "not on the SM2 curve"),
        ({"kty": "EC", "crv": "SM2", "x": "A" * 43}, "'y'"),
        ({"kty": "EC", "crv": "sm2p256v1", "x": "A" * 43, "y": "A" * 43}, "unsupported JWK"),
    ],
)
def test_bad_jwk_is_refused(jwk: dict[str, str], reason: str) -> None:
    with pytest.raises(KeyLoadError, match=reason):
        load_jwk(jwk)


# --- multibase / Multikey -------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b"", ""),
        (b"\0", "1"),
        (b"\0\0\x01", "112"),
        (b"hello world", "StV1DL6CwTryKyV"),
        (bytes.fromhex("00000000000000000000"), "1111111111"),
    ],
)
def test_base58btc_known_values(data: bytes, text: str) -> None:
    assert b58encode(data) == text
    assert b58decode(text) == data


def test_base58_refuses_characters_outside_the_alphabet() -> None:
    for bad in ("0", "O", "I", "l", "+"):
        with pytest.raises(MultibaseError, match="not base58btc"):
            b58decode("abc" + bad)


def test_base64url_multibase_round_trips_without_padding() -> None:
    for n in range(10):
        data = bytes(range(250, 250 - n, -1))
        text = encode_base64url(data)
        assert text.startswith("u")
        assert "=" not in text
        assert decode_multibase(text) == data


@pytest.mark.parametrize("text", ["uAB=", "uA", "u+/8", "uAB", "xabc", ""])
def test_bad_multibase_is_refused(text: str) -> None:
    with pytest.raises(MultibaseError):
        decode_multibase(text)


def test_multikey_spec_example_ed25519() -> None:
    # The did:key / Multikey example of the vc-di-eddsa specification.
    pub = decode_multikey("z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2")
    assert isinstance(pub, ed25519.Ed25519PublicKey)
    assert encode_multikey(pub) == "z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"


@pytest.mark.parametrize(("alg", "prefix"), [("Ed25519", "z6Mk"), ("ES256", "zDn")])
def test_multikey_round_trips_with_the_expected_prefix(alg: Algorithm, prefix: str) -> None:
    key = generate_key(alg)
    text = encode_multikey(key.public_key())
    assert text.startswith(prefix)
    assert _raw(decode_multikey(text)) == _raw(key.public_key())
    secret = decode_secret_multikey(encode_secret_multikey(key))
    assert _raw(secret.public_key()) == _raw(key.public_key())


def test_multikey_refuses_secret_keys_and_unknown_codecs() -> None:
    secret = encode_secret_multikey(generate_key())
    with pytest.raises(KeyLoadError, match="secret key"):
        decode_multikey(secret)
    with pytest.raises(KeyLoadError, match="unsupported Multikey codec"):
        decode_multikey("z" + b58encode(b"\xec\x01" + bytes(32)))
    with pytest.raises(KeyLoadError, match="32 bytes"):
        decode_multikey("z" + b58encode(b"\xed\x01" + bytes(31)))
    with pytest.raises(KeyLoadError, match="not base58btc"):
        decode_multikey("u" + "A" * 40)
    with pytest.raises(KeyLoadError, match="valid public key"):
        decode_multikey("z" + b58encode(b"\x80\x24\x02" + b"\xff" * 32))
