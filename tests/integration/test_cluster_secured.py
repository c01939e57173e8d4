"""One exchange on three nodes on the secured 3-broker cluster, and failures (issue 23).

Three ``govex serve --node-id … --bus kafkas://…`` processes, each speaking SASL/SCRAM
over TLS as its own principal (``node-a`` …, the ACLs ``scripts/kafka.sh grant-exchange``
gives: the record topics, the control, nodes and audit topics under their production
names ``govex.control``, ``govex.nodes``, ``govex.audit``):

- a grant approved on A is honoured on C; reads on all three nodes end in the same
  checkpoint on every node;
- then one node (SIGKILL) and the broker leading the control topic die at once; the
  survivors keep reading and issuing certificates; both come back → the nodes converge
  to one control state and one checkpoint root, the audit export of every node verifies
  offline (``govex audit verify``) with no gap and no duplicate, certificate ids are unique.

The propagation times seen are printed, not asserted.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.workload import RESOURCE
from exchange.demo.setup import DemoDepartment
from schemas.identifiers import make_id_number
from tests.schemas.test_certificates import SUBJECTS
from tests.support.kafka_cluster import KafkaCluster

from .buses import Bus
from .exchange_process import (
    BOUND_S,
    GOVEX,
    ExchangeProcess,
    clone_data_dir,
    connector_env,
    demo_data_dir,
    finish_connector,
    group_of,
    id_card_csv,
    start_connector,
    wait_consumed,
)
from .test_cluster_audit import checkpoint, export, one_message_each, settled, size_of

pytestmark = pytest.mark.kafka

NODES = ("a", "b", "c")
PREFIX = "govex.records."  # the cluster is this test's alone: the production topic names
MATTER = "weijian.newborn_birth"
OWN_PURPOSE = "户籍核验"
# a request answered 503 with one of these while a node or a broker is down is retried
TRANSIENT = {"exchange.control_unavailable", "exchange.audit_unavailable", "exchange.node_behind"}


def _form(assertion: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion,
    }


class Client:
    """A department's HTTP client of one node (its token fetched once)."""

    def __init__(self, node: ExchangeProcess, dept: DemoDepartment) -> None:
        # beyond the node's own bounds (a control event 10 s, an audit entry 60 s): a
        # request the outage held answers 503, which the load retries, not a client timeout
        self.http = httpx.Client(base_url=node.url, timeout=90)
        audience = self.http.get("/.well-known/govex").json()["client_assertion_audience"]
        token = self.http.post("/v1/token", data=_form(dept.assertion(audience)))
        assert token.status_code == 200, token.text
        self.http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"

    def read(
        self, key: str, purpose: str = OWN_PURPOSE, case: str = "CLUSTER-S-1"
    ) -> httpx.Response:
        return self.http.get(
            f"/v1/resources/{RESOURCE}/records/{key}", params={"purpose": purpose, "case": case}
        )

    def issue(self, holder: str) -> httpx.Response:
        subject = {**SUBJECTS["resident_id_card"], "holder_code": holder}
        return self.http.post(
            "/v1/certificates", json={"type": "resident_id_card", "subject": subject}
        )

    def close(self) -> None:
        self.http.close()


def _transient(response: httpx.Response) -> bool:
    """A 503 that says what is unavailable (a stable code), not a failure of the node."""
    if response.status_code != 503:
        return False
    code = response.json().get("code")
    assert code in TRANSIENT, response.text
    return True


