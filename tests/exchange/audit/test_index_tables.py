"""The audit index made by DuckDB from the log's bytes: every column of every row is what
the entry's leaf says, read by name, whatever the entry holds."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest

from exchange.audit import recovery, tables
from exchange.audit.leaf import canonical_detail
from exchange.audit.log import AuditEvent, AuditLog
from exchange.audit.query import COLUMNS, entry_from_row
from exchange.audit.segments import scan
from exchange.audit.tables import frame, frame_of
from exchange.config import AuditSettings
from exchange.store import Store

# members of a detail that hold the markers the index cuts ``detail`` out by
_MARKERS = {
    "outcome": "x",
    "detail": {"outcome": 1, "detail": None},
    "text": '"detail":{},"outcome":"ok"',
    "z": [',"outcome":', {"outcome": [1, 2]}],
}


def _events(start: int, n: int) -> list[AuditEvent]:
    """Entries of every shape: the usual one, further subjects, a staff member, text
    beyond its cap, text JSON cannot hold as it is, a detail only JCS writes right, a
    detail that holds the index's own markers."""
    events = []
    for i in range(start, start + n):
        e = AuditEvent(
            actor="11411500000001054R",
            action="query",
            outcome="allowed" if i % 7 else "refused",
            target="gongan.resident_id_card",
            subject_hash=f"{i:064x}",
            purpose="budongchan.transfer",
            case_no=f"BDC-2026-{i:06d}",
            detail={"grant": "gr_1", "masked": ["phone"]},
        )
        match i % 7:
            case 1:
                e.subject_hashes = [f"{i + 1:064x}", f"{i + 2:064x}"]
            case 2:
                e.person, e.detail = "staff-0042", {"名字": "张三", "n": i}
            case 3:
                e.purpose, e.detail = "长" * 300, {"float": 1.5, "nested": {"b": [1, None]}}
            case 4:
                e.target, e.detail = "bad\ud800text", None
            case 5:
                e.detail, e.code = dict(_MARKERS), "exchange.refused"
                e.subject_hashes = [f"{i + 3:064x}"]
            case 6:
                e.purpose, e.case_no = '"detail":1,"outcome":2', None
        events.append(e)
    return events


@contextmanager
def _opened(tmp_path: Path, settings: AuditSettings) -> Iterator[tuple[Store, AuditLog]]:
    """A store under ``tmp_path/data`` (new, or as left) and its audit log, closed after
    the block."""
    data = tmp_path / "data"
    store = Store(data, create=not data.exists())
    log = AuditLog(store, b"k" * 32, settings)
    try:
        yield store, log
    finally:
        log.close()
        store.close()


def _expected(leaf: dict[str, Any]) -> tuple[Any, ...]:
    """An index row as the entry's leaf says it, read in Python (the oracle)."""
    detail = leaf["detail"]
    return (
        leaf["seq"],
        leaf["ts"],
        *(leaf[name] for name in ("actor", "action", "target", "subject_hash", "purpose")),
        *(leaf[name] for name in ("case_no", "outcome", "code", "request_hash")),
        None if detail is None else canonical_detail(detail).decode(),
        leaf.get("person"),
    )


def _check_index(log: AuditLog, store: Store, data: Path, size: int) -> None:
    """The log is open and every entry of the segments is in the index once, each column
    as its leaf says, the leaf hash recomputed from the stored columns."""
    assert log.healthy
    assert log.indexed == log.size == size
    datas = [d for g in scan(data) for d in g.leaves]
    leaves = [orjson.loads(d[1:]) for d in datas]
    rows = store.fetchall(
        "SELECT seq, ts_text, actor, action, target, subject_hash, purpose, case_no, outcome, "
        "code, request_hash, detail, person, leaf_hash, strftime(ts, '%Y-%m-%dT%H:%M:%S.%fZ') "
        "FROM audit_entries ORDER BY seq"
    )
    assert [r[:13] for r in rows] == [_expected(leaf) for leaf in leaves]
    assert [r[13] for r in rows] == [hashlib.sha256(d).digest() for d in datas]
    assert [r[14] for r in rows] == [r[1] for r in rows]  # the timestamp is its text
    for row in store.fetchall(f"SELECT {COLUMNS} FROM audit_entries ORDER BY seq"):
        stored = entry_from_row(row)
        assert stored.entry.leaf_hash() == stored.leaf_hash
    further = store.fetchall("SELECT seq, subject_hash FROM audit_subjects ORDER BY seq, rowid")
    assert further == [
        (leaf["seq"], h) for leaf in leaves for h in (leaf["detail"] or {}).get("subjects", [])
    ]


