"""Three nodes' audit logs on one partition (in memory): one log, the same on every node.

The Kafka form of the same is tests/integration/test_cluster_audit.py; this one runs in
the fast loop and keeps the replica's writing in step with the writer's."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from exchange import moment
from exchange.audit.bus import MemoryPartition
from exchange.audit.checkpoints import Checkpointer
from exchange.audit.cluster import STATE_FILE, ClusterAuditLog
from exchange.audit.export import export_log
from exchange.audit.log import AuditEvent
from exchange.audit.query import EntryFilter, Scope, search
from exchange.audit.verify import verify_export
from exchange.config import AuditSettings
from exchange.errors import AuditUnavailable
from exchange.store import Store

KEY = b"k" * 32


class Node:
    def __init__(self, root: Path, name: str, partition: MemoryPartition) -> None:
        self.name = name
        self.data = root / name
        self.partition = partition
        self.open()

    def open(self) -> None:
        self.store = Store(self.data, create=not self.data.exists())
        self.log = ClusterAuditLog(
            self.store,
            KEY,
            AuditSettings(),
            partition=self.partition,
            node=self.name,
            topic="govex.audit.test",
        )

    def close(self) -> None:
        self.log.close()
        self.store.close()

    def settle(self, offset: int) -> None:
        """Wait until this node applied the partition up to ``offset``."""
        replica = self.log._replica
        assert replica is not None
        with replica._cond:
            replica._cond.wait_for(lambda: replica.next_offset > offset, 30)
        self.log.wait_indexed()


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[list[Node]]:
    partition = MemoryPartition()
    found = [Node(tmp_path, name, partition) for name in ("a", "b", "c")]
    yield found
    for node in found:
        node.close()


def _read(node: Node, subject: str, n: int) -> AuditEvent:
    return AuditEvent(
        actor=f"dept-{node.name}",
        action="query",
        outcome="allowed",
        target="R1",
        subject=subject,
        purpose="核验",
        detail={"n": n},
    )


def _settle(nodes: list[Node]) -> None:
    last = len(nodes[0].partition._values) - 1
    for node in nodes:
        node.settle(last)


def test_concurrent_appends_on_three_nodes_give_one_log(nodes: list[Node]) -> None:
    def work(node: Node) -> None:
        for n in range(40):
            node.log.append(_read(node, f"11010519800101{n % 7:04d}", n))
        node.log.append_many([_read(node, "110105198001019999", k) for k in range(5)])

    threads = [threading.Thread(target=work, args=(node,)) for node in nodes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    _settle(nodes)
    sizes = {node.log.size for node in nodes}
    assert sizes == {3 * 45}
    roots = {node.log.root() for node in nodes}
    assert len(roots) == 1
    # every subject hashes alike on every node: the salts are the cluster's
    for subject in ("110105198001010003", "110105198001019999"):
        hashes = {node.log.find_subject_hash(subject) for node in nodes}
        assert len(hashes) == 1
        assert None not in hashes
    # the index holds each entry's own time: an export recomputes every leaf and verifies
    key = ed25519.Ed25519PrivateKey.generate()
    for node in (nodes[0], nodes[2]):
        out = node.data.parent / f"export-{node.name}.jsonl"
        export_log(node.log, Checkpointer.for_key(node.log, key, "govex.test/log"), out)
        assert verify_export(out).end == 3 * 45
    seqs = [
        row[0]
        for row in nodes[1].store.fetchall(
            "SELECT seq FROM audit_entries WHERE subject_hash = ? ORDER BY seq",
            [nodes[0].log.find_subject_hash("110105198001019999")],
        )
    ]
    assert len(seqs) == 15


def test_a_message_seen_again_is_dropped_on_every_node(nodes: list[Node]) -> None:
    a = nodes[0]
    a.log.append(_read(a, "110105198001010001", 1))
    # a producer's retry: the same message again
    entries = [v for v in a.partition._values if orjson.loads(v)["k"] == "e"]
    a.partition.append(entries[-1])
    a.log.append(_read(a, "110105198001010001", 2))
    _settle(nodes)
    assert {node.log.size for node in nodes} == {2}
    assert len({node.log.root() for node in nodes}) == 1
    assert all(node.log._replica is not None and node.log._replica.dropped == 1 for node in nodes)


def test_a_restarted_node_rereads_without_duplicating(nodes: list[Node]) -> None:
    a, b = nodes[0], nodes[1]
    for n in range(10):
        a.log.append(_read(a, "110105198001010001", n))
    _settle(nodes)
    b.close()
    state = b.data / STATE_FILE
    saved = json.loads(state.read_text("utf-8"))
    saved["offset"] = 0  # as if it died before saving its position: it reads it all again
    state.write_text(json.dumps(saved), "utf-8")
    for n in range(10, 15):
        a.log.append(_read(a, "110105198001010001", n))
    b.open()
    _settle(nodes)
    assert {node.log.size for node in nodes} == {15}
    assert len({node.log.root() for node in nodes}) == 1


def test_a_subjects_entries_are_the_same_on_every_node(nodes: list[Node]) -> None:
    subject = "11010519800101000X"
    for node in nodes:
        node.log.append(_read(node, subject, 0))
    _settle(nodes)
    found = []
    for node in nodes:
        subject_hash = node.log.find_subject_hash(subject)
        entries = search(
            node.store, EntryFilter(subject_hash=subject_hash), Scope.everything(), limit=50
        )
        found.append([(e.entry.seq, e.entry.actor, e.leaf_hash, e.entry.ts) for e in entries])
    assert len(found[0]) == 3
    assert found[0] == found[1] == found[2]


def test_a_node_that_lost_its_position_refuses_to_reapply(nodes: list[Node]) -> None:
    a, b = nodes[0], nodes[1]
    a.log.append(_read(a, "110105198001010001", 1))
    _settle(nodes)
    b.close()
    (b.data / STATE_FILE).unlink()
    nodes.remove(b)  # closed here, not by the fixture
    with pytest.raises(AuditUnavailable, match="restore the data directory"):
        b.open()
    b.store.close()


class _Unacknowledged(MemoryPartition):
    """The audit topic refusing this node's appends (Kafka did not acknowledge them)."""

    def __init__(self, shared: MemoryPartition) -> None:
        self.shared = shared
        self.refuse = False

    def append(self, value: bytes) -> int:
        if self.refuse:
            raise AuditUnavailable("the audit event was not acknowledged by Kafka")
        return self.shared.append(value)

    def read(self, offset: int, limit: int, timeout_s: float) -> list[tuple[int, bytes]]:
        return self.shared.read(offset, limit, timeout_s)


