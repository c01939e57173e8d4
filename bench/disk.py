"""The data volume's own flush latency: the floor under every durable answer.

Every audited read is answered only once its audit entry is durable, that is after an
``fdatasync`` of the log's segment file. When the disk holds a flush up for 100 ms, every
read arriving meanwhile waits for it, whatever the exchange does; so the share of time
the disk spends in such stalls bounds the read latency's tail (P3-p99) from below. A
second file does not help: on a virtual disk the flushes of every file wait together.

:func:`sync_tail` measures it the plain way, beside the figure: small appends to a file in
the data directory, each followed by ``fdatasync``, at about the rate the log's syncer
makes them under P3's paced load, nothing else of the benchmark running. An operator
measures the disk of a real data directory the same way::

    python -m bench.disk ./exchange 10
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from exchange.audit.latency import percentile

__all__ = ["STALL_MS", "DiskSyncs", "summarise_syncs", "sync_tail"]

STALL_MS = 10.0  # a flush longer than this is a stall (P3-p99's target is 10 ms)
APPEND = b"\0" * 600  # about one group of a few audit entries
PAUSE_S = 0.0015  # between flushes: ~600 a second, the syncer's pace at P3's half load


@dataclass(frozen=True)
class DiskSyncs:
    """What a run of append-and-``fdatasync`` saw (times in ms)."""

    syncs: int
    p50_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    stalls: int  # flushes over STALL_MS
    # the part of the run's time in which a read arriving could not be answered within
    # STALL_MS: each stall's length beyond STALL_MS, summed, over the run's length (0 … 1)
    stalled_share: float

    def describe(self) -> str:
        return (
            f"{self.syncs:,} flushes, p50 {self.p50_ms:.2f} / p99 {self.p99_ms:.2f} / "
            f"p99.9 {self.p999_ms:.1f} / max {self.max_ms:.1f} ms; {self.stalls} over "
            f"{STALL_MS:g} ms: for {self.stalled_share:.1%} of the time a read arriving "
            f"could not be answered within {STALL_MS:g} ms"
        )


def summarise_syncs(durations_s: list[float], elapsed_s: float) -> DiskSyncs:
    """Percentiles of the flushes, and the share of ``elapsed_s`` in which a read that
    waits for the next flush could not be answered within :data:`STALL_MS`: a read
    arriving in the last ``STALL_MS`` of a stall still can, so each stall counts for its
    length beyond that."""
    ordered = sorted(d * 1000 for d in durations_s)
    stalled = [d for d in ordered if d > STALL_MS]
    beyond_s = sum(d - STALL_MS for d in stalled) / 1000
    return DiskSyncs(
        syncs=len(ordered),
        p50_ms=percentile(ordered, 0.5),
        p99_ms=percentile(ordered, 0.99),
        p999_ms=percentile(ordered, 0.999),
        max_ms=ordered[-1] if ordered else 0.0,
        stalls=len(stalled),
        stalled_share=min(1.0, beyond_s / elapsed_s) if elapsed_s > 0 else 0.0,
    )


def sync_tail(folder: Path, seconds: float) -> DiskSyncs:
    """Append-and-``fdatasync`` to a scratch file in ``folder`` for ``seconds``."""
    path = folder / f".disk-sync-{os.getpid()}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    durations: list[float] = []
    try:
        started = time.perf_counter()
        until = started + seconds
        while time.perf_counter() < until:
            os.write(fd, APPEND)
            before = time.perf_counter()
            os.fdatasync(fd)
            durations.append(time.perf_counter() - before)
            time.sleep(PAUSE_S)
        elapsed = time.perf_counter() - started
    finally:
        os.close(fd)
        path.unlink(missing_ok=True)
    return summarise_syncs(durations, elapsed)


def main(argv: list[str]) -> int:
    """``python -m bench.disk DIR [SECONDS]``: print what :func:`sync_tail` saw in DIR."""
    if not argv or len(argv) > 2:
        print("usage: python -m bench.disk DIR [SECONDS]  (the disk of DIR, 10 s by default)")
        return 2
    folder, seconds = Path(argv[0]), float(argv[1]) if len(argv) == 2 else 10.0
    if not folder.is_dir():
        print(f"{folder} is not a directory: give the data directory (e.g. ./exchange)")
        return 2
    print(f"{folder}: {sync_tail(folder, seconds).describe()}")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
