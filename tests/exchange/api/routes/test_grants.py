"""Grants the owner manages through the API: purposes are 事项 codes, an approved grant is
revoked (the next read is refused at once) or narrowed (removed fields are masked from the
next read), the owner sees the reads made under it, and every change is audited."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from exchange.demo.city import City
from exchange.service import Exchange

Auth = Callable[[str], dict[str, str]]
RESOURCE = "gongan.resident_id_card"
MATTER = "weijian.newborn_birth"


def _approved(
    client: TestClient, auth: Auth, consumer: str, fields: list[str], days: int = 30
) -> dict[str, Any]:
    r = client.post(
        "/v1/grants",
        headers=auth(consumer),
        json={
            "resource": RESOURCE,
            "fields": fields,
            "purposes": [MATTER],
            "reason": "出生医学证明 核验父母身份 (parents' identity for a newborn)",
            "expires_at": (datetime.now(UTC) + timedelta(days=days)).isoformat(),
        },
    )
    assert r.status_code == 201, r.text
    r = client.post(
        f"/v1/grants/{r.json()['id']}/decision",
        headers=auth("gongan"),
        json={"approve": True, "reason": "依法核验"},
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def _read(client: TestClient, auth: Auth, consumer: str, key: str) -> Any:
    return client.get(
        f"/v1/resources/{RESOURCE}/records/{key}",
        params={"purpose": MATTER, "case": "WJ-GRANT-1"},
        headers=auth(consumer),
    )


def _actions(exchange: Exchange, grant_id: str) -> list[tuple[str, str, str | None]]:
    rows = exchange.store.fetchall(
        "SELECT action, outcome, code FROM audit_entries WHERE target = ? ORDER BY seq",
        [grant_id],
    )
    return [(str(a), str(o), c) for a, o, c in rows]


def test_a_revoked_grant_refuses_the_next_read_at_once(
    exchange: Exchange, client: TestClient, auth: Auth, city: City
) -> None:
    grant = _approved(client, auth, "renshe", ["name", "birth_date"])
    key = city.people[5].id_number
    assert _read(client, auth, "renshe", key).status_code == 200
    # only the owner revokes
    r = client.post(
        f"/v1/grants/{grant['id']}/revocation", headers=auth("renshe"), json={"reason": "x"}
    )
    assert r.status_code == 403
    assert r.json()["code"] == "exchange.not_owner"
    r = client.post(
        f"/v1/grants/{grant['id']}/revocation",
        headers=auth("gongan"),
        json={"reason": "办件已结束 (the cases are closed)"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "revoked"
    assert r.json()["active"] is False
    refused = _read(client, auth, "renshe", key)
    assert refused.status_code == 403
    assert refused.json()["code"] == "exchange.grant_missing"
    again = client.post(
        f"/v1/grants/{grant['id']}/revocation", headers=auth("gongan"), json={"reason": "again"}
    )
    assert again.status_code == 409
    assert again.json()["code"] == "exchange.grant_not_approved"
    assert _actions(exchange, grant["id"]) == [
        ("grant.decide", "approved", None),
        ("grant.revoke", "refused", "exchange.not_owner"),
        ("grant.revoke", "revoked", None),
        ("grant.revoke", "refused", "exchange.grant_not_approved"),
    ]


def test_a_narrowed_grant_masks_the_removed_fields(
    exchange: Exchange, client: TestClient, auth: Auth, city: City
) -> None:
    grant = _approved(client, auth, "yibao", ["name", "birth_date", "sex"])
    key = city.people[6].id_number
    before = _read(client, auth, "yibao", key).json()
    assert "birth_date" not in before["masked_fields"]
    earlier = datetime.now(UTC) + timedelta(days=7)
    r = client.post(
        f"/v1/grants/{grant['id']}/narrowing",
        headers=auth("gongan"),
        json={
            "fields": ["name", "sex"],
            "expires_at": earlier.isoformat(),
            "reason": "出生日期不再需要",
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["fields"] == ["name", "sex"]
    assert datetime.fromisoformat(r.json()["expires_at"]) == earlier
    after = _read(client, auth, "yibao", key).json()
    assert "birth_date" in after["masked_fields"]
    assert after["data"]["birth_date"] != before["data"]["birth_date"]
    assert after["data"]["name"] == before["data"]["name"]
    (detail,) = [
        r[0]
        for r in exchange.store.fetchall(
            "SELECT detail FROM audit_entries WHERE action = 'grant.narrow' AND target = ?",
            [grant["id"]],
        )
    ]
    assert '"fields_removed":["birth_date"]' in detail


def test_a_narrowing_that_widens_or_keeps_all_is_refused(client: TestClient, auth: Auth) -> None:
    grant = _approved(client, auth, "shuiwu", ["name"], days=10)
    later = (datetime.now(UTC) + timedelta(days=60)).isoformat()
    for body in (
        {"fields": ["name", "address"], "reason": "wider"},
        {"expires_at": later, "reason": "later"},
        {"fields": ["name"], "reason": "the same"},
        {"purposes": [MATTER, "shichang.business_opening"], "reason": "another matter"},
    ):
        r = client.post(f"/v1/grants/{grant['id']}/narrowing", headers=auth("gongan"), json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["code"] == "exchange.grant_not_narrower", body
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    r = client.post(
        f"/v1/grants/{grant['id']}/narrowing",
        headers=auth("gongan"),
        json={"expires_at": past, "reason": "past"},
    )
    assert r.status_code == 422
    assert r.json()["code"] == "exchange.invalid_expiry"


def test_the_owner_sees_the_reads_made_under_a_grant_and_its_history(
    client: TestClient, auth: Auth, city: City
) -> None:
    grant = _approved(client, auth, "zhujian", ["name"])
    keys = [p.id_number for p in city.people[10:13]]
    for key in keys:
        assert _read(client, auth, "zhujian", key).status_code == 200
    for who in ("gongan", "zhujian"):
        r = client.get(f"/v1/grants/{grant['id']}/uses", headers=auth(who))
        assert r.status_code == 200, r.text
        uses = r.json()
        assert uses["count"] == 3
        assert [u["case_no"] for u in uses["data"]] == ["WJ-GRANT-1"] * 3
        assert all(u["purpose"] == MATTER and u["outcome"] == "allowed" for u in uses["data"])
        assert "birth_date" in uses["data"][0]["masked"]
    assert client.get(f"/v1/grants/{grant['id']}/uses", headers=auth("shuiwu")).status_code == 403
    history = client.get(f"/v1/grants/{grant['id']}/history", headers=auth("gongan")).json()
    assert [h["action"] for h in history] == ["grant.request", "grant.decide"]


def test_a_free_text_purpose_is_refused_with_its_code(
    exchange: Exchange, client: TestClient, auth: Auth
) -> None:
    before = exchange.audit.size
    r = client.post(
        "/v1/grants",
        headers=auth("renshe"),
        json={
            "resource": RESOURCE,
            "fields": ["name"],
            "purposes": [MATTER, "核验身份"],
            "reason": "r",
            "expires_at": (datetime.now(UTC) + timedelta(days=3)).isoformat(),
        },
    )
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "exchange.purpose_not_a_matter"
    assert "weijian.newborn_birth" in r.json()["detail"]  # names the matters to choose from
    assert exchange.audit.size == before + 1


def test_a_pending_grant_past_its_deadline_is_flagged_overdue(
    exchange: Exchange, client: TestClient, auth: Auth
) -> None:
    r = client.post(
        "/v1/grants",
        headers=auth("budongchan"),
        json={
            "resource": RESOURCE,
            "fields": ["name"],
            "purposes": ["budongchan.new_commercial_housing_transfer"],
            "reason": "r",
            "expires_at": (datetime.now(UTC) + timedelta(days=3)).isoformat(),
        },
    )
    grant_id = r.json()["id"]
    assert r.json()["overdue"] is False
    # the request as if made a month ago: its deadline has passed
    exchange.store.execute(
        "UPDATE grants SET answer_due = ? WHERE id = ?",
        [datetime.now(UTC).date() - timedelta(days=5), grant_id],
    )
    owner = client.get(f"/v1/grants/{grant_id}", headers=auth("gongan")).json()
    assert owner["overdue"] is True
