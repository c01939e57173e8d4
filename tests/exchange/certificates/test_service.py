"""E-certificates through the API and the service: issue, read, look up, verify, rotate keys."""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import exchange.certificates as exchange_certificates
import exchange.certificates.models as models_module
import exchange.certificates.trust as trust_module
from exchange.certificates.bundle import TrustBundle
from exchange.certificates.context import context_url
from exchange.certificates.credential_schema import credential_schema_url
from exchange.certificates.did import department_did, method_id
from exchange.certificates.models import CertificateRequest, StatusAction, StatusChange
from exchange.certificates.qr import QrError, credential_from_qr_text, qr_text
from exchange.certificates.verifier import Verifier
from exchange.certificates.vocabulary import CERT_URN_PREFIX, VC2_CONTEXT, key_urn
from exchange.config import Settings
from exchange.demo.city import City, Person
from exchange.demo.setup import DemoDepartment, create_demo
from exchange.errors import Conflict, Forbidden, NotFound
from exchange.service import Exchange
from schemas.certificates import certificate_type
from schemas.identifiers import make_certificate_id, make_id_number, parse_certificate_id
from signing.keys import generate_key, kid_of
from signing.proofs import add_proof
from tests.support.certificates import id_card_subject

Auth = Callable[[str], dict[str, str]]
PURPOSE = "budongchan.new_commercial_housing_transfer"
CASE = "BDC-2026-CERT-1"


def issue_id_card(client: TestClient, auth: Auth, person: Person, **body: Any) -> Any:
    r = client.post(
        "/v1/certificates",
        json={"type": "resident_id_card", "subject": id_card_subject(person), **body},
        headers=auth("gongan"),
    )
    assert r.status_code == 201, r.text
    return r.json()


def audit_rows(exchange: Exchange, action: str, target: str | None = None) -> list[tuple[Any, ...]]:
    return exchange.store.fetchall(
        "SELECT outcome, code, case_no, subject_hash FROM audit_entries WHERE action = ? "
        "AND (? IS NULL OR target = ?) ORDER BY seq",
        [action, target, target],
    )


# --------------------------------------------------------------------------- API surface


CERTIFICATE_MODULES = sorted(
    p.stem for p in Path(exchange_certificates.__file__).parent.glob("*.py") if p.stem != "__init__"
)


@pytest.mark.parametrize("name", CERTIFICATE_MODULES)
def test_public_api_is_listed(name: str) -> None:
    module = importlib.import_module(f"exchange.certificates.{name}")
    assert module.__all__, name
    for public in module.__all__:
        assert hasattr(module, public), public
    assert f":mod:`.{name}`" in (exchange_certificates.__doc__ or ""), name


# --------------------------------------------------------------------------- issuing


def test_a_competent_department_issues_a_signed_vc2_certificate(
    client: TestClient, auth: Auth, exchange: Exchange, city: City
) -> None:
    person = city.people[0]
    body = issue_id_card(client, auth, person, valid_until="2046-12-31")
    doc = body["credential"]
    gongan = exchange.registry.by_code("gongan")
    assert body["status"] == "active"
    issuer = exchange.identity.issuer
    assert doc["@context"] == [VC2_CONTEXT, context_url(issuer)]
    assert doc["id"] == CERT_URN_PREFIX + body["id"]
    parts = parse_certificate_id(body["id"])
    assert (parts.type_code, parts.issuer, parts.version) == ("100001", gongan.uscc, 1)
    assert doc["type"] == ["VerifiableCredential", "ResidentIdCardCredential"]
    did = department_did(issuer, gongan.uscc)
    assert doc["issuer"] == {"id": did, "name": gongan.name}
    assert did == f"did:web:{issuer.removeprefix('https://')}:departments:{gongan.uscc}"
    assert doc["credentialSchema"] == {
        "id": credential_schema_url(issuer, certificate_type("resident_id_card")),
        "type": "JsonSchema",
    }
    assert doc["validUntil"] == "2046-12-31T15:59:59Z"  # 23:59:59 China time
    assert doc["metadata"]["holder_code"] == person.id_number
    assert doc["metadata"]["valid_until"] == "2046-12-31"
    revocation, suspension = doc["credentialStatus"]
    assert (revocation["statusPurpose"], suspension["statusPurpose"]) == (
        "revocation",
        "suspension",
    )
    assert revocation["statusListIndex"] == suspension["statusListIndex"]
    assert 0 <= int(revocation["statusListIndex"]) < 131_072
    assert doc["proof"]["cryptosuite"] == "eddsa-jcs-2022"
    current = exchange.registry.current_key(gongan.uscc, "cert")
    assert doc["proof"]["verificationMethod"] == method_id(did, current.kid)
    assert exchange.certificates.verifier.check(doc).valid
    assert audit_rows(exchange, "cert.issue", body["id"])[0][0] == "ok"


