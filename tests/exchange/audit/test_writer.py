"""The group-commit writer: the searchable index trails the durable log, and says by how much."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from exchange.audit.log import AuditEvent
from exchange.config import Settings
from exchange.demo.setup import create_demo
from exchange.server import build_app
from exchange.service import Exchange


@pytest.fixture
def exchange(tmp_path: Path) -> Iterator[Exchange]:
    ex = create_demo(Settings(data=tmp_path / "data"))
    yield ex
    ex.close()


def _events(n: int) -> list[AuditEvent]:
    return [
        AuditEvent(actor="11411500000001054R", action="query", outcome="allowed", target="t")
        for _ in range(n)
    ]


def test_healthz_reports_the_audit_index_lag_while_the_index_trails(exchange: Exchange) -> None:
    audit = exchange.audit
    with TestClient(build_app(exchange), raise_server_exceptions=False) as client:
        audit.wait_indexed()
        # the indexer cannot record progress while this lock is held: the index trails
        with audit._index_cond:
            audit.append_many(_events(50))  # answered once durable, not once indexed
            body = client.get("/healthz").json()
            index = body["audit_index"]
            assert index["size"] >= audit.size - 1  # /healthz's own entry may follow
            assert index["lag"] >= 50
            assert index["indexed"] + index["lag"] == index["size"]
        audit.wait_indexed()  # the index catches up once the indexer may go on
        index = client.get("/healthz").json()["audit_index"]
        assert index["lag"] < 50
        assert index["indexed"] + index["lag"] == index["size"]