def test_a_change_decided_by_a_control_event_stands_when_its_audit_publish_fails(
    tmp_path: Path,
) -> None:
    """The control event is in the topic: the other nodes apply the change (echoing, they
    publish nothing), so the node that took the command may not roll it back because its
    own audit entry was not acknowledged — else its state differs from theirs for good.
    It answers as the others apply (its service finishes the change: status lists), and
    logs the missing entry."""
    shared = MemoryPartition()
    origin = Node(tmp_path, "a", _Unacknowledged(shared))
    other = Node(tmp_path, "b", shared)
    try:
        for node in (origin, other):
            node.store.execute("CREATE TABLE revoked (id VARCHAR)")
        assert isinstance(origin.partition, _Unacknowledged)
        origin.partition.refuse = True

        def work(cur: Any) -> None:
            cur.execute("INSERT INTO revoked VALUES ('C1')")

        at, seed = datetime(2026, 5, 11, 2, 0, tzinfo=UTC), b"s" * 32
        with moment.fixed(at, seed), moment.echoing():
            other.log.append(_read(other, "110105198001010001", 1), work)
        with moment.fixed(at, seed):
            seq, _ = origin.log.append(_read(origin, "110105198001010001", 1), work)
        assert seq == -1
        for node in (origin, other):
            assert node.store.fetchall("SELECT id FROM revoked") == [("C1",)]
        # outside a control event's apply (one node) the change stays all or nothing
        with pytest.raises(AuditUnavailable):
            origin.log.append(_read(origin, "110105198001010001", 2), work)
        assert origin.store.fetchall("SELECT id FROM revoked") == [("C1",)]
    finally:
        origin.close()
        other.close()