def test_serials_are_unique_per_type_and_issuer_and_indexes_are_random(
    client: TestClient, auth: Auth, city: City
) -> None:
    bodies = [issue_id_card(client, auth, p) for p in city.people[10:16]]
    serials = [int(parse_certificate_id(b["id"]).serial) for b in bodies]
    assert serials == sorted(serials)
    assert len(set(serials)) == len(serials)
    assert serials[-1] - serials[0] == len(serials) - 1
    indexes = {b["credential"]["credentialStatus"][0]["statusListIndex"] for b in bodies}
    assert len(indexes) == len(bodies)
    spread = sorted(map(int, indexes))
    assert spread[-1] - spread[0] > len(spread)  # random positions, not a counter


def test_a_department_cannot_issue_a_type_it_is_not_competent_for(
    client: TestClient, auth: Auth, exchange: Exchange, city: City
) -> None:
    r = client.post(
        "/v1/certificates",
        json={"type": "resident_id_card", "subject": id_card_subject(city.people[1])},
        headers=auth("minzheng"),
    )
    assert r.status_code == 403
    assert r.json()["code"] == "exchange.not_owner"
    assert "not competent" in r.json()["detail"]
    refused = [row for row in audit_rows(exchange, "cert.issue") if row[0] == "refused"]
    assert refused
    assert refused[-1][1] == "exchange.not_owner"


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"holder_code": "411503198012147590"}, "holder_code"),
        ({"sex": "M"}, "sex"),
        ({"nickname": "x"}, "nickname"),
        ({"holder_code_type": "uscc"}, "holder_code_type"),
    ],
)
def test_a_subject_that_does_not_match_the_type_schema_is_refused(
    client: TestClient, auth: Auth, city: City, change: dict[str, Any], says: str
) -> None:
    r = client.post(
        "/v1/certificates",
        json={"type": "resident_id_card", "subject": id_card_subject(city.people[2], **change)},
        headers=auth("gongan"),
    )
    assert r.status_code == 422
    assert r.json()["code"] == "schema.invalid_record"
    assert says in r.json()["detail"]


def test_unknown_type_and_inverted_validity_are_refused(
    client: TestClient, auth: Auth, city: City
) -> None:
    r = client.post(
        "/v1/certificates",
        json={"type": "fishing_licence", "subject": id_card_subject(city.people[2])},
        headers=auth("gongan"),
    )
    assert r.status_code == 422
    assert r.json()["code"] == "schema.unknown_certificate_type"
    r = client.post(
        "/v1/certificates",
        json={
            "type": "resident_id_card",
            "subject": id_card_subject(city.people[2]),
            "valid_from": "2030-01-01",
            "valid_until": "2029-01-01",
        },
        headers=auth("gongan"),
    )
    assert r.status_code == 422
    assert "before" in r.json()["detail"]


def test_only_departments_issue(client: TestClient, auth: Auth, city: City) -> None:
    for code in ("shenji", "dashuju"):
        r = client.post(
            "/v1/certificates",
            json={"type": "resident_id_card", "subject": id_card_subject(city.people[3])},
            headers=auth(code),
        )
        assert r.status_code == 403
        assert r.json()["code"] == "exchange.role_forbidden"


