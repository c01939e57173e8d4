"""How long group commits take: the figures behind the audit log's latency.

Every caller of :meth:`exchange.audit.log.AuditLog.append` waits for its group's commit, so
the query path's tail latency is the audit log's group latency. :class:`GroupLatency`
keeps the last ``keep`` groups (a bounded ring: a few hundred KB at most) and summarises
them: how many entries a group held, how long it took to make durable (the segment's
``fdatasync``; for a group with transactional work, its whole DuckDB transaction) and
how long its oldest caller waited from queueing to being woken.

Percentiles over groups understate what callers see when the disk stalls: the calls of a
whole stall are made durable by one ``fdatasync`` afterwards, in few groups. So the wait is
also given per call (``call_wait_p99_ms``: each caller's own wait from queueing its entries
to being woken), the figure that compares with a read's latency.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from time import perf_counter

__all__ = ["GroupLatency", "LatencySummary", "percentile"]


@dataclass(frozen=True)
class LatencySummary:
    """Percentiles over the groups recorded (times in milliseconds)."""

    groups: int
    entries: int
    commit_p50_ms: float
    commit_p99_ms: float
    commit_max_ms: float
    wait_p50_ms: float
    wait_p99_ms: float
    wait_max_ms: float
    call_wait_p99_ms: float  # over every caller of those groups, each its own wait


def percentile(ordered: list[float], fraction: float) -> float:
    """The value at ``fraction`` (0 … 1) of an ordered list (0 when empty)."""
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class GroupLatency:
    """A bounded record of the latest group commits."""

    def __init__(self, keep: int = 10_000) -> None:
        self._groups: deque[tuple[int, float, float, tuple[float, ...]]] = deque(maxlen=keep)
        self._lock = threading.Lock()

    def record(self, entries: int, commit_s: float, queued: Sequence[float]) -> None:
        """One committed group: its size, its commit time, and when each of its callers
        queued (``perf_counter``; 0: not known). The oldest caller's wait is the group's."""
        now = perf_counter()
        waits = tuple(now - q for q in queued if q) or (0.0,)
        with self._lock:
            self._groups.append((entries, commit_s, max(waits), waits))

    def take(self, *, clear: bool = False) -> LatencySummary:
        """:meth:`summary`, and with ``clear`` forget what it summarised (in one step: a
        group recorded meanwhile is in this summary or the next)."""
        with self._lock:
            groups = list(self._groups)
            if clear:
                self._groups.clear()
        return _summarise(groups)

    def clear(self) -> None:
        """Forget what was recorded (to measure one phase of a benchmark)."""
        with self._lock:
            self._groups.clear()

    def summary(self) -> LatencySummary:
        """p50, p99 and maximum of the commit time and the oldest caller's wait."""
        with self._lock:
            groups = list(self._groups)
        return _summarise(groups)


def _summarise(groups: list[tuple[int, float, float, tuple[float, ...]]]) -> LatencySummary:
    commits = sorted(c for _, c, _, _ in groups)
    waits = sorted(w for _, _, w, _ in groups)
    calls = sorted(w for *_, each in groups for w in each)
    ms = 1000.0
    return LatencySummary(
        groups=len(groups),
        entries=sum(n for n, _, _, _ in groups),
        commit_p50_ms=percentile(commits, 0.5) * ms,
        commit_p99_ms=percentile(commits, 0.99) * ms,
        commit_max_ms=(commits[-1] if commits else 0.0) * ms,
        wait_p50_ms=percentile(waits, 0.5) * ms,
        wait_p99_ms=percentile(waits, 0.99) * ms,
        wait_max_ms=(waits[-1] if waits else 0.0) * ms,
        call_wait_p99_ms=percentile(calls, 0.99) * ms,
    )
