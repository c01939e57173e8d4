"""Control-plane propagation across three nodes (issue 23): how long after a node answers
a change does another node act on it.

Three ``govex serve --node-id`` processes on copies of one demo directory share one
broker started for the run. A grant is requested and approved on A, and B is polled
(without ``Govex-After``) until the consumer's read passes the grant check; a
certificate issued on A is revoked on A, and B is polled until its verification says
revoked. The figure is the p99 of both kinds of propagation; its peer is the change's
own answer time on A (a publish with ``acks=all`` and the node's own apply). All the
processes share this machine's cores with the load generator.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.serving import serve_process

from .figures import Figure, percentile
from .ingest import _broker

__all__ = ["cluster_control"]

Log = Callable[[str], None]
RESOURCE = "gongan.resident_id_card"
MATTER = "weijian.newborn_birth"
TARGET = "p99 ≤ 1,000 ms"
BOUND_S = 30.0


def _quiet(text: str) -> None:
    return None


@contextmanager
def _node(data: Path, name: str, bootstrap: str, prefix: str) -> Iterator[str]:
    """``govex serve --node-id NAME`` on ``data``; yields its base URL."""
    with serve_process(
        data,
        *("--bus", f"kafka://{bootstrap}", "--node-id", name),
        env={"GOVEX_KAFKA__TOPIC_PREFIX": prefix},
        name=f"cluster node {name}",
        wait_s=180,
    ) as url:
        yield url


class _Client:
    """One department's token on one node."""

    def __init__(self, url: str, dept: Any) -> None:
        import httpx

        self.http = httpx.Client(base_url=url, timeout=30)
        audience = self.http.get("/.well-known/govex").json()["client_assertion_audience"]
        r = self.http.post(
            "/v1/token",
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": dept.assertion(audience),
            },
        )
        r.raise_for_status()
        self.http.headers["Authorization"] = f"Bearer {r.json()['access_token']}"


def _until(seen: Callable[[], bool]) -> float:
    start = time.perf_counter()
    while not seen():
        if time.perf_counter() - start > BOUND_S:
            raise RuntimeError(f"a change was not seen on B within {BOUND_S:g}s")
        time.sleep(0.002)
    return time.perf_counter() - start


def _grant_round(a: dict[str, _Client], b: _Client, key: str) -> tuple[float, float]:
    """(answer time on A, propagation to B) of one grant approval, in seconds."""
    asked = a["renshe"].http.post(
        "/v1/grants",
        json={
            "resource": RESOURCE,
            "fields": ["name"],
            "purposes": [MATTER],
            "reason": "出生医学证明 核验父母身份",
            "expires_at": (datetime.now(UTC) + timedelta(days=30)).isoformat(),
        },
    )
    asked.raise_for_status()
    started = time.perf_counter()
    decided = a["gongan"].http.post(
        f"/v1/grants/{asked.json()['id']}/decision", json={"approve": True, "reason": "依法核验"}
    )
    answered = time.perf_counter() - started
    decided.raise_for_status()
    path = f"/v1/resources/{RESOURCE}/records/{key}"
    params = {"purpose": MATTER, "case": "BENCH-CLUSTER-1"}
    took = _until(lambda: b.http.get(path, params=params).status_code == 404)
    revoked = a["gongan"].http.post(
        f"/v1/grants/{asked.json()['id']}/revocation", json={"reason": "测量结束"}
    )
    revoked.raise_for_status()
    _until(lambda: b.http.get(path, params=params).status_code == 403)
    return answered, took


def _subject(holder: str) -> dict[str, str]:
    return {
        "holder_name": "测试",
        "holder_code": holder,
        "holder_code_type": "citizen_id",
        "sex": "1",
        "ethnicity": "01",
        "birth_date": f"{holder[6:10]}-{holder[10:12]}-{holder[12:14]}",
        "address": "信阳市浉河区新华路1号",
        "issuing_authority": "信阳市公安局",
    }


