"""One issued credential of every certificate type, from its competent department."""

from __future__ import annotations

from typing import Any

from exchange.certificates.models import CertificateRequest
from exchange.demo.city import Person
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


def id_card_subject(person: Person, **changes: Any) -> dict[str, Any]:
    """A resident ID card's subject for ``person`` of the demo city, with ``changes``."""
    return {
        "holder_name": person.name,
        "holder_code": person.id_number,
        "holder_code_type": "citizen_id",
        "sex": person.sex,
        "ethnicity": "01",
        "birth_date": person.birth_date.isoformat(),
        "address": person.address,
        "issuing_authority": "信阳市公安局",
        **changes,
    }