@pytest.mark.parametrize("wide", [False, True], ids=["32-bit offsets", "64-bit offsets"])
def test_every_column_of_every_row_is_what_the_entrys_leaf_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wide: bool
) -> None:
    """Large and small groups, single appends, calls that bring their own time: each row
    is its leaf, read by name; ``detail`` is the leaf's JCS text even when it holds the
    markers it is cut out by. The index's tables in many chunks, and with the offsets a
    batch beyond 2 GiB has."""
    monkeypatch.setattr(tables, "CHUNK", 97)
    if wide:
        monkeypatch.setattr(tables, "SMALL_BODY", 0)
    at = datetime(2026, 5, 1, 1, 2, 3, 456789, tzinfo=UTC)
    with _opened(tmp_path, AuditSettings(group_commit_max=512)) as (store, log):
        log.append_many(_events(0, 1500))  # groups of 512
        for event in _events(1500, 40):
            log.append(event)
        # calls that bring their own time (a cluster's replica), queued together
        calls = [log._prepare(_events(1540 + 30 * k, 30), None) for k in range(2)]
        for k, call in enumerate(calls):
            call.at = at + timedelta(minutes=k, microseconds=7 * k)
            log._queue(call)
        assert [log._wait(call) for call in calls] == [1540, 1570]
        log.wait_indexed()
        _check_index(log, store, tmp_path / "data", 1600)
        detail = store.fetchall("SELECT detail FROM audit_entries WHERE seq = 5")[0][0]
        assert orjson.loads(detail) == {**_MARKERS, "subjects": [f"{8:064x}"]}


def test_opening_indexes_what_the_index_lacks_the_same_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Entries the index lost (its database restored from an older copy) are indexed from
    the segments when the log opens, in transactions of many groups: the same rows,
    every further subject once."""
    monkeypatch.setattr(recovery, "RECOVER_BATCH", 100)
    with _opened(tmp_path, AuditSettings()) as (store, log):
        log.append_many(_events(0, 700))
        for event in _events(700, 60):  # groups of one
            log.append(event)
        log.wait_indexed()
    with Store(tmp_path / "data") as store:
        store.execute("DELETE FROM audit_subjects WHERE seq >= 250")
        store.execute("DELETE FROM audit_entries WHERE seq >= 250")
    with _opened(tmp_path, AuditSettings()) as (store, log):
        _check_index(log, store, tmp_path / "data", 760)


def test_a_frame_is_the_bodys_own_bytes_cut_at_each_entry() -> None:
    datas = [b"\x00" + orjson.dumps({"n": i}) for i in range(5)]
    leaves = b"".join(hashlib.sha256(d).digest() for d in datas)
    table = frame_of(datas, leaves)
    assert table.column("entry").to_pylist() == [len(d).to_bytes(4, "big") + d for d in datas]
    assert table.column("leaf_hash").to_pylist() == [leaves[i : i + 32] for i in range(0, 160, 32)]


def test_a_frame_refuses_lengths_beyond_its_body_and_hashes_of_another_count() -> None:
    body = b"\x00\x00\x00\x02\x00{}"
    with pytest.raises(pa.ArrowInvalid):
        frame(body, [2, 9], b"h" * 64)  # the second entry ends beyond the body
    with pytest.raises(ValueError, match="1 entries but 64 bytes"):
        frame(body, [3], b"h" * 64)


def test_a_callers_own_subjects_member_adds_no_subject(tmp_path: Path) -> None:
    """``detail["subjects"]`` is the log's key: a caller's own one is kept in the leaf as
    ``subjects_given`` and gives no ``audit_subjects`` row, even when it holds what looks
    like a keyed hash; nor does a null or a number there close the log (the column is
    NOT NULL)."""
    with _opened(tmp_path, AuditSettings()) as (store, log):
        event = _events(0, 1)[0]
        given = [None, 7, "short", "a" * 64]
        event.detail = {"subjects": given}
        log.append(event)
        log.append_many(_events(1, 10))
        log.wait_indexed()
        assert log.healthy
        rows = store.fetchall("SELECT seq, subject_hash FROM audit_subjects ORDER BY seq, rowid")
        assert rows == [(1, f"{h:064x}") for h in (2, 3)] + [(5, f"{8:064x}")] + [
            (8, f"{h:064x}") for h in (9, 10)
        ]
        detail = store.fetchall("SELECT detail FROM audit_entries WHERE seq = 0")[0][0]
        assert orjson.loads(detail) == {"subjects_given": given}  # the index reads the leaf
