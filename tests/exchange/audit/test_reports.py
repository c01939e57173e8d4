"""The "who used my data" report (exchange/audit/reports.py): complete for every subject
(RELIABILITY D5), cheap per call, newest first and paginated."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from exchange.demo.city import City
from exchange.demo.setup import DemoDepartment
from exchange.records.query import subject_values
from exchange.service import Exchange

Auth = Callable[[str], dict[str, str]]
PURPOSE, CASE = "核验", "D5-0001"


def _richest_record(exchange: Exchange, code: str) -> tuple[str, dict[str, Any]]:
    """The record of ``code`` with the most subject identifiers (list fields included)."""
    definition = exchange.catalog.resource(code)
    rows = exchange.store.fetchall(
        "SELECT key, data FROM record_latest WHERE resource = ? ORDER BY key LIMIT 500", [code]
    )
    assert rows, f"the demo city publishes no {code}"
    key, data = max(
        ((str(k), json.loads(d)) for k, d in rows),
        key=lambda kd: len(set(subject_values(definition, kd[1]))),
    )
    return key, data


def _publish_unregistered(exchange: Exchange, city: City) -> None:
    """One record of each register the demo city does not keep, naming every subject."""
    a, b = city.people[0], city.people[1]
    company, other = city.companies[0], city.companies[1]
    records: dict[str, dict[str, Any]] = {
        "gongan.seal_engraving_filing": {
            "filing_number": "GA-YZ-000001",
            "company_uscc": company.uscc,
            "company_name": company.name,
            "seal_kinds": ["official", "finance"],
            "engraver_uscc": other.uscc,
            "engraved_date": "2026-01-05",
            "filed_date": "2026-01-06",
        },
        "renshe.social_security_registration": {
            "registration_number": "RS000001",
            "insured_kind": "person",
            "name": a.name,
            "person_id_number": a.id_number,
            "employer_uscc": company.uscc,
            "insurance_types": ["pension"],
            "region": "411502",
            "registered_date": "2020-03-01",
            "status": "active",
        },
        "shuiwu.taxpayer_registration": {
            "taxpayer_uscc": company.uscc,
            "taxpayer_name": company.name,
            "taxpayer_kind": "general",
            "tax_authority": "信阳市税务局",
            "confirmed_date": "2021-04-01",
            "financial_officer_name": b.name,
            "financial_officer_id_number": b.id_number,
            "invoice_approved": True,
            "status": "normal",
        },
        "weijian.birth_medical_certificate": {
            "certificate_number": "R000000001",
            "child_name": "小明",
            "child_sex": "1",
            "birth_datetime": "2026-01-02T08:30:00+08:00",
            "birth_region": "411502",
            "birth_place": "信阳市中心医院",
            "institution_name": "信阳市中心医院",
            "mother_name": b.name,
            "mother_id_number": b.id_number,
            "father_name": a.name,
            "father_id_number": a.id_number,
            "issue_date": "2026-01-03",
        },
        "yibao.medical_insurance": {
            "id_number": a.id_number,
            "name": a.name,
            "insurance_type": "employee",
            "region": "411502",
            "employer_uscc": company.uscc,
            "enrolled_date": "2020-03-01",
            "status": "active",
        },
    }
    for code, record in records.items():
        if exchange.store.fetchone("SELECT 1 FROM record_latest WHERE resource = ?", [code]):
            continue
        definition = exchange.catalog.resource(code)
        dept = DemoDepartment.load(exchange, definition.owner)
        batch = dept.seal(code, [record], definition.key_field)
        result = exchange.ingestor.ingest(batch, dept.uscc, source="demo")
        assert result.accepted == 1, (code, result)


def _reported(client: TestClient, auth: Auth, subject: str) -> set[int]:
    r = client.get(f"/v1/audit/subjects/{subject}/accesses", headers=auth("shenji"))
    assert r.status_code == 200, r.text
    return {a["entry"]["seq"] for a in r.json()["data"]}


def test_every_subject_of_every_resource_finds_the_read(
    exchange: Exchange, client: TestClient, auth: Auth, city: City
) -> None:
    _publish_unregistered(exchange, city)
    checked = missed = 0
    multi = 0
    for definition, _ in exchange.catalog.resources():
        key, data = _richest_record(exchange, definition.code)
        subjects = sorted(set(subject_values(definition, data)))
        assert subjects, definition.code
        multi += len(subjects) > 1
        r = client.get(
            f"/v1/resources/{definition.code}/records/{key}",
            params={"purpose": PURPOSE, "case": CASE},
            headers=auth(definition.owner),
        )
        assert r.status_code == 200, (definition.code, r.text)
        seq = r.json()["audit_seq"]
        for subject in subjects:
            checked += 1
            if seq not in _reported(client, auth, subject):
                missed += 1
                print(f"missed: {definition.code} {key} subject field value #{checked}")
    print(f"D5: reads missed {missed} of {checked}")
    assert multi >= 8  # marriages, births, co-owners, officers, employers …
    assert missed == 0


def test_a_read_by_subject_is_in_the_report_of_everyone_it_answered(
    exchange: Exchange, client: TestClient, auth: Auth
) -> None:
    code = "budongchan.property_title"
    definition = exchange.catalog.resource(code)
    _, data = _richest_record(exchange, code)
    owners = subject_values(definition, data)
    assert len(set(owners)) >= 2, "the demo city has co-owned titles"
    r = client.get(
        f"/v1/resources/{code}/records",
        params={"subject": owners[0], "purpose": PURPOSE, "case": CASE},
        headers=auth("budongchan"),
    )
    assert r.status_code == 200, r.text
    seq = r.json()["data"][0]["audit_seq"]
    for owner in owners:
        assert seq in _reported(client, auth, owner)


def test_an_entry_keeps_its_further_subjects_in_its_leaf(
    exchange: Exchange, client: TestClient, auth: Auth
) -> None:
    code = "minzheng.marriage_registration"
    key, data = _richest_record(exchange, code)
    r = client.get(
        f"/v1/resources/{code}/records/{key}",
        params={"purpose": PURPOSE, "case": CASE},
        headers=auth("minzheng"),
    )
    seq = r.json()["audit_seq"]
    row = exchange.store.fetchone(
        "SELECT subject_hash, detail FROM audit_entries WHERE seq = ?", [seq]
    )
    assert row is not None
    wife = exchange.audit.find_subject_hash(data["female_party_id_number"])
    husband = exchange.audit.find_subject_hash(data["male_party_id_number"])
    assert {row[0], *json.loads(row[1])["subjects"]} == {wife, husband}
    assert data["female_party_id_number"] not in row[1]


def test_a_subject_report_draws_no_salt_and_signs_no_checkpoint(
    exchange: Exchange, client: TestClient, auth: Auth, city: City
) -> None:
    exchange.checkpoints.sign_now()

    def counts() -> tuple[int, int]:
        salts = exchange.store.fetchone("SELECT count(*) FROM audit_subject_salts")
        signed = exchange.store.fetchone("SELECT count(*) FROM checkpoints")
        assert salts is not None
        assert signed is not None
        return int(salts[0]), int(signed[0])

    before = counts()
    known = city.people[0].id_number
    for i in range(100):
        subject = known if i % 2 else f"11010119900101{i:04d}"  # met and never met
        r = client.get(f"/v1/audit/subjects/{subject}/accesses", headers=auth("shenji"))
        assert r.status_code == 200
        if i % 2 == 0:
            assert r.json()["subject_hash"] is None
            assert r.json()["data"] == []
    after = counts()
    print(
        f"D6: 100 subject reports created {after[0] - before[0]} salts, "
        f"{after[1] - before[1]} checkpoints"
    )
    assert after == before


def test_the_report_is_newest_first_in_pages_and_lookups_apart(
    exchange: Exchange, client: TestClient, auth: Auth, city: City
) -> None:
    person = city.people[1].id_number
    seqs = []
    for _ in range(5):
        r = client.get(
            "/v1/resources/gongan.resident_id_card/records/" + person,
            params={"purpose": PURPOSE, "case": CASE},
            headers=auth("gongan"),
        )
        seqs.append(r.json()["audit_seq"])
    # many report lookups do not push the reads off the report
    for _ in range(5):
        client.get(f"/v1/audit/subjects/{person}/accesses", headers=auth("shenji"))
    seen: list[int] = []
    before = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if before is not None:
            params["before"] = before
        body = client.get(
            f"/v1/audit/subjects/{person}/accesses", params=params, headers=auth("shenji")
        ).json()
        seen += [a["entry"]["seq"] for a in body["data"]]
        assert all(not a["entry"]["action"].startswith("audit.") for a in body["data"])
        before = body["next_before"]
        if before is None:
            break
    assert seen == sorted(seen, reverse=True)
    assert set(seqs) <= set(seen)
    lookups = client.get(
        f"/v1/audit/subjects/{person}/accesses",
        params={"kind": "lookups"},
        headers=auth("shenji"),
    ).json()["data"]
    assert len(lookups) >= 6
    assert all(a["entry"]["action"].startswith("audit.") for a in lookups)
