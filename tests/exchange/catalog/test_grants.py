"""Grant decisions under concurrency: one decision per grant, the others a clear 409."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from exchange.service import Exchange

Auth = Callable[[str], dict[str, str]]


def _request(client: TestClient, auth: Auth) -> str:
    r = client.post(
        "/v1/grants",
        headers=auth("budongchan"),
        json={
            "resource": "gongan.resident_id_card",
            "fields": ["name"],
            "purposes": ["p.race"],
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
