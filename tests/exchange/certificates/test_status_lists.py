"""Status lists as the README's ``GOVEX_SIGNING__STATUS_LIST_TTL_S`` row describes them:
re-signed at most once per TTL, at once after a revocation; the TTL in the list (``ttl``,
milliseconds) and in its answer (``Cache-Control: max-age``); each signed list valid a day."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi.testclient import TestClient

from exchange.demo.city import City
from exchange.service import Exchange
from tests.exchange.certificates.test_service import Auth, issue_id_card
from tests.exchange.certificates.test_status import _set_status


def test_the_ttl_setting_behaves_as_the_readme_says(
    client: TestClient, auth: Auth, exchange: Exchange, city: City
) -> None:
    doc = issue_id_card(client, auth, city.people[21])["credential"]
    entry = next(e for e in doc["credentialStatus"] if e["statusPurpose"] == "revocation")
    path = entry["statusListCredential"].removeprefix(exchange.identity.issuer)
    ttl = exchange.settings.signing.status_list_ttl_s
    first = client.get(path)
    assert first.headers["cache-control"] == f"public, max-age={ttl}"
    signed = first.json()
    assert signed["credentialSubject"]["ttl"] == ttl * 1000
    valid = datetime.fromisoformat(signed["validUntil"]) - datetime.fromisoformat(
        signed["validFrom"]
    )
    assert valid == timedelta(days=1)
    assert client.get(path).json() == signed  # within the TTL: the same signed list
    _set_status(client, auth, doc, "revoke")
    after = client.get(path).json()  # a revocation: signed again at once
    assert after["proof"] != signed["proof"]
    assert after["credentialSubject"]["encodedList"] != signed["credentialSubject"]["encodedList"]