def _revocation_round(a: dict[str, _Client], b: _Client, holder: str) -> tuple[float, float]:
    """(answer time on A, propagation to B) of one certificate revocation, in seconds."""
    issued = a["gongan"].http.post(
        "/v1/certificates",
        json={"type": "resident_id_card", "subject": _subject(holder)},
    )
    issued.raise_for_status()
    credential = issued.json()["credential"]
    after = {"Govex-After": issued.headers["govex-control-offset"]}
    if b.http.post("/v1/verify", json=credential, headers=after).json()["valid"] is not True:
        raise RuntimeError("a certificate issued on A does not verify on B")
    started = time.perf_counter()
    revoked = a["gongan"].http.post(
        f"/v1/certificates/{issued.json()['id']}/status",
        json={"action": "revoke", "reason": "测量"},
    )
    answered = time.perf_counter() - started
    revoked.raise_for_status()
    took = _until(lambda: b.http.post("/v1/verify", json=credential).json()["valid"] is False)
    return answered, took


def cluster_control(quick: bool = True, log: Log = _quiet) -> Figure:
    """Control-plane propagation p50/p99 of a grant and a revocation, A → B, 3 nodes."""
    from exchange.config import Settings
    from exchange.demo.setup import DemoDepartment, create_demo
    from schemas.identifiers import make_id_number

    rounds = 20 if quick else 100
    root = Path(tempfile.mkdtemp(prefix="govex-bench-cluster-"))
    try:
        create_demo(Settings(data=root / "a")).close()
        for name in "bc":
            shutil.copytree(root / "a", root / name)
        depts = {c: DemoDepartment.load(root / "a", c) for c in ("gongan", "renshe", "weijian")}
        prefix = f"govex.bench{uuid.uuid4().hex[:6]}.records."
        with _broker(None, log) as bootstrap, ExitStack() as nodes:
            log("cluster: starting three nodes")
            urls = {n: nodes.enter_context(_node(root / n, n, bootstrap, prefix)) for n in "abc"}
            a = {c: _Client(urls["a"], depts[c]) for c in ("gongan", "renshe")}
            b = {c: _Client(urls["b"], depts[c]) for c in ("renshe", "weijian")}
            grants, revocations, answers = [], [], []
            log(f"cluster: {rounds} grant approvals and {rounds} revocations, A → B")
            for i in range(rounds):
                key = make_id_number(
                    "411502", date(1990, 1, 1) + timedelta(days=i), 11, female=False
                )
                answered, took = _grant_round(a, b["renshe"], key)
                grants.append(took)
                answers.append(answered)
                holder = make_id_number(
                    "411503", date(1980, 1, 1) + timedelta(days=i), 13, female=False
                )
                answered, took = _revocation_round(a, b["weijian"], holder)
                revocations.append(took)
                answers.append(answered)
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        return Figure("cluster_control", "control-plane propagation, 3 nodes", 0.0, "ms",
                      "the change's answer on A", None, None, TARGET, False,
                      note=f"not measured: {exc}")  # fmt: skip
    finally:
        shutil.rmtree(root, ignore_errors=True)
    both = grants + revocations
    p99 = percentile(both, 99) * 1000
    answer = percentile(answers, 50) * 1000

    def ms(seconds: float) -> str:
        return f"{seconds * 1000:.0f}"

    note = (
        f"grant p50 {ms(percentile(grants, 50))} / p99 {ms(percentile(grants, 99))} ms, "
        f"revocation p50 {ms(percentile(revocations, 50))} / p99 "
        f"{ms(percentile(revocations, 99))} ms over {rounds} each; one broker, three "
        "nodes and the poller on one machine; polled every 2 ms"
    )
    return Figure(
        "cluster_control",
        "control-plane propagation A → B (grant, revocation), 3 nodes",
        round(p99, 1),
        "ms",
        "the change's own answer on A (p50)",
        round(answer, 1),
        round(p99 / answer, 2) if answer else None,
        TARGET,
        p99 <= 1000,
        note=note,
    )
