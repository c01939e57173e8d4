"""The audit middleware: every answer leaves exactly one entry, 500s included (D4)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Depends
from fastapi.testclient import TestClient

from exchange.api.app import create_app
from exchange.api.deps import require_role
from exchange.audit.query import EntryFilter, Scope, search
from exchange.demo.setup import DemoDepartment
from exchange.service import Exchange
from schemas.catalog import Role

Auth = Callable[[str], dict[str, str]]


def _entries_for(exchange: Exchange, target: str) -> list[dict[str, object]]:
    found = search(exchange.store, EntryFilter(target=target), Scope.everything(), limit=100)
    return [s.entry.to_json() for s in found]


def test_an_unexpected_exception_answers_500_exchange_internal_and_is_audited(
    exchange: Exchange, auth: Auth
) -> None:
    app = create_app(exchange)

    @app.get("/v1/test-only/boom", dependencies=[Depends(require_role(Role.AUDITOR))])
    def boom() -> None:
        raise RuntimeError("an unexpected failure")

    headers = auth("shenji")  # issuing the token is an entry of its own (token.issue)
    before = exchange.audit.size
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.get("/v1/test-only/boom", headers=headers)
        refused = client.get("/v1/test-only/boom")
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["code"] == "exchange.internal"
    assert problem["instance"] == "/v1/test-only/boom"
    assert "unexpected failure" not in r.text  # the cause is logged, not answered
    assert refused.status_code == 401  # refused before the route ran: audited as before
    assert exchange.audit.size - before == 2
    entries = _entries_for(exchange, "/v1/test-only/boom")
    assert len(entries) == 2
    assert all(e["action"] == "http.get" for e in entries)
    assert (entries[0]["outcome"], entries[0]["detail"]) == ("error", {"status": 500})
    assert entries[0]["actor"] == DemoDepartment.load(exchange, "shenji").uscc
    assert (entries[1]["actor"], entries[1]["detail"]) == ("anonymous", {"status": 401})


def test_a_refusal_at_the_door_names_the_caller_and_is_never_only_counted(
    exchange: Exchange, auth: Auth
) -> None:
    """A body refused before any route ran (too deep) by a caller with a valid token is
    an entry naming that caller, however many come in a minute (not an anonymous count);
    the same refusal without a token is anonymous."""
    deep = "[" * 5000 + "]" * 5000
    gongan = exchange.registry.by_code("gongan").uscc
    bearer = auth("gongan")  # taken before counting: token issuance is audited
    with TestClient(create_app(exchange), raise_server_exceptions=False) as client:
        for _ in range(15):  # beyond the anonymous allowance of a minute
            before = exchange.audit.size
            r = client.post(
                "/v1/verify",
                content=deep,
                headers={**bearer, "content-type": "text/plain"},
            )
            assert r.status_code == 422, r.text
            assert exchange.audit.size == before + 1
        anonymous = client.post("/v1/verify", content=deep, headers={"content-type": "text/plain"})
    assert anonymous.status_code in (401, 422)
    found = search(exchange.store, EntryFilter(actor=gongan), Scope.everything(), limit=100)
    refused = [s.entry for s in found if s.entry.outcome == "refused"]
    assert len(refused) >= 15
