"""A whole credential in a QR code, for an offline check at a counter.

The payload follows the EU Digital COVID Certificate's ``HC1:`` scheme: a version
prefix, then base45 (RFC 9285) of the zlib-compressed content. Here the content
is the credential's canonical JSON (RFC 8785)::

    GX1:<base45(zlib(JCS(credential)))>

base45 uses only characters of the QR alphanumeric mode, so the code stays small
(a typical certificate fits a version 25–30 symbol). Decoding refuses anything
that inflates beyond 64 KiB (a zlib bomb says nothing about a certificate) and
JSON with duplicate keys.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import base45
import segno

from exchange.certificates.intake import MAX_CREDENTIAL_BYTES, credential_text_limits
from exchange.errors import InvalidRequest
from signing.canonical import canonicalize, parse_strict
from signing.errors import SigningError

__all__ = [
    "QR_PREFIX",
    "QrError",
    "credential_from_qr_text",
    "qr_text",
    "write_qr",
]

QR_PREFIX = "GX1:"


class QrError(InvalidRequest):
    """QR text that is not a govex credential payload."""


def qr_text(credential: dict[str, Any]) -> str:
    """The QR payload of a credential: ``GX1:`` + base45(zlib(canonical JSON))."""
    compressed = zlib.compress(canonicalize(credential), 9)
    encoded: bytes = base45.b45encode(compressed)
    return QR_PREFIX + encoded.decode("ascii")


def credential_from_qr_text(text: str) -> dict[str, Any]:
    """The credential carried by QR text; refuse other prefixes, bad base45, bombs, bad JSON."""
    text = text.strip()
    if not text.startswith(QR_PREFIX):
        raise QrError(f"QR text must start with {QR_PREFIX} (a govex credential payload)")
    try:
        compressed = base45.b45decode(text.removeprefix(QR_PREFIX))
    except (ValueError, KeyError) as exc:
        raise QrError("QR text is not valid base45 after the GX1: prefix") from exc
    inflater = zlib.decompressobj()
    try:
        data = inflater.decompress(compressed, MAX_CREDENTIAL_BYTES + 1)
    except zlib.error as exc:
        raise QrError(f"QR payload is not zlib data: {exc}") from exc
    if len(data) > MAX_CREDENTIAL_BYTES or inflater.unconsumed_tail:
        raise QrError(f"QR payload inflates beyond {MAX_CREDENTIAL_BYTES} bytes")
    if not inflater.eof or inflater.unused_data:
        raise QrError("QR payload is truncated or has trailing data")
    credential_text_limits(data)  # the nesting cap, before parsing
    try:
        credential = parse_strict(data)
    except SigningError as exc:
        raise QrError(f"QR payload is not acceptable JSON: {exc.message}") from exc
    if not isinstance(credential, dict):
        raise QrError("QR payload is not a credential (a JSON object)")
    return credential


def write_qr(text: str, path: Path) -> None:
    """Write ``text`` as a QR code: PNG or SVG, chosen by the file's suffix."""
    suffix = path.suffix.lower()
    if suffix not in (".png", ".svg"):
        raise QrError(f"QR output must be a .png or .svg file, not {path.name!r}")
    code = segno.make_qr(text, error="m")
    code.save(str(path), scale=4 if suffix == ".png" else 2, border=4)
