"""Crash recovery: the exchange killed (SIGKILL) at each step of an append, then reopened.

A child process appends entries — some with transactional work that writes "records"
in the same DuckDB transaction as the entry's index row, like an ingest's ``publish`` —
and prints each sequence number once its append has returned. ``GOVEX_AUDIT_CRASH``
kills it at one point: mid-append to the segment, mid tile write, after the publish
entry is durable but before its records commit, right after they commit. The reopened
log must hold every answered entry once, its tree must match its entries, and every
publish entry must have its records or be voided — never records without an entry.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from exchange.audit.log import AuditLog
from exchange.audit.query import COLUMNS, entry_from_row
from exchange.audit.segments import log_dir, scan
from exchange.config import AuditSettings
from exchange.store import Store
from signing.merkle import root_of

KEY = b"k" * 32

CHILD = """
import sys, threading
from pathlib import Path
from exchange.audit.log import AuditEvent, AuditLog
from exchange.config import AuditSettings
from exchange.store import Store

data, threads, per_thread = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
run_tag = sys.argv[4]
store = Store(data, create=True)
store.execute("CREATE TABLE IF NOT EXISTS crash_records (batch VARCHAR, n INTEGER)")
log = AuditLog(store, b"k" * 32, AuditSettings(group_commit_max=16))
lock = threading.Lock()

def run(t):
    for i in range(per_thread):
        event = AuditEvent(actor="11411500MA0000100X", action="query", outcome="allowed",
                           target="gongan.resident_id_card", detail={"t": t, "i": i})
        if i % 3 == 2:  # a publish: its records commit with its entry
            batch = f"{run_tag}-{t}-{i}"
            event.action = "publish"

            def work(cur, batch=batch):
                cur.executemany("INSERT INTO crash_records VALUES (?, ?)",
                                [[batch, n] for n in range(5)])
                return {"audit_detail": {"batch_id": batch}}

            seq, _ = log.append(event, work)
        else:
            seq, _ = log.append(event)
        with lock:
            print(seq, flush=True)

workers = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
for w in workers:
    w.start()
for w in workers:
    w.join()
log.close()
store.close()
print("done", flush=True)
"""


def _run_child(data: Path, crash: str | None, threads: int = 3, per_thread: int = 30) -> list[int]:
    env = {**os.environ}
    env.pop("GOVEX_AUDIT_CRASH", None)
    if crash is not None:
        env["GOVEX_AUDIT_CRASH"] = crash
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(data), str(threads), str(per_thread), crash or "clean"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    lines = done.stdout.split()
    if crash is None:
        assert done.returncode == 0, done.stderr
        assert lines[-1] == "done"
    else:
        assert done.returncode == -signal.SIGKILL, done.stderr  # killed where asked
        assert "done" not in lines
    return [int(x) for x in lines if x != "done"]


def _check(data: Path, answered: list[int]) -> tuple[int, list[int]]:
    """Reopen and check the log; return its size and the entries voided on opening."""
    with Store(data) as store:
        log = AuditLog(store, KEY, AuditSettings())
        try:
            assert log.healthy
            voided = log.recovered.voided
            size = log.size
            rows = [
                entry_from_row(r).entry
                for r in store.fetchall(f"SELECT {COLUMNS} FROM audit_entries ORDER BY seq")
            ]
            # nothing lost, nothing duplicated: every answered entry, each once, in order
            assert [e.seq for e in rows] == list(range(size))
            assert set(answered) <= set(range(size))
            assert len(answered) == len(set(answered))
            # the tree, the index and the segments agree
            leaves = [e.leaf_hash() for e in rows]
            assert log.root() == root_of(leaves)
            on_disk = [hashlib.sha256(d).digest() for g in scan(data) for d in g.leaves]
            assert on_disk == leaves
            # records and their publish entry never disagree
            records = dict(
                store.fetchall("SELECT batch, count(*) FROM crash_records GROUP BY batch")
            )
            voids = {e.detail["seq"] for e in rows if e.action == "audit.void" and e.detail}
            published = {}
            for e in rows:
                if e.action == "publish":
                    assert e.detail is not None
                    published[e.detail["batch_id"]] = e.seq
            assert set(records) <= set(published)  # no records without their entry
            assert all(n == 5 for n in records.values())  # and never twice
            for batch, seq in published.items():
                assert (batch in records) != (seq in voids), batch  # records, or voided
            log.append_many([])
        finally:
            log.close()
    return size, voided


@pytest.mark.parametrize(
    ("crash", "voids"),
    [
        ("segment-append:7", False),  # a group torn mid-write
        # the tree's files torn mid-write: after the group's segment write, before its
        # sync; when that group carried work (which thread got there first decides), its
        # entry outlives the kill in the segment without its records, and is voided
        ("tile-write:7", None),
        ("publish:3", True),  # the publish entry durable, its records not committed
        ("records:3", False),  # the records committed, nothing after
    ],
)
def test_a_kill_at_each_step_loses_nothing_and_duplicates_nothing(
    tmp_path: Path, crash: str, voids: bool | None
) -> None:
    data = tmp_path / "data"
    answered = _run_child(data, crash)
    size, voided = _check(data, answered)
    assert voids is None or bool(voided) == voids
    # the reopened log goes on: the same work again, then a clean check
    more = _run_child(data, None, threads=2, per_thread=6)
    assert min(more) >= size
    _check(data, answered + more)


def test_a_kill_mid_append_leaves_a_torn_tail_that_opening_cuts(tmp_path: Path) -> None:
    data = tmp_path / "data"
    answered = _run_child(data, "segment-append:4", threads=1, per_thread=10)
    (segment,) = log_dir(data).glob("segment-*.seg")
    length = segment.stat().st_size
    with Store(data) as store:
        log = AuditLog(store, KEY, AuditSettings())
        try:
            assert log.recovered.torn_bytes > 0
            assert log.size == len(answered) == 3
        finally:
            log.close()
    assert segment.stat().st_size < length


INGEST = """
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench.workload import RESOURCE, id_card_rows
from exchange.bus.models import BatchIn
from exchange.config import Settings
from exchange.demo.setup import DemoDepartment
from exchange.service import Exchange
from signing.seal import seal_batch