def test_a_control_event_applied_again_by_its_node_is_audited_once(nodes: list[Node]) -> None:
    """A node applies one of its own control events again (rebuilt from the topic under
    its node id, or restarted before it noted the event applied): the entry it publishes
    again is the same message, dropped on every node."""
    a = nodes[0]
    at, seed = datetime(2026, 5, 11, 2, 0, tzinfo=UTC), b"e" * 32
    for _ in range(2):
        with moment.fixed(at, seed):
            a.log.append(_read(a, "110105198001010001", 1))
    _settle(nodes)
    assert {node.log.size for node in nodes} == {1}
    assert len({node.log.root() for node in nodes}) == 1


def test_another_nodes_control_event_returns_its_entrys_index(nodes: list[Node]) -> None:
    """A node applying another node's control event learns the index of the entry that
    node published for the change (it returned -1), once its replica applied it."""
    a, b = nodes[0], nodes[1]
    at, seed = datetime(2026, 5, 11, 2, 0, tzinfo=UTC), b"o" * 32
    a.log.append(_read(a, "110105198001010001", 0))  # the log is not empty
    with moment.fixed(at, seed):
        seq, _ = a.log.append(_read(a, "110105198001010001", 1))
        many = a.log.append_many([_read(a, "110105198001010002", k) for k in range(2)])
    _settle(nodes)
    assert seq == 1
    with moment.fixed(at, seed), moment.echoing("a"):
        echoed, result = b.log.append(_read(b, "110105198001010001", 1), lambda cur: "done")
        assert (echoed, result) == (seq, "done")
        assert b.log.append_many([_read(b, "110105198001010002", k) for k in range(2)]) == many
    with moment.fixed(at, b"x" * 32), moment.echoing("a"):  # never published: no index
        assert b.log.append(_read(b, "110105198001010001", 1)) == (-1, None)
    assert {node.log.size for node in nodes} == {4}


def _publish(node: Node, batch: str, accepted: int) -> AuditEvent:
    return AuditEvent(
        actor="gongan",
        action="publish",
        outcome="ok",
        target="R1",
        detail={"records": 20, "source": "kafka", "batch_id": batch, "accepted": accepted},
    )


def test_a_batch_every_node_ingests_is_one_publish_entry(nodes: list[Node]) -> None:
    """Every node consumes a record batch and commits its records with a ``publish``
    entry: the cluster log holds one entry for the batch (it held one per node), each
    node's answer names it, and a node ingesting it again after a crash (its records
    rolled back) adds none."""
    for node in nodes:
        node.store.execute("CREATE TABLE records (batch VARCHAR)")

    def ingest(node: Node, batch: str) -> int:
        def work(cur: Any) -> dict[str, Any]:
            cur.execute("INSERT INTO records VALUES (?)", [batch])
            return {"audit_detail": {"batch_id": batch, "accepted": 20}}

        seq, _ = node.log.append(_publish(node, batch, 0), work)
        return seq

    seqs = [ingest(node, "b-1") for node in nodes]
    assert seqs == [0, 0, 0]
    seqs = [ingest(node, "b-2") for node in reversed(nodes)]
    assert seqs == [1, 1, 1]
    nodes[1].store.execute("DELETE FROM records WHERE batch = 'b-2'")  # as if rolled back
    assert ingest(nodes[1], "b-2") == 1
    _settle(nodes)
    assert {node.log.size for node in nodes} == {2}
    assert len({node.log.root() for node in nodes}) == 1
    for node in nodes:
        assert node.store.fetchall("SELECT batch FROM records ORDER BY batch") == [
            ("b-1",),
            ("b-2",),
        ]
        actions = node.store.fetchall("SELECT action FROM audit_entries ORDER BY seq")
        assert actions == [("publish",), ("publish",)]
