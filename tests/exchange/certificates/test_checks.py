"""J3: a credential without the exchange's status entry, or whose content differs from what
was issued under its id, is refused online (API and service) and offline (trust bundle)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient

from exchange.certificates.bundle import TrustBundle
from exchange.certificates.models import CertificateRequest, StatusAction, StatusChange
from exchange.certificates.register import CertificateRegister
from exchange.certificates.verifier import Verifier
from exchange.certificates.vocabulary import credential_digest, key_urn
from exchange.demo.city import City
from exchange.demo.setup import DemoDepartment
from exchange.service import Exchange
from signing.proofs import add_proof
from tests.support.certificates import id_card_subject

Auth = Callable[[str], dict[str, str]]


def _id_card(exchange: Exchange, city: City, index: int) -> dict[str, Any]:
    person = city.people[index]
    subject = id_card_subject(person)
    gongan = exchange.registry.by_code("gongan").uscc
    return exchange.certificates.issue(
        gongan, CertificateRequest(type="resident_id_card", subject=subject)
    ).credential


def _resign(exchange: Exchange, doc: dict[str, Any]) -> dict[str, Any]:
    gongan = DemoDepartment.load(exchange, "gongan")
    unsigned = {k: v for k, v in doc.items() if k != "proof"}
    now = datetime.now(UTC).replace(microsecond=0)
    return add_proof(unsigned, gongan.cert_key, verification_method=key_urn(gongan.cert_kid),
                     created=now)  # fmt: skip


def test_a_revoked_certificate_re_signed_without_status_is_refused_online_and_offline(
    client: TestClient, auth: Auth, exchange: Exchange, city: City
) -> None:
    doc = _id_card(exchange, city, 70)
    cid = doc["id"].removeprefix("urn:govex:cert:")
    exchange.certificates.change_status(
        exchange.registry.by_code("gongan").uscc,
        cid,
        StatusChange(action=StatusAction.REVOKE, reason="J3"),
    )
    forged = copy.deepcopy(doc)
    forged["credentialSubject"]["address"] = "河南省信阳市浉河区伪造路 1 号"
    del forged["credentialStatus"]
    forged = _resign(exchange, forged)

    r = client.post("/v1/verify", json=forged, headers=auth("budongchan"))
    assert r.status_code == 200, r.text
    body = r.json()
    failed = {c["name"]: c["reason"] for c in body["checks"] if not c["passed"]}
    assert body["valid"] is False
    assert "no credentialStatus" in failed["status"]
    assert "differs from what the exchange issued" in failed["register"]

    assert not exchange.certificates.verify("test", forged).valid
    offline = Verifier(
        TrustBundle.from_json(json.dumps(exchange.certificates.trust_bundle().to_json()))
    )
    verdict = offline.check(forged)
    failed = {c.name: c.reason or "" for c in verdict.failures}
    assert set(failed) == {"status", "register"}, failed
    assert "not among" in failed["register"]


def test_the_same_content_re_signed_keeps_its_status_online(exchange: Exchange, city: City) -> None:
    """Identical content re-signed is what was issued; its revocation still shows online."""
    doc = _id_card(exchange, city, 71)
    gongan = exchange.registry.by_code("gongan").uscc
    cid = doc["id"].removeprefix("urn:govex:cert:")
    resigned = _resign(exchange, doc)
    assert exchange.certificates.verifier.check(resigned).valid
    exchange.certificates.change_status(
        gongan, cid, StatusChange(action=StatusAction.SUSPEND, reason="J3")
    )
    failed = {
        c.name: c.reason or "" for c in exchange.certificates.verifier.check(resigned).failures
    }
    assert list(failed) == ["status"], failed
    assert "suspended" in failed["status"]


def test_an_id_the_exchange_never_issued_is_refused(exchange: Exchange, city: City) -> None:
    doc = _id_card(exchange, city, 72)
    exchange.store.execute(
        "DELETE FROM certificates WHERE id = ?", [doc["id"].removeprefix("urn:govex:cert:")]
    )
    failed = {c.name: c.reason or "" for c in exchange.certificates.verifier.check(doc).failures}
    assert "never issued" in failed["register"], failed


def test_certificates_issued_before_digests_were_kept_get_theirs(
    exchange: Exchange, city: City
) -> None:
    doc = _id_card(exchange, city, 73)
    cid = doc["id"].removeprefix("urn:govex:cert:")
    exchange.store.execute("UPDATE certificates SET digest = NULL WHERE id = ?", [cid])
    register = CertificateRegister(exchange.store)
    assert register.issued(cid) is None
    assert register.backfill_digests() >= 1
    record = register.issued(cid)
    assert record is not None
    assert record.digest == credential_digest(doc)


def test_metadata_dates_are_checked_each_time_though_real_ones_are_remembered(
    exchange: Exchange, city: City
) -> None:
    doc = _id_card(exchange, city, 72)
    bundle = exchange.certificates.trust_bundle().to_json()
    verifier = Verifier(TrustBundle.from_json(json.dumps(bundle)))
    assert verifier.check(doc).valid
    assert verifier.check(doc).valid  # its issue date is now a remembered real date
    for wrong in ("2026-02-30", "2026-2-03", "20260203", "２０２６-02-03"):
        altered = copy.deepcopy(doc)
        altered["metadata"]["issue_date"] = wrong
        schema = {c.name: c for c in verifier.check(altered).checks}["schema"]
        assert not schema.passed
        assert schema.reason == "metadata.issue_date must be a date YYYY-MM-DD"
