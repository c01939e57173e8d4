"""Operating a cluster while it serves (issue 23, item 4): a node added from another
node's online backup, a node id that is live elsewhere refused, a node drained and
removed.

Three ``govex serve --node-id`` processes on copies of one provisioned directory, one
broker. D is restored from ``govex backup`` of B taken while A and C issue certificates,
and joins with the same state digest and the same audit checkpoint as the others. B is
drained (``govex cluster drain``) while A and C serve reads: a request in flight on B
finishes, a new one is refused with ``exchange.node_draining``, ``/healthz`` says
``draining``, B's ``govex serve`` exits 0, and once removed no node lists it.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from exchange.demo.setup import DemoDepartment
from schemas.identifiers import make_id_number
from tests.schemas.test_certificates import SUBJECTS
from tests.support import LOOPBACK
from tests.support.kafka import KafkaBroker

from .exchange_process import GOVEX, ExchangeProcess, clone_data_dir, connector_env, demo_data_dir

pytestmark = pytest.mark.kafka

BOUND_S = 60.0  # a state not reached within this long is a failure


def _form(assertion: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion,
    }


@dataclass
class Ops:
    broker: KafkaBroker
    prefix: str
    root: Path
    pristine: Path
    depts: dict[str, DemoDepartment]
    nodes: dict[str, ExchangeProcess] = field(default_factory=dict)

    def start(self, name: str, data: Path) -> ExchangeProcess:
        process = ExchangeProcess(
            data, self.broker.bootstrap, self.prefix, args=["--node-id", name]
        )
        self.nodes[name] = process.start()
        return process

    def token(self, node: str, dept: str) -> str:
        with httpx.Client(base_url=self.nodes[node].url, timeout=30) as client:
            audience = client.get("/.well-known/govex").json()["client_assertion_audience"]
            r = client.post("/v1/token", data=_form(self.depts[dept].assertion(audience)))
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])


def govex(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GOVEX, *args],
        env=connector_env(data),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def status(data: Path) -> dict[str, Any]:
    done = govex(data, "cluster", "status", "--data", str(data), "--json")
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] = json.loads(done.stdout)
    return found


@pytest.fixture(scope="module")
def ops(kafka_broker: KafkaBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ops]:
    root = tmp_path_factory.mktemp("operate")
    a = demo_data_dir(root, "a")
    depts = {code: DemoDepartment.load(a, code) for code in ("gongan", "renshe")}
    found = Ops(
        kafka_broker,
        f"govex.o{uuid.uuid4().hex[:8]}.records.",
        root,
        clone_data_dir(a, "pristine"),
        depts,
    )
    dirs = {"a": a, "b": clone_data_dir(a, "b"), "c": clone_data_dir(a, "c")}
    try:
        for name, data in dirs.items():
            found.start(name, data)
        yield found
    finally:
        for node in found.nodes.values():
            node.stop()


class Issuer(threading.Thread):
    """Issues certificates on the given nodes, one after another, until stopped."""

    def __init__(self, ops: Ops, nodes: list[str]) -> None:
        super().__init__(daemon=True)
        self.ops, self.node_names = ops, nodes
        self.stop = threading.Event()
        self.issued: list[int] = []  # control offsets
        self.failures: list[str] = []

    def run(self) -> None:
        try:
            self._issue()
        except Exception as exc:  # seen by the test, which waits on failures
            self.failures.append(f"issuer: {exc!r}")

    def _issue(self) -> None:
        tokens = {n: self.ops.token(n, "gongan") for n in self.node_names}
        n = 0
        while not self.stop.is_set() or n < 2 * len(self.node_names):
            node = self.node_names[n % len(self.node_names)]
            holder = make_id_number("411503", date(1960, 1, 1) + timedelta(days=n), 8, female=True)
            subject = {**SUBJECTS["resident_id_card"], "holder_code": holder}
            r = httpx.post(
                f"{self.ops.nodes[node].url}/v1/certificates",
                json={"type": "resident_id_card", "subject": subject},
                headers={"Authorization": f"Bearer {tokens[node]}"},
                timeout=60,
            )
            if r.status_code == 201:
                self.issued.append(int(r.headers["govex-control-offset"]))
            else:
                self.failures.append(f"{node}: {r.status_code} {r.text[:200]}")
            n += 1


def _settled(ops: Ops, names: list[str]) -> dict[str, dict[str, Any]]:
    """The nodes' statuses once every one applied the control topic to its end."""
    deadline = time.monotonic() + BOUND_S
    while True:
        found = {n: status(ops.nodes[n].data) for n in names}
        ends = {s["control_end"] for s in found.values()}
        if len(ends) == 1 and {s["applied"] for s in found.values()} == {max(ends) - 1}:
            return found
        assert time.monotonic() < deadline, found
        time.sleep(0.2)


def _checkpoints(ops: Ops, names: list[str]) -> dict[str, str]:
    """Each node's /log/checkpoint once all serve the same note (nothing else is asked)."""
    deadline = time.monotonic() + BOUND_S
    while True:
        notes = {n: httpx.get(f"{ops.nodes[n].url}/log/checkpoint", timeout=30) for n in names}
        assert all(r.status_code == 200 for r in notes.values()), notes
        texts = {n: r.text for n, r in notes.items()}
        if len(set(texts.values())) == 1:
            return texts
        assert time.monotonic() < deadline, texts
        time.sleep(0.2)


