"""A certificate read or lookup is an entry about everyone the certificate names
(exchange/certificates/subjects.py, RELIABILITY D5)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from exchange.demo.case import issue_flat_certificates
from exchange.demo.city import City
from exchange.service import Exchange

Auth = Callable[[str], dict[str, str]]
CASE = "BDC-CERT-D5"


def _actions(client: TestClient, auth: Auth, subject: str) -> set[str]:
    body = client.get(f"/v1/audit/subjects/{subject}/accesses", headers=auth("shenji")).json()
    return {a["entry"]["action"] for a in body["data"] if a["entry"]["case_no"] == CASE}


def test_the_seller_on_a_contract_filing_finds_its_read_and_lookup(
    exchange: Exchange, client: TestClient, auth: Auth, city: City
) -> None:
    flat = city.flats[7]
    issued = issue_flat_certificates(exchange, flat)
    filing = issued["sales_contract_filing_certificate"]
    seller = filing.credential["credentialSubject"]["seller_uscc"]
    assert seller != filing.holder_code
    params = {"purpose": "核验", "case": CASE}
    read = client.get(f"/v1/certificates/{filing.id}", params=params, headers=auth("budongchan"))
    assert read.status_code == 200, read.text
    assert "cert.read" in _actions(client, auth, seller)
    found = client.get(
        "/v1/certificates",
        params={**params, "holder": filing.holder_code, "type": filing.type},
        headers=auth("budongchan"),
    )
    assert found.status_code == 200, found.text
    assert {"cert.read", "cert.lookup"} <= _actions(client, auth, seller)
    assert {"cert.read", "cert.lookup"} <= _actions(client, auth, filing.holder_code)
