"""W3C Bitstring Status List v1.0: revocation and suspension of credentials.

A status list is a bitstring of at least 131,072 entries (16 KiB), so that one
credential's status check does not reveal which credential is asked about (herd
privacy). Index 0 is the left-most bit: the most significant bit of byte 0. The
published form (``encodedList``) is the GZIP-compressed bitstring as multibase
base64url without padding (``u…``).

Each credential carries a ``BitstringStatusListEntry`` pointing at a random
index of a ``BitstringStatusListCredential``; a set bit means revoked (or
suspended, for a suspension list). Only ``statusSize`` 1 is supported.
"""

from __future__ import annotations

import gzip
import secrets
import zlib
from collections.abc import Set as AbstractSet
from datetime import datetime, timedelta
from typing import Any, Literal

from .errors import VerificationError
from .multibase import MultibaseError, decode_multibase, encode_base64url
from .proofs import format_created

__all__ = [
    "MIN_LENGTH",
    "StatusList",
    "StatusListError",
    "StatusPurpose",
    "status_entry",
    "status_list_credential",
    "status_list_from_credential",
]

MIN_LENGTH = 131_072
"""The spec's minimum number of entries (16 KiB of bits)."""

_MAX_LENGTH = 64 * 1024 * 1024 * 8
"""Refuse to inflate a list beyond 64 MiB (a GZIP bomb would say nothing of status)."""

_RANDOM_TRIES = 64

StatusPurpose = Literal["revocation", "suspension"]
_PURPOSES: tuple[str, ...] = ("revocation", "suspension")
_VC2_CONTEXT = "https://www.w3.org/ns/credentials/v2"


class StatusListError(VerificationError):
    """A status list that cannot be decoded, is too short, or an index outside it."""


class StatusList:
    """A mutable bitstring of credential statuses (1 bit per credential)."""

    __slots__ = ("_bits", "_length")

    def __init__(self, length: int = MIN_LENGTH) -> None:
        if length < MIN_LENGTH:
            raise StatusListError(
                f"a status list needs at least {MIN_LENGTH} entries for herd privacy, got {length}"
            )
        if length % 8:
            raise StatusListError(f"status list length must be a multiple of 8, got {length}")
        self._length = length
        self._bits = bytearray(length // 8)

    @property
    def length(self) -> int:
        """Number of entries."""
        return self._length

    def _locate(self, index: int) -> tuple[int, int]:
        if not 0 <= index < self._length:
            raise StatusListError(f"index {index} is outside the list of {self._length} entries")
        return index // 8, 0x80 >> (index % 8)

    def set(self, index: int, value: bool) -> None:
        """Set (``True``: revoked/suspended) or clear the status bit at ``index``."""
        byte, mask = self._locate(index)
        if value:
            self._bits[byte] |= mask
        else:
            self._bits[byte] &= ~mask & 0xFF

    def get(self, index: int) -> bool:
        """The status bit at ``index``."""
        byte, mask = self._locate(index)
        return bool(self._bits[byte] & mask)

    def to_bytes(self) -> bytes:
        """The raw bitstring (index 0 = most significant bit of byte 0)."""
        return bytes(self._bits)

    def encode(self) -> str:
        """``encodedList``: GZIP, then multibase base64url without padding (``u…``)."""
        return encode_base64url(gzip.compress(bytes(self._bits), mtime=0))

    @classmethod
    def decode(cls, encoded: str) -> StatusList:
        """Parse an ``encodedList``; raise :class:`StatusListError` for anything corrupt."""
        if not encoded.startswith("u"):
            raise StatusListError("encodedList must be multibase base64url (starting with 'u')")
        try:
            compressed = decode_multibase(encoded)
        except MultibaseError as exc:
            raise StatusListError(f"encodedList is not base64url: {exc.message}") from exc
        bits = _gunzip(compressed)
        lst = cls(len(bits) * 8)
        lst._bits[:] = bits
        return lst

    def allocate_random_index(self, used: AbstractSet[int]) -> int:
        """Pick an unused index uniformly at random (``secrets``), so indexes leak nothing."""
        if len(used) >= self._length and all(0 <= i < self._length for i in used):
            raise StatusListError("status list is full; start a new list")
        for _ in range(_RANDOM_TRIES):
            index = secrets.randbelow(self._length)
            if index not in used:
                return index
        free = [i for i in range(self._length) if i not in used]
        if not free:
            raise StatusListError("status list is full; start a new list")
        return secrets.choice(free)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StatusList):
            return NotImplemented
        return self._bits == other._bits

    def __repr__(self) -> str:
        return f"StatusList(length={self._length}, set={sum(map(int.bit_count, self._bits))})"


