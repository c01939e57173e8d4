"""The audit log itself: leaf format, group commit, segments, the tree's files, salts."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange.audit.leaf import assemble, canonical_detail, encode_parts
from exchange.audit.log import AuditEntry, AuditEvent, AuditLog
from exchange.audit.segments import log_dir
from exchange.audit.tilestore import tiles_dir
from exchange.config import AuditSettings
from exchange.errors import AuditUnavailable, Conflict, InvalidRequest
from exchange.store import Store
from signing.merkle import leaf_hash, root_of, verify_consistency, verify_inclusion

KEY = b"k" * 32
ID = "11010519491231002X"


def _open(data: Path) -> tuple[Store, AuditLog]:
    store = Store(data, create=True)
    return store, AuditLog(store, KEY, AuditSettings(group_commit_max=64))


@pytest.fixture
def log(tmp_path: Path) -> Iterator[AuditLog]:
    store, audit = _open(tmp_path / "data")
    yield audit
    audit.close()
    store.close()


def _event(i: int, **kw: object) -> AuditEvent:
    base: dict[str, object] = {
        "actor": "11411500MA0000100X",
        "action": "query",
        "outcome": "allowed" if i % 3 else "refused",
        "target": "gongan.resident_id_card",
        "purpose": "budongchan.new_commercial_housing_transfer",
        "case_no": f"BDC-2026-{i % 7:06d}",
        "detail": {"i": i, "masked": ["phone"]},
    }
    base.update(kw)
    return AuditEvent(**base)  # type: ignore[arg-type]


def _rows(store: Store) -> list[AuditEntry]:
    from exchange.audit.query import COLUMNS, entry_from_row

    rows = store.fetchall(f"SELECT {COLUMNS} FROM audit_entries ORDER BY seq")
    return [entry_from_row(r).entry for r in rows]


text = st.text(max_size=30)
optional = st.none() | text
json_value = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(
    actor=text,
    action=text,
    outcome=text,
    target=optional,
    subject_hash=optional,
    purpose=optional,
    case_no=optional,
    code=optional,
    request_hash=optional,
    detail=st.none()
    | st.dictionaries(text, json_value, max_size=4)
    | st.dictionaries(
        text,
        st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | text | st.lists(text),
    ),
    seq=st.integers(0, 2**53 - 1),
)
def test_the_writers_leaf_bytes_are_the_canonical_json_of_the_entry(
    actor: str,
    action: str,
    outcome: str,
    target: str | None,
    subject_hash: str | None,
    purpose: str | None,
    case_no: str | None,
    code: str | None,
    request_hash: str | None,
    detail: dict[str, object] | None,
    seq: int,
) -> None:
    fields = {
        "actor": actor,
        "action": action,
        "outcome": outcome,
        "target": target,
        "subject_hash": subject_hash,
        "purpose": purpose,
        "case_no": case_no,
        "code": code,
        "request_hash": request_hash,
    }
    ts = "2026-05-09T07:35:25.123456Z"
    head, middle = encode_parts(
        actor=actor,
        action=action,
        outcome=outcome,
        target=target,
        subject_hash=subject_hash,
        purpose=purpose,
        case_no=case_no,
        code=code,
        request_hash=request_hash,
        detail=None if detail is None else canonical_detail(detail),
    )
    entry = AuditEntry(seq=seq, ts=ts, detail=detail, **fields)  # type: ignore[arg-type]
    assert assemble(head, seq, middle, ts.encode()) == entry.leaf_bytes()


def test_appends_get_consecutive_sequence_numbers_and_leaves_of_their_columns(
    log: AuditLog,
) -> None:
    seqs = [log.append(_event(i))[0] for i in range(5)]
    seqs += log.append_many([_event(i) for i in range(5, 40)])
    assert seqs == list(range(40))
    assert log.size == 40
    entries = _rows(log.store)
    leaves = [e.leaf_hash() for e in entries]
    assert [e.seq for e in entries] == seqs
    assert log.root() == root_of(leaves)
    stored = [bytes(r[0]) for r in log.store.fetchall("SELECT leaf_hash FROM audit_entries")]
    assert sorted(stored) == sorted(leaves)


def test_entries_from_many_threads_share_commits_and_all_land(log: AuditLog) -> None:
    seqs: list[int] = []
    lock = threading.Lock()

    def worker(base: int) -> None:
        for i in range(25):
            seq, _ = log.append(_event(base + i))
            with lock:
                seqs.append(seq)

    threads = [threading.Thread(target=worker, args=(100 * t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(seqs) == list(range(200))
    assert log.root() == root_of([e.leaf_hash() for e in _rows(log.store)])


def test_raw_subject_ids_are_never_stored(log: AuditLog) -> None:
    log.append(_event(1, subject=ID))
    dump = repr(log.store.fetchall("SELECT * FROM audit_entries"))
    assert ID not in dump
    assert ID.lower() not in dump
    assert _rows(log.store)[0].subject_hash == log.subject_hash(ID)


def test_each_subject_has_its_own_salt(log: AuditLog) -> None:
    a, b = log.subject_hash(ID), log.subject_hash("11010519491231003X")
    assert a != b
    assert log.subject_hash(f" {ID.lower()} ") == a  # the same person, written differently
    assert log.store.fetchone("SELECT count(*) FROM audit_subject_salts") == (0,)  # staged
    log.append(_event(1, subject=ID))  # new salts are stored with the next group commit
    assert log.store.fetchone("SELECT count(*) FROM audit_subject_salts") == (2,)
    assert log.find_subject_hash("110105194912310048") is None


def test_a_new_subject_met_by_many_threads_gets_one_salt(log: AuditLog) -> None:
    subjects = [f"1101051949123101{i % 10}X" for i in range(10)]
    seen: list[tuple[str, str]] = []

    def worker(offset: int) -> None:
        for k in range(20):
            subject = subjects[(offset + k) % 10]
            log.append(_event(k, subject=subject))
            seen.append((subject, log.subject_hash(subject)))

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(seen)) == 10
    assert log.store.fetchone("SELECT count(*) FROM audit_subject_salts") == (10,)
    assert log.store.fetchone("SELECT count(DISTINCT subject_hash) FROM audit_entries") == (10,)


def test_salts_survive_a_restart(tmp_path: Path) -> None:
    store, log = _open(tmp_path / "data")
    log.append_many([_event(i, subject=f"1101051949123100{i % 10}X") for i in range(30)])
    hashes = {i: log.subject_hash(f"1101051949123100{i}X") for i in range(10)}
    log.close()
    store.close()
    store, log = _open(tmp_path / "data")
    try:
        assert {i: log.find_subject_hash(f"1101051949123100{i}X") for i in range(10)} == hashes
        assert store.fetchone("SELECT count(DISTINCT subject_hash) FROM audit_entries") == (10,)
    finally:
        log.close()
        store.close()


def test_forgetting_a_subject_is_refused_within_retention(log: AuditLog) -> None:
    log.append(_event(1, subject=ID))
    with pytest.raises(Conflict, match="183 days"):
        log.forget_subject(ID)
    assert log.find_subject_hash(ID) is not None


def test_forgetting_a_subject_unlinks_its_entries_and_keeps_every_proof(log: AuditLog) -> None:
    log.append_many([_event(i, subject=ID if i % 2 else None) for i in range(10)])
    old_hash = log.subject_hash(ID)
    root, proof = log.root(), log.inclusion_proof(3)
    later = datetime.now(UTC) + timedelta(days=184)
    assert log.forget_subject(ID, now=later) == old_hash
    assert log.find_subject_hash(ID) is None
    assert log.root() == root
    verify_inclusion(log.leaf_hash(3), 3, 10, proof, root)
    log.append(_event(11, subject=ID))
    assert log.subject_hash(ID) != old_hash  # a new salt: the old entries stay unlinked


def test_a_failing_work_is_refused_alone_and_leaves_no_entry(log: AuditLog) -> None:
    def boom(cur: object) -> None:
        raise ValueError("bad batch")

    with pytest.raises(ValueError, match="bad batch"):
        log.append(_event(1), work=boom)
    seq, _result = log.append(_event(2), work=lambda cur: {"audit_detail": {"rows": 3}})
    assert seq == 0
    assert _rows(log.store)[0].detail == {"i": 2, "masked": ["phone"], "rows": 3}
    assert log.root() == root_of([e.leaf_hash() for e in _rows(log.store)])
    assert log.healthy


def test_the_log_closes_when_its_index_fails(log: AuditLog) -> None:
    log.append(_event(0))
    log.store.execute("DROP INDEX audit_subjects_hash_idx")  # DuckDB renames no indexed table
    log.store.execute("ALTER TABLE audit_subjects RENAME TO audit_subjects_gone")
    log.append(_event(1, subjects=["110105194912310021", "110105194912310039"]))
    log.wait_indexed()
    assert not log.healthy
    with pytest.raises(AuditUnavailable, match="serves no data"):
        log.append(_event(2))


def test_restart_keeps_the_tree_without_a_rebuild(tmp_path: Path) -> None:
    store, log = _open(tmp_path / "data")
    log.append_many([_event(i) for i in range(300)])
    root, proof = log.root(), log.inclusion_proof(123)
    log.close()
    store.close()
    store, log = _open(tmp_path / "data")
    try:
        assert log.size == 300
        assert log.healthy
        assert log.root() == root
        assert log.recovered.rehashed == 0  # nothing rebuilt
        assert log.recovered.migrated == 0
        assert log.inclusion_proof(123) == proof
        log.append(_event(300))
        assert log.root() == root_of([e.leaf_hash() for e in _rows(store)])
    finally:
        log.close()
        store.close()


def test_a_proof_reads_one_hash_per_level_from_the_files(tmp_path: Path) -> None:
    store, log = _open(tmp_path / "data")
    log.append_many([_event(i) for i in range(2000)])
    log.close()
    store.close()
    store, log = _open(tmp_path / "data")
    try:
        log.tree()  # the tree's right edge: one hash per set bit of the size
        before = log.nodes.reads
        proof = log.inclusion_proof(1234)
        assert len(proof) == 11
        assert log.nodes.reads - before <= 2 * len(proof)  # a sibling: one node, or a few
        #  complete subtrees folded on the right edge; never a table, never a tile re-hashed
        verify_inclusion(log.leaf_hash(1234), 1234, 2000, proof, log.root())
    finally:
        log.close()
        store.close()


def test_proofs_for_every_size_verify(log: AuditLog) -> None:
    log.append_many([_event(i) for i in range(70)])
    leaves = [e.leaf_hash() for e in _rows(log.store)]
    for size in (1, 2, 3, 31, 32, 33, 64, 70):
        root = root_of(leaves[:size])
        assert log.root(size) == root
        for index in {0, size // 2, size - 1}:
            verify_inclusion(leaves[index], index, size, log.inclusion_proof(index, size), root)
        for first in {1, size // 3 or 1, size}:
            verify_consistency(
                first, size, root_of(leaves[:first]), root, log.consistency_proof(first, size)
            )


def test_proofs_outside_the_tree_are_invalid_requests(log: AuditLog) -> None:
    log.append_many([_event(i) for i in range(5)])
    with pytest.raises(InvalidRequest, match="not below"):
        log.inclusion_proof(5)
    with pytest.raises(InvalidRequest, match="not within"):
        log.inclusion_proof(1, 9)
    with pytest.raises(InvalidRequest, match="0 < first"):
        log.consistency_proof(0, 5)


def test_index_rows_removed_are_rebuilt_from_the_segments(tmp_path: Path) -> None:
    store, log = _open(tmp_path / "data")
    log.append_many([_event(i) for i in range(20)])
    before = _rows(store)
    log.close()
    store.execute("DELETE FROM audit_entries WHERE seq >= 17")
    store.close()
    store, log = _open(tmp_path / "data")
    try:
        assert log.healthy
        assert _rows(store) == before
    finally:
        log.close()
        store.close()


def test_entries_cut_from_the_segments_close_the_log_when_it_opens(tmp_path: Path) -> None:
    store, log = _open(tmp_path / "data")
    for i in range(20):
        log.append(_event(i))
    log.close()
    store.close()
    (segment,) = log_dir(tmp_path / "data").glob("segment-*.seg")
    data = segment.read_bytes()
    segment.write_bytes(data[: len(data) // 2])  # whole groups gone, behind the exchange
    store, log = _open(tmp_path / "data")
    try:
        assert not log.healthy
        with pytest.raises(AuditUnavailable, match="removed outside the exchange"):
            log.append(_event(99))
    finally:
        log.close()
        store.close()


def test_a_tree_that_no_longer_matches_its_signed_checkpoint_closes_the_log(
    tmp_path: Path,
) -> None:
    store, log = _open(tmp_path / "data")
    log.append_many([_event(i) for i in range(20)])
    store.execute(
        "INSERT INTO checkpoints VALUES (20, ?, 'note', now())", [leaf_hash(b"another tree")]
    )
    log.close()
    store.close()
    store, log = _open(tmp_path / "data")
    try:
        assert not log.healthy
    finally:
        log.close()
        store.close()


def test_a_store_with_entries_only_in_the_database_moves_them_into_segments(
    tmp_path: Path,
) -> None:
    store, log = _open(tmp_path / "data")
    for i in range(10):
        log.append(_event(i, subject=f"4115021990{i:08d}"))
    root, rows = log.root(), _rows(store)
    log.close()
    store.close()
    shutil.rmtree(log_dir(tmp_path / "data"))  # as a store from before the segments
    shutil.rmtree(tiles_dir(tmp_path / "data"))
    store, log = _open(tmp_path / "data")
    try:
        assert log.healthy
        assert log.recovered.migrated == 10
        assert log.size == 10
        assert log.root() == root
        log.append(_event(10))
        assert _rows(store)[:10] == rows
    finally:
        log.close()
        store.close()
    store, log = _open(tmp_path / "data")
    try:  # once: the second opening finds them in the segments
        assert log.recovered.migrated == 0
        assert log.size == 11
    finally:
        log.close()
        store.close()


@pytest.mark.parametrize(
    "module",
    [
        "exchange.audit.log",
        "exchange.audit.archive",
        "exchange.audit.checkpoints",
        "exchange.audit.context",
        "exchange.audit.entrylines",
        "exchange.audit.event",
        "exchange.audit.export",
        "exchange.audit.indexer",
        "exchange.audit.leaf",
        "exchange.api.middleware.audit",
        "exchange.audit.recovery",
        "exchange.audit.segments",
        "exchange.audit.tilestore",
        "exchange.audit.query",
        "exchange.audit.subjects",
        "exchange.audit.trail",
        "exchange.audit.verify",
        "exchange.audit.writer",
    ],
)
def test_public_api_is_listed(module: str) -> None:
    import importlib

    mod = importlib.import_module(module)
    assert mod.__all__
    assert all(hasattr(mod, name) for name in mod.__all__)
    public = {
        name
        for name, value in vars(mod).items()
        if not name.startswith("_")
        and getattr(value, "__module__", None) == module
        and callable(value)
    }
    assert public <= set(mod.__all__), public - set(mod.__all__)
