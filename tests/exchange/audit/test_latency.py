"""Group-commit latency figures, and the grouping they describe."""

from __future__ import annotations

from pathlib import Path
from time import perf_counter

from exchange.audit import latency
from exchange.audit.latency import GroupLatency
from exchange.audit.log import AuditEvent, AuditLog
from exchange.config import AuditSettings
from exchange.store import Store
from signing.merkle import root_of


def _event(i: int) -> AuditEvent:
    return AuditEvent(actor="11411500MA0000100X", action="query", outcome="ok", detail={"i": i})


def test_the_summary_gives_percentiles_of_the_recorded_groups() -> None:
    groups = GroupLatency()
    for ms in range(1, 101):  # commits of 1 … 100 ms
        groups.record(10, ms / 1000, [0.0])
    summary = groups.summary()
    assert summary.groups == 100
    assert summary.entries == 1000
    assert summary.commit_p50_ms == 51.0
    assert summary.commit_p99_ms == 100.0
    assert summary.commit_max_ms == 100.0


def test_the_record_is_bounded_and_can_be_cleared() -> None:
    groups = GroupLatency(keep=5)
    for _ in range(20):
        groups.record(1, 0.001, [perf_counter()])
    assert groups.summary().groups == 5
    assert 0 <= groups.summary().wait_max_ms < 1000
    groups.clear()
    assert groups.summary().groups == 0
    assert groups.summary().commit_p99_ms == 0.0


def test_a_batch_is_committed_in_one_group_even_beyond_the_group_limit(tmp_path: Path) -> None:
    with Store(tmp_path / "data", create=True) as store:
        log = AuditLog(store, b"k" * 32, AuditSettings(group_commit_max=8))
        try:
            log.append(_event(0))
            log.latency.clear()
            seqs = log.append_many([_event(i) for i in range(1, 31)])
            assert seqs == list(range(1, 31))
            summary = log.latency.summary()
            assert (summary.groups, summary.entries) == (1, 30)
            assert log.append_many([]) == []
            rows = store.fetchall("SELECT leaf_hash FROM audit_entries ORDER BY seq")
            assert log.root() == root_of([bytes(r[0]) for r in rows])
        finally:
            log.close()


def test_public_api_is_listed() -> None:
    assert set(latency.__all__) == {"GroupLatency", "LatencySummary", "percentile"}


def test_the_wait_per_call_counts_every_caller_once() -> None:
    """A disk stall makes few large groups: over groups the wait's p99 misses it, over the
    calls it is what most callers of the stall saw; a bulk call of many entries is one."""
    groups = GroupLatency()
    for _ in range(200):
        groups.record(1, 0.0002, [perf_counter() - 0.001])  # quick groups of one call
    stalled = perf_counter() - 0.080
    groups.record(100, 0.080, [stalled] * 100)  # one stall: 100 callers waited
    summary = groups.summary()
    assert summary.wait_p99_ms < 20  # over 201 groups: one slow group is below the p99
    assert summary.call_wait_p99_ms >= 80  # over 300 calls: a third waited 80 ms

    bulk = GroupLatency()
    for _ in range(200):
        bulk.record(1, 0.0002, [perf_counter() - 0.001])
    bulk.record(5000, 0.01, [perf_counter() - 0.5])  # one bulk call
    assert bulk.summary().call_wait_p99_ms < 20  # one call of 201, however many entries


def test_a_groups_wait_is_its_oldest_callers() -> None:
    groups = GroupLatency()
    now = perf_counter()
    groups.record(3, 0.001, [now - 0.010, now - 0.050, now - 0.020])
    summary = groups.summary()
    assert 50 <= summary.wait_max_ms < 1000
    assert summary.call_wait_p99_ms == summary.wait_max_ms  # the oldest of three calls