# --------------------------------------------------------------------------- reading


def test_the_issuer_reads_its_certificate_and_others_are_refused(
    client: TestClient, auth: Auth, city: City
) -> None:
    body = issue_id_card(client, auth, city.people[4])
    path = f"/v1/certificates/{body['id']}"
    assert client.get(path, headers=auth("gongan")).json()["id"] == body["id"]
    by_urn = client.get(f"/v1/certificates/{CERT_URN_PREFIX}{body['id']}", headers=auth("gongan"))
    assert by_urn.json()["id"] == body["id"]
    for code in ("minzheng", "shenji", "dashuju"):
        r = client.get(path, headers=auth(code), params={"purpose": "p", "case": "c1"})
        assert r.status_code == 403, code


def test_an_approver_reads_a_certificate_only_with_purpose_and_case(
    client: TestClient, auth: Auth, exchange: Exchange, city: City
) -> None:
    body = issue_id_card(client, auth, city.people[5])
    path = f"/v1/certificates/{body['id']}"
    r = client.get(path, headers=auth("budongchan"))
    assert r.status_code == 422
    assert r.json()["code"] == "exchange.purpose_required"
    r = client.get(path, headers=auth("budongchan"), params={"purpose": PURPOSE, "case": CASE})
    assert r.status_code == 200
    assert r.json()["credential"]["id"] == CERT_URN_PREFIX + body["id"]
    outcomes = [(row[0], row[2]) for row in audit_rows(exchange, "cert.read", body["id"])]
    assert ("refused", None) in outcomes
    assert ("allowed", CASE) in outcomes


def test_a_malformed_or_unknown_id_is_refused_clearly(
    client: TestClient, auth: Auth, exchange: Exchange
) -> None:
    r = client.get("/v1/certificates/1.2.156.3005.2.100001.X.1.001.A", headers=auth("gongan"))
    assert r.status_code == 422
    assert r.json()["code"] == "schema.invalid_identifier"
    missing = make_certificate_id("100001", exchange.registry.by_code("gongan").uscc, 99999999)
    r = client.get(
        f"/v1/certificates/{missing}",
        headers=auth("budongchan"),
        params={"purpose": PURPOSE, "case": CASE},
    )
    assert r.status_code == 404
    assert r.json()["code"] == "exchange.not_found"


def test_holder_lookup_is_for_approvers_with_purpose_and_case_and_is_audited(
    client: TestClient, auth: Auth, exchange: Exchange, city: City
) -> None:
    person = city.people[6]
    issued = issue_id_card(client, auth, person)
    params = {
        "holder": person.id_number,
        "type": "resident_id_card",
        "purpose": PURPOSE,
        "case": CASE,
    }
    r = client.get("/v1/certificates", headers=auth("budongchan"), params=params)
    assert r.status_code == 200, r.text
    assert [c["id"] for c in r.json()["data"]] == [issued["id"]]
    assert client.get("/v1/certificates", headers=auth("gongan"), params=params).status_code == 403
    r = client.get(
        "/v1/certificates", headers=auth("budongchan"), params={"holder": person.id_number}
    )
    assert r.status_code == 422
    hashed = exchange.audit.subject_hash(person.id_number)
    rows = [row for row in audit_rows(exchange, "cert.lookup") if row[3] == hashed]
    assert rows
    assert rows[-1][2] == CASE
    none = client.get(
        "/v1/certificates",
        headers=auth("budongchan"),
        params={**params, "holder": city.people[399].id_number},
    )
    assert none.json()["count"] == 0


# --------------------------------------------------------------------------- verify


