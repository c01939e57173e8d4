"""One audit log for a cluster (`govex serve --bus kafka://… --cluster`): three exchange
processes publish their audit events to one audit topic and each applies the topic to
its own tiled log — the same checkpoint, the same subject report, one ``publish`` entry
per record batch and an export that verifies as one log on every node, also when a node is killed mid-stream and restarted.

On one plain broker (the audit topic then has one replica; on a 3-broker cluster it
gets three and min.insync.replicas 2)."""

from __future__ import annotations

import subprocess
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from exchange.demo.setup import DemoDepartment

from .buses import Bus
from .exchange_process import (
    BOUND_S,
    GOVEX,
    RESOURCE,
    ExchangeProcess,
    clone_data_dir,
    connector_env,
    demo_data_dir,
    finish_connector,
    group_of,
    id_card_csv,
    set_node,
    start_connector,
    wait_consumed,
)

pytestmark = pytest.mark.kafka

NODES = ("a", "b", "c")


class Client:
    """A department's HTTP client of one node (its token fetched once)."""

    def __init__(self, node: ExchangeProcess, dept: DemoDepartment) -> None:
        self.http = httpx.Client(base_url=node.url, timeout=60)
        audience = self.http.get("/.well-known/govex").json()["client_assertion_audience"]
        token = self.http.post(
            "/v1/token",
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": dept.assertion(audience),
            },
        )
        assert token.status_code == 200, token.text
        self.http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"

    def read(self, key: str) -> int:
        response = self.http.get(
            f"/v1/resources/{RESOURCE}/records/{key}",
            params={"purpose": "户籍核验", "case": "CLUSTER-2026-0001"},
        )
        assert response.status_code == 200, response.text
        seq: int = response.json()["audit_seq"]
        return seq

    def report(self, subject: str) -> list[tuple[int, str, str]]:
        response = self.http.post(
            "/v1/audit/subjects/accesses", json={"subject": subject, "view": "data"}
        )
        assert response.status_code == 200, response.text
        return [
            (d["entry"]["seq"], d["entry"]["actor"], d["entry"]["action"])
            for d in response.json()["data"]
        ]

    def close(self) -> None:
        self.http.close()


def cluster(bus: Bus, tmp_path: Path, topic: str) -> tuple[list[ExchangeProcess], set[str]]:
    """Three nodes from one provisioned exchange, with 60 ID cards on the record topic."""
    prefix = bus.prefix("ca")
    first = demo_data_dir(tmp_path, "a")
    dirs = [first, clone_data_dir(first, "b"), clone_data_dir(first, "c")]
    for data, node in zip(dirs, NODES, strict=True):
        set_node(data, node)
    env = {
        "GOVEX_KAFKA__AUDIT_TOPIC": topic,
        "GOVEX_AUDIT__CHECKPOINT_INTERVAL_S": "0.5",
    }
    nodes = [
        ExchangeProcess(data, bus.bootstrap, prefix, env=env, args=["--cluster"]) for data in dirs
    ]
    for node in nodes:
        node.start()
    gongan = DemoDepartment.load(first, "gongan")
    config, keys = id_card_csv(tmp_path, 60, uscc=gongan.uscc, prefix=prefix, batch_size=20)
    log = tmp_path / "connector.log"
    summary = finish_connector(
        start_connector(config, bus.bootstrap, first, tmp_path / "o.sqlite", log), log
    )
    assert summary["published"] == 60
    for node in NODES:
        wait_consumed(bus.bootstrap, f"{prefix}{RESOURCE}", group_of(node))
    return nodes, keys


def checkpoint(node: ExchangeProcess) -> str:
    return httpx.get(f"{node.url}/log/checkpoint", timeout=30).text


def size_of(note: str) -> int:
    return int(note.splitlines()[1])


def settled(nodes: list[ExchangeProcess], at_least: int) -> str:
    """The one checkpoint every node serves once they applied everything (polled)."""
    deadline = time.monotonic() + BOUND_S
    notes: list[str] = []
    while time.monotonic() < deadline:
        notes = [checkpoint(node) for node in nodes]
        if len(set(notes)) == 1 and size_of(notes[0]) >= at_least:
            return notes[0]
        time.sleep(0.2)
    raise AssertionError(f"the nodes never served one checkpoint: {notes}")


