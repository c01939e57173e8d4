"""The audit tree's nodes: the writer's appender, and nodes that wait in memory under load."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange.audit.log import AuditEvent, AuditLog
from exchange.audit.nodes import DuckNodeStore, TreeAppender, node_of
from exchange.config import AuditSettings
from exchange.store import Store
from signing.errors import SigningError
from signing.merkle import MemoryNodeStore, MerkleTree, root_of, verify_inclusion


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    with Store(tmp_path_factory.mktemp("nodes") / "data", create=True) as opened:
        yield opened


def _leaves(n: int, salt: int = 0) -> list[bytes]:
    return [hashlib.sha256(b"%d/%d" % (salt, i)).digest() for i in range(n)]


def _staged_nodes(nodes: DuckNodeStore) -> list[tuple[int, int, bytes]]:
    ids, hashes = nodes.take()
    return [(*node_of(nid), h) for nid, h in zip(ids, hashes, strict=True)]


@settings(max_examples=60, deadline=None)
@given(batches=st.lists(st.integers(0, 40), min_size=1, max_size=8))
def test_the_appender_stages_exactly_the_nodes_of_the_reference_tree(
    store: Store, batches: list[int]
) -> None:
    nodes = DuckNodeStore(store)
    appender = TreeAppender(nodes, 0)
    reference = MemoryNodeStore()
    tree = MerkleTree(reference)
    for number, n in enumerate(batches):
        leaves = _leaves(n, number)
        first = tree.size
        assert appender.extend(leaves) == tree.extend(leaves)
        staged = _staged_nodes(nodes)
        for level, idx, h in staged:
            assert reference.get(level, idx) == h
        # every node completed by this batch, once: (end >> L) − (first >> L) per level L
        end = first + n
        assert len({(lv, i) for lv, i, _ in staged}) == len(staged)
        assert len(staged) == sum((end >> lv) - (first >> lv) for lv in range(end.bit_length()))
    assert appender.size == tree.size == sum(batches)


def test_the_appender_continues_a_stored_tree(tmp_path: Path) -> None:
    leaves = _leaves(1000)
    with Store(tmp_path / "data", create=True) as store:
        nodes = DuckNodeStore(store)
        first = TreeAppender(nodes, 0)
        first.extend(leaves[:777])
        with store.transaction() as cur:
            nodes.promote(nodes.flush(cur))
        again = TreeAppender(DuckNodeStore(store), 777)  # a reopened log
        again.extend(leaves[777:])
        with store.transaction() as cur:
            again.store.promote(again.store.flush(cur))
        tree = MerkleTree(DuckNodeStore(store), 1000)
        assert tree.root() == root_of(leaves)
        assert tree.root(777) == root_of(leaves[:777])


def test_the_appender_refuses_a_tree_whose_edge_is_missing(store: Store) -> None:
    with pytest.raises(SigningError, match="no node"):
        TreeAppender(DuckNodeStore(store), 5)


def _event(i: int) -> AuditEvent:
    return AuditEvent(actor="11411500MA0000100X", action="query", outcome="ok", detail={"i": i})


def _node_count(size: int) -> int:
    """Nodes of the complete subtrees of a tree of ``size`` leaves."""
    return sum(size >> level for level in range(size.bit_length()))


def test_under_load_nodes_wait_in_memory_and_are_written_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(tmp_path / "data", create=True)
    log = AuditLog(store, b"k" * 32, AuditSettings(group_commit_max=64))
    log.append_many([_event(i) for i in range(10)])  # an idle log writes its nodes at once
    assert log.nodes.backlog == 0
    # hold the next commit in flight, so the group behind it finds the log under load
    insert, entered, go_on = log._insert, threading.Event(), threading.Event()

    def slow_insert(*args: Any) -> None:
        entered.set()
        go_on.wait(10)
        insert(*args)

    monkeypatch.setattr(log, "_insert", slow_insert)
    first = threading.Thread(target=log.append, args=(_event(10),))
    first.start()
    assert entered.wait(10)
    second = threading.Thread(target=log.append, args=(_event(11),))
    second.start()
    while log._incoming:  # let the writer form the second group behind the first
        time.sleep(0.001)
    time.sleep(0.05)
    go_on.set()
    first.join()
    second.join()
    assert log.size == 12
    assert log.nodes.backlog > 0  # the second group's nodes are not in the table yet
    in_table = int(store.fetchone("SELECT count(*) FROM audit_nodes")[0])  # type: ignore[index]
    assert in_table < _node_count(12)
    leaves = [
        bytes(r[0]) for r in store.fetchall("SELECT leaf_hash FROM audit_entries ORDER BY seq")
    ]
    verify_inclusion(leaves[11], 11, 12, log.inclusion_proof(11), root_of(leaves))
    assert log.write_nodes() == 12
    assert log.nodes.backlog == 0
    assert store.fetchone("SELECT count(*) FROM audit_nodes") == (_node_count(12),)
    log.close()
    store.close()


def test_nodes_held_in_memory_at_a_crash_are_rebuilt_from_the_entries(tmp_path: Path) -> None:
    store = Store(tmp_path / "data", create=True)
    log = AuditLog(store, b"k" * 32, AuditSettings(group_commit_max=64))
    log.append_many([_event(i) for i in range(100)])
    root = log.root()
    log.close()
    # a crash after entries 60.. were committed but before their nodes were written
    # (the table then holds the complete subtrees of the first 60 leaves)
    store.execute(
        "WITH n AS (SELECT id, bit_count(((id + 1) & -(id + 1)) - 1) AS lv FROM audit_nodes) "
        "DELETE FROM audit_nodes WHERE id IN "
        "(SELECT id FROM n WHERE ((id >> (lv + 1)) + 1) << lv > 60)"
    )
    assert store.fetchone("SELECT count(*) FROM audit_nodes") == (_node_count(60),)
    store.close()
    store = Store(tmp_path / "data")
    log = AuditLog(store, b"k" * 32, AuditSettings(group_commit_max=64))
    try:
        assert log.healthy
        assert log.root() == root
        assert store.fetchone("SELECT count(*) FROM audit_nodes") == (_node_count(100),)
    finally:
        log.close()
        store.close()
