"""The shape of a credential document, checked by the ``schema`` check of
:mod:`exchange.certificates.checks`: the VC 2.0 minimum of a document that is not a govex
certificate; a govex certificate's top-level members and issuer object; its GB/T 36903
``metadata``, which must say exactly what the rest of the credential says.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from exchange.certificates.vocabulary import VC2_CONTEXT, local_date, parse_timestamp
from schemas.certificates import CertificateType

__all__ = ["CheckFailed", "check_issuer_shape", "check_members", "check_metadata", "check_vc2"]

_TOP_LEVEL = frozenset(
    {
        "@context",
        "id",
        "type",
        "name",
        "issuer",
        "validFrom",
        "validUntil",
        "credentialSchema",
        "credentialSubject",
        "metadata",
        "credentialStatus",
        "proof",
    }
)
_ISSUER_KEYS = frozenset({"id", "name"})
_DATES_LIMIT = 4_096  # real dates remembered (issue dates repeat)


class CheckFailed(Exception):
    """A check that did not pass, with its reason."""


_REAL_DATES: set[str] = set()  # "YYYY-MM-DD" strings found to be real dates (issue dates)


def _is_date(text: str) -> bool:
    if text in _REAL_DATES:
        return True
    try:
        real = len(text) == 10 and date.fromisoformat(text).isoformat() == text
    except ValueError:
        return False
    if real and len(_REAL_DATES) < _DATES_LIMIT:
        _REAL_DATES.add(text)
    return real


def check_vc2(doc: dict[str, Any]) -> None:
    """A VC 2.0 document at least: its first context, its type, a subject."""
    context = doc.get("@context")
    types = doc.get("type")
    if not isinstance(context, list) or not context or context[0] != VC2_CONTEXT:
        raise CheckFailed(f"@context must start with {VC2_CONTEXT}")
    if not isinstance(types, list) or "VerifiableCredential" not in types:
        raise CheckFailed("type must include VerifiableCredential")
    if not isinstance(doc.get("credentialSubject"), dict | list):
        raise CheckFailed("credentialSubject is missing")


def check_members(doc: dict[str, Any]) -> None:
    """No top-level member a govex certificate does not have."""
    if not _TOP_LEVEL.issuperset(doc):
        unknown = sorted(set(doc) - _TOP_LEVEL)
        raise CheckFailed(f"unexpected members in a govex certificate: {', '.join(unknown)}")


def check_issuer_shape(issuer: object) -> dict[str, Any]:
    """The issuer, an object of exactly ``id`` and ``name``."""
    if not isinstance(issuer, dict) or len(issuer) != 2 or not _ISSUER_KEYS.issuperset(issuer):
        raise CheckFailed(
            'issuer must be {"id": "did:web:<exchange>:departments:<USCC>", "name": "<department>"}'
        )
    return issuer


def check_metadata(
    doc: dict[str, Any],
    valid_from: datetime | None,
    ctype: CertificateType,
    subject: dict[str, Any],
    issuer_uscc: str,
    issuer_name: str,
) -> None:
    """GB/T 36903 ``metadata``: exactly what the rest of the credential says (``valid_from``:
    ``validFrom`` when already parsed)."""
    metadata = doc.get("metadata")
    if not isinstance(metadata, dict):
        raise CheckFailed("metadata (GB/T 36903) must be an object")
    issue_date = metadata.get("issue_date")
    if not isinstance(issue_date, str) or not _is_date(issue_date):
        raise CheckFailed("metadata.issue_date must be a date YYYY-MM-DD")
    valid_from = valid_from or parse_timestamp(doc.get("validFrom"), "validFrom")
    end = doc.get("validUntil")
    expected = {
        "type_code": ctype.type_code,
        "holder_name": subject["holder_name"],
        "holder_code": subject["holder_code"],
        "holder_code_type": ctype.holder_code_type.value,
        "issuer_name": issuer_name,
        "issuer_uscc": issuer_uscc,
        "issue_date": issue_date,
        "valid_from": local_date(valid_from),
        "valid_until": local_date(parse_timestamp(end, "validUntil")) if end else None,
    }
    if metadata != expected:
        wrong = sorted(
            k for k in set(expected) | set(metadata) if metadata.get(k, ...) != expected.get(k)
        )
        raise CheckFailed(f"metadata disagrees with the credential: {', '.join(wrong)}")
