"""Case numbers under concurrency, per approving department, and no existence oracle."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from exchange.demo.case import MATTER, couple_applicants
from exchange.demo.city import City
from exchange.service import Exchange

Auth = Callable[[str], dict[str, str]]


def _resolve(client: TestClient, auth: Auth, city: City, case: str) -> Any:
    return client.post(
        "/v1/cases",
        headers=auth("budongchan"),
        json={"matter": MATTER, "applicants": couple_applicants(city, 1), "case_no": case},
    )


def test_four_concurrent_resolutions_of_one_case_number_give_one_case_and_three_conflicts(
    exchange: Exchange, client: TestClient, auth: Auth, city: City
) -> None:
    start = threading.Barrier(4)
    answers: list[Any] = [None] * 4

    def resolve(i: int) -> None:
        start.wait()
        answers[i] = _resolve(client, auth, city, "BDC-RACE-0001")

    threads = [threading.Thread(target=resolve, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = Counter(a.status_code for a in answers)
    assert statuses == {201: 1, 409: 3}, [(a.status_code, a.text[:160]) for a in answers]
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {"exchange.case_exists"}
    rows = exchange.store.fetchall("SELECT approver FROM cases WHERE case_no = 'BDC-RACE-0001'")
    assert len(rows) == 1
    # and afterwards, the number stays taken
    again = _resolve(client, auth, city, "BDC-RACE-0001")
    assert again.status_code == 409
    assert again.json()["code"] == "exchange.case_exists"
    # every racer that lost after its reads says so in the log (the late one is refused
    # before any read, and its request's own entry records the 409)
    refused = exchange.store.fetchall(
        "SELECT count(*) FROM audit_entries WHERE action = 'case.resolve' "
        "AND case_no = 'BDC-RACE-0001' AND code = 'exchange.case_exists'"
    )
    assert refused[0][0] == 3


def test_case_numbers_belong_to_the_approving_department(
    client: TestClient, auth: Auth, city: City
) -> None:
    mother = next(p for p in city.people if p.sex == "2" and p.spouse is not None)
    assert _resolve(client, auth, city, "SHARED-0001").status_code == 201
    r = client.post(
        "/v1/cases",
        headers=auth("weijian"),
        json={
            "matter": "weijian.newborn_birth",
            "applicants": [{"role": "mother", "id": mother.id_number}],
            "case_no": "SHARED-0001",
        },
    )
    assert r.status_code == 201, r.text
    mine = client.get("/v1/cases/SHARED-0001", headers=auth("weijian")).json()
    assert mine["matter"] == "weijian.newborn_birth"
    theirs = client.get("/v1/cases/SHARED-0001", headers=auth("budongchan")).json()
    assert theirs["matter"] == MATTER


def test_another_departments_case_and_no_case_get_one_answer(
    client: TestClient, auth: Auth, city: City
) -> None:
    assert _resolve(client, auth, city, "BDC-ORACLE-0001").status_code == 201
    assert client.get("/v1/cases/BDC-ORACLE-0001", headers=auth("budongchan")).status_code == 200
    someone_elses = client.get("/v1/cases/BDC-ORACLE-0001", headers=auth("zhujian"))
    nobodys = client.get("/v1/cases/BDC-ORACLE-0002", headers=auth("zhujian"))
    assert someone_elses.status_code == nobodys.status_code == 404
    one, other = someone_elses.json(), nobodys.json()
    assert one["code"] == other["code"] == "exchange.not_found"
    assert one["detail"].replace("0001", "0002") == other["detail"]