with Exchange.open(Settings(data=Path(sys.argv[1]))) as exchange:
    dept = DemoDepartment.load(exchange, "gongan")
    records = [
        {"resource": RESOURCE, "key": r["id_number"], "version": 1, "data": r}
        for r in id_card_rows(5)
    ]
    sealed = seal_batch(records, resource=RESOURCE, issuer=dept.uscc, key=dept.seal_key,
                        kid=dept.seal_kid, batch_id="bat_crash_test_0001",
                        sealed_at=datetime(2026, 1, 5, tzinfo=UTC))
    batch = BatchIn.model_validate({
        "resource": RESOURCE,
        "records": [{k: v for k, v in r.items() if k != "resource"} for r in records],
        "seal": sealed.seal.model_dump(),
    })
    result = exchange.ingestor.ingest(batch, dept.uscc)
    print(result.accepted, flush=True)
"""


def _ingest(data: Path, crash: str | None) -> str:
    env = {**os.environ, "PYTHONWARNINGS": "ignore::DeprecationWarning"}
    env.pop("GOVEX_AUDIT_CRASH", None)
    if crash is not None:
        env["GOVEX_AUDIT_CRASH"] = crash
    done = subprocess.run(
        [sys.executable, "-c", INGEST, str(data)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if crash is None:
        assert done.returncode == 0, done.stderr
    else:
        assert done.returncode == -signal.SIGKILL, done.stderr
    return done.stdout.strip()


def _published(data: Path) -> tuple[list[tuple[int, bool]], set[int], int, int]:
    """The batch's publish entries (seq, replay), the voided seqs, its batches and records."""
    from exchange.config import Settings
    from exchange.service import Exchange

    with Exchange.open(Settings(data=data)) as exchange:
        assert exchange.audit.healthy
        store = exchange.store
        rows = [
            entry_from_row(r).entry
            for r in store.fetchall(f"SELECT {COLUMNS} FROM audit_entries ORDER BY seq")
        ]
        publishes = [
            (e.seq, bool(e.detail.get("replay")))
            for e in rows
            if e.action == "publish" and e.detail and e.detail.get("batch_id") == BATCH
        ]
        voids = {e.detail["seq"] for e in rows if e.action == "audit.void" and e.detail}
        (batches,) = store.fetchone("SELECT count(*) FROM batches WHERE batch_id = ?", [BATCH])
        (records,) = store.fetchone(
            "SELECT count(*) FROM record_history WHERE batch_id = ?", [BATCH]
        )
    return publishes, voids, int(batches), int(records)


BATCH = "bat_crash_test_0001"


@pytest.mark.parametrize("crash", ["publish:1", "records:1"])
def test_an_ingest_killed_around_its_commit_is_stored_once_when_sent_again(
    tmp_path: Path, crash: str
) -> None:
    from exchange.config import Settings
    from exchange.demo.setup import create_demo

    data = tmp_path / "data"
    create_demo(Settings(data=data)).close()
    _ingest(data, crash)
    publishes, voids, batches, records = _published(data)
    (first, replay) = publishes[0]
    assert len(publishes) == 1  # the entry was written first, with its batch id
    assert not replay
    if crash == "publish:1":  # its records never committed: the entry is voided
        assert (first in voids, batches, records) == (True, 0, 0)
    else:  # its records committed: the entry stands
        assert (first in voids, batches, records) == (False, 1, 5)
    # the sender, never answered, sends the batch again: it is stored once
    accepted = _ingest(data, None)
    assert accepted == ("5" if crash == "publish:1" else "0")  # "0": a replay
    publishes, voids, batches, records = _published(data)
    assert (batches, records) == (1, 5)
    standing = [(seq, replay) for seq, replay in publishes if seq not in voids]
    assert [replay for _, replay in standing] == [False, *([True] if crash == "records:1" else [])]