def test_verify_returns_one_result_per_check_and_is_audited(
    client: TestClient, auth: Auth, exchange: Exchange, city: City
) -> None:
    doc = issue_id_card(client, auth, city.people[7])["credential"]
    r = client.post("/v1/verify", json=doc, headers=auth("budongchan"))
    assert r.status_code == 200
    verdict = r.json()
    assert verdict["valid"] is True
    assert [c["name"] for c in verdict["checks"]] == [
        "proof",
        "issuer_chain",
        "validity_period",
        "status",
        "schema",
        "identifier",
        "register",
    ]
    tampered = {**doc, "credentialSubject": {**doc["credentialSubject"], "address": "北京"}}
    r = client.post("/v1/verify", json=tampered, headers=auth("gongan"))
    assert r.status_code == 200
    assert r.json()["valid"] is False
    failed = {c["name"]: c["reason"] for c in r.json()["checks"] if not c["passed"]}
    assert list(failed) == ["proof", "register"]
    assert "signature does not verify" in failed["proof"]
    outcomes = [row[0] for row in audit_rows(exchange, "cert.verify")]
    assert "valid" in outcomes
    assert "invalid" in outcomes


def test_verify_accepts_qr_text_and_refuses_duplicate_keys(
    client: TestClient, auth: Auth, city: City
) -> None:
    doc = issue_id_card(client, auth, city.people[8])["credential"]
    headers = {**auth("budongchan"), "content-type": "text/plain"}
    r = client.post("/v1/verify", content=qr_text(doc), headers=headers)
    assert r.json()["valid"] is True
    text = json.dumps(doc, ensure_ascii=False)
    duplicated = text.replace('"id":', '"id": "urn:x", "id":', 1)
    r = client.post("/v1/verify", content=duplicated.encode(), headers=headers)
    assert r.json()["valid"] is False
    assert "duplicate key" in r.json()["checks"][0]["reason"]
    r = client.post(
        "/v1/verify",
        content=duplicated.encode(),
        headers={**auth("budongchan"), "content-type": "application/json"},
    )
    assert r.status_code == 422
    assert r.json()["code"] == "schema.malformed_json"


def test_auditors_and_operators_do_not_verify(client: TestClient, auth: Auth) -> None:
    for code in ("shenji", "dashuju"):
        r = client.post("/v1/verify", json={}, headers=auth(code))
        assert r.status_code == 403
        assert r.json()["code"] == "exchange.role_forbidden"


def test_status_lists_are_public_and_signed(
    client: TestClient, auth: Auth, exchange: Exchange, city: City
) -> None:
    doc = issue_id_card(client, auth, city.people[9])["credential"]
    url = doc["credentialStatus"][0]["statusListCredential"]
    path = url.removeprefix(exchange.identity.issuer)
    r = client.get(path)
    assert r.status_code == 200
    assert "max-age=" in r.headers["cache-control"]
    credential = r.json()
    assert credential["id"] == url
    assert credential["credentialSubject"]["statusPurpose"] == "revocation"
    bundle = exchange.certificates.trust_bundle()
    snapshot = TrustBundle(
        bundle.root,
        seals=bundle.seals.values(),
        status_signers=bundle.status_signers.values(),
        snapshots=[trust_module.StatusSnapshot(url, bundle.created, credential)],
    )
    assert snapshot.status_list(url, "revocation", bundle.created).length >= 131_072
    assert client.get("/v1/status-lists/999").status_code == 404


# --------------------------------------------------------------------------- QR


def test_qr_text_round_trips_and_refuses_what_is_not_a_credential(
    exchange: Exchange, client: TestClient, auth: Auth, city: City
) -> None:
    doc = issue_id_card(client, auth, city.people[11])["credential"]
    text = qr_text(doc)
    assert text.startswith("GX1:")
    assert set(text[4:]) <= set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
    assert credential_from_qr_text(text) == doc
    import zlib

    import base45

    bomb = "GX1:" + base45.b45encode(zlib.compress(b"[" + b" " * 200_000 + b"]")).decode()
    duplicate = "GX1:" + base45.b45encode(zlib.compress(b'{"a": 1, "a": 2}')).decode()
    for bad in ("HC1:ABC", "GX1:!!", bomb, duplicate, text[:-8]):
        with pytest.raises(QrError):
            credential_from_qr_text(bad)


