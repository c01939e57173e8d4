"""What a verifier agrees to parse: a size cap and a nesting cap, on every path.

A credential is a few kilobytes nested a few levels deep; anything far beyond says
nothing about a certificate and only costs the verifier. Every path that parses a
credential (``POST /v1/verify`` JSON and text bodies, QR text, the console, the CLI)
goes through :func:`credential_text_limits` before parsing, and :func:`credential_limits`
guards an already parsed value, so no verification ends in ``RecursionError``:

* larger than :data:`MAX_CREDENTIAL_BYTES` → :class:`CredentialTooLarge` (413,
  ``exchange.payload_too_large``);
* nested deeper than :data:`MAX_CREDENTIAL_DEPTH` → :class:`CredentialTooDeep` (422,
  ``schema.malformed_json``).
"""

from __future__ import annotations

import re
from typing import Any

from exchange.errors import ExchangeError, InvalidRequest, PayloadTooLarge
from schemas.errors import ErrorCode
from signing.canonical import json_shape

__all__ = [
    "MAX_CREDENTIAL_BYTES",
    "MAX_CREDENTIAL_DEPTH",
    "VERIFY_QUEUE",
    "VERIFY_WORKERS",
    "CredentialTooDeep",
    "CredentialTooLarge",
    "VerifierBusy",
    "credential_limits",
    "credential_shape",
    "credential_text_limits",
    "nesting_limits",
]

MAX_CREDENTIAL_BYTES = 64 * 1024
MAX_CREDENTIAL_DEPTH = 32
VERIFY_WORKERS = 4
"""Verifications running at once off the event loop (each is CPU-bound: a proof check)."""
VERIFY_QUEUE = 64
"""Verifications allowed to wait for a worker; beyond that the API answers 503."""

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)  # unrolled: no per-byte branch
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


class CredentialTooLarge(PayloadTooLarge):
    """A credential larger than :data:`MAX_CREDENTIAL_BYTES`."""


class CredentialTooDeep(InvalidRequest):
    """A credential nested deeper than :data:`MAX_CREDENTIAL_DEPTH`."""

    code = ErrorCode.MALFORMED_JSON


class VerifierBusy(ExchangeError):
    """Every verification worker is busy and the queue is full: try again shortly (503)."""

    code = ErrorCode.VERIFIER_BUSY
    status = 503
    title = "Verifier busy"


def credential_text_limits(text: bytes | str) -> bytes:
    """The text as bytes, once it is within the size and depth caps; else raise."""
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if len(raw) > MAX_CREDENTIAL_BYTES:
        raise CredentialTooLarge(
            f"a credential is at most {MAX_CREDENTIAL_BYTES // 1024} KiB; this one has "
            f"{len(raw)} bytes"
        )
    return nesting_limits(raw)


def nesting_limits(raw: bytes) -> bytes:
    """``raw`` once its JSON nesting (strings skipped) is within :data:`MAX_CREDENTIAL_DEPTH`."""
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    depth = 0
    for ch in brackets:
        depth += 1 if ch in (0x5B, 0x7B) else -1
        if depth > MAX_CREDENTIAL_DEPTH:
            raise CredentialTooDeep(
                f"a credential is nested at most {MAX_CREDENTIAL_DEPTH} levels deep"
            )
    return raw


def credential_limits(value: Any) -> Any:
    """``value`` once its nesting is within :data:`MAX_CREDENTIAL_DEPTH` (checked without
    recursion); else :class:`CredentialTooDeep`."""
    credential_shape(value)
    return value


def credential_shape(value: Any) -> bool:
    """:func:`credential_limits`, and whether ``value`` is made of JSON types only (the same
    walk: :func:`signing.canonical.json_shape`), for the proof check's canonical form."""
    shape = json_shape(value, MAX_CREDENTIAL_DEPTH, MAX_CREDENTIAL_BYTES)
    if shape.depth > MAX_CREDENTIAL_DEPTH:
        raise CredentialTooDeep(
            f"a credential is nested at most {MAX_CREDENTIAL_DEPTH} levels deep"
        )
    if shape.members > MAX_CREDENTIAL_BYTES:  # a value cannot have more members than bytes
        raise CredentialTooLarge(f"a credential is at most {MAX_CREDENTIAL_BYTES // 1024} KiB")
    return shape.json_types
