"""The console's verify page: a valid licence is drawn; a forged one never looks official."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from exchange.certificates.models import CertificateRequest
from exchange.certificates.qr import qr_text
from exchange.demo.city import City
from exchange.demo.setup import DemoDepartment
from exchange.server import build_app
from exchange.service import Exchange
from signing.proofs import add_proof
from tests.support.certificates import id_card_subject

HTML = {"accept": "text/html"}


@pytest.fixture
def console(exchange: Exchange) -> Iterator[tuple[TestClient, str]]:
    with TestClient(build_app(exchange), raise_server_exceptions=False) as client:
        login = client.get("/console/login")
        r = client.post(
            "/console/login",
            data={"csrf": _token(login.text), "method": "demo", "department": "budongchan"},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        yield client, _token(client.get("/console/verify", headers=HTML).text)


def _token(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]*)"', html)
    assert match is not None
    return match.group(1)


def _id_card(exchange: Exchange, city: City, index: int) -> dict[str, object]:
    person = city.people[index]
    subject = id_card_subject(person)
    gongan = exchange.registry.by_code("gongan").uscc
    return exchange.certificates.issue(
        gongan, CertificateRequest(type="resident_id_card", subject=subject)
    ).credential


def _verify(console: tuple[TestClient, str], text: str) -> str:
    client, csrf = console
    r = client.post("/console/verify", data={"csrf": csrf, "document": text}, headers=HTML)
    assert r.status_code == 200, r.text
    return r.text


def test_a_valid_licence_is_drawn_with_its_qr_and_print(
    console: tuple[TestClient, str], exchange: Exchange, city: City
) -> None:
    html = _verify(console, qr_text(_id_card(exchange, city, 60)))
    assert 'data-verdict="valid"' in html
    assert 'class="licence"' in html
    assert "扫码离线核验" in html
    assert "data-print" in html


def _assert_not_official(html: str) -> None:
    assert 'data-verdict="invalid"' in html
    assert "无效 — 不得作为办事依据" in html
    assert 'class="licence"' not in html
    assert "qr-code" not in html
    assert "扫码离线核验" not in html
    assert "data-print" not in html
    first_check = html.index('data-check="')
    assert 'class="check-bad"' in html[first_check - 40 : first_check]  # failures first


def test_a_tampered_licence_shows_failed_checks_and_raw_fields_never_the_card(
    console: tuple[TestClient, str], exchange: Exchange, city: City
) -> None:
    doc = _id_card(exchange, city, 61)
    html = _verify(console, qr_text({**doc, "name": "结婚证"}))
    _assert_not_official(html)
    assert "伪造" not in html
    assert str(doc["credentialSubject"]["holder_name"]) in html  # type: ignore[index]  # raw fields


def test_a_licence_re_signed_without_its_status_is_not_official(
    console: tuple[TestClient, str], exchange: Exchange, city: City
) -> None:
    doc = _id_card(exchange, city, 62)
    forged = copy.deepcopy(doc)
    forged["credentialSubject"]["address"] = "伪造地址 1 号"  # type: ignore[index]
    forged.pop("credentialStatus")
    forged.pop("proof")
    gongan = DemoDepartment.load(exchange, "gongan")
    forged = add_proof(
        forged,
        gongan.cert_key,
        verification_method=f"urn:govex:key:{gongan.cert_kid}",
        created=datetime.now(UTC).replace(microsecond=0),
    )
    _assert_not_official(_verify(console, qr_text(forged)))