def _status(node: ExchangeProcess) -> dict[str, Any]:
    done = subprocess.run(
        [*GOVEX, "cluster", "status", "--data", str(node.data), "--json"],
        env=connector_env(node.data), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def _control_settled(nodes: list[ExchangeProcess]) -> dict[str, dict[str, Any]]:
    """Every node applied the control topic to its end (polled); their statuses."""
    deadline = time.monotonic() + BOUND_S
    statuses: dict[str, dict[str, Any]] = {}
    while True:
        statuses = {node.data.name: _status(node) for node in nodes}
        ends = {s["control_end"] for s in statuses.values()}
        applied = {s["applied"] for s in statuses.values()}
        if len(ends) == 1 and applied == {max(ends) - 1}:
            return statuses
        if time.monotonic() >= deadline:  # what each node said, and its log's tail
            logs = "\n".join(f"--- {node.data.name}\n{node.log()}" for node in nodes)
            raise AssertionError(f"{json.dumps(statuses, indent=1)}\n{logs}")
        time.sleep(0.3)


def _control_leader(kafka: KafkaCluster) -> int:
    admin = kafka.admin()
    try:
        found = admin.describe_topics(["govex.control"])
    finally:
        admin.close()
    return int(found[0]["partitions"][0]["leader_id"])


@dataclass
class Load:
    """Reads and certificate issuance on the surviving nodes, until stopped."""

    keys: list[str]
    stop: threading.Event = field(default_factory=threading.Event)
    reads: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    retried: int = 0
    issued: list[tuple[str, str]] = field(default_factory=list)  # (certificate id, holder)
    offsets: list[int] = field(default_factory=list)
    seqs: list[int] = field(default_factory=list)  # the audit entries of answered reads
    times: list[float] = field(default_factory=list)  # when each answer came
    errors: list[BaseException] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, n: int, client: Client, name: str) -> None:
        i = 0
        try:
            while not self.stop.is_set():
                read = client.read(self.keys[i % len(self.keys)])
                if read.status_code == 200:
                    with self.lock:
                        self.reads[name] += 1
                        self.seqs.append(int(read.json()["audit_seq"]))
                        self.times.append(time.monotonic())
                elif _transient(read):
                    with self.lock:
                        self.retried += 1
                else:
                    raise AssertionError(read.text)
                if i % 3 == 0:
                    day = date(1960, 1, 1) + timedelta(days=n * 5000 + i)
                    holder = make_id_number("411504", day, 31, female=False)
                    issued = client.issue(holder)
                    if issued.status_code == 201:
                        with self.lock:
                            self.issued.append((str(issued.json()["id"]), holder))
                            self.offsets.append(int(issued.headers["govex-control-offset"]))
                            self.times.append(time.monotonic())
                    elif _transient(issued):
                        with self.lock:
                            self.retried += 1
                    else:
                        raise AssertionError(issued.text)
                i += 1
        except BaseException as exc:  # reported by the test thread
            self.errors.append(exc)

    def answered(self) -> int:
        with self.lock:
            return sum(self.reads.values()) + len(self.issued)

    def longest_pause(self, since: float, until: float) -> float:
        """The longest time between two answers (from ``since``) up to ``until``."""
        with self.lock:
            times = sorted(t for t in self.times if since <= t <= until)
        return max(b - a for a, b in pairwise([since, *times, until]))