def _gunzip(data: bytes) -> bytes:
    if data[:2] != b"\x1f\x8b":
        raise StatusListError("encodedList is not GZIP data")
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        bits = inflater.decompress(data, _MAX_LENGTH // 8 + 1)
    except zlib.error as exc:
        raise StatusListError(f"encodedList is corrupt GZIP: {exc}") from exc
    if len(bits) > _MAX_LENGTH // 8:
        raise StatusListError("encodedList inflates beyond 64 MiB")
    if not inflater.eof or inflater.unused_data:
        raise StatusListError("encodedList GZIP stream is truncated or has trailing data")
    if len(bits) * 8 < MIN_LENGTH:
        raise StatusListError(
            f"decoded status list has {len(bits) * 8} entries; the minimum is {MIN_LENGTH}"
        )
    return bits


def _purpose(purpose: str) -> str:
    if purpose not in _PURPOSES:
        raise StatusListError(
            f"status purpose must be 'revocation' or 'suspension', not {purpose!r}"
        )
    return purpose


def status_list_credential(
    id: str,
    issuer: str,
    purpose: StatusPurpose,
    lst: StatusList,
    valid_from: datetime,
    valid_until: datetime,
    *,
    ttl: timedelta = timedelta(minutes=5),
) -> dict[str, Any]:
    """An unsigned VC 2.0 ``BitstringStatusListCredential`` publishing ``lst``.

    Secure it with :func:`signing.proofs.add_proof` before publishing.
    """
    if valid_until <= valid_from:
        raise StatusListError("validUntil must be after validFrom")
    return {
        "@context": [_VC2_CONTEXT],
        "id": id,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": issuer,
        "validFrom": format_created(valid_from),
        "validUntil": format_created(valid_until),
        "credentialSubject": {
            "id": f"{id}#list",
            "type": "BitstringStatusList",
            "statusPurpose": _purpose(purpose),
            "encodedList": lst.encode(),
            "ttl": int(ttl.total_seconds() * 1000),
        },
    }


def status_entry(list_url: str, index: int, purpose: StatusPurpose) -> dict[str, str]:
    """The ``credentialStatus`` member for a credential at ``index`` of ``list_url``."""
    if index < 0:
        raise StatusListError(f"status list index must not be negative, got {index}")
    return {
        "id": f"{list_url}#{index}",
        "type": "BitstringStatusListEntry",
        "statusPurpose": _purpose(purpose),
        "statusListIndex": str(index),
        "statusListCredential": list_url,
    }


def status_list_from_credential(credential: dict[str, Any], purpose: StatusPurpose) -> StatusList:
    """Decode the list inside a (verified) status list credential of the given purpose."""
    types = credential.get("type")
    if not isinstance(types, list) or "BitstringStatusListCredential" not in types:
        raise StatusListError("not a BitstringStatusListCredential")
    subject = credential.get("credentialSubject")
    if not isinstance(subject, dict) or subject.get("type") != "BitstringStatusList":
        raise StatusListError("credentialSubject is not a BitstringStatusList")
    if subject.get("statusPurpose") != purpose:
        raise StatusListError(
            f"status list purpose is {subject.get('statusPurpose')!r}, expected {purpose!r}"
        )
    encoded = subject.get("encodedList")
    if not isinstance(encoded, str):
        raise StatusListError("credentialSubject.encodedList must be a string")
    return StatusList.decode(encoded)
