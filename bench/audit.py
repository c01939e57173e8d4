"""P6: the audit log — durable appends, inclusion proofs, offline verification of an export.

* appends: many threads append query-like entries through :class:`AuditLog` (each
  caller waits until its entries are durable in the segment files: group commit, one
  ``fdatasync`` per group), beside a raw append of the same segment bytes with one
  ``fdatasync`` per group of the same size (the floor of any log on this disk); the
  note adds raw SHA-256 of the leaves and how long the DuckDB index took to catch up;
* an inclusion proof for a random entry at the measured size, from a freshly opened
  log (one hash per level read from the tree's files), beside the same proof from a
  tree held entirely in memory;
* ``govex audit verify`` of an export of 10M entries, beside raw SHA-256 of the same
  leaf bytes: with ``--full`` (or alone, ``--only p6_verify_10m``) a real export of 10M
  entries, appended through :class:`AuditLog` in groups of 8192 and written by
  :func:`export_log`, verified end to end; with ``--quick`` an export of 2M entries
  made the same way (over 1 GiB: verified with worker processes, as a 10M export is),
  its time extrapolated linearly to 10M (the note says which).
"""

from __future__ import annotations

import hashlib
import itertools
import os
import random
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .figures import Figure

__all__ = ["p6", "p6_verify_10m"]

THREADS = 16
BATCH = 256
SUBJECTS = 5_000
REAL = 10_000_000  # entries of the real export P6-verify measures (``--full``)
QUICK_REAL = 2_000_000  # ``--quick``: entries of the export measured and extrapolated
GROUP = 8192  # entries a group when that export's log is built


def _events(n: int, offset: int) -> list[object]:
    from exchange.audit.log import AuditEvent

    return [
        AuditEvent(
            actor="11411500000001054R",
            action="query",
            outcome="allowed" if i % 10 else "refused",
            target="gongan.resident_id_card",
            subject=f"4115021990{(i % SUBJECTS):08d}",
            purpose="budongchan.new_commercial_housing_transfer",
            case_no=f"BDC-2026-{i % 100_000:06d}",
            detail={"grant": "gr_7f3a", "masked": ["phone", "address"]},
        )
        for i in range(offset, offset + n)
    ]


def _append(log: object, total: int, threads: int, batch: int) -> float:
    """Entries per second, ``threads`` callers each appending batches of ``batch``."""
    per_thread = total // threads

    def work(t: int) -> None:
        done = 0
        while done < per_thread:
            n = min(batch, per_thread - done)
            events = _events(n, t * per_thread + done)
            if batch == 1:
                log.append(events[0])  # type: ignore[attr-defined]
            else:
                log.append_many(events)  # type: ignore[attr-defined]
            done += n

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    started = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return per_thread * threads / (time.perf_counter() - started)


@contextmanager
def serving_interpreter() -> Iterator[None]:
    """The interpreter as ``govex serve`` sets it up before serving (its startup heap
    frozen, young collections every :data:`exchange.server.GC_YOUNG` objects, the GIL
    offered every :data:`exchange.server.GIL_SWITCH_S`), then as it was."""
    import gc
    import sys

    from exchange.server import GIL_SWITCH_S, settle_heap

    threshold, switch = gc.get_threshold(), sys.getswitchinterval()
    frozen = gc.get_freeze_count()
    try:
        settle_heap()
        sys.setswitchinterval(GIL_SWITCH_S)
        yield
    finally:
        sys.setswitchinterval(switch)
        gc.set_threshold(*threshold)
        if not frozen:  # what this froze, not what was frozen before
            gc.unfreeze()


def _raw_sha256(leaves: list[bytes]) -> float:
    sha = hashlib.sha256
    started = time.perf_counter()
    for data in leaves:  # the segments' leaf data starts with the RFC 6962 prefix 0x00
        sha(data).digest()
    return len(leaves) / (time.perf_counter() - started)


