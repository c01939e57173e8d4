"""One issued credential of every certificate type, from its competent department."""

from __future__ import annotations

from typing import Any

from exchange.certificates.models import CertificateRequest
from exchange.service import Exchange
from schemas.certificates import load_certificate_types
from tests.schemas.test_certificates import SUBJECTS


def issue_every_type(exchange: Exchange) -> dict[str, dict[str, Any]]:
    """Type code → a credential of that type ``exchange`` issued (every type there is)."""
    issued: dict[str, dict[str, Any]] = {}
    for ctype in load_certificate_types().values():
        uscc = exchange.registry.by_code(ctype.department).uscc
        request = CertificateRequest(type=ctype.code, subject=SUBJECTS[ctype.code])
        issued[ctype.code] = exchange.certificates.issue(uscc, request).credential
    return issued
