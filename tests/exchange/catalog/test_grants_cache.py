"""The approved-grants cache never keeps what a read took from before a decision: neither
when the read raced the decision's own commit, nor when the decision's transaction was
still open while the read missed the cache (as a cluster node applies a control event).
Both tests fail with a cache that is only cleared where the change is made."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from exchange.catalog.grants import GrantDecision, GrantRequest
from exchange.errors import Forbidden
from exchange.service import Exchange

RESOURCE = "gongan.resident_id_card"  # conditional (有条件共享): only a grant opens it
MATTER = "weijian.newborn_birth"


def _pending(exchange: Exchange, consumer: str) -> str:
    request = GrantRequest(
        resource=RESOURCE,
        fields=["name"],
        purposes=[MATTER],
        reason="出生医学证明 核验父母身份",
        expires_at=datetime.now(UTC) + timedelta(days=3),
    )
    return exchange.grants.request(consumer, request).id


def _uscc(exchange: Exchange, code: str) -> str:
    return exchange.registry.by_code(code).uscc


def _refused(read: Callable[[], Any]) -> bool:
    try:
        read()
    except Forbidden:
        return True
    return False


def test_a_read_that_raced_the_decision_does_not_keep_the_refusal(
    exchange: Exchange, monkeypatch: pytest.MonkeyPatch
) -> None:
    consumer, owner = _uscc(exchange, "renshe"), _uscc(exchange, "gongan")
    grant = _pending(exchange, consumer)
    fetched, go = threading.Event(), threading.Event()
    real = exchange.store.fetchall

    def paused(sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        rows = real(sql, params)
        if threading.current_thread().name == "reader" and "status = 'approved'" in sql:
            fetched.set()  # read before the decision: no approved grant
            assert go.wait(10)
        return rows

    monkeypatch.setattr(exchange.store, "fetchall", paused)
    read = lambda: exchange.grants.decide_access(consumer, RESOURCE, MATTER)  # noqa: E731
    outcome: list[bool] = []
    reader = threading.Thread(target=lambda: outcome.append(_refused(read)), name="reader")
    reader.start()
    assert fetched.wait(10)
    exchange.grants.decide(grant, owner, GrantDecision(approve=True, reason="依法核验"))
    go.set()  # the read now puts back what it read before the decision
    reader.join(10)
    assert outcome == [True]  # that read itself was refused: it began before the decision
    stale = _refused(read)
    print(
        f"\nA7 (a read racing an approval's commit): stale answers kept after it {int(stale)} of 1"
    )
    assert not stale  # the next read sees the approval


def test_a_read_while_the_decision_is_uncommitted_leaves_nothing_after_the_commit(
    exchange: Exchange,
) -> None:
    consumer, owner = _uscc(exchange, "weijian"), _uscc(exchange, "gongan")
    grant = _pending(exchange, consumer)
    read = lambda: exchange.grants.decide_access(consumer, RESOURCE, MATTER)  # noqa: E731
    outcome: list[bool] = []
    with exchange.store.transaction():
        exchange.grants.decide(grant, owner, GrantDecision(approve=True, reason="依法核验"))
        reader = threading.Thread(target=lambda: outcome.append(_refused(read)))
        reader.start()
        reader.join(10)
    assert outcome == [True]  # it read what was committed then
    approval_lost = _refused(read)  # committed now: the grant must be honoured
    with exchange.store.transaction():
        exchange.grants.revoke(grant, owner, "测试结束")
        reader = threading.Thread(target=lambda: outcome.append(_refused(read)))
        reader.start()
        reader.join(10)
    revocation_lost = not _refused(read)  # committed now: refused at once
    print(
        "\nA7 (reads while an approval and a revocation were uncommitted): stale answers kept "
        f"after the commit {int(approval_lost) + int(revocation_lost)} of 2"
    )
    assert not approval_lost
    assert outcome == [True, False]  # the second read was before the revocation committed
    assert not revocation_lost