def export(node: ExchangeProcess, out: Path) -> list[dict[str, Any]]:
    """`govex audit export` through the node's admin channel, then `govex audit verify`."""
    env = connector_env(node.data)
    done = subprocess.run(
        [*GOVEX, "audit", "export", "--data", str(node.data), "--out", str(out)],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    offline = {k: v for k, v in env.items() if k != "GOVEX_DATA"}  # the file alone
    checked = subprocess.run(
        [*GOVEX, "audit", "verify", str(out), "--json"],
        env=offline, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    lines = [orjson.loads(line) for line in out.read_bytes().splitlines() if line.strip()]
    return [line["entry"] for line in lines if "entry" in line]


def one_message_each(entries: list[dict[str, Any]]) -> None:
    """No gap (seq 0…n-1) and no message applied twice (its entries are consecutive)."""
    assert [e["seq"] for e in entries] == list(range(len(entries)))
    by_message: dict[str, list[int]] = defaultdict(list)
    for e in entries:
        message = (e.get("detail") or {}).get("event")
        if message is not None:
            by_message[message].append(e["seq"])
    for message, seqs in by_message.items():
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), message


def test_three_nodes_serve_one_audit_log(kafka_broker: Any, tmp_path: Path) -> None:
    from .buses import Bus

    bus = Bus(kafka_broker)
    nodes, keys = cluster(bus, tmp_path, f"govex.audit.{uuid.uuid4().hex[:8]}")
    try:
        gongan = DemoDepartment.load(nodes[0].data, "gongan")
        clients = [Client(node, gongan) for node in nodes]
        chosen = sorted(keys)[:6]
        seqs = [client.read(key) for key in chosen for client in clients]
        assert len(set(seqs)) == len(seqs)  # each read its own entry of the one log
        note = settled(nodes, max(seqs) + 1)
        print(f"cluster audit: one checkpoint of size {size_of(note)} on {len(nodes)} nodes")
        # a citizen's report: the reads on all three nodes, the same on every node
        reports = [client.report(chosen[0]) for client in clients]
        reads = [r for r in reports[0] if r[2] == "query"]
        assert len(reads) == 3
        assert reports[0] == reports[1] == reports[2]
        for client in clients:
            client.close()
        # an auditor's export from any node verifies as one log
        settled(nodes, size_of(note))
        exported = [export(node, tmp_path / f"export-{node.data.name}.jsonl") for node in nodes]
        end = min(len(e) for e in exported)
        assert exported[1][:end] == exported[0][:end] == exported[2][:end]
        one_message_each(exported[0])
        for entries in exported:  # one publish per batch, not one per node and batch
            batches = [e["detail"]["batch_id"] for e in entries if e["action"] == "publish"]
            assert len(batches) == len(set(batches)) >= 3, batches  # 60 records, 20 a batch
    finally:
        for node in nodes:
            node.stop()


def test_a_node_killed_mid_stream_leaves_no_gap_and_no_duplicate(
    kafka_broker: Any, tmp_path: Path
) -> None:
    from .buses import Bus

    bus = Bus(kafka_broker)
    nodes, keys = cluster(bus, tmp_path, f"govex.audit.{uuid.uuid4().hex[:8]}")
    try:
        gongan = DemoDepartment.load(nodes[0].data, "gongan")
        stop = threading.Event()
        answered: dict[str, int] = defaultdict(int)

        def stream(node: ExchangeProcess) -> None:
            client = Client(node, gongan)
            ordered = sorted(keys)
            i = 0
            while not stop.is_set():
                try:
                    client.read(ordered[i % len(ordered)])
                    answered[node.data.name] += 1
                except (httpx.HTTPError, AssertionError):
                    if node is nodes[1]:
                        return  # killed: this stream ends
                    raise
                i += 1
            client.close()

        threads = [threading.Thread(target=stream, args=(n,), daemon=True) for n in nodes]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + BOUND_S
        while answered["data-b"] < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        nodes[1].kill()  # mid-stream: its last events may be on the topic, unanswered
        killed_at = sum(answered.values())
        while sum(answered.values()) < killed_at + 40 and time.monotonic() < deadline:
            time.sleep(0.05)
        nodes[1].start()  # restarts from its saved position; what it applied since is dropped
        time.sleep(1.0)
        stop.set()
        for thread in threads:
            thread.join(timeout=BOUND_S)
        note = settled(nodes, sum(answered.values()))
        print(
            f"cluster audit: after a kill, one checkpoint of size {size_of(note)}; "
            f"reads answered {dict(answered)}"
        )
        exported = [export(node, tmp_path / f"export-{node.data.name}.jsonl") for node in nodes]
        end = min(len(e) for e in exported)
        assert exported[1][:end] == exported[0][:end] == exported[2][:end]
        for entries in exported:
            one_message_each(entries)
        queries = [e for e in exported[0] if e["action"] == "query"]
        assert len(queries) >= sum(answered.values())
    finally:
        for node in nodes:
            node.stop()
