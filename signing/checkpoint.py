"""C2SP signed notes and transparency-log checkpoints (Ed25519 type 0x01, or SM2).

A signed note (c2sp.org/signed-note) is UTF-8 text ending in a newline, a blank
line, then one line per signature::

    <text>\\n
    \\n
    — <key name> base64(<4-byte key id> ‖ <signature over the text>)\\n

A verifier key ("vkey") is ``<name>+<hex key id>+base64(0x01 ‖ Ed25519 public key)``
and the key id is the first 4 bytes of ``SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)``.
An SM2 exchange signs its checkpoints with a govex-scoped key type (no SM2 type is
registered): the key blob is ``0xFF ‖ "govex-sm2-sm3" ‖ 04 ‖ x ‖ y`` (0xFF is the signed-note
escape for unregistered types, followed by a unique name), the key id is the first 4
bytes of ``SHA-256(name ‖ 0x0A ‖ key blob)`` as for every type, and a signature is
SM2-with-SM3 (default identifier) over the note text as raw ``r‖s`` (64 bytes).

A checkpoint (c2sp.org/tlog-checkpoint) is the text of a note: the log's origin,
its tree size in decimal and its root hash in base64, one per line, then optional
extension lines. The log signs it; witnesses cosign the same text by appending
their own signature lines, which tells an auditor that they saw the same tree.

:func:`open_note` follows the reference verifier (golang.org/x/mod/sumdb/note):
a note with a control character, invalid UTF-8, no signature block or a
malformed signature line is refused, so are more than 100 signatures, a bad
signature from a known key, a known (name, key id) claimed by two verifiers, and
a note that no known key signed. Signatures from unknown keys are kept aside.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from .errors import CheckpointError, SigningError, VerificationError
from .gm.sm2 import SM2PrivateKey, SM2PublicKey

__all__ = [
    "MAX_SIGNATURES",
    "SIGNATURE_TYPE_ED25519",
    "SIGNATURE_TYPE_SM2",
    "Checkpoint",
    "KeyVerifier",
    "NoteSignature",
    "NoteSigner",
    "NoteVerifier",
    "OpenedCheckpoint",
    "OpenedNote",
    "cosign_note",
    "key_id",
    "open_checkpoint",
    "open_note",
    "sign_checkpoint",
    "sign_note",
]

SIGNATURE_TYPE_ED25519 = 0x01
SIGNATURE_TYPE_SM2 = b"\xffgovex-sm2-sm3"  # govex-scoped: 0xFF escape ‖ unique name
_SM2_POINT_BYTES = 65
MAX_SIGNATURES = 100
_SIG_PREFIX = "\u2014 "  # em dash, space
_ED25519_KEY_BYTES = 32
_ED25519_SIG_BYTES = 64
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")
_DECIMAL = re.compile(r"^(0|[1-9][0-9]{0,19})$")
_ROOT_BYTES = 32


def _valid_name(name: str) -> bool:
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def _b64decode(text: str) -> bytes:
    """Strict standard base64 (padding required, no stray characters)."""
    return base64.b64decode(text.encode("ascii"), validate=True)


def key_id(name: str, public_key: bytes) -> int:
    """Key id of an Ed25519 key: first 4 bytes of SHA-256(name ‖ 0x0A ‖ 0x01 ‖ key)."""
    digest = hashlib.sha256(
        name.encode() + b"\n" + bytes([SIGNATURE_TYPE_ED25519]) + public_key
    ).digest()
    return int.from_bytes(digest[:4], "big")


def _raw_public(key: ed25519.Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _key_blob(key: ed25519.Ed25519PublicKey | SM2PublicKey) -> bytes:
    """Signature type ‖ public key, as the vkey carries it."""
    if isinstance(key, SM2PublicKey):
        return SIGNATURE_TYPE_SM2 + key.raw()
    return bytes([SIGNATURE_TYPE_ED25519]) + _raw_public(key)


def _blob_key_id(name: str, blob: bytes) -> int:
    return int.from_bytes(hashlib.sha256(name.encode() + b"\n" + blob).digest()[:4], "big")


def _sm2_from_blob(name: str, blob: bytes) -> SM2PublicKey:
    point = blob[len(SIGNATURE_TYPE_SM2) :]
    if len(point) != _SM2_POINT_BYTES or point[0] != 4:
        raise CheckpointError(f"verifier key {name} is not an uncompressed SM2 point")
    try:
        return SM2PublicKey.from_point(
            int.from_bytes(point[1:33], "big"), int.from_bytes(point[33:], "big")
        )
    except SigningError as exc:
        raise CheckpointError(f"verifier key {name}: {exc.message}") from exc


class KeyVerifier(Protocol):
    """What :func:`open_note` needs of a key: its name, key id and a check of a signature.

    :class:`NoteVerifier` (Ed25519, type 0x01) and
    :class:`signing.cosignature.CosignatureVerifier` (cosignature/v1, type 0x04) are two.
    """

    name: str
    key_id: int

    def verify(self, text: bytes, signature: bytes) -> None: ...


class NoteVerifier:
    """A note verifier (Ed25519, or govex's SM2 type): a key name, its key id and its key."""

    def __init__(self, name: str, public_key: ed25519.Ed25519PublicKey | SM2PublicKey) -> None:
        if not _valid_name(name):
            raise CheckpointError(f"invalid key name {name!r}: no spaces, no '+', not empty")
        if not isinstance(public_key, ed25519.Ed25519PublicKey | SM2PublicKey):
            raise CheckpointError("signed notes use Ed25519 (type 0x01) or SM2 (govex) keys")
        self.name = name
        self.public_key = public_key
        self.key_id = _blob_key_id(name, _key_blob(public_key))

    @classmethod
    def from_vkey(cls, vkey: str) -> NoteVerifier:
        """Parse ``<name>+<hex key id>+base64(0x01 ‖ public key)``."""
        name, _, rest = vkey.partition("+")
        hex_id, _, key_b64 = rest.partition("+")
        if not _valid_name(name) or not re.fullmatch(r"[0-9a-fA-F]{8}", hex_id):
            raise CheckpointError(f"malformed verifier key {vkey!r}")
        try:
            key = _b64decode(key_b64)
        except (binascii.Error, ValueError, UnicodeEncodeError) as exc:
            raise CheckpointError(f"verifier key {name} is not base64") from exc
        if not key:
            raise CheckpointError(f"verifier key {name} is empty")
        claimed = int(hex_id, 16)
        digest = hashlib.sha256(name.encode() + b"\n" + key).digest()
        if int.from_bytes(digest[:4], "big") != claimed:
            raise CheckpointError(f"verifier key {name}+{hex_id} does not match its key id")
        if key.startswith(SIGNATURE_TYPE_SM2):
            return cls(name, _sm2_from_blob(name, key))
        if key[0] != SIGNATURE_TYPE_ED25519:
            raise CheckpointError(
                f"verifier key {name} has signature type 0x{key[0]:02x}; "
                "only Ed25519 (0x01) or govex SM2 (0xff govex-sm2-sm3)"
            )
        if len(key) != 1 + _ED25519_KEY_BYTES:
            raise CheckpointError(f"verifier key {name} is not a 32-byte Ed25519 key")
        return cls(name, ed25519.Ed25519PublicKey.from_public_bytes(key[1:]))

    @property
    def vkey(self) -> str:
        """This verifier as a vkey string."""
        encoded = base64.b64encode(_key_blob(self.public_key))
        return f"{self.name}+{self.key_id:08x}+{encoded.decode()}"

    def verify(self, text: bytes, signature: bytes) -> None:
        """Verify a raw signature over ``text`` or raise :class:`CheckpointError`."""
        problem = f"invalid signature for key {self.name}+{self.key_id:08x}"
        if len(signature) != _ED25519_SIG_BYTES:
            raise CheckpointError(problem)
        try:
            self.public_key.verify(signature, text)
        except (InvalidSignature, VerificationError) as exc:
            raise CheckpointError(problem) from exc

    def __repr__(self) -> str:
        return f"NoteVerifier({self.vkey!r})"


class NoteSigner:
    """Signs notes with an Ed25519 (or SM2, govex-scoped type) private key under a name."""

    def __init__(self, name: str, private_key: ed25519.Ed25519PrivateKey | SM2PrivateKey) -> None:
        if not isinstance(private_key, ed25519.Ed25519PrivateKey | SM2PrivateKey):
            raise CheckpointError("signed notes use Ed25519 (type 0x01) or SM2 (govex) keys")
        self._verifier = NoteVerifier(name, private_key.public_key())
        self._key = private_key
        self.name = name
        self.key_id = self._verifier.key_id

    @property
    def vkey(self) -> str:
        """The verifier key to publish for this signer."""
        return self._verifier.vkey

    @property
    def verifier(self) -> NoteVerifier:
        """The matching :class:`NoteVerifier`."""
        return self._verifier

    def signature_line(self, text: str) -> str:
        """``— <name> base64(key id ‖ signature)\\n`` over ``text``."""
        signature = self._key.sign(text.encode())
        blob = self.key_id.to_bytes(4, "big") + signature
        return f"{_SIG_PREFIX}{self.name} {base64.b64encode(blob).decode()}\n"

    def __repr__(self) -> str:
        return f"NoteSigner({self.vkey!r})"


@dataclass(frozen=True)
class NoteSignature:
    """One signature line of a note: key name, key id and the raw signature."""

    name: str
    key_id: int
    signature: bytes


@dataclass(frozen=True)
class OpenedNote:
    """A note whose ``signatures`` verified; ``unverified`` are from unknown keys."""

    text: str
    signatures: tuple[NoteSignature, ...]
    unverified: tuple[NoteSignature, ...]

    @property
    def signers(self) -> tuple[str, ...]:
        """Names of the keys whose signatures verified, in note order."""
        return tuple(s.name for s in self.signatures)


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise CheckpointError("malformed note: the text must end with a newline")
    if _CONTROL.search(text):
        raise CheckpointError("malformed note: control character in the text")


def sign_note(text: str, signers: Sequence[NoteSigner]) -> str:
    """Sign ``text`` (ending in a newline) with every signer; return the note."""
    _check_text(text)
    if not signers:
        raise CheckpointError("a note needs at least one signer")
    return text + "\n" + "".join(s.signature_line(text) for s in signers)


def _split(note: str | bytes) -> tuple[str, list[tuple[str, NoteSignature]]]:
    """Split a note into its text and (line, signature) pairs, refusing malformed ones."""
    if isinstance(note, bytes):
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CheckpointError("malformed note: not valid UTF-8") from exc
    else:
        try:
            note.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise CheckpointError("malformed note: not valid UTF-8") from exc
    if _CONTROL.search(note):
        raise CheckpointError("malformed note: control character")
    split = note.rfind("\n\n")
    if split < 0:
        raise CheckpointError("malformed note: no blank line before the signatures")
    text, block = note[: split + 1], note[split + 2 :]
    if not block or not block.endswith("\n"):
        raise CheckpointError("malformed note: no signature lines, or no final newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise CheckpointError(f"malformed note: more than {MAX_SIGNATURES} signatures")
    out: list[tuple[str, NoteSignature]] = []
    for number, line in enumerate(lines, 1):
        if not line.startswith(_SIG_PREFIX):
            raise CheckpointError(f"malformed note: signature line {number} has no '— ' prefix")
        name, _, b64 = line[len(_SIG_PREFIX) :].partition(" ")
        try:
            blob = _b64decode(b64)
        except (binascii.Error, ValueError, UnicodeEncodeError):
            blob = b""
        if not _valid_name(name) or len(blob) < 5:  # key id and at least one byte
            raise CheckpointError(f"malformed note: signature line {number} is malformed")
        signature = NoteSignature(name, int.from_bytes(blob[:4], "big"), blob[4:])
        out.append((line, signature))
    return text, out


def open_note(note: str | bytes, verifiers: Sequence[KeyVerifier]) -> OpenedNote:
    """Verify a signed note against known verifiers; return its text and signers.

    Raises :class:`CheckpointError` for a malformed note, more than 100
    signatures, a known key whose signature does not verify, two verifiers with
    the same name and key id, or when no known key signed.
    """
    text, lines = _split(note)
    known: dict[tuple[str, int], list[KeyVerifier]] = {}
    for verifier in verifiers:
        known.setdefault((verifier.name, verifier.key_id), []).append(verifier)
    verified: list[NoteSignature] = []
    unverified: list[NoteSignature] = []
    seen: set[tuple[str, int]] = set()
    seen_unknown: set[str] = set()
    payload = text.encode()
    for line, signature in lines:
        ident = (signature.name, signature.key_id)
        candidates = known.get(ident, [])
        if not candidates:
            if line not in seen_unknown:
                seen_unknown.add(line)
                unverified.append(signature)
            continue
        if len(candidates) > 1:
            raise CheckpointError(f"ambiguous key {signature.name}+{signature.key_id:08x}")
        if ident in seen:  # a repeated signature by one key counts once
            continue
        seen.add(ident)
        candidates[0].verify(payload, signature.signature)
        verified.append(signature)
    if not verified:
        raise CheckpointError("note has no verifiable signatures")
    return OpenedNote(text=text, signatures=tuple(verified), unverified=tuple(unverified))


def cosign_note(note: str, signer: NoteSigner, verifiers: Sequence[KeyVerifier]) -> str:
    """Verify ``note`` with ``verifiers``, then append ``signer``'s signature line.

    This is what a witness does: it cosigns only what it could verify. A note the
    signer already signed is returned unchanged.
    """
    opened = open_note(note, verifiers)
    _, lines = _split(note)
    if any((s.name, s.key_id) == (signer.name, signer.key_id) for _, s in lines):
        return note
    if len(lines) >= MAX_SIGNATURES:
        raise CheckpointError(f"note already has {MAX_SIGNATURES} signatures")
    return note + signer.signature_line(opened.text)


@dataclass(frozen=True)
class Checkpoint:
    """A transparency-log checkpoint: origin, tree size, root hash, extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin or _CONTROL.search(self.origin):
            raise CheckpointError("checkpoint origin must be one non-empty line")
        if not 0 <= self.size < 2**64:
            raise CheckpointError(f"checkpoint size {self.size} is not a uint64")
        if len(self.root) != _ROOT_BYTES:
            raise CheckpointError(f"checkpoint root is {len(self.root)} bytes, not 32")
        for line in self.extensions:
            if not line or "\n" in line or _CONTROL.search(line):
                raise CheckpointError("checkpoint extension lines must be non-empty lines")

    def to_text(self) -> str:
        """The checkpoint body, the text that is signed."""
        root = base64.b64encode(self.root).decode()
        return f"{self.origin}\n{self.size}\n{root}\n" + "".join(f"{e}\n" for e in self.extensions)

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Parse a checkpoint body (the text of a note, not the whole note)."""
        if not text.endswith("\n"):
            raise CheckpointError("malformed checkpoint: must end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise CheckpointError("malformed checkpoint: needs origin, size and root lines")
        origin, size, root_b64, *extensions = lines
        if not _DECIMAL.match(size):
            raise CheckpointError(f"malformed checkpoint: size {size!r} is not decimal")
        try:
            root = _b64decode(root_b64)
        except (binascii.Error, ValueError, UnicodeEncodeError) as exc:
            raise CheckpointError("malformed checkpoint: root hash is not base64") from exc
        return cls(origin=origin, size=int(size), root=root, extensions=tuple(extensions))


@dataclass(frozen=True)
class OpenedCheckpoint:
    """A checkpoint whose log signature verified, with every verified cosigner."""

    checkpoint: Checkpoint
    note: OpenedNote

    @property
    def signers(self) -> tuple[str, ...]:
        """Names of the log key and of every witness whose signature verified."""
        return self.note.signers


def sign_checkpoint(checkpoint: Checkpoint, signers: Sequence[NoteSigner]) -> str:
    """Sign a checkpoint as a note (the log first, witnesses may follow)."""
    return sign_note(checkpoint.to_text(), signers)


def open_checkpoint(
    note: str | bytes,
    log_verifier: NoteVerifier,
    *,
    origin: str,
    witnesses: Sequence[KeyVerifier] = (),
) -> OpenedCheckpoint:
    """Verify a signed checkpoint of the log ``origin`` signed by ``log_verifier``.

    Witness signatures that verify are reported in ``signers``; how many witnesses
    are required is the caller's policy.
    """
    opened = open_note(note, [log_verifier, *witnesses])
    if (log_verifier.name, log_verifier.key_id) not in {
        (s.name, s.key_id) for s in opened.signatures
    }:
        raise CheckpointError(f"checkpoint is not signed by the log key {log_verifier.name}")
    checkpoint = Checkpoint.parse(opened.text)
    if checkpoint.origin != origin:
        raise CheckpointError(
            f"checkpoint origin {checkpoint.origin!r} is not the expected {origin!r}"
        )
    return OpenedCheckpoint(checkpoint=checkpoint, note=opened)
