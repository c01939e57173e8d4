"""RELIABILITY C4: revocation takes effect online at once, offline once the trust bundle is
refreshed; an entry that cannot be checked is refused (fail closed); a credential without
status is judged on its proof and validity."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from exchange.certificates.bundle import TrustBundle
from exchange.certificates.did import method_kid
from exchange.certificates.models import CertificateRequest
from exchange.certificates.status_lists import STATUS_LIST_VALIDITY
from exchange.certificates.trust import StatusSnapshot
from exchange.certificates.verifier import Verifier
from exchange.certificates.vocabulary import TrustError
from exchange.demo.city import City
from exchange.service import Exchange
from signing.multibase import decode_multikey
from tests.support.certificates import id_card_subject

Auth = Callable[[str], dict[str, str]]
VECTORS = Path(__file__).resolve().parents[3].parent / "shared" / "vectors"
W3C = VECTORS / "vc-di" / "ecdsa-jcs-2019-p256"


def _issue(exchange: Exchange, city: City, index: int) -> dict[str, Any]:
    person = city.people[index]
    subject = id_card_subject(person)
    gongan = exchange.registry.by_code("gongan").uscc
    cert = exchange.certificates.issue(
        gongan, CertificateRequest(type="resident_id_card", subject=subject)
    )
    return cert.credential


def _bundle(exchange: Exchange) -> TrustBundle:
    return TrustBundle.from_json(json.dumps(exchange.certificates.trust_bundle().to_json()))


def _set_status(client: TestClient, auth: Auth, doc: dict[str, Any], action: str) -> None:
    cid = doc["id"].removeprefix("urn:govex:cert:")
    r = client.post(
        f"/v1/certificates/{cid}/status",
        json={"action": action, "reason": "C4"},
        headers=auth("gongan"),
    )
    assert r.status_code == 200, r.text
    assert (
        r.json()["status"]
        == {"revoke": "revoked", "suspend": "suspended", "resume": "active"}[action]
    )


def _status_failure(
    verifier: Verifier, doc: dict[str, Any], *, also: frozenset[str] = frozenset()
) -> str | None:
    verdict = verifier.check(doc)
    failures = {c.name: c.reason for c in verdict.failures}
    assert set(failures) <= {"status", *also}, failures
    return failures.get("status")


def test_c4_revocation_is_refused_online_at_once_and_offline_after_refresh(
    client: TestClient, auth: Auth, exchange: Exchange, city: City
) -> None:
    docs = [_issue(exchange, city, i) for i in range(20, 30)]
    before = Verifier(_bundle(exchange))
    online = exchange.certificates.verifier
    for doc in docs:
        _set_status(client, auth, doc, "revoke")
    accepted_online = sum(_status_failure(online, doc) is None for doc in docs)
    stale = sum(_status_failure(before, doc) is None for doc in docs)
    after = Verifier(_bundle(exchange))
    accepted_offline = sum(_status_failure(after, doc) is None for doc in docs)
    api = [client.post("/v1/verify", json=doc, headers=auth("budongchan")).json() for doc in docs]
    print(
        f"C4 accepted after revocation: online {accepted_online}/{len(docs)}, offline after "
        f"refresh {accepted_offline}/{len(docs)} (stale snapshot still accepts {stale})"
    )
    assert accepted_online == 0
    assert accepted_offline == 0
    assert stale == len(docs)  # the old snapshot is what it was: refresh is what updates it
    assert not any(v["valid"] for v in api)
    assert all("revoked" in (_status_failure(after, doc) or "") for doc in docs)


def test_c4_suspension_and_resumption(
    client: TestClient, auth: Auth, exchange: Exchange, city: City
) -> None:
    doc = _issue(exchange, city, 31)
    online = exchange.certificates.verifier
    _set_status(client, auth, doc, "suspend")
    assert "suspended" in (_status_failure(online, doc) or "")
    assert "suspended" in (_status_failure(Verifier(_bundle(exchange)), doc) or "")
    _set_status(client, auth, doc, "resume")
    assert _status_failure(online, doc) is None
    assert _status_failure(Verifier(_bundle(exchange)), doc) is None
    _set_status(client, auth, doc, "revoke")
    cid = doc["id"].removeprefix("urn:govex:cert:")
    r = client.post(
        f"/v1/certificates/{cid}/status",
        json={"action": "resume", "reason": "x"},
        headers=auth("gongan"),
    )
    assert r.status_code == 409
    r = client.post(
        f"/v1/certificates/{cid}/status",
        json={"action": "revoke", "reason": "x"},
        headers=auth("minzheng"),
    )
    assert r.status_code == 403
    r = client.post(
        f"/v1/certificates/{cid}/status",
        json={"action": "revoke", "reason": " "},
        headers=auth("gongan"),
    )
    assert r.status_code == 422


def test_c4_a_status_entry_that_cannot_be_checked_is_refused(
    exchange: Exchange, city: City
) -> None:
    doc = _issue(exchange, city, 32)
    full = exchange.certificates.trust_bundle()
    no_lists = TrustBundle(
        full.root,
        seals=full.seals.values(),
        status_signers=full.status_signers.values(),
        issued=full.issued,
    )
    assert "no snapshot" in (_status_failure(Verifier(no_lists), doc) or "")
    expired_at = datetime.now(UTC) + STATUS_LIST_VALIDITY + timedelta(minutes=1)
    late = Verifier(full, clock=lambda: expired_at)
    assert "expired" in (_status_failure(late, doc) or "")
    # a snapshot whose list was altered, or signed by a department's seal instead of the exchange
    url = doc["credentialStatus"][0]["statusListCredential"]
    forged = json.loads(json.dumps(full.snapshots[url].credential))
    encoded = forged["credentialSubject"]["encodedList"]
    middle = len(encoded) // 2
    swapped = "B" if encoded[middle] != "B" else "C"
    forged["credentialSubject"]["encodedList"] = encoded[:middle] + swapped + encoded[middle + 1 :]
    altered = TrustBundle(
        full.root,
        seals=full.seals.values(),
        status_signers=full.status_signers.values(),
        snapshots=[StatusSnapshot(url, full.created, forged)],
        issued=full.issued,
    )
    assert "refused" in (_status_failure(Verifier(altered), doc) or "")
    wrong_signer = TrustBundle(
        full.root, seals=full.seals.values(), status_signers=[], snapshots=full.snapshots.values()
    )
    register = frozenset({"register"})  # nor can the issued list signed by that key
    assert "status key" in (_status_failure(Verifier(wrong_signer), doc, also=register) or "")
    # an unknown purpose, or a key given without any status source
    odd = json.loads(json.dumps(doc))
    odd["credentialStatus"][0]["statusPurpose"] = "message"
    assert not Verifier(full).check(odd).valid
    key = full.seal(method_kid(doc["proof"]["verificationMethod"])[1])
    assert key is not None
    keyed = Verifier(public_key=key.certificate.public_key())  # type: ignore[arg-type]
    assert "fail closed" in (_status_failure(keyed, doc, also=frozenset({"register"})) or "")


def test_c4_a_foreign_credential_checked_by_key_without_status_is_judged_on_proof() -> None:
    """Not a govex certificate type: no status entry to demand (a govex one is refused)."""
    signed = json.loads((W3C / "signedJCSECDSAP256.json").read_text("utf-8"))
    pair = json.loads((W3C / "p256KeyPair.json").read_text("utf-8"))
    verifier = Verifier(public_key=decode_multikey(pair["publicKeyMultibase"]))
    verdict = verifier.check(signed)
    assert verdict.valid, verdict
    status = next(c for c in verdict.checks if c.name == "status")
    assert "no credentialStatus" in (status.reason or "")
    expired = Verifier(
        public_key=decode_multikey(pair["publicKeyMultibase"]),
        clock=lambda: datetime(2022, 1, 1, tzinfo=UTC),
    )
    assert [c.name for c in expired.check(signed).failures] == ["validity_period"]
    altered = {**signed, "name": "Alumni Credential!"}
    assert [c.name for c in verifier.check(altered).failures] == ["proof"]


def test_trust_bundles_refuse_malformed_input() -> None:
    for text, says in (
        ("[]", "not a trust bundle"),
        ('{"type": "GovexTrustBundle", "version": 9}', "version"),
        ('{"type": "GovexTrustBundle", "version": 1}', "version 1 is not supported"),
        ('{"type": "GovexTrustBundle", "version": 2}', "lacks"),
        ('{"type": "GovexTrustBundle", "type": "x"}', "duplicate key"),
    ):
        with pytest.raises(TrustError, match=says):
            TrustBundle.from_json(text)


def test_a_trust_bundle_entry_must_certify_the_key_it_names(exchange: Exchange) -> None:
    data = exchange.certificates.trust_bundle().to_json()
    data["seal_certificates"][0]["kid"] = data["seal_certificates"][1]["kid"]
    with pytest.raises(TrustError, match="certifies"):
        TrustBundle.from_json(json.dumps(data))