# --------------------------------------------------------------------------- keys


@pytest.fixture
def fresh(tmp_path: Path) -> Exchange:
    return create_demo(Settings(data=tmp_path / "data"))


def test_key_rotation_keeps_old_certificates_valid(fresh: Exchange, city: City) -> None:
    gongan = fresh.registry.by_code("gongan")
    service = fresh.certificates
    old = service.issue(
        gongan.uscc,
        CertificateRequest(type="resident_id_card", subject=id_card_subject(city.people[0])),
    )
    new_key = generate_key("Ed25519")
    fresh.registry.add_key(gongan.uscc, "cert", new_key.public_key())
    service.seals.deposit(new_key)
    new = service.issue(
        gongan.uscc,
        CertificateRequest(type="resident_id_card", subject=id_card_subject(city.people[1])),
    )
    did = department_did(fresh.identity.issuer, gongan.uscc)
    new_kid = kid_of(new_key.public_key())
    assert new.credential["proof"]["verificationMethod"] == method_id(did, new_kid)
    assert (
        old.credential["proof"]["verificationMethod"]
        != new.credential["proof"]["verificationMethod"]
    )
    offline = Verifier(TrustBundle.from_json(json.dumps(service.trust_bundle().to_json())))
    for cert in (old, new):
        assert service.verifier.check(cert.credential).valid
        assert offline.check(cert.credential).valid
    fresh.close()


def test_a_revoked_cert_key_refuses_later_proofs_and_issuance_and_notes_earlier_ones(
    fresh: Exchange, city: City
) -> None:
    gongan = fresh.registry.by_code("gongan")
    service = fresh.certificates
    cert = service.issue(
        gongan.uscc,
        CertificateRequest(type="resident_id_card", subject=id_card_subject(city.people[0])),
    )
    kid = fresh.registry.current_key(gongan.uscc, "cert").kid
    time.sleep(1.05)  # proof times are whole seconds: revoke in a later second than the proof
    service.revoke_seal_key(fresh.identity.uscc, kid, "key compromised")
    with pytest.raises(Conflict):
        service.revoke_seal_key(fresh.identity.uscc, kid, "again")
    # the same credential, proved again by the revoked key after its revocation
    unsigned = {k: v for k, v in cert.credential.items() if k != "proof"}
    late = add_proof(
        unsigned, DemoDepartment.load(fresh, "gongan").cert_key, verification_method=key_urn(kid)
    )
    for verifier in (
        service.verifier,
        Verifier(TrustBundle.from_json(json.dumps(service.trust_bundle().to_json()))),
    ):
        earlier = verifier.check(cert.credential)
        assert earlier.valid
        chain = next(c for c in earlier.checks if c.name == "issuer_chain")
        assert "made before the key was revoked" in (chain.reason or "")
        verdict = verifier.check(late)
        assert [c.name for c in verdict.failures] == ["issuer_chain"]
        assert "revoked" in (verdict.failures[0].reason or "")
    with pytest.raises(Conflict, match="revoked"):
        service.issue(
            gongan.uscc,
            CertificateRequest(type="resident_id_card", subject=id_card_subject(city.people[1])),
        )
    fresh.close()


def test_a_seal_key_that_is_not_deposited_cannot_sign(fresh: Exchange, city: City) -> None:
    gongan = fresh.registry.by_code("gongan")
    fresh.registry.add_key(gongan.uscc, "cert", generate_key("Ed25519").public_key())
    with pytest.raises(NotFound, match="not deposited"):
        fresh.certificates.issue(
            gongan.uscc,
            CertificateRequest(type="resident_id_card", subject=id_card_subject(city.people[0])),
        )
    with pytest.raises(NotFound, match="not a registered cert key"):
        fresh.certificates.seals.deposit(generate_key("Ed25519"))
    fresh.close()


