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
