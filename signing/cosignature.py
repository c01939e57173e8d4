"""C2SP tlog-cosignature v1: a witness's timestamped Ed25519 signature on a checkpoint.

A cosignature is a signed-note signature line (:mod:`signing.checkpoint`) whose
signature is ``timestamp (uint64, big-endian) ‖ Ed25519 signature`` over::

    cosignature/v1\\n
    time <timestamp in decimal>\\n
    <the whole checkpoint body, extension lines included>

The key id is the first 4 bytes of ``SHA-256(name ‖ 0x0A ‖ 0x04 ‖ public key)`` and
the verifier key (vkey) ``<name>+<hex key id>+base64(0x04 ‖ public key)``. A
cosigner's name SHOULD be a schema-less URL (``witness.example.org/dept-411500…``);
:func:`witness_name` checks that shape.

The private key travels as a note signer key, the form transparency-dev's Go code
reads: ``PRIVATE+KEY+<name>+<hex key id>+base64(0x04 ‖ 32-byte seed)``.

:class:`CosignatureVerifier` has the interface of
:class:`signing.checkpoint.NoteVerifier` (``name``, ``key_id``, ``verify``), so
:func:`signing.checkpoint.open_note` verifies log signatures and cosignatures in one pass.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import time

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from .checkpoint import NoteVerifier
from .errors import CheckpointError

__all__ = [
    "SIGNATURE_TYPE_COSIGNATURE_V1",
    "CosignatureSigner",
    "CosignatureVerifier",
    "cosignature_key_id",
    "cosigned_message",
    "verifier_from_vkey",
    "witness_name",
]

SIGNATURE_TYPE_COSIGNATURE_V1 = 0x04
_TIMESTAMP_BYTES = 8
_SIGNATURE_BYTES = _TIMESTAMP_BYTES + 64
_MAX_TIMESTAMP = 2**63 - 1
# host[:port][/path…]: a URL without its scheme (lowercase DNS labels, printable path)
_URL_LIKE = re.compile(
    r"(?=.{1,253}(/|$))[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*"
    r"(:[0-9]{1,5})?(/[A-Za-z0-9._~%!$&'()*,;=:@-]+)*"
)


def witness_name(name: str) -> str:
    """``name`` if it is a schema-less URL such as ``witness.example.org/dept-411500…``."""
    if len(name) > 255 or "://" in name or not _URL_LIKE.fullmatch(name):
        raise CheckpointError(
            f"witness name {name!r} is not a schema-less URL (e.g. witness.example.org/w1)"
        )
    return name


def cosignature_key_id(name: str, public_key: bytes) -> int:
    """First 4 bytes of ``SHA-256(name ‖ 0x0A ‖ 0x04 ‖ public key)``."""
    digest = hashlib.sha256(
        name.encode() + b"\n" + bytes([SIGNATURE_TYPE_COSIGNATURE_V1]) + public_key
    ).digest()
    return int.from_bytes(digest[:4], "big")


def cosigned_message(text: str, timestamp: int) -> bytes:
    """The bytes a v1 cosignature signs: header, time line, the checkpoint body."""
    if not 0 <= timestamp <= _MAX_TIMESTAMP:
        raise CheckpointError(f"cosignature timestamp {timestamp} is out of range")
    return f"cosignature/v1\ntime {timestamp}\n{text}".encode()


def _raw(key: ed25519.Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _check_name(name: str) -> None:
    if not name or "+" in name or any(c.isspace() for c in name):
        raise CheckpointError(f"invalid key name {name!r}: no spaces, no '+', not empty")


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError) as exc:
        raise CheckpointError(f"{what} is not base64") from exc


class CosignatureVerifier:
    """Verifies v1 cosignatures of one witness: name, key id, Ed25519 public key."""

    def __init__(self, name: str, public_key: ed25519.Ed25519PublicKey) -> None:
        _check_name(name)
        self.name = name
        self.public_key = public_key
        self.key_id = cosignature_key_id(name, _raw(public_key))

    @classmethod
    def from_vkey(cls, vkey: str) -> CosignatureVerifier:
        """Parse ``<name>+<hex key id>+base64(0x04 ‖ public key)``."""
        name, _, rest = vkey.strip().partition("+")
        hex_id, _, key_b64 = rest.partition("+")
        if not name or not re.fullmatch(r"[0-9a-f]{8}", hex_id):
            raise CheckpointError(f"malformed cosigner key {vkey!r}")
        key = _b64(key_b64, f"cosigner key {name}")
        if len(key) != 33 or key[0] != SIGNATURE_TYPE_COSIGNATURE_V1:
            raise CheckpointError(
                f"cosigner key {name} is not an Ed25519 cosignature/v1 key (type 0x04)"
            )
        verifier = cls(name, ed25519.Ed25519PublicKey.from_public_bytes(key[1:]))
        if verifier.key_id != int(hex_id, 16):
            raise CheckpointError(f"cosigner key {name}+{hex_id} does not match its key id")
        return verifier

    @property
    def vkey(self) -> str:
        blob = bytes([SIGNATURE_TYPE_COSIGNATURE_V1]) + _raw(self.public_key)
        return f"{self.name}+{self.key_id:08x}+{base64.b64encode(blob).decode()}"

    def timestamp(self, text: bytes, signature: bytes) -> int:
        """Verify ``timestamp ‖ signature`` over the note text; return the timestamp."""
        problem = f"invalid cosignature for key {self.name}+{self.key_id:08x}"
        if len(signature) != _SIGNATURE_BYTES:
            raise CheckpointError(problem)
        stamp = int.from_bytes(signature[:_TIMESTAMP_BYTES], "big")
        if stamp > _MAX_TIMESTAMP:
            raise CheckpointError(problem)
        message = f"cosignature/v1\ntime {stamp}\n".encode() + text
        try:
            self.public_key.verify(signature[_TIMESTAMP_BYTES:], message)
        except InvalidSignature as exc:
            raise CheckpointError(problem) from exc
        return stamp

    def verify(self, text: bytes, signature: bytes) -> None:
        """:meth:`signing.checkpoint.NoteVerifier.verify` for cosignatures."""
        self.timestamp(text, signature)

    def __repr__(self) -> str:
        return f"CosignatureVerifier({self.vkey!r})"


class CosignatureSigner:
    """A witness's cosigning key: signs checkpoint bodies as v1 cosignatures."""

    def __init__(self, name: str, private_key: ed25519.Ed25519PrivateKey) -> None:
        if not isinstance(private_key, ed25519.Ed25519PrivateKey):
            raise CheckpointError("cosignatures use Ed25519 keys")
        self._key = private_key
        self.verifier = CosignatureVerifier(name, private_key.public_key())
        self.name = name
        self.key_id = self.verifier.key_id

    @classmethod
    def generate(cls, name: str) -> CosignatureSigner:
        return cls(name, ed25519.Ed25519PrivateKey.generate())

    @classmethod
    def from_skey(cls, skey: str) -> CosignatureSigner:
        """Parse ``PRIVATE+KEY+<name>+<hex key id>+base64(0x04 ‖ seed)`` (0x01 accepted too)."""
        parts = skey.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"] or len(parts[3]) != 8:
            raise CheckpointError("malformed signer key: PRIVATE+KEY+<name>+<id>+<key>")
        key = _b64(parts[4], "signer key")
        if len(key) != 33 or key[0] not in (0x01, SIGNATURE_TYPE_COSIGNATURE_V1):
            raise CheckpointError("signer key is not an Ed25519 key")
        return cls(parts[2], ed25519.Ed25519PrivateKey.from_private_bytes(key[1:]))

    @property
    def skey(self) -> str:
        seed = self._key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        blob = base64.b64encode(bytes([SIGNATURE_TYPE_COSIGNATURE_V1]) + seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.key_id:08x}+{blob}"

    @property
    def vkey(self) -> str:
        return self.verifier.vkey

    def signature_line(self, text: str, timestamp: int | None = None) -> str:
        """``— <name> base64(key id ‖ timestamp ‖ signature)\\n`` over checkpoint ``text``."""
        if not text.endswith("\n") or len(text.split("\n")) < 4:
            raise CheckpointError("a cosignature covers a checkpoint body: three lines or more")
        stamp = int(time.time()) if timestamp is None else timestamp
        signature = self._key.sign(cosigned_message(text, stamp))
        blob = self.key_id.to_bytes(4, "big") + stamp.to_bytes(8, "big") + signature
        return f"\u2014 {self.name} {base64.b64encode(blob).decode()}\n"

    def __repr__(self) -> str:
        return f"CosignatureSigner({self.vkey!r})"


def verifier_from_vkey(vkey: str) -> NoteVerifier | CosignatureVerifier:
    """A log key (type 0x01) or a cosigner key (type 0x04), by the vkey's type byte."""
    blob = vkey.strip().split("+", 2)[-1]
    try:
        kind = base64.b64decode(blob.encode("ascii"), validate=True)[:1]
    except (binascii.Error, ValueError, UnicodeEncodeError):
        kind = b""
    if kind == bytes([SIGNATURE_TYPE_COSIGNATURE_V1]):
        return CosignatureVerifier.from_vkey(vkey)
    return NoteVerifier.from_vkey(vkey)
