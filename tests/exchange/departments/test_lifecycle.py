"""The department lifecycle and keys by purpose, through the real API on a real exchange.

RELIABILITY J1 (a key serves one purpose: auth, batch seal, certificate proof) and J2
(suspension and revocation take effect at once).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from exchange.certificates.bundle import TrustBundle
from exchange.certificates.did import method_kid
from exchange.certificates.models import CertificateRequest
from exchange.certificates.verifier import Verifier
from exchange.certificates.vocabulary import key_urn
from exchange.client import make_client_assertion
from exchange.demo.city import City
from exchange.demo.setup import DemoDepartment
from exchange.departments.keyfolder import KeyMaterial
from exchange.departments.registry import KeyState
from exchange.service import Exchange
from signing.ca import verify_seal_certificate
from signing.csr import csr_to_pem, make_request
from signing.keys import generate_key, kid_of, public_pem
from signing.proofs import add_proof
from signing.purposes import KeyPurposeError
from signing.seal import verify_seal
from tests.support.certificates import id_card_subject

RESOURCE = "shichang.business_licence"
AskToken = Callable[[str], Any]


def _id_card(city: City, i: int) -> dict[str, Any]:
    return id_card_subject(city.people[i])


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _token(fresh: Exchange, ask_token: AskToken, code: str) -> str:
    dept = DemoDepartment.load(fresh, code)
    r = ask_token(dept.assertion(fresh.tokens.token_endpoint))
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def _publish(api: TestClient, token: str, dept: DemoDepartment, rows: list[dict[str, Any]]) -> Any:
    batch = dept.seal(RESOURCE, rows, "uscc")
    return api.post("/v1/records", headers=_bearer(token), json=batch.model_dump())


# --------------------------------------------------------------------------- J1


def test_a_key_used_outside_its_purpose_is_refused_at_token_publish_issuance_and_verification(
    fresh: Exchange, api: TestClient, ask_token: AskToken, city: City
) -> None:
    attempts: list[tuple[str, bool]] = []
    audience = fresh.tokens.token_endpoint
    # token: an assertion signed by the seal key or the cert key
    shichang = DemoDepartment.load(fresh, "shichang")
    for key, kid in (
        (shichang.seal_key, shichang.seal_kid),
        (shichang.cert_key, shichang.cert_kid),
    ):
        r = ask_token(make_client_assertion(key, kid, shichang.uscc, audience))
        assert r.status_code == 401, r.text
        attempts.append(("token", r.status_code == 200))
    # publish: a batch sealed by the cert key or the auth key
    token = _token(fresh, ask_token, "shichang")
    rows = city.business_licences()[:3]
    for key in (shichang.cert_key, shichang.auth_key):
        r = _publish(api, token, replace(shichang, seal_key=key), rows)
        assert r.status_code == 422, r.text
        assert r.json()["code"] == "signing.invalid_seal"
        assert "only a seal key seals batches" in r.json()["detail"]
        attempts.append(("publish", r.status_code == 200))
    assert _publish(api, token, shichang, rows).status_code == 200  # its seal key does
    # issuance: the exchange proves certificates with the cert key, and takes no other
    gongan = DemoDepartment.load(fresh, "gongan")
    issued = fresh.certificates.issue(
        gongan.uscc, CertificateRequest(type="resident_id_card", subject=_id_card(city, 0))
    )
    assert method_kid(issued.credential["proof"]["verificationMethod"])[1] == gongan.cert_kid
    for key in (gongan.seal_key, gongan.auth_key):
        with pytest.raises(KeyPurposeError):
            fresh.certificates.seals.deposit(key)
        attempts.append(("issuance", False))
    # verification: a credential proved by the seal key or the auth key
    unsigned = {k: v for k, v in issued.credential.items() if k != "proof"}
    bundle = TrustBundle.from_json(json.dumps(fresh.certificates.trust_bundle().to_json()))
    for key, kid in ((gongan.seal_key, gongan.seal_kid), (gongan.auth_key, gongan.auth_kid)):
        forged = add_proof(unsigned, key, verification_method=key_urn(kid))
        for verifier in (fresh.certificates.verifier, Verifier(bundle)):
            verdict = verifier.check(forged)
            assert not verdict.valid
            assert {c.name for c in verdict.failures} >= {"issuer_chain"}
            attempts.append(("verification", verdict.valid))
        r = api.post("/v1/verify", headers=_bearer(token), content=json.dumps(forged))
        assert r.status_code == 200, r.text
        assert not r.json()["valid"]
        attempts.append(("verification", r.json()["valid"]))
    accepted = sum(ok for _, ok in attempts)
    print(f"\nJ1: key used outside its purpose accepted {accepted} of {len(attempts)}")
    assert accepted == 0


# --------------------------------------------------------------------------- J2


def test_a_token_stops_working_at_once_when_its_department_is_suspended_or_removed(
    fresh: Exchange, api: TestClient, ask_token: AskToken, city: City
) -> None:
    operator = _bearer(_token(fresh, ask_token, "dashuju"))
    token = _token(fresh, ask_token, "shichang")
    shichang = DemoDepartment.load(fresh, "shichang")
    assert api.get("/v1/departments/me", headers=_bearer(token)).status_code == 200
    accepted = 0
    r = api.post(
        "/v1/admin/departments/shichang/suspend",
        headers=operator,
        json={"reason": "security review"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "suspended"
    after = [
        api.get("/v1/departments/me", headers=_bearer(token)),
        api.get(f"/v1/resources/{RESOURCE}/records/x?purpose=p&case=c1", headers=_bearer(token)),
        _publish(api, token, shichang, city.business_licences()[:2]),
        ask_token(shichang.assertion(fresh.tokens.token_endpoint)),
    ]
    for r in after:
        assert r.status_code == 401, r.text
        assert r.json()["code"] == "exchange.department_inactive"
        accepted += r.status_code < 400
    # records already published stay; the embedded bus refuses its batches too
    bus = fresh.ingestor.ingest(
        shichang.seal(RESOURCE, city.business_licences()[:2], "uscc"), shichang.uscc, source="bus"
    )
    assert bus.accepted == 0
    assert "suspended" in bus.quarantined[0].reason
    r = api.post("/v1/admin/departments/shichang/resume", headers=operator, json={"reason": "ok"})
    assert r.status_code == 200, r.text
    assert api.get("/v1/departments/me", headers=_bearer(token)).status_code == 200
    r = api.post(
        "/v1/admin/departments/shichang/remove", headers=operator, json={"reason": "merged"}
    )
    assert r.status_code == 200, r.text
    r = api.get("/v1/departments/me", headers=_bearer(token))
    assert r.status_code == 401
    accepted += r.status_code < 400
    r = api.post("/v1/admin/departments/shichang/resume", headers=operator, json={"reason": "x"})
    assert r.status_code == 409
    print(f"\nJ2 (suspension, removal): requests accepted after {accepted}")
    assert accepted == 0


def test_a_token_stops_working_at_once_when_its_auth_key_is_revoked(
    fresh: Exchange, api: TestClient, ask_token: AskToken
) -> None:
    operator = _bearer(_token(fresh, ask_token, "dashuju"))
    token = _token(fresh, ask_token, "gongan")
    gongan = DemoDepartment.load(fresh, "gongan")
    assert api.get("/v1/departments/me", headers=_bearer(token)).status_code == 200
    r = api.post(
        "/v1/admin/departments/gongan/keys/auth/revoke",
        headers=operator,
        json={"reason": "laptop stolen"},
    )
    assert r.status_code == 200, r.text
    assert (r.json()["kid"], r.json()["state"]) == (gongan.auth_kid, "revoked")
    after = [
        api.get("/v1/departments/me", headers=_bearer(token)),
        api.get("/v1/resources", headers=_bearer(token)),
        ask_token(gongan.assertion(fresh.tokens.token_endpoint)),
    ]
    codes = [(r.status_code, r.json()["code"]) for r in after]
    assert codes == [(401, "signing.key_revoked")] * 3
    accepted = sum(r.status_code < 400 for r in after)
    print(f"\nJ2 (auth key revocation): requests accepted after {accepted}")
    assert accepted == 0
    # another department's token is untouched
    assert api.get("/v1/departments/me", headers=operator).status_code == 200


# --------------------------------------------------------------------------- rotation


def test_rotation_keeps_old_certificates_and_old_batch_seals_verifying(
    fresh: Exchange, api: TestClient, ask_token: AskToken, city: City
) -> None:
    operator = fresh.identity.uscc
    shichang = DemoDepartment.load(fresh, "shichang")
    gongan = DemoDepartment.load(fresh, "gongan")
    token = _token(fresh, ask_token, "shichang")
    old_batch = _publish(api, token, shichang, city.business_licences()[:3])
    assert old_batch.status_code == 200, old_batch.text
    old_cert = fresh.certificates.issue(
        gongan.uscc, CertificateRequest(type="resident_id_card", subject=_id_card(city, 0))
    )
    in_outbox = shichang.seal(RESOURCE, city.business_licences()[3:5], "uscc")  # sealed now
    time.sleep(0.01)
    new_seal, new_cert = generate_key(), generate_key("ES256")
    fresh.departments.rotate_key(
        operator,
        "shichang",
        KeyMaterial("seal", csr_to_pem(make_request(new_seal, uscc=shichang.uscc, purpose="seal"))),
    )
    fresh.departments.rotate_key(
        operator,
        gongan.uscc,
        KeyMaterial("cert", csr_to_pem(make_request(new_cert, uscc=gongan.uscc, purpose="cert"))),
    )
    fresh.certificates.seals.deposit(new_cert)
    old_seal_key = fresh.registry.key(shichang.seal_kid, "seal")
    assert old_seal_key is not None
    assert old_seal_key.state is KeyState.ROTATED
    # the stored batch's seal still verifies under the old (rotated) seal certificate
    seal_json = fresh.store.fetchone(
        "SELECT seal FROM batches WHERE batch_id = ?", [old_batch.json()["batch_id"]]
    )
    assert seal_json is not None
    seal = verify_seal(json.loads(seal_json[0]), old_seal_key.public_key)
    assert old_seal_key.certificate is not None
    sealed_at = datetime.fromisoformat(seal.sealed_at.replace("Z", "+00:00"))
    verify_seal_certificate(
        old_seal_key.certificate, fresh.keyring.ca_certificate, at=sealed_at, purpose="seal"
    )
    assert old_seal_key.refusal(sealed_at) is None
    assert seal.kid == shichang.seal_kid
    # a batch sealed before the rotation (waiting in an outbox) is still taken ...
    r = api.post("/v1/records", headers=_bearer(token), json=in_outbox.model_dump())
    assert r.status_code == 200, r.text
    # ... one the old key seals after the rotation is not; the new key's is
    late = _publish(api, token, shichang, city.business_licences()[5:7])
    assert late.status_code == 422
    assert "rotated out" in late.json()["detail"]
    new_rows = city.business_licences()[5:7]
    assert _publish(api, token, replace(shichang, seal_key=new_seal), new_rows).status_code == 200
    # the old certificate verifies online and offline; new ones carry the new cert key
    new = fresh.certificates.issue(
        gongan.uscc, CertificateRequest(type="resident_id_card", subject=_id_card(city, 1))
    )
    assert (
        new.credential["proof"]["verificationMethod"]
        != old_cert.credential["proof"]["verificationMethod"]
    )
    bundle = TrustBundle.from_json(json.dumps(fresh.certificates.trust_bundle().to_json()))
    for verifier in (fresh.certificates.verifier, Verifier(bundle)):
        assert verifier.check(old_cert.credential).valid
        assert verifier.check(new.credential).valid


def test_a_revoked_seal_key_seals_nothing_more_and_what_it_sealed_before_gets_a_note(
    fresh: Exchange, api: TestClient, ask_token: AskToken, city: City
) -> None:
    shichang = DemoDepartment.load(fresh, "shichang")
    token = _token(fresh, ask_token, "shichang")
    before = _publish(api, token, shichang, city.business_licences()[:2])
    assert before.status_code == 200
    in_outbox = shichang.seal(RESOURCE, city.business_licences()[2:4], "uscc")
    key = fresh.departments.revoke_key(fresh.identity.uscc, "shichang", "seal", "key leaked")
    assert key.state is KeyState.REVOKED
    r = api.post("/v1/records", headers=_bearer(token), json=in_outbox.model_dump())
    assert r.status_code == 422
    assert "revoked" in r.json()["detail"]
    received = fresh.store.fetchone(
        "SELECT received_at FROM batches WHERE batch_id = ?", [before.json()["batch_id"]]
    )
    assert received is not None
    assert key.refusal(received[0]) is None
    assert "made before key" in (key.note() or "")


# --------------------------------------------------------------------------- the admin API


def test_admin_routes_are_for_the_operator_and_audited_naming_them(
    fresh: Exchange, api: TestClient, ask_token: AskToken
) -> None:
    gongan = _bearer(_token(fresh, ask_token, "gongan"))
    operator_uscc = fresh.registry.by_code("dashuju").uscc
    operator = _bearer(_token(fresh, ask_token, "dashuju"))
    r = api.post("/v1/admin/departments/minzheng/suspend", headers=gongan, json={"reason": "x"})
    assert (r.status_code, r.json()["code"]) == (403, "exchange.role_forbidden")
    assert api.get("/v1/admin/departments", headers=gongan).status_code == 403
    r = api.post(
        "/v1/admin/departments/minzheng/suspend", headers=operator, json={"reason": "audit finding"}
    )
    assert r.status_code == 200, r.text
    row = fresh.store.fetchone(
        "SELECT actor, target, detail FROM audit_entries WHERE action = 'department.suspend'"
    )
    assert row is not None
    assert row[0] == operator_uscc
    assert row[1] == fresh.registry.by_code("minzheng").uscc
    assert "audit finding" in row[2]
    listing = api.get("/v1/admin/departments", headers=operator).json()
    minzheng = [k for k in listing["data"] if k["code"] == "minzheng"]
    assert {k["purpose"] for k in minzheng} == {"auth", "seal", "cert"}
    assert {k["department_state"] for k in minzheng} == {"suspended"}
    for path, body in [
        ("/v1/admin/departments/nobody/suspend", {"reason": "x"}),
        ("/v1/admin/departments/gongan/keys/seal/rotate", {"pem": "not a csr"}),
        ("/v1/admin/departments/gongan/keys/token/revoke", {"reason": "x"}),
        ("/v1/admin/departments/minzheng/suspend", {"reason": "again"}),
        ("/v1/admin/departments", {"uscc": "x"}),
    ]:
        r = api.post(path, headers=operator, json=body)
        assert 400 <= r.status_code < 500, (path, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")


def test_the_operator_adds_a_department_from_its_public_files(
    fresh: Exchange, api: TestClient, ask_token: AskToken
) -> None:
    uscc = "11411500000005004H"
    keys = {p: generate_key() for p in ("auth", "seal", "cert")}
    body = {
        "uscc": uscc,
        "code": "jiaoyu",
        "name": "信阳市教育局",
        "region": "411500",
        "roles": ["department", "approver"],
        "auth_public_key": public_pem(keys["auth"].public_key()),
        "seal_csr": csr_to_pem(make_request(keys["seal"], uscc=uscc, purpose="seal")),
        "cert_csr": csr_to_pem(make_request(keys["cert"], uscc=uscc, purpose="cert")),
    }
    operator = _bearer(_token(fresh, ask_token, "dashuju"))
    swapped = {**body, "seal_csr": body["cert_csr"], "cert_csr": body["seal_csr"]}
    r = api.post("/v1/admin/departments", headers=operator, json=swapped)
    assert (r.status_code, r.json()["code"]) == (422, "signing.key_purpose")
    r = api.post("/v1/admin/departments", headers=operator, json=body)
    assert r.status_code == 201, r.text
    added = r.json()
    assert added["state"] == "active"
    assert len(added["cert_kids"]) == 1

    kid = kid_of(keys["auth"].public_key())
    r = ask_token(make_client_assertion(keys["auth"], kid, uscc, fresh.tokens.token_endpoint))
    assert r.status_code == 200, r.text
    me = api.get("/v1/departments/me", headers=_bearer(r.json()["access_token"])).json()
    assert me["code"] == "jiaoyu"
    assert me["auth_kids"] == [kid]
    again = api.post("/v1/admin/departments", headers=operator, json=body)
    assert again.status_code == 409