def test_a_node_added_from_an_online_backup_joins_with_the_same_state(
    ops: Ops, tmp_path: Path
) -> None:
    issuer = Issuer(ops, ["a", "c"])
    issuer.start()
    try:
        while len(issuer.issued) < 3 and not issuer.failures:
            time.sleep(0.05)
        b = ops.nodes["b"].data
        archive = tmp_path / "b.tar.gz"
        took = govex(b, "backup", "--data", str(b), "--out", str(archive))
        assert took.returncode == 0, took.stderr
        d = ops.root / "data-d"
        restored = govex(d, "restore", str(archive), "--data", str(d))
        assert restored.returncode == 0, restored.stderr
        issued_before = len(issuer.issued)
        ops.start("d", d)
        while len(issuer.issued) < issued_before + 4 and not issuer.failures:
            time.sleep(0.05)
    finally:
        issuer.stop.set()
        issuer.join(timeout=120)
    assert not issuer.failures, issuer.failures
    statuses = _settled(ops, ["a", "b", "c", "d"])
    digests = {n: s["digest"] for n, s in statuses.items()}
    assert len(set(digests.values())) == 1, digests
    assert statuses["d"]["applied"] >= max(issuer.issued)
    notes = _checkpoints(ops, ["a", "b", "c", "d"])
    size = int(notes["d"].splitlines()[1])
    print(f"cluster: D from B's online backup: digest {digests['d'][:16]}, log size {size}")


def test_a_node_id_live_on_another_directory_is_refused(ops: Ops) -> None:
    copy = clone_data_dir(ops.pristine, "again-a")
    process = ExchangeProcess(copy, ops.broker.bootstrap, ops.prefix, args=["--node-id", "a"])
    with pytest.raises(RuntimeError) as refused:
        process.start()
    said = process.log()
    assert "error [exchange.node_id_taken]: node id 'a' is live" in said, said
    assert "Traceback" not in said, said
    assert "exited with 1" in str(refused.value)
    # refused before its record consumer started (it never joined node a's consumer group)
    assert "consuming govex.records" not in said, said


def _slow_request(node: ExchangeProcess, token: str) -> tuple[socket.socket, bytes]:
    """A grant request whose head is sent and whose body is held back: in flight."""
    body = json.dumps(
        {
            "resource": "gongan.resident_id_card",
            "fields": ["name"],
            "purposes": ["weijian.newborn_birth"],
            "reason": "出生医学证明 核验父母身份",
            "expires_at": (datetime.now(UTC) + timedelta(days=30)).isoformat(),
        },
        ensure_ascii=False,
    ).encode()
    sock = socket.create_connection((LOOPBACK, node.port), timeout=60)
    head = (
        f"POST /v1/grants HTTP/1.1\r\nHost: {LOOPBACK}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    sock.sendall(head + body[:10])
    return sock, body[10:]


def test_a_node_drained_while_the_others_serve_leaves_and_is_removed(ops: Ops) -> None:
    a, b, c = (ops.nodes[n] for n in "abc")
    readers = {n: ops.token(n, "renshe") for n in ("a", "c")}
    stop = threading.Event()
    reads: list[tuple[str, int]] = []

    def read() -> None:
        while not stop.is_set():
            for name, token in readers.items():
                try:
                    r = httpx.get(
                        f"{ops.nodes[name].url}/v1/grants",
                        headers={"Authorization": f"Bearer {token}"},
                        timeout=30,
                    )
                    reads.append((name, r.status_code))
                except httpx.HTTPError as exc:
                    reads.append((name, -1))
                    print(f"read on {name} failed: {exc}")

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    sock, rest = _slow_request(b, ops.token("b", "renshe"))
    drain = subprocess.Popen(
        [*GOVEX, "cluster", "drain", "--data", str(b.data)],
        env=connector_env(b.data),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + BOUND_S
        while (health := httpx.get(f"{b.url}/healthz", timeout=30)).status_code == 200:
            assert time.monotonic() < deadline, "B never said it drains"
            time.sleep(0.05)
        assert (health.status_code, health.json()["status"]) == (503, "draining"), health.text
        refused = httpx.get(f"{b.url}/v1/grants", timeout=30)
        assert refused.status_code == 503, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["code"] == "exchange.node_draining"
        assert drain.poll() is None  # it waits for the request in flight
        sock.sendall(rest)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 201"), answer[:300]
        out, err = drain.communicate(timeout=120)
        assert drain.returncode == 0, err
        assert "node b drained" in out
        assert b.process is not None
        assert b.process.wait(timeout=120) == 0, b.log()
    finally:
        sock.close()
        stop.set()
        reader.join(timeout=60)
        if drain.poll() is None:
            drain.kill()
        drain.wait(timeout=60)
        for pipe in (drain.stdout, drain.stderr):
            if pipe is not None:
                pipe.close()
    assert reads, "no read was made"
    failed = [r for r in reads if r[1] != 200]
    assert not failed, failed
    listed = {n["node"]: n["state"] for n in status(a.data)["nodes"]}
    assert listed.get("b") == "left", listed
    _settled(ops, ["a", "c"])
    plain = govex(a.data, "cluster", "status", "--data", str(a.data))
    counted = re.search(r"applied (\d+) of (\d+) control event", plain.stdout)
    assert counted is not None, plain.stdout
    assert counted[1] == counted[2], plain.stdout  # all applied: N of N events
    live = govex(a.data, "cluster", "remove", "--node-id", "c", "--data", str(a.data))
    assert live.returncode == 1, live.stdout
    assert live.stderr.startswith("error [exchange.node_live]: node 'c' is live"), live.stderr
    removed = govex(a.data, "cluster", "remove", "--node-id", "b", "--data", str(a.data))
    assert removed.returncode == 0, removed.stderr
    assert "node b removed" in removed.stdout
    for node in (a, c):
        deadline = time.monotonic() + BOUND_S
        while "b" in {n["node"] for n in status(node.data)["nodes"]}:
            assert time.monotonic() < deadline, status(node.data)
            time.sleep(0.2)
    print(f"cluster: B drained and removed while A and C served {len(reads)} reads")
