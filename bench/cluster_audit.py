"""CLUSTER-AUDIT: how fast one cluster log grows, through a real Kafka broker.

Three nodes (``ClusterAuditLog``, each its own data directory) publish one-entry calls
from several threads each, as requests do; every node's replica applies the audit
partition in order. The figure is entries/s until every node holds every entry (the
cluster log's sequencing throughput, every node a replica), beside one node's own log
taking the same calls from the same threads (``AuditLog``, group commit). Same machine,
same run: the ratio is the figure, not the absolute rate. The note gives the process's
CPU time per entry of each (the brokers' apart): on a shared machine wall time is noisy.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .figures import Figure

__all__ = ["cluster_audit"]

KEY = b"bench-subject-key-32-bytes......"
THREADS = 8  # per node
SUBJECTS = 200


def _calls(log: Any, total: int, threads: int, node: str) -> None:
    from exchange.audit.log import AuditEvent

    def work(t: int) -> None:
        for i in range(t, total, threads):
            log.append(
                AuditEvent(
                    actor=f"dept-{node}",
                    action="query",
                    outcome="allowed",
                    target="gongan.id_card",
                    subject=f"4115021990{i % SUBJECTS:08d}",
                    purpose="户籍核验",
                )
            )

    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()


def cluster_audit(
    quick: bool, log: Callable[[str], None] = lambda s: None, bootstrap: str | None = None
) -> Figure:
    from bench.ingest import _broker
    from exchange.audit.bus import KafkaPartition
    from exchange.audit.cluster import ClusterAuditLog
    from exchange.audit.log import AuditLog
    from exchange.config import AuditSettings, KafkaSettings
    from exchange.store import Store

    per_node = 600 if quick else 5_000
    folder = Path(tempfile.mkdtemp(prefix="govex-bench-cluster-audit-"))
    try:
        with _broker(bootstrap, log) as bootstrap:
            kafka = KafkaSettings(audit_topic=f"govex.bench.audit.{uuid.uuid4().hex[:8]}")
            nodes = []
            for name in ("a", "b", "c"):
                store = Store(folder / name, create=True)
                nodes.append(
                    (
                        store,
                        ClusterAuditLog(
                            store,
                            KEY,
                            AuditSettings(),
                            partition=KafkaPartition(bootstrap, kafka),
                            node=name,
                            topic=kafka.audit_topic,
                        ),
                    )
                )
            for i in range(SUBJECTS):  # steady state: the subjects' salts are drawn
                nodes[0][1].subject_hash(f"4115021990{i:08d}")
            total = 3 * per_node
            log(f"CLUSTER-AUDIT: {total:,} calls on 3 nodes, {THREADS} threads each")
            base = [audit.size for _, audit in nodes]
            started, cpu = time.perf_counter(), time.process_time()
            pool = [
                threading.Thread(target=_calls, args=(audit, per_node, THREADS, name))
                for (_, audit), name in zip(nodes, "abc", strict=True)
            ]
            for thread in pool:
                thread.start()
            for thread in pool:
                thread.join()
            while any(a.size - b < total for (_, a), b in zip(nodes, base, strict=True)):
                time.sleep(0.005)
            cluster_s = time.perf_counter() - started
            cluster_cpu = time.process_time() - cpu
            roots = {audit.root() for _, audit in nodes}
            for store, audit in nodes:
                audit.close()
                store.close()
        store = Store(folder / "single", create=True)
        single = AuditLog(store, KEY, AuditSettings())
        for i in range(SUBJECTS):
            single.subject_hash(f"4115021990{i:08d}")
        log(f"CLUSTER-AUDIT: the same {total:,} calls on one node's own log")
        started, cpu = time.perf_counter(), time.process_time()
        _calls(single, total, 3 * THREADS, "single")
        single_s = time.perf_counter() - started
        single_cpu = time.process_time() - cpu
        single.close()
        store.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    rate, peer = total / cluster_s, total / single_s
    return Figure(
        id="CLUSTER-AUDIT",
        name="cluster audit log: entries/s applied on every node (3 nodes, one broker)",
        value=round(rate),
        unit="entries/s",
        peer="one node's own log, the same calls",
        peer_value=round(peer),
        ratio=round(rate / peer, 3),
        target="one log: the same root on every node",
        met=len(roots) == 1,
        note=f"{total:,} one-entry calls from {3 * THREADS} threads; every node applied "
        "every entry; one broker, so the audit topic has one replica; CPU per entry "
        f"{cluster_cpu / total * 1e6:,.0f} µs for the three nodes, "
        f"{single_cpu / total * 1e6:,.0f} µs for one node's own log",
    )
