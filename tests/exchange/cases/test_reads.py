"""Re-reads of a case bundle are in the audit log (exchange/cases/reads.py, RELIABILITY D5)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from exchange.audit.trail import trail
from exchange.demo.case import MATTER, couple_applicants, grant_real_estate
from exchange.demo.city import City
from exchange.service import Exchange

Auth = Callable[[str], dict[str, str]]


def test_a_bundle_re_read_is_in_the_case_trail_and_every_applicants_report(
    exchange: Exchange, client: TestClient, auth: Auth, city: City
) -> None:
    grant_real_estate(exchange)
    applicants = couple_applicants(city, 2)
    case = "BDC-READ-0001"
    r = client.post(
        "/v1/cases",
        headers=auth("budongchan"),
        json={"matter": MATTER, "applicants": applicants, "case_no": case},
    )
    assert r.status_code == 201, r.text
    again = client.get(f"/v1/cases/{case}", headers=auth("budongchan"))
    assert again.status_code == 200
    found = trail(exchange.audit, exchange.checkpoints, case=case)
    reads = [e for e in found.entries if e.action == "case.read"]
    assert len(reads) == 1
    read = reads[0]
    assert read.actor == exchange.registry.by_code("budongchan").uscc
    assert read.case_no == case
    assert read.target == MATTER
    assert len({read.subject_hash, *(read.detail or {}).get("subjects", [])}) == len(applicants)
    for applicant in applicants:
        report = client.get(
            f"/v1/audit/subjects/{applicant['id']}/accesses", headers=auth("shenji")
        ).json()
        actions = {a["entry"]["action"] for a in report["data"] if a["entry"]["case_no"] == case}
        assert {"case.resolve", "case.read"} <= actions, applicant["role"]