def test_status_changes_belong_to_the_issuer(fresh: Exchange, city: City) -> None:
    gongan = fresh.registry.by_code("gongan")
    cert = fresh.certificates.issue(
        gongan.uscc,
        CertificateRequest(type="resident_id_card", subject=id_card_subject(city.people[0])),
    )
    other = fresh.registry.by_code("minzheng").uscc
    with pytest.raises(Forbidden):
        fresh.certificates.change_status(
            other, cert.id, StatusChange(action=StatusAction.REVOKE, reason="x")
        )
    rows = audit_rows(fresh, "cert.revoke", cert.id)
    assert rows == [("refused", "exchange.not_owner", None, rows[0][3])]
    fresh.close()


def test_bulk_issuance_collects_refusals_with_their_lines(fresh: Exchange, city: City) -> None:
    gongan = fresh.registry.by_code("gongan")
    items = [
        models_module.BulkItem(line, id_card_subject(p))
        for line, p in enumerate(city.people[:25], start=2)
    ]
    items[3] = models_module.BulkItem(5, id_card_subject(city.people[3], sex="X"))
    items[7] = models_module.BulkItem(
        9, id_card_subject(city.people[7]), date(2030, 1, 1), date(2020, 1, 1)
    )
    progressed: list[int] = []
    result = fresh.certificates.issue_many(
        gongan.uscc, "resident_id_card", items, chunk_size=10, progress=progressed.append
    )
    assert result.issued == 23
    assert [line for line, _ in result.refused] == [5, 9]
    assert "sex" in result.refused[0][1]
    assert sum(progressed) == 25
    stored = fresh.store.fetchone("SELECT count(*), count(DISTINCT serial) FROM certificates")
    assert stored == (23, 23)
    bulk = audit_rows(fresh, "cert.issue_bulk")
    assert len(bulk) == 3
    assert fresh.certificates.verifier.check(
        fresh.certificates.get(result.last_id or "").credential
    ).valid
    with pytest.raises(Forbidden):
        fresh.certificates.issue_many(
            fresh.registry.by_code("shuiwu").uscc, "resident_id_card", items
        )
    fresh.close()


# --------------------------------------------------------------------------- G2, service level

_TEXT = st.text(
    alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5), min_size=1, max_size=12
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=_TEXT,
    address=_TEXT,
    birth=st.dates(min_value=date(1930, 1, 1), max_value=date(2010, 12, 31)),
    female=st.booleans(),
    sequence=st.integers(min_value=0, max_value=499),
    victim=st.sampled_from(["holder_name", "address", "birth_date", "sex", "validFrom", "id"]),
)
def test_property_issued_certificates_verify_and_any_mutation_fails(
    exchange: Exchange,
    name: str,
    address: str,
    birth: date,
    female: bool,
    sequence: int,
    victim: str,
) -> None:
    number = make_id_number("411502", birth, 2 * sequence + (0 if female else 1), female=female)
    subject = {
        "holder_name": name,
        "holder_code": number,
        "holder_code_type": "citizen_id",
        "sex": "2" if female else "1",
        "ethnicity": "01",
        "birth_date": birth.isoformat(),
        "address": address,
        "issuing_authority": "信阳市公安局",
    }
    gongan = exchange.registry.by_code("gongan").uscc
    cert = exchange.certificates.issue(
        gongan, CertificateRequest(type="resident_id_card", subject=subject)
    )
    verifier = exchange.certificates.verifier
    assert verifier.check(cert.credential).valid
    doc = json.loads(json.dumps(cert.credential))
    where = doc if victim in doc else doc["credentialSubject"]
    where[victim] = where[victim] + "0" if victim != "sex" else ("1" if female else "2")
    assert not verifier.check(doc).valid


def test_demo_department_keys_are_the_hosted_seals(exchange: Exchange) -> None:
    gongan = DemoDepartment.load(exchange, "gongan")
    kid, key = exchange.certificates.seals.current(gongan.uscc)
    assert kid == gongan.cert_kid != gongan.seal_kid
    assert kid_of(key.public_key()) == kid
