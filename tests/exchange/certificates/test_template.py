"""Canonical bytes from a per-type template: the same bytes as canonicalizing the whole
document, for every subject (odd characters included), and a bulk-issued certificate the
same, byte for byte, as one issued singly."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from exchange import moment
from exchange.certificates.issuance import _status_pieces, _template_of
from exchange.certificates.models import BulkItem, CertificateRequest
from exchange.certificates.template import Template, marker
from exchange.config import Settings
from exchange.demo.city import City
from exchange.service import Exchange
from signing.canonical import canonicalize
from signing.status_list import status_entry
from tests.support.certificates import id_card_subject

AT = datetime(2026, 5, 1, 8, 30, tzinfo=UTC)
SEED = b"template issuance, fixed seed...!"

ODD = [
    "测试",
    'a"b\\c\n\t\u0001\u001f\u007f',
    "\U0001f600 emoji outside the BMP",
    "ｚ\u00e9\u2028\u2029",
    "",
]


def _document(subject: dict[str, Any], *, until: str | None) -> dict[str, Any]:
    document: dict[str, Any] = {
        "@context": ["https://www.w3.org/ns/credentials/v2", "https://x.example/ctx"],
        "id": "urn:govex:cert:1",
        "type": ["VerifiableCredential", "ResidentIdCard"],
        "name": "居民身份证",
        "issuer": {"id": "did:web:x.example:d:1", "name": "信阳市公安局"},
        "validFrom": "2026-05-01T08:30:00Z",
    }
    if until is not None:
        document["validUntil"] = until
    document["credentialSchema"] = {"id": "https://x.example/s", "type": "JsonSchema"}
    document["credentialSubject"] = subject
    document["metadata"] = {
        "type_code": "1001",
        "holder_name": subject.get("holder_name"),
        "holder_code": subject.get("holder_code"),
        "issuer_uscc": "11411500MB1234567X",
        "issue_date": "2026-05-01",
        "valid_from": "2026-05-01",
        "valid_until": until and until[:10],
    }
    document["credentialStatus"] = [
        status_entry("https://x.example/v1/status-lists/1", 17, "revocation"),
        status_entry("https://x.example/v1/status-lists/2", 17, "suspension"),
    ]
    return document


def _built(document: dict[str, Any], template: Template) -> bytes:
    names = {"id", "validFrom", "validUntil", "credentialSubject", "credentialStatus"}
    values = {n: canonicalize(document[n]) for n in names if n in document}
    values |= {
        n: canonicalize(document["metadata"][n])
        for n in ("holder_name", "holder_code", "issue_date", "valid_from", "valid_until")
    }
    return template.build(values)


@pytest.mark.parametrize("until", [None, "2036-05-31T15:59:59Z"])
def test_a_template_gives_the_bytes_of_the_whole_document(until: str | None) -> None:
    template = _template_of(_document({"holder_name": "x"}, until=until))
    assert template is not None
    assert ("validUntil" in template.slots) == (until is not None)
    for text in ODD:
        subject = {
            "holder_name": text,
            "holder_code": "411502195001010011",
            text or "k": [text, {"\U0001f600": 1, "é": None, "e": True}],
            "z": {"b": text, "a": 2**53 - 1},
        }
        document = _document(subject, until=until)
        assert _built(document, template) == canonicalize(document)


def test_a_marker_found_twice_leaves_no_template() -> None:
    document = _document({"holder_name": "x"}, until=None)
    document["name"] = marker("id")
    assert _template_of(document) is None


def test_status_pieces_give_the_bytes_of_the_entries() -> None:
    urls = "https://x.example/v1/status-lists/3", "https://x.example/v1/status-lists/4"
    pieces = _status_pieces(*urls)
    for index in (0, 7, 131_071):
        entries = [
            status_entry(urls[0], index, "revocation"),
            status_entry(urls[1], index, "suspension"),
        ]
        assert str(index).encode().join(pieces) == canonicalize(entries)
    assert _status_pieces("https://x.example/987654321987", urls[1]) == []


def test_a_bulk_issued_certificate_is_the_one_issued_singly(
    twins: tuple[Path, Path], city: City
) -> None:
    items = [
        BulkItem(2, id_card_subject(city.people[0])),
        BulkItem(
            3,
            id_card_subject(city.people[1], address="信阳市\U0001f600路\u0001号"),
            date(2026, 6, 1),
        ),
        BulkItem(4, id_card_subject(city.people[2]), date(2026, 6, 1), date(2036, 5, 31)),
    ]
    stored: list[list[Any]] = []
    for data, bulk in zip(twins, (False, True), strict=True):
        with Exchange.open(Settings(data=data)) as exchange:
            gongan = exchange.registry.by_code("gongan").uscc
            with moment.fixed(AT, SEED):
                if bulk:
                    result = exchange.certificates.issue_many(
                        gongan, "resident_id_card", items, workers=0
                    )
                    assert result.issued == len(items)
                else:
                    for item in items:
                        exchange.certificates.issue(
                            gongan,
                            CertificateRequest(
                                type="resident_id_card",
                                subject=item.subject,
                                valid_from=item.valid_from,
                                valid_until=item.valid_until,
                            ),
                        )
            rows = exchange.store.fetchall("SELECT * FROM certificates ORDER BY id")
            verifier = exchange.certificates.verifier
            for row in rows:
                assert verifier.check(exchange.certificates.get(row[0]).credential).valid
            stored.append(rows)
    assert len(stored[0]) == len(items)
    assert stored[1] == stored[0]
