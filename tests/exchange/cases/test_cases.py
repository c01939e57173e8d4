"""一件事一次办: a matter's materials resolved from the exchange (issue: 8 → 2)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from exchange.cases.bundle_check import verify_bundle
from exchange.certificates.models import CertificateRequest
from exchange.demo.case import MATTER, couple_applicants, grant_real_estate, issue_flat_certificates
from exchange.demo.city import City
from exchange.service import Exchange
from tests.support.certificates import id_card_subject

Auth = Callable[[str], dict[str, str]]


@pytest.fixture(scope="module")
def prepared(exchange: Exchange, city: City) -> dict[int, dict[str, Any]]:
    grant_real_estate(exchange)
    return {i: issue_flat_certificates(exchange, city.flats[i]) for i in range(4)}


def _resolve(
    client: TestClient,
    auth: Auth,
    applicants: list[dict[str, str]],
    case: str,
    matter: str = MATTER,
    dept: str = "budongchan",
) -> Any:
    return client.post(
        "/v1/cases",
        headers=auth(dept),
        json={"matter": matter, "applicants": applicants, "case_no": case},
    )


def _to_bring(bundle: dict[str, Any]) -> dict[str, str]:
    return {t["material"]: t["reason_code"] for t in bundle["to_bring"]}


def test_complete_data_leaves_two_materials_to_bring(
    exchange: Exchange, client: TestClient, auth: Auth, city: City, prepared: dict[int, Any]
) -> None:
    auth("budongchan")  # issuing the token is an entry of its own (token.issue), not the case's
    before = exchange.audit.size
    r = _resolve(client, auth, couple_applicants(city, 0), "BDC-T-0001")
    assert r.status_code == 201, r.text
    bundle = r.json()
    assert bundle["required"] == 8
    assert bundle["obtained"] == 6
    assert set(_to_bring(bundle)) == {"application_form", "household_register"}
    verdict = verify_bundle(bundle, exchange.certificates.trust_bundle())
    assert verdict.valid, verdict.failures
    assert len(bundle["certificates"]) == 4  # two ID cards, deed tax, filing
    # every access made while resolving is in the audit log under the case number
    rows = exchange.store.fetchall(
        "SELECT action, case_no FROM audit_entries WHERE seq >= ? AND actor = ?",
        [before, exchange.registry.by_code("budongchan").uscc],
    )
    actions = [a for a, _ in rows]
    assert all(c == "BDC-T-0001" for _, c in rows), rows
    assert actions.count("cert.lookup") == 4  # 2 ID cards; deed tax and filing from one buyer
    assert actions.count("query.subject") >= 6
    assert actions[-1] == "case.resolve"
    print(
        f"cases: real estate 8 required, {bundle['obtained']} obtained, "
        f"{len(bundle['to_bring'])} to bring, audited accesses {len(rows)}"
    )


def test_no_marriage_record_asks_for_the_marital_status_proof(
    exchange: Exchange, client: TestClient, auth: Auth, city: City, prepared: dict[int, Any]
) -> None:
    single = next(p for p in city.people if p.spouse is None)
    exchange.certificates.issue(
        exchange.registry.by_code("gongan").uscc,
        CertificateRequest(
            type="resident_id_card",
            subject=id_card_subject(single),
        ),
    )
    bundle = _resolve(
        client, auth, [{"role": "buyer", "id": single.id_number}], "BDC-T-0002"
    ).json()
    missing = _to_bring(bundle)
    assert missing["marital_status"] == "not_held"
    reason = next(t["reason"] for t in bundle["to_bring"] if t["material"] == "marital_status")
    assert "婚姻登记" in reason
    assert "buyer_identity" not in missing  # the ID card certificate was found


def test_revoked_certificate_is_asked_for_with_the_reason(
    exchange: Exchange, client: TestClient, auth: Auth, city: City, prepared: dict[int, Any]
) -> None:
    deed = prepared[1]["deed_tax_certificate"]
    r = client.post(
        f"/v1/certificates/{deed.id}/status",
        headers=auth("shuiwu"),
        json={"action": "revoke", "reason": "test revocation"},
    )
    assert r.status_code == 200, r.text
    bundle = _resolve(client, auth, couple_applicants(city, 1), "BDC-T-0003").json()
    missing = _to_bring(bundle)
    assert missing == {
        "application_form": "not_held",
        "household_register": "not_held",
        "deed_tax_certificate": "certificate_refused",
    }
    reason = next(
        t["reason"] for t in bundle["to_bring"] if t["material"] == "deed_tax_certificate"
    )
    assert "revoked" in reason


def test_missing_grant_is_the_reason_given(client: TestClient, auth: Auth, city: City) -> None:
    mother = next(p for p in city.people if p.sex == "2" and p.spouse is not None)
    assert mother.spouse is not None  # for the type checker: chosen for having one
    bundle = _resolve(
        client,
        auth,
        [
            {"role": "mother", "id": mother.id_number},
            {"role": "father", "id": mother.spouse.id_number},
        ],
        "WJ-T-0001",
        matter="weijian.newborn_birth",
        dept="weijian",
    ).json()
    assert bundle["required"] == 7
    missing = _to_bring(bundle)
    assert missing["household_register"] == "no_grant"
    assert missing["parents_marriage"] == "no_grant"
    assert missing["birth_certificate"] == "no_applicant"


def test_only_the_competent_approver_resolves_and_bad_input_is_refused(
    client: TestClient, auth: Auth, city: City
) -> None:
    r = _resolve(client, auth, couple_applicants(city, 2), "BDC-T-0004", dept="shichang")
    assert r.status_code == 403
    r = _resolve(client, auth, couple_applicants(city, 2), "BDC-T-0005", dept="gongan")
    assert r.status_code == 403  # not an approver
    bad = [{"role": "buyer", "id": city.people[0].id_number[:-1] + "0"}]
    r = _resolve(client, auth, bad, "BDC-T-0006")
    assert r.status_code == 422
    assert r.json()["code"] == "schema.invalid_identifier"
    r = _resolve(client, auth, couple_applicants(city, 2), "BDC-T-0007", matter="no.such")
    assert r.status_code == 404
    assert r.json()["code"] == "schema.unknown_matter"


def test_materials_figures_count_resolved_cases(
    client: TestClient, auth: Auth, city: City, prepared: dict[int, Any]
) -> None:
    _resolve(client, auth, couple_applicants(city, 3), "BDC-T-0008")
    figures = client.get("/v1/metrics/materials", headers=auth("dashuju")).json()["data"]
    real_estate = next(f for f in figures if f["matter"] == MATTER)
    assert real_estate["required"] == 8
    assert real_estate["removable"] == 6
    assert real_estate["cases"] >= 2


def test_case_verify_cli_refuses_a_tampered_bundle(
    exchange: Exchange,
    client: TestClient,
    auth: Auth,
    city: City,
    prepared: dict[int, Any],
    tmp_path: Path,
) -> None:
    bundle = _resolve(client, auth, couple_applicants(city, 2), "BDC-T-0009").json()
    trust = tmp_path / "trust.json"
    trust.write_text(json.dumps(exchange.certificates.trust_bundle().to_json()), "utf-8")
    good = tmp_path / "bundle.json"
    good.write_text(json.dumps(bundle, ensure_ascii=False), "utf-8")
    tampered_doc = json.loads(json.dumps(bundle))
    tampered_doc["to_bring"] = tampered_doc["to_bring"][:1]
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(tampered_doc, ensure_ascii=False), "utf-8")

    def verify(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "exchange", "case", "verify", str(path), "--trust", str(trust)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    ok = verify(good)
    assert ok.returncode == 0, ok.stderr
    bad = verify(tampered)
    assert bad.returncode == 1
    assert "bundle_proof" in bad.stderr
    assert "Traceback" not in bad.stderr