@pytest.mark.timeout(900)  # three nodes and three brokers restarted on a busy machine
def test_three_nodes_on_the_secured_cluster_survive_a_node_and_a_broker(
    fresh_kafka_cluster: KafkaCluster, tmp_path: Path
) -> None:
    kafka = fresh_kafka_cluster
    bus = Bus(kafka)
    first = demo_data_dir(tmp_path, "a")
    dirs = {"a": first, "b": clone_data_dir(first, "b"), "c": clone_data_dir(first, "c")}
    nodes: dict[str, ExchangeProcess] = {}
    for name, data in dirs.items():
        env = bus.exchange_env(name)
        env.pop("GOVEX_KAFKA__PROTOCOL")  # SASL from the username, TLS from kafkas://
        env["GOVEX_AUDIT__CHECKPOINT_INTERVAL_S"] = "0.5"
        nodes[name] = ExchangeProcess(
            data, bus.bootstrap, PREFIX, env=env, args=["--node-id", name], scheme="kafkas"
        )
    a, b, c = (nodes[n] for n in NODES)
    clients: list[Client] = []
    try:
        for node in nodes.values():
            node.start()
        gongan, renshe = (DemoDepartment.load(first, code) for code in ("gongan", "renshe"))
        config, key_set = id_card_csv(
            tmp_path, 30, uscc=gongan.uscc, prefix=PREFIX, batch_size=10,
            kafka_auth=bus.connector_auth(PREFIX, RESOURCE),
        )  # fmt: skip
        log = tmp_path / "connector.log"
        connector = start_connector(
            config, bus.bootstrap, first, tmp_path / "o.sqlite", log, env=bus.connector_env()
        )
        assert finish_connector(connector, log)["published"] == 30
        for name in NODES:
            wait_consumed(bus.bootstrap, PREFIX + RESOURCE, group_of(name), options=bus.options())
        keys = sorted(key_set)

        # 1. a grant approved on A is honoured on C
        on_c = Client(c, renshe)
        clients.append(on_c)
        refused = on_c.read(keys[0], purpose=MATTER)
        assert refused.status_code == 403, refused.text
        assert refused.json()["code"] == "exchange.grant_missing"
        renshe_a, gongan_a = Client(a, renshe), Client(a, gongan)
        clients += [renshe_a, gongan_a]
        asked = renshe_a.http.post(
            "/v1/grants",
            json={
                "resource": RESOURCE,
                "fields": ["name", "birth_date"],
                "purposes": [MATTER],
                "reason": "出生医学证明 核验父母身份 (parents' identity for a newborn)",
                "expires_at": (datetime.now(UTC) + timedelta(days=30)).isoformat(),
            },
        )
        assert asked.status_code == 201, asked.text
        decided = gongan_a.http.post(
            f"/v1/grants/{asked.json()['id']}/decision",
            json={"approve": True, "reason": "依法核验"},
        )
        assert decided.status_code == 200, decided.text
        start = time.monotonic()
        while (honoured := on_c.read(keys[0], purpose=MATTER)).status_code != 200:
            assert honoured.status_code == 403, honoured.text
            assert time.monotonic() < start + BOUND_S, "C never honoured the grant"
            time.sleep(0.005)
        print(f"secured cluster: a grant approved on A honoured on C after "
              f"{(time.monotonic() - start) * 1000:.0f} ms")  # fmt: skip

        # 2. reads on all three → the same checkpoint on every node
        readers = {name: Client(node, gongan) for name, node in nodes.items()}
        clients += readers.values()
        seqs = []
        for key in keys[:4]:
            for reader in readers.values():
                read = reader.read(key)
                assert read.status_code == 200, read.text
                seqs.append(int(read.json()["audit_seq"]))
        assert len(set(seqs)) == len(seqs)
        start = time.monotonic()
        note = settled(list(nodes.values()), max(seqs) + 1)
        print(f"secured cluster: one checkpoint of size {size_of(note)} on 3 nodes "
              f"{(time.monotonic() - start) * 1000:.0f} ms after the last read")  # fmt: skip

        # 3. node B (SIGKILL) and the control topic's leader broker die at once
        load = Load(keys)
        threads = [
            threading.Thread(target=load.run, args=(n, client, name), daemon=True)
            for n, (name, client) in enumerate((("a", readers["a"]), ("c", readers["c"])))
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + BOUND_S
        while load.answered() < 20 and not load.errors:
            assert time.monotonic() < deadline, "no load on the survivors"
            time.sleep(0.05)
        broker = _control_leader(kafka)
        b.kill()
        kafka.kill_node(broker)
        killed_at, killed_t = load.answered(), time.monotonic()
        print(f"secured cluster: killed node b and broker {broker} (the control leader)")
        while load.answered() < killed_at + 30 and not load.errors:
            assert time.monotonic() < deadline + BOUND_S, "the survivors stopped answering"
            time.sleep(0.05)
        during, down_s = load.answered() - killed_at, time.monotonic() - killed_t
        pause = load.longest_pause(killed_t, time.monotonic())
        kafka.start_node(broker)
        b.start()
        restarted_at = load.answered()
        while load.answered() < restarted_at + 10 and not load.errors:
            assert time.monotonic() < deadline + 2 * BOUND_S, "no answers after the restart"
            time.sleep(0.05)
        load.stop.set()
        for thread in threads:
            thread.join(timeout=BOUND_S)
        assert not load.errors, load.errors
        print(f"secured cluster: {during} answers on the survivors in the {down_s:.1f} s "
              f"b and broker {broker} were down (longest pause {pause * 1000:.0f} ms); "
              f"{load.retried} transient 503s retried; in all reads {dict(load.reads)}, "
              f"{len(load.issued)} certificates")  # fmt: skip

        # 4. everything converges: one control state, one checkpoint root, one log
        start = time.monotonic()
        statuses = _control_settled(list(nodes.values()))
        digests = {name: s["digest"] for name, s in statuses.items()}
        assert len(set(digests.values())) == 1, digests
        note = settled(list(nodes.values()), size_of(checkpoint(a)))
        print(f"secured cluster: converged {(time.monotonic() - start) * 1000:.0f} ms after "
              f"the load stopped; checkpoint size {size_of(note)}")  # fmt: skip
        assert load.issued, "no certificate issued on the survivors"
        ids = [cid for cid, _ in load.issued]
        assert len(set(ids)) == len(ids), sorted(ids)
        on_b = Client(b, gongan)
        clients.append(on_b)
        after = str(max(load.offsets))
        for cid, holder in load.issued:
            seen = on_b.http.get(f"/v1/certificates/{cid}", headers={"Govex-After": after})
            assert seen.status_code == 200, seen.text
            assert seen.json()["credential"]["credentialSubject"]["holder_code"] == holder
        exported = [export(node, tmp_path / f"export-{name}.jsonl") for name, node in nodes.items()]
        end = min(len(e) for e in exported)  # later reads may have added to one
        assert end >= size_of(note)
        assert exported[1][:end] == exported[0][:end] == exported[2][:end]
        for entries in exported:
            one_message_each(entries)
        # every read answered, on a survivor or before the kill, is its own entry of the log
        answered = [*seqs, *load.seqs]
        assert len(set(answered)) == len(answered)
        queries = {e["seq"] for e in exported[0] if e["action"] == "query"}
        assert set(answered) <= queries, sorted(set(answered) - queries)[:10]
    finally:
        for client in clients:
            client.close()
        for node in nodes.values():
            node.stop()
