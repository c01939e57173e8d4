"""One exchange on three nodes: the control plane on Kafka (issue 23, part 1).

Three ``govex serve --node-id`` processes on copies of one provisioned data directory,
one broker: a grant approved on A is honoured on B and C; a certificate revoked on A is
refused on B (the propagation time is printed, not asserted); certificates issued at
once on A and B get distinct ids; a client assertion used on A is a replay on B; a
department added on A gets a token on B, its auth key rotated on A signs for it on B and,
revoked on A, is refused on B; a node rebuilt from the control topic holds what the
others hold (equal state digests).
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from exchange.client import make_client_assertion
from exchange.demo.setup import DemoDepartment
from schemas.identifiers import make_id_number
from signing.algorithms import PrivateKey
from signing.csr import csr_to_pem, make_request
from signing.keys import generate_key, kid_of, public_pem
from tests.schemas.test_certificates import SUBJECTS
from tests.support.kafka import KafkaBroker

from .exchange_process import GOVEX, ExchangeProcess, clone_data_dir, connector_env, demo_data_dir

pytestmark = pytest.mark.kafka

RESOURCE = "gongan.resident_id_card"
MATTER = "weijian.newborn_birth"
BOUND_S = 30.0  # a change not seen on another node within this long is a failure


@dataclass
class Node:
    name: str
    process: ExchangeProcess

    @property
    def data(self) -> Path:
        return self.process.data

    def token(self, dept: DemoDepartment) -> str:
        with httpx.Client(base_url=self.process.url, timeout=30) as client:
            audience = client.get("/.well-known/govex").json()["client_assertion_audience"]
            r = client.post("/v1/token", data=_assertion_form(dept.assertion(audience)))
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])

    def call(
        self,
        dept: DemoDepartment,
        method: str,
        path: str,
        *,
        after: int | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token(dept)}"}
        if after is not None:
            headers["Govex-After"] = str(after)
        with httpx.Client(base_url=self.process.url, timeout=30) as client:
            return client.request(method, path, headers=headers, **kwargs)

    def status(self) -> dict[str, Any]:
        done = subprocess.run(
            [*GOVEX, "cluster", "status", "--data", str(self.data), "--json"],
            env=connector_env(self.data),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        found: dict[str, Any] = json.loads(done.stdout)
        return found


def _assertion_form(assertion: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion,
    }


def _offset(response: httpx.Response) -> int:
    assert "govex-control-offset" in response.headers, dict(response.headers)
    return int(response.headers["govex-control-offset"])


@dataclass
class Cluster:
    nodes: dict[str, Node]
    pristine: Path  # a copy of the provisioned directory, never served
    broker: KafkaBroker
    prefix: str
    depts: dict[str, DemoDepartment]

    def start(self, name: str, data: Path) -> Node:
        process = ExchangeProcess(
            data, self.broker.bootstrap, self.prefix, args=["--node-id", name]
        )
        node = self.nodes[name] = Node(name, process.start())
        return node


@contextmanager
def three_nodes(broker: KafkaBroker, root: Path, depts: tuple[str, ...]) -> Iterator[Cluster]:
    """Nodes a, b and c of one demo exchange on ``broker`` (topics of their own), stopped
    afterwards; ``pristine`` is a copy of the provisioned directory that never served."""
    a = demo_data_dir(root, "a")
    pristine = clone_data_dir(a, "pristine")
    dirs = {"a": a, "b": clone_data_dir(a, "b"), "c": clone_data_dir(a, "c")}
    loaded = {code: DemoDepartment.load(a, code) for code in depts}
    found = Cluster({}, pristine, broker, f"govex.c{uuid.uuid4().hex[:8]}.records.", loaded)
    try:
        for name, data in dirs.items():
            found.start(name, data)
        yield found
    finally:
        for node in found.nodes.values():
            node.process.stop()


@pytest.fixture(scope="module")
def cluster(
    kafka_broker: KafkaBroker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    with three_nodes(
        kafka_broker, tmp_path_factory.mktemp("cluster"), ("gongan", "renshe", "weijian")
    ) as found:
        yield found


def _read(node: Node, dept: DemoDepartment, after: int | None = None) -> httpx.Response:
    key = make_id_number("411502", date(1990, 3, 14), 11, female=False)
    return node.call(
        dept,
        "GET",
        f"/v1/resources/{RESOURCE}/records/{key}",
        params={"purpose": MATTER, "case": "WJ-CLUSTER-1"},
        after=after,
    )


def _read_with(node: Node, token: str, dept: DemoDepartment) -> httpx.Response:
    key = make_id_number("411502", date(1990, 3, 14), 11, female=False)
    return httpx.get(
        f"{node.process.url}/v1/resources/{RESOURCE}/records/{key}",
        params={"purpose": MATTER, "case": "WJ-CLUSTER-1"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def _until(node: Node, dept: DemoDepartment, seen: Callable[[], bool]) -> float:
    """Seconds until ``seen()`` holds on ``node`` (a failure past the bound)."""
    start = time.monotonic()
    while not seen():
        assert time.monotonic() < start + BOUND_S, f"{node.name}: not seen within {BOUND_S}s"
        time.sleep(0.005)
    return time.monotonic() - start


def test_a_grant_approved_on_a_is_honoured_on_b_and_c(cluster: Cluster) -> None:
    a, b, c = (cluster.nodes[n] for n in "abc")
    renshe, gongan = cluster.depts["renshe"], cluster.depts["gongan"]
    token = b.token(renshe)
    refused = _read(b, renshe)
    assert refused.status_code == 403
    assert refused.json()["code"] == "exchange.grant_missing"
    asked = a.call(
        renshe,
        "POST",
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
    grant = asked.json()["id"]
    decided = a.call(
        gongan,
        "POST",
        f"/v1/grants/{grant}/decision",
        json={"approve": True, "reason": "依法核验"},
    )
    assert decided.status_code == 200, decided.text
    offset = _offset(decided)
    took = _until(b, renshe, lambda: _read_with(b, token, renshe).status_code == 404)
    print(f"cluster: a grant approved on A honoured on B after {took * 1000:.0f} ms")
    for node in (b, c):
        # no record under the key: past the grant check, the read finds nothing (404)
        honoured = _read(node, renshe, after=offset)
        assert honoured.status_code == 404, honoured.text
        seen = node.call(renshe, "GET", f"/v1/grants/{grant}", after=offset)
        assert seen.json()["status"] == "approved"
    # the same grant decided again on C: the first decision applied wins everywhere
    again = c.call(
        gongan, "POST", f"/v1/grants/{grant}/decision", json={"approve": False, "reason": "迟到"}
    )
    assert again.status_code == 409
    assert again.json()["code"] == "exchange.grant_already_decided"


def test_a_certificate_revoked_on_a_is_refused_on_b(cluster: Cluster) -> None:
    a, b = cluster.nodes["a"], cluster.nodes["b"]
    gongan, weijian = cluster.depts["gongan"], cluster.depts["weijian"]
    subject = {
        **SUBJECTS["resident_id_card"],
        "holder_code": make_id_number("411502", date(1985, 6, 1), 21, female=False),
    }
    issued = a.call(
        gongan, "POST", "/v1/certificates", json={"type": "resident_id_card", "subject": subject}
    )
    assert issued.status_code == 201, issued.text
    credential = issued.json()["credential"]
    first = b.call(weijian, "POST", "/v1/verify", json=credential, after=_offset(issued))
    assert first.json()["valid"] is True, first.text
    cid = issued.json()["id"]
    revoked = a.call(
        gongan,
        "POST",
        f"/v1/certificates/{cid}/status",
        json={"action": "revoke", "reason": "证件遗失 (reported lost)"},
    )
    assert revoked.status_code == 200, revoked.text
    start = time.monotonic()
    deadline = start + BOUND_S
    with httpx.Client(base_url=b.process.url, timeout=30) as client:
        headers = {"Authorization": f"Bearer {b.token(weijian)}"}
        while True:
            verdict = client.post("/v1/verify", json=credential, headers=headers).json()
            if verdict["valid"] is False:
                break
            assert time.monotonic() < deadline, f"B still verifies {cid} valid after {BOUND_S}s"
            time.sleep(0.005)
    took = time.monotonic() - start
    print(f"cluster: a revocation on A refused on B after {took * 1000:.0f} ms")
    status = [ch for ch in verdict["checks"] if ch["name"] == "status"]
    assert status, verdict
    assert status[0]["passed"] is False, verdict


def test_certificates_issued_at_once_on_a_and_b_get_distinct_ids(cluster: Cluster) -> None:
    a, b, c = (cluster.nodes[n] for n in "abc")
    gongan = cluster.depts["gongan"]

    def issue(job: tuple[Node, int]) -> tuple[str, str, int]:
        node, n = job
        holder = make_id_number("411503", date(1970, 1, 1) + timedelta(days=n), 101, female=False)
        r = node.call(
            gongan,
            "POST",
            "/v1/certificates",
            json={
                "type": "resident_id_card",
                "subject": {**SUBJECTS["resident_id_card"], "holder_code": holder},
            },
        )
        assert r.status_code == 201, r.text
        return str(r.json()["id"]), holder, _offset(r)

    jobs = [(node, n) for n in range(8) for node in (a, b)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        issued = list(pool.map(issue, jobs))
    ids = [cid for cid, _, _ in issued]
    assert len(set(ids)) == len(ids), sorted(ids)
    last = max(offset for _, _, offset in issued)
    for cid, holder, _ in issued:
        seen = c.call(gongan, "GET", f"/v1/certificates/{cid}", after=last)
        assert seen.status_code == 200, seen.text
        assert seen.json()["credential"]["credentialSubject"]["holder_code"] == holder
    print(f"cluster: {len(ids)} certificates issued at once on A and B, ids distinct")


def test_one_case_number_resolved_at_once_on_a_and_b_is_taken_once(cluster: Cluster) -> None:
    a, b = cluster.nodes["a"], cluster.nodes["b"]
    weijian = cluster.depts["weijian"]
    mother = make_id_number("411502", date(1992, 2, 2), 22, female=True)

    def resolve(job: tuple[Node, str | None]) -> httpx.Response:
        node, case_no = job
        body: dict[str, Any] = {
            "matter": MATTER,
            "applicants": [{"role": "mother", "id": mother}],
        }
        if case_no is not None:
            body["case_no"] = case_no
        return node.call(weijian, "POST", "/v1/cases", json=body)

    jobs: list[tuple[Node, str | None]] = [(a, "WJ-CLUSTER-SAME-1"), (b, "WJ-CLUSTER-SAME-1")]
    jobs += [(node, None) for node in (a, b) for _ in range(3)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(resolve, jobs))
    same = sorted(r.status_code for r in answers[:2])
    assert same == [201, 409], [r.text for r in answers[:2]]
    refused = next(r for r in answers[:2] if r.status_code == 409)
    assert refused.json()["code"] == "exchange.case_exists"
    generated = [r.json()["case"] for r in answers[2:]]
    assert all(r.status_code == 201 for r in answers[2:])
    assert len(set(generated)) == len(generated)
    print(f"cluster: one case number taken once across A and B; {len(generated)} generated apart")


def test_a_client_assertion_used_on_a_is_a_replay_on_b(cluster: Cluster) -> None:
    a, b = cluster.nodes["a"], cluster.nodes["b"]
    gongan = cluster.depts["gongan"]
    with httpx.Client(base_url=a.process.url, timeout=30) as client:
        audience = client.get("/.well-known/govex").json()["client_assertion_audience"]
    assertion = gongan.assertion(audience)
    assert (
        httpx.post(f"{a.process.url}/v1/token", data=_assertion_form(assertion)).status_code == 200
    )
    replay = httpx.post(f"{b.process.url}/v1/token", data=_assertion_form(assertion))
    assert replay.status_code in (400, 401), replay.text
    assert replay.json()["code"] == "exchange.replay"


def _govex(node: Node, *args: str) -> str:
    """A ``govex`` command run through ``node``'s admin channel; its one line of output."""
    done = subprocess.run(
        [*GOVEX, *args, "--data", str(node.data)],
        env=connector_env(node.data),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _public_files(folder: Path, uscc: str, keys: dict[str, PrivateKey]) -> Path:
    """The public files of ``govex keys new`` for ``keys`` (those given)."""
    folder.mkdir(parents=True)
    if "auth" in keys:
        (folder / "auth.pub.pem").write_text(public_pem(keys["auth"].public_key()))
    for purpose in ("seal", "cert"):
        if purpose in keys:
            request = make_request(keys[purpose], uscc=uscc, purpose=purpose)
            (folder / f"{purpose}.csr.pem").write_text(csr_to_pem(request))
    return folder


def _token_for(node: Node, key: PrivateKey, uscc: str) -> httpx.Response:
    with httpx.Client(base_url=node.process.url, timeout=30) as client:
        audience = client.get("/.well-known/govex").json()["client_assertion_audience"]
        assertion = make_client_assertion(key, kid_of(key.public_key()), uscc, audience)
        return client.post("/v1/token", data=_assertion_form(assertion))


def _me(node: Node, token: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.get(f"{node.process.url}/v1/departments/me", headers=headers, timeout=30)


def test_a_department_and_its_keys_changed_on_a_hold_on_b(cluster: Cluster, tmp_path: Path) -> None:
    a, b = cluster.nodes["a"], cluster.nodes["b"]
    uscc = "11411500000005004H"
    keys = {p: generate_key() for p in ("auth", "seal", "cert")}
    refused = _token_for(b, keys["auth"], uscc)
    assert refused.status_code == 401, refused.text
    said = _govex(
        a,
        "department",
        "add",
        "--uscc",
        uscc,
        "--code",
        "jiaoyu",
        "--name",
        "信阳市教育局",
        "--region",
        "411500",
        "--keys",
        str(_public_files(tmp_path / "jiaoyu", uscc, keys)),
    )
    assert "jiaoyu" in said
    took = _until(b, cluster.depts["gongan"], lambda: _token_for(b, keys["auth"], uscc).is_success)
    print(f"cluster: a department added on A gets a token on B after {took * 1000:.0f} ms")
    first = _token_for(b, keys["auth"], uscc).json()["access_token"]
    assert _me(b, first).json()["code"] == "jiaoyu"
    # its auth key rotated on A: the new key gets a token on B
    new_auth = generate_key()
    _govex(
        a,
        "department",
        "key",
        "rotate",
        "--dept",
        "jiaoyu",
        "--purpose",
        "auth",
        "--keys",
        str(_public_files(tmp_path / "jiaoyu-2", uscc, {"auth": new_auth})),
    )
    took = _until(b, cluster.depts["gongan"], lambda: _token_for(b, new_auth, uscc).is_success)
    print(f"cluster: a key rotated on A signs for its department on B after {took * 1000:.0f} ms")
    token = _token_for(b, new_auth, uscc).json()["access_token"]
    assert _me(b, token).status_code == 200
    # the new key revoked on A: its token is refused on B
    _govex(
        a,
        "department",
        "key",
        "revoke",
        "--dept",
        "jiaoyu",
        "--purpose",
        "auth",
        "--reason",
        "密钥泄露",
    )
    took = _until(b, cluster.depts["gongan"], lambda: _me(b, token).status_code == 401)
    print(f"cluster: a key revoked on A refused on B after {took * 1000:.0f} ms")
    assert _me(b, token).json()["code"] == "signing.key_revoked"
    again = _token_for(b, new_auth, uscc)
    assert (again.status_code, again.json()["code"]) == (401, "signing.key_revoked")


def test_a_node_rebuilt_from_the_topic_equals_the_others(cluster: Cluster) -> None:
    rebuilt = cluster.start("d", clone_data_dir(cluster.pristine, "d"))
    statuses: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + BOUND_S
    while True:
        statuses = {name: node.status() for name, node in cluster.nodes.items()}
        ends = {s["control_end"] for s in statuses.values()}
        applied = {s["applied"] for s in statuses.values()}
        if len(ends) == 1 and applied == {max(ends) - 1}:
            break
        assert time.monotonic() < deadline, statuses
        time.sleep(0.2)
    digests = {name: s["digest"] for name, s in statuses.items()}
    assert len(set(digests.values())) == 1, digests
    assert statuses["d"]["applied"] > 0
    listed = {s["node"]: s for s in statuses["d"]["nodes"]}
    assert set(listed) >= {"a", "b", "c", "d"}
    gongan = cluster.depts["gongan"]
    grants = [
        node.call(gongan, "GET", "/v1/grants").json() for node in (cluster.nodes["a"], rebuilt)
    ]
    assert grants[0] == grants[1]
    assert grants[0]
    print(
        f"cluster: node d rebuilt from {statuses['d']['applied'] + 1} control events: {digests['d'][:16]}"
    )