def p6(quick: bool, log: Callable[[str], None] = lambda s: None) -> list[Figure]:
    from exchange.audit.log import AuditLog
    from exchange.config import AuditSettings
    from exchange.server import GC_YOUNG, GIL_SWITCH_S
    from exchange.store import Store
    from signing.merkle import MemoryNodeStore, MerkleTree

    n = 100_000 if quick else 1_000_000
    settings = AuditSettings(group_commit_max=8192)
    folder = Path(tempfile.mkdtemp(prefix="govex-bench-audit-"))
    store = Store(folder / "data", create=True)
    audit = AuditLog(store, b"bench-subject-key-32-bytes......", settings)
    for i in range(SUBJECTS):  # steady state: subjects the exchange has met (salts drawn)
        audit.subject_hash(f"4115021990{i:08d}")
    log(f"P6: {n:,} durable appends from {THREADS} threads")
    audit.latency.clear()
    with serving_interpreter():  # the collector and GIL settings of `govex serve`
        started, cpu = time.perf_counter(), _cpu()
        batched = _append(audit, n, THREADS, BATCH)
        append_cpu = _cpu(cpu)
        audit.wait_indexed()
        indexed_s = time.perf_counter() - started
        indexed_cpu = _cpu(cpu)
    batched_groups = audit.latency.summary()
    audit.latency.clear()
    single = _append(audit, min(n // 5, 20_000), 64, 1)
    single_groups = audit.latency.summary()
    size = audit.size
    from exchange.audit.segments import scan

    leaf_data = [data for group in scan(folder / "data") for data in group.leaves]
    sha_rate = _raw_sha256(leaf_data)
    leaves = [hashlib.sha256(data).digest() for data in leaf_data]  # data holds its 0x00
    del leaf_data
    per_group = batched_groups.entries / batched_groups.groups if batched_groups.groups else 1
    audit.close()
    store.close()
    raw = _raw_append(folder, max(1, round(per_group)))

    log(f"P6: inclusion proofs at {size:,} entries (reopened log, cold node cache)")
    store = Store(folder / "data")
    audit = AuditLog(store, b"bench-subject-key-32-bytes......", settings)
    rng = random.Random(6)
    indices = [rng.randrange(size) for _ in range(300)]
    timings: list[float] = []
    warm: list[float] = []
    for index in indices:  # each proof twice: first from DuckDB, then from the node cache
        for into in (timings, warm):
            started = time.perf_counter()
            audit.inclusion_proof(index, size)
            into.append(time.perf_counter() - started)
    proof_us = statistics.median(timings) * 1e6
    memory = MerkleTree(MemoryNodeStore())
    memory.extend(leaves)
    mem: list[float] = []
    for index in indices:
        started = time.perf_counter()
        memory.inclusion_proof(index, size)
        mem.append(time.perf_counter() - started)
    memory_us = statistics.median(mem) * 1e6
    del memory, leaves

    figures = [
        Figure("P6", f"durable audit appends ({THREADS} threads × batches of {BATCH})",
               batched, "entries/s",
               "raw pwrite + fdatasync of the same segment bytes, same group size", raw,
               batched / raw, "≥ 100,000 entries/s", batched >= 100_000,
               note=f"segment files, one fdatasync per group, {SUBJECTS:,} known subjects; "
                    f"the interpreter as govex serve sets it up (startup heap frozen, young "
                    f"collections every {GC_YOUNG:,} objects, GIL offered every "
                    f"{GIL_SWITCH_S * 1000:g} ms); "
                    f"groups: {_groups(batched_groups)}; the DuckDB index held all "
                    f"{n:,} after {indexed_s:.1f} s ({n / indexed_s:,.0f}/s); raw SHA-256 "
                    f"of the leaves: {sha_rate:,.0f}/s; single appends from 64 threads: "
                    f"{single:,.0f}/s, groups: {_groups(single_groups)}; CPU time of the "
                    f"process: {append_cpu[0] / n * 1e6:.1f} µs per entry appended "
                    f"(all threads; {append_cpu[1]:,} involuntary context switches), "
                    f"{indexed_cpu[0] / n * 1e6:.1f} µs per entry by the time the index held "
                    f"them all (DuckDB reads each entry's JSON)"),
        Figure("P6-proof", f"inclusion proof at {size:,} entries (reopened log)",
               proof_us, "µs", "same proof from a tree held in memory", memory_us,
               proof_us / memory_us if memory_us else None, "≤ 100 µs", proof_us <= 100,
               note=f"warm cache: {statistics.median(warm) * 1e6:,.0f} µs"),
    ]  # fmt: skip
    audit.close()
    store.close()
    shutil.rmtree(folder, ignore_errors=True)
    return [*figures, _export_verified(QUICK_REAL if quick else REAL, log)]


def p6_verify_10m(quick: bool, log: Callable[[str], None] = lambda s: None) -> list[Figure]:
    """P6-verify on a real export of :data:`REAL` entries, quick or not."""
    return [_export_verified(REAL, log)]


def _export_verified(size: int, log: Callable[[str], None]) -> Figure:
    """P6-verify on a real export of ``size`` entries (extrapolated to 10M when fewer): a
    log built through :class:`AuditLog` (``append_many`` of :data:`GROUP` entries from one
    thread a core), exported by :func:`export_log`, verified by :func:`verify_export`."""
    from exchange.audit.checkpoints import Checkpointer
    from exchange.audit.export import export_log
    from exchange.audit.log import AuditLog
    from exchange.audit.segments import scan
    from exchange.config import AuditSettings
    from exchange.store import Store
    from signing.pool import cores

    folder = Path(tempfile.mkdtemp(prefix="govex-bench-audit-10m-"))
    try:
        started, cpu = time.perf_counter(), _cpu()
        store = Store(folder / "data", create=True)
        audit = AuditLog(store, b"bench-subject-key-32-bytes......", AuditSettings(
            group_commit_max=GROUP))  # fmt: skip
        log(f"P6-verify: {size:,} entries appended in groups of {GROUP}")
        _append(audit, size, cores(), GROUP)
        size = audit.size  # a whole number of groups a thread: what was appended
        audit.wait_indexed()
        out = folder / "export.jsonl"
        log(f"P6-verify: export of {size:,} entries")
        export_log(audit, Checkpointer.for_key(audit, _key(), "bench.govex.example/audit"), out)
        audit.close()
        store.close()
        built = f"built in {time.perf_counter() - started:,.0f} s ({_cpu(cpu)[0]:,.0f} s of CPU)"
        leaves = (data for group in scan(folder / "data") for data in group.leaves)
        sample = list(itertools.islice(leaves, 1_000_000))
        sha_rate = _raw_sha256(sample)
        del sample
        log(f"P6-verify: offline verification of {size:,} entries")
        return _verify(out, size, sha_rate, built)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _verify(out: Path, size: int, sha_rate: float, built: str) -> Figure:
    """P6-verify: ``verify_export`` of the export ``out`` of ``size`` entries, made as
    ``built`` says (the real figure at 10M entries, else extrapolated to 10M)."""
    from exchange.audit.verify import PARALLEL_BYTES, verify_export
    from signing.pool import cores

    from .cputime import tree_cpu

    nbytes = out.stat().st_size
    workers = cores() if nbytes >= PARALLEL_BYTES else 0
    started, cpu, load = time.perf_counter(), _cpu(), os.getloadavg()[0]
    tree = tree_cpu()
    verify_export(out)
    verify_s = time.perf_counter() - started
    verify_cpu = _cpu(cpu)
    verify_tree = tree_cpu() - tree
    load = max(load, os.getloadavg()[0])
    per_10m = verify_s * 10_000_000 / size
    sha_10m = 10_000_000 / sha_rate
    real = size >= REAL
    how = (
        f"a real export of {size:,} entries ({nbytes / 2**30:.1f} GiB; appended through "
        f"AuditLog in groups of {GROUP}, written by export_log: {built}) verified end to end "
        f"in {verify_s:.1f} s" + ("" if real else ", extrapolated linearly to 10M")
    )
    return Figure("P6-verify", f"offline verification of a 10M-entry export "
                  f"({'real' if real else f'from {size:,}'})",
                  per_10m, "s", "raw SHA-256 of 10M leaves", sha_10m, per_10m / sha_10m,
                  "≤ 20 s", per_10m <= 20,
                  note=f"{how}, " + (f"entries and the tree's levels hashed by {workers} worker "
                       "processes (the first runs while this one reads the tree section); "
                       if workers else "in this one process alone (no workers); ") +
                       f"CPU time {verify_tree:.1f} s ({verify_tree / size * 1e6:.2f} µs per "
                       f"entry, {verify_cpu[0] / size * 1e6:.2f} of them in the main process, "
                       f"{verify_cpu[1]:,} involuntary context switches); load average up to "
                       f"{load:.1f} (above 2 the cores were shared); the peer on one core "
                       f"{sha_10m:.1f} s")  # fmt: skip


def _cpu(since: tuple[float, int] = (0.0, 0)) -> tuple[float, int]:
    """CPU seconds of the process (all threads) and its involuntary context switches
    (preempted while it could run: the machine's other work), counted from ``since``."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime - since[0], usage.ru_nivcsw - since[1]


def _raw_append(folder: Path, per_group: int) -> float:
    """Entries per second of appending the log's own segment bytes again to a new file,
    ``per_group`` entries per ``pwrite`` and one ``fdatasync`` each."""
    import os

    from exchange.audit.segments import encode_group, scan

    groups: list[bytes] = []
    pending: list[bytes] = []
    for group in scan(folder / "data"):
        for data in group.leaves:
            pending.append(data)
            if len(pending) == per_group:
                groups.append(encode_group(0, pending))
                pending = []
    if pending:
        groups.append(encode_group(0, pending))
    entries = sum(len(g.leaves) for g in scan(folder / "data"))
    fd = os.open(folder / "raw.seg", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        offset = 0
        started = time.perf_counter()
        for data in groups:
            os.pwrite(fd, data, offset)
            os.fdatasync(fd)
            offset += len(data)
        elapsed = time.perf_counter() - started
    finally:
        os.close(fd)
    return entries / elapsed


def _groups(summary: object) -> str:
    """A group-commit latency summary in a few words (see exchange.audit.latency)."""
    from exchange.audit.latency import LatencySummary

    assert isinstance(summary, LatencySummary)
    per_group = summary.entries / summary.groups if summary.groups else 0
    return (
        f"{summary.groups:,} of {per_group:,.0f} entries, commit p50 "
        f"{summary.commit_p50_ms:.1f} ms p99 {summary.commit_p99_ms:.1f} ms, caller wait "
        f"p50 {summary.wait_p50_ms:.1f} ms p99 {summary.wait_p99_ms:.1f} ms"
    )


def _key() -> object:
    from cryptography.hazmat.primitives.asymmetric import ed25519

    return ed25519.Ed25519PrivateKey.generate()
