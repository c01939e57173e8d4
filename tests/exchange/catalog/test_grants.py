"""Grant requests are bounded (purposes, expiry, text that is valid Unicode; each refusal
has its own code); grant decisions under concurrency: one decision per grant, the others a
clear 409."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from exchange.service import Exchange
from schemas.matters import load_matters

Auth = Callable[[str], dict[str, str]]
MATTERS = sorted(load_matters())


def _request(client: TestClient, auth: Auth) -> str:
    r = client.post(
        "/v1/grants",
        headers=auth("budongchan"),
        json={
            "resource": "gongan.resident_id_card",
            "fields": ["name"],
            "purposes": ["budongchan.new_commercial_housing_transfer"],
            "reason": "race test",
            "expires_at": (datetime.now(UTC) + timedelta(days=3)).isoformat(),
        },
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_twelve_concurrent_decisions_give_one_decision_and_eleven_conflicts(
    exchange: Exchange, client: TestClient, auth: Auth
) -> None:
    grant_id = _request(client, auth)
    owner = auth("gongan")
    start = threading.Barrier(12)
    answers: list[Any] = [None] * 12

    def decide(i: int) -> None:
        start.wait()
        answers[i] = client.post(
            f"/v1/grants/{grant_id}/decision",
            headers=owner,
            json={"approve": i % 2 == 0, "reason": f"decision {i}"},
        )

    threads = [threading.Thread(target=decide, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = Counter(a.status_code for a in answers)
    assert statuses == {200: 1, 409: 11}, [(a.status_code, a.text[:120]) for a in answers]
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {
        "exchange.grant_already_decided"
    }
    (winner,) = [a.json() for a in answers if a.status_code == 200]
    stored = exchange.grants.grant(grant_id)
    assert stored.status == winner["status"]
    assert stored.decision_reason == winner["decision_reason"]
    # every decision, won or refused, is one audit entry
    rows = exchange.store.fetchall(
        "SELECT outcome, code FROM audit_entries WHERE action = 'grant.decide' AND target = ?",
        [grant_id],
    )
    assert len(rows) == 12
    assert Counter(c for _, c in rows)["exchange.grant_already_decided"] == 11


def test_a_decided_grant_is_not_decided_again(client: TestClient, auth: Auth) -> None:
    grant_id = _request(client, auth)
    owner = auth("gongan")
    ok = client.post(
        f"/v1/grants/{grant_id}/decision", headers=owner, json={"approve": True, "reason": "ok"}
    )
    assert ok.status_code == 200
    again = client.post(
        f"/v1/grants/{grant_id}/decision", headers=owner, json={"approve": False, "reason": "no"}
    )
    assert again.status_code == 409
    assert again.json()["code"] == "exchange.grant_already_decided"
    assert client.get(f"/v1/grants/{grant_id}", headers=owner).json()["status"] == "approved"


def _grant(**changes: Any) -> dict[str, Any]:
    return {
        "resource": "minzheng.marriage_registration",
        "fields": ["kind"],
        "purposes": ["budongchan.new_commercial_housing_transfer"],
        "reason": "核验婚姻状况 (marital status for a property transfer)",
        "expires_at": (datetime.now(UTC) + timedelta(days=30)).isoformat(),
        **changes,
    }


@pytest.mark.parametrize(
    ("changes", "status", "code"),
    [
        ({"purposes": ["x" * 6000]}, 422, "schema.too_long"),
        ({"purposes": [""]}, 422, "schema.invalid_request"),
        ({"purposes": []}, 422, "schema.invalid_request"),
        ({"fields": ["k" * 100]}, 422, "schema.too_long"),
        ({"purposes": ["a\ud800b"]}, 422, "schema.invalid_text"),
        ({"reason": "\udfff"}, 422, "schema.invalid_text"),
        (
            {"expires_at": (datetime.now(UTC) + timedelta(days=10 * 365)).isoformat()},
            422,
            "exchange.invalid_expiry",
        ),
        ({"expires_at": "2001-01-01T00:00:00Z"}, 422, "exchange.invalid_expiry"),
        ({"fields": ["not_a_field"]}, 422, "exchange.unknown_field"),
        ({"resource": "shichang.business_licence"}, 422, "exchange.grant_not_applicable"),
    ],
    ids=[
        "huge purpose",
        "empty purpose",
        "no purposes",
        "huge field name",
        "lone surrogate in a purpose",
        "lone surrogate in the reason",
        "ten years ahead",
        "in the past",
        "unknown field",
        "not a conditional resource",
    ],
)
def test_a_grant_request_out_of_bounds_is_refused_with_its_code(
    exchange: Exchange,
    client: TestClient,
    auth: Auth,
    changes: dict[str, Any],
    status: int,
    code: str,
) -> None:
    headers = {**auth("zhujian"), "content-type": "application/json"}  # token issuance is audited
    before = exchange.audit.size
    body = json.dumps(_grant(**changes))  # \ud800 stays an escape, as a client sends it
    r = client.post("/v1/grants", headers=headers, content=body)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == code
    assert exchange.audit.size == before + 1  # the refusal is audited


def test_a_grant_within_the_bounds_is_accepted(client: TestClient, auth: Auth) -> None:
    near_limit = datetime.now(UTC) + timedelta(days=4 * 365)
    r = client.post(
        "/v1/grants",
        headers=auth("zhujian"),
        json=_grant(
            purposes=[MATTERS[i % 3] for i in range(16)], expires_at=near_limit.isoformat()
        ),
    )
    assert r.status_code in (200, 201), r.text
