"""Publishing: sealed batches, ownership, quarantine with reasons, idempotence."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from exchange.demo.city import City
from exchange.demo.setup import DemoDepartment
from exchange.service import Exchange

Auth = Callable[[str], dict[str, str]]
RESOURCE = "shichang.business_licence"


def _licence(city: City, i: int, **changes: Any) -> dict[str, Any]:
    row = dict(city.business_licences()[i % len(city.business_licences())])
    row.update(changes)
    return row


def _publish(client: TestClient, auth: Auth, batch: Any, code: str = "shichang") -> Any:
    return client.post("/v1/records", headers=auth(code), json=batch.model_dump())


def test_good_rows_are_stored_bad_rows_quarantined_with_reasons(
    exchange: Exchange, client: TestClient, auth: Auth, city: City
) -> None:
    dept = DemoDepartment.load(exchange, "shichang")
    good = _licence(city, 0, name="信阳新名称有限公司")
    bad_uscc = _licence(city, 1, uscc=good["uscc"][:-1] + ("A" if good["uscc"][-1] != "A" else "B"))
    missing = {k: v for k, v in _licence(city, 2).items() if k != "address"}
    unknown_code = _licence(city, 3, status="bankrupt")
    extra = _licence(city, 4, surprise="not in the schema")
    batch = dept.seal(RESOURCE, [good, bad_uscc, missing, unknown_code, extra], "uscc", version=5)
    r = _publish(client, auth, batch)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["accepted"] == 1
    reasons = {q["index"]: q["reason"] for q in body["quarantined"]}
    assert set(reasons) == {1, 2, 3, 4}
    assert "check character" in reasons[1]
    assert "address" in reasons[2]
    assert "status" in reasons[3]
    assert "surprise" in reasons[4]
    stored = exchange.store.fetchall(
        "SELECT record_index, reason FROM quarantine WHERE batch_id = ? ORDER BY record_index",
        [body["batch_id"]],
    )
    assert [row[0] for row in stored] == [1, 2, 3, 4]
    # the extra field was never stored anywhere but in the quarantine payload
    assert (
        exchange.store.fetchone("SELECT count(*) FROM record_history WHERE data LIKE '%surprise%'")[
            0
        ]
        == 0
    )
    latest = exchange.store.fetchone(
        "SELECT version FROM record_latest WHERE resource = ? AND key = ?", [RESOURCE, good["uscc"]]
    )
    assert latest == (5,)


def test_redelivery_is_idempotent_by_resource_key_version(
    exchange: Exchange, client: TestClient, auth: Auth, city: City
) -> None:
    dept = DemoDepartment.load(exchange, "shichang")
    rows = [_licence(city, i) for i in range(3)]
    first = _publish(client, auth, dept.seal(RESOURCE, rows, "uscc", version=9)).json()
    again = _publish(client, auth, dept.seal(RESOURCE, rows, "uscc", version=9)).json()
    assert first["accepted"] == 3
    assert again["accepted"] == 0
    assert again["duplicates"] == 3
    older = _publish(client, auth, dept.seal(RESOURCE, rows[:1], "uscc", version=7)).json()
    assert older["accepted"] == 1  # kept in history, does not replace the latest
    latest = exchange.store.fetchone(
        "SELECT version FROM record_latest WHERE resource = ? AND key = ?",
        [RESOURCE, rows[0]["uscc"]],
    )
    assert latest == (9,)


def test_a_department_publishes_only_its_own_registers(
    exchange: Exchange, client: TestClient, auth: Auth, city: City
) -> None:
    dept = DemoDepartment.load(exchange, "gongan")
    r = _publish(client, auth, dept.seal(RESOURCE, [_licence(city, 0)], "uscc"), code="gongan")
    assert r.status_code == 403
    assert r.json()["code"] == "exchange.not_owner"


def test_altered_records_or_foreign_seals_quarantine_the_batch(
    exchange: Exchange, client: TestClient, auth: Auth, city: City
) -> None:
    dept = DemoDepartment.load(exchange, "shichang")
    batch = dept.seal(RESOURCE, [_licence(city, 5), _licence(city, 6)], "uscc", version=11)
    tampered = batch.model_dump()
    tampered["records"][1]["data"]["name"] = "篡改后的名称"
    r = client.post("/v1/records", headers=auth("shichang"), json=tampered)
    assert r.status_code == 422
    assert r.json()["code"] == "signing.invalid_seal"
    assert "Merkle root" in r.json()["detail"]
    other = DemoDepartment.load(exchange, "gongan")
    foreign = other.seal(RESOURCE, [_licence(city, 5)], "uscc", version=12).model_dump()
    r = client.post("/v1/records", headers=auth("shichang"), json=foreign)
    assert r.status_code == 422
    quarantined = exchange.store.fetchone(
        "SELECT count(*) FROM quarantine WHERE reason_code = 'signing.invalid_seal'"
    )[0]
    assert quarantined >= 3  # both records of the altered batch, and the foreign one


def test_a_refused_seal_does_not_take_the_batch_id_of_a_genuine_batch(
    exchange: Exchange, client: TestClient, auth: Auth, city: City
) -> None:
    dept = DemoDepartment.load(exchange, "shichang")
    genuine = dept.seal(RESOURCE, [_licence(city, 8)], "uscc", version=31)
    forged = genuine.model_dump()
    forged["records"][0]["data"]["name"] = "冒名的记录"
    assert client.post("/v1/records", headers=auth("shichang"), json=forged).status_code == 422
    r = client.post("/v1/records", headers=auth("shichang"), json=genuine.model_dump())
    assert r.status_code == 200
    assert r.json()["accepted"] == 1  # not mistaken for a replay of the forged batch


def test_a_batch_partly_stored_before_adds_only_its_new_records(
    exchange: Exchange, client: TestClient, auth: Auth, city: City
) -> None:
    from signing.seal import seal_batch

    dept = DemoDepartment.load(exchange, "shichang")
    a, b, c = (_licence(city, i) for i in (10, 11, 12))
    assert len({a["uscc"], b["uscc"], c["uscc"]}) == 3

    def sealed(items: list[tuple[dict[str, Any], int]]) -> dict[str, Any]:
        records = [
            {"resource": RESOURCE, "key": row["uscc"], "version": v, "data": row}
            for row, v in items
        ]
        seal = seal_batch(
            records, resource=RESOURCE, issuer=dept.uscc, key=dept.seal_key, kid=dept.seal_kid
        ).seal
        return {
            "resource": RESOURCE,
            "records": [{k: v for k, v in r.items() if k != "resource"} for r in records],
            "seal": seal.model_dump(),
        }

    first = client.post("/v1/records", headers=auth("shichang"), json=sealed([(a, 41)]))
    assert first.json()["accepted"] == 1
    mixed = sealed([(a, 41), (b, 41), (b, 41), (c, 41), (c, 42)])
    body = client.post("/v1/records", headers=auth("shichang"), json=mixed).json()
    assert (body["accepted"], body["duplicates"]) == (3, 2)
    versions = dict(
        exchange.store.fetchall(
            "SELECT key, version FROM record_latest WHERE resource = ? AND key IN (?, ?, ?)",
            [RESOURCE, a["uscc"], b["uscc"], c["uscc"]],
        )
    )
    assert versions == {a["uscc"]: 41, b["uscc"]: 41, c["uscc"]: 42}
    stored = exchange.store.fetchall(
        "SELECT leaf_index, version FROM record_history WHERE batch_id = ? ORDER BY leaf_index",
        [body["batch_id"]],
    )
    assert stored == [(1, 41), (3, 41), (4, 42)]
    for row in (a, b, c):
        subjects = exchange.store.fetchone(
            "SELECT count(*) FROM record_subjects WHERE resource = ? AND key = ?",
            [RESOURCE, row["uscc"]],
        )
        assert subjects is not None
        assert subjects[0] >= 1
        distinct = exchange.store.fetchone(
            "SELECT count(*) = count(DISTINCT subject) FROM record_subjects "
            "WHERE resource = ? AND key = ?",
            [RESOURCE, row["uscc"]],
        )
        assert distinct == (True,)
