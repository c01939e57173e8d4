"""CLUSTER-P3 and CLUSTER-PROP (issue 23): P3's reads spread over three cluster nodes, and
the control plane's propagation while those reads run.

One demo exchange holding the records of P3 is copied four times. The same read load as
P3 (the same working set, token and connections, from :mod:`bench.load`) goes first to one
plain ``govex serve`` on one copy (the peer), then to node A of a three-node cluster alone,
then spread evenly over the three ``govex serve --node-id`` processes on one broker. Every
read of a cluster node is a durable entry of the one cluster audit log, which every node
applies: the nodes share the two cores the single node had, so the ratio says what the
cluster costs on one machine, not what it would gain on three.

Propagation is measured as in :mod:`bench.cluster` but to B and C at once, polled from one
thread per node: a grant approved on A until B and C honour it, its revocation on A until
they refuse, a certificate revoked on A until their verification says so. It runs once
without load and once while the reads go on at half the cluster's closed-loop rate (as
P3-p99 is measured), spread over the three nodes. CPU time of the serving processes (from
``/proc``) and of the load generator, and the load average, are reported beside the wall
figures: on a shared machine they are what compares.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from bench.cluster import MATTER, _Client, _subject
from bench.cluster import RESOURCE as GRANTED
from bench.serving import serve_process

from .figures import Figure, percentile
from .ingest import _broker
from .load import LoadResult, run_load
from .query import CONNECTIONS, PURPOSE, RESOURCE, WORKING_SET, prepare_exchange

__all__ = ["Sizes", "cluster_p3", "measure"]

Log = Callable[[str], None]
NODES = "abc"
TARGET = "p99 ≤ 1,000 ms under P3 load"
BOUND_S = 30.0
CHUNK_S = 2.0  # the background load runs in chunks until the rounds are done
KINDS = ("grant", "grant revocation", "certificate revocation")


def _quiet(text: str) -> None:
    return None


@dataclass
class Sizes:
    records: int
    seconds: float  # each closed-loop phase
    rounds: int  # of each kind of change, without load and under load
    connections: int = CONNECTIONS


QUICK = Sizes(records=100_000, seconds=4.0, rounds=20)
FULL = Sizes(records=1_000_000, seconds=20.0, rounds=100)


@dataclass
class _Phase:
    """One load phase: the reads, and the CPU seconds spent meanwhile."""

    reads: LoadResult
    server_cpu_s: float
    client_cpu_s: float
    load: tuple[float, float]  # 1-minute load average at the start and at the end

    def cpu_ms_per_read(self) -> float:
        return self.server_cpu_s * 1000 / self.reads.requests if self.reads.requests else 0.0

    def describe(self) -> str:
        r = self.reads
        return (
            f"{r.rate:,.0f} req/s, p50 {r.percentile(50):.1f} / p99 {r.percentile(99):.1f} ms, "
            f"server CPU {self.cpu_ms_per_read():.2f} ms per read"
        )


@dataclass
class _Rounds:
    """Propagation times (seconds) by kind, each to B and to C; A's own answer times."""

    seen: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})
    answers: list[float] = field(default_factory=list)

    def all(self) -> list[float]:
        return [t for kind in KINDS for t in self.seen[kind]]


def _cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds of the processes ``pids`` so far (Linux ``/proc``)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def _merge(results: list[LoadResult], seconds: float) -> LoadResult:
    merged = LoadResult(seconds=seconds)
    for r in results:
        merged.requests += r.requests
        merged.errors += r.errors
        merged.latencies_ms.extend(r.latencies_ms)
        for status, count in r.statuses.items():
            merged.statuses[status] = merged.statuses.get(status, 0) + count
    return merged


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


class _Reads:
    """P3's read requests (the same working set and token) against several nodes."""

    def __init__(self, token: str, keys: list[str]) -> None:
        sample = random.Random(7).sample(keys, min(len(keys), WORKING_SET))
        self.requests = [
            f"GET /v1/resources/{RESOURCE}/records/{k}?purpose={PURPOSE}&case=BENCH-1 HTTP/1.1"
            f"\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
            for k in sample
        ]

    def _request(self, i: int) -> bytes:
        return self.requests[i % len(self.requests)]

    def warm(self, url: str) -> None:
        """Every record of the working set read once on ``url`` (caches, subject salts)."""
        host, port = _address(url)
        r = run_load(host, port, self._request, seconds=120.0, connections=8,
                     limit=len(self.requests))  # fmt: skip
        _check(r, "warm-up")

    def spread(
        self, urls: list[str], seconds: float, connections: int, rate: float | None = None
    ) -> LoadResult:
        """``connections`` split evenly over ``urls`` for ``seconds`` (closed loop, or
        paced at ``rate`` in all), each node its own generator; the results merged."""
        out: list[LoadResult] = []
        lock = threading.Lock()

        def one(url: str, conns: int) -> None:
            host, port = _address(url)
            share = None if rate is None else rate * conns / connections
            r = run_load(host, port, self._request, seconds=seconds, connections=conns,
                         rate=share)  # fmt: skip
            with lock:
                out.append(r)

        began = time.perf_counter()
        pool = [
            threading.Thread(target=one, args=(url, conns))
            for url, conns in zip(urls, _split(connections, len(urls)), strict=True)
            if conns
        ]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        return _merge(out, time.perf_counter() - began)


def _answered(answer: httpx.Response) -> str:
    """An answer in a few words: its status, and a problem's code when it is one."""
    if answer.status_code < 400:
        return str(answer.status_code)
    try:
        code = answer.json().get("code")
    except ValueError:
        code = None
    return f"{answer.status_code} {code}" if code else str(answer.status_code)


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 80


def _check(r: LoadResult, what: str) -> None:
    if r.errors or set(r.statuses) - {200}:
        raise RuntimeError(f"{what}: reads saw non-200 answers or errors: {r.statuses}")


def _phase(pids: list[int], run: Callable[[], LoadResult]) -> _Phase:
    load0, server0, client0 = os.getloadavg()[0], _cpu_s(pids), time.process_time()
    reads = run()
    return _Phase(
        reads,
        _cpu_s(pids) - server0,
        time.process_time() - client0,
        (load0, os.getloadavg()[0]),
    )


def _seen(start: float, check: Callable[[], tuple[bool, object]], what: str) -> float:
    """Seconds from ``start`` until ``check()`` holds (polled every 2 ms); ``check`` gives
    what the node answered too, for the error that names the change and the last answer."""
    polls = 0
    while True:
        held, answered = check()
        polls += 1
        if held:
            return time.perf_counter() - start
        if time.perf_counter() - start > BOUND_S:
            raise RuntimeError(
                f"{what} was not seen within {BOUND_S:g}s ({polls} polls, the last answered "
                f"{answered})"
            )
        time.sleep(0.002)


class _Cluster:
    """Departments' clients on A (who change) and on B and C (who observe)."""

    def __init__(self, urls: dict[str, str], depts: dict[str, object]) -> None:
        self.a = {c: _Client(urls["a"], depts[c]) for c in ("gongan", "renshe")}
        self.others = {
            n: {c: _Client(urls[n], depts[c]) for c in ("renshe", "weijian")} for n in "bc"
        }
        self.pool = ThreadPoolExecutor(max_workers=len(self.others))

    def close(self) -> None:
        self.pool.shutdown()
        for clients in (self.a, *self.others.values()):
            for client in clients.values():
                client.http.close()

    def _everywhere(
        self, what: str, check: Callable[[dict[str, _Client]], tuple[bool, object]]
    ) -> list[float]:
        start = time.perf_counter()
        futures = [
            self.pool.submit(
                _seen, start, partial(check, clients), f"{what} on A, on {node.upper()},"
            )
            for node, clients in self.others.items()
        ]
        return [f.result() for f in futures]

    def grant_round(self, key: str, rounds: _Rounds) -> None:
        """A grant approved on A until B and C honour it; revoked on A until they refuse."""
        from datetime import UTC, datetime

        asked = self.a["renshe"].http.post(
            "/v1/grants",
            json={
                "resource": GRANTED,
                "fields": ["name"],
                "purposes": [MATTER],
                "reason": "出生医学证明 核验父母身份",
                "expires_at": (datetime.now(UTC) + timedelta(days=30)).isoformat(),
            },
        )
        asked.raise_for_status()
        grant = asked.json()["id"]
        path = f"/v1/resources/{GRANTED}/records/{key}"
        params = {"purpose": MATTER, "case": "BENCH-CLUSTER-P3"}

        def status(c: dict[str, _Client], wanted: int) -> tuple[bool, object]:
            answer = c["renshe"].http.get(path, params=params)
            return answer.status_code == wanted, _answered(answer)

        started = time.perf_counter()
        decided = self.a["gongan"].http.post(
            f"/v1/grants/{grant}/decision", json={"approve": True, "reason": "依法核验"}
        )
        rounds.answers.append(time.perf_counter() - started)
        decided.raise_for_status()
        rounds.seen["grant"] += self._everywhere("a grant approved", partial(status, wanted=404))
        started = time.perf_counter()
        revoked = self.a["gongan"].http.post(
            f"/v1/grants/{grant}/revocation", json={"reason": "测量结束"}
        )
        rounds.answers.append(time.perf_counter() - started)
        revoked.raise_for_status()
        rounds.seen["grant revocation"] += self._everywhere(
            "a grant revoked", partial(status, wanted=403)
        )

    def certificate_round(self, holder: str, rounds: _Rounds) -> None:
        """A certificate issued on A, then revoked on A until B and C verify it revoked."""
        issued = self.a["gongan"].http.post(
            "/v1/certificates", json={"type": "resident_id_card", "subject": _subject(holder)}
        )
        issued.raise_for_status()
        credential = issued.json()["credential"]
        after = {"Govex-After": issued.headers["govex-control-offset"]}
        for clients in self.others.values():
            answer = clients["weijian"].http.post("/v1/verify", json=credential, headers=after)
            if answer.json()["valid"] is not True:
                raise RuntimeError("a certificate issued on A does not verify on B or C")
        started = time.perf_counter()
        revoked = self.a["gongan"].http.post(
            f"/v1/certificates/{issued.json()['id']}/status",
            json={"action": "revoke", "reason": "测量"},
        )
        rounds.answers.append(time.perf_counter() - started)
        revoked.raise_for_status()

        def verified(c: dict[str, _Client]) -> tuple[bool, object]:
            answer = c["weijian"].http.post("/v1/verify", json=credential)
            valid = answer.json().get("valid") if answer.status_code == 200 else None
            return valid is False, _answered(answer)

        rounds.seen["certificate revocation"] += self._everywhere("a certificate revoked", verified)

    def rounds(self, count: int, offset: int) -> _Rounds:
        from schemas.identifiers import make_id_number

        out = _Rounds()
        for i in range(offset, offset + count):
            key = make_id_number("411502", date(1990, 1, 1) + timedelta(days=i), 11, female=False)
            self.grant_round(key, out)
            holder = make_id_number(
                "411503", date(1980, 1, 1) + timedelta(days=i), 13, female=False
            )
            self.certificate_round(holder, out)
        return out


@contextmanager
def _background(
    reads: _Reads, urls: list[str], rate: float, connections: int
) -> Iterator[list[LoadResult]]:
    """Reads paced at ``rate`` in all, spread over ``urls``, until the block ends (in
    chunks of ``CHUNK_S``); the chunks' results are in the yielded list afterwards."""
    stop = threading.Event()
    chunks: list[LoadResult] = []

    def go() -> None:
        while not stop.is_set():
            chunks.append(reads.spread(urls, CHUNK_S, connections, rate=rate))

    thread = threading.Thread(target=go)
    thread.start()
    try:
        yield chunks
    finally:
        stop.set()
        thread.join()


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def _kinds(rounds: _Rounds) -> str:
    return ", ".join(
        f"{kind} p50 {_ms(percentile(rounds.seen[kind], 50))} / p99 "
        f"{_ms(percentile(rounds.seen[kind], 99))} ms"
        for kind in KINDS
    )


def _failed(exc: BaseException) -> list[Figure]:
    note = f"not measured: {exc}"
    return [
        Figure("CLUSTER-P3", "authenticated reads across 3 cluster nodes", 0.0, "req/s",
               "the same load on one node", None, None, "— (reported)", False, note=note),
        Figure("CLUSTER-PROP", "control-plane propagation under P3 load", 0.0, "ms",
               "the same without load", None, None, TARGET, False, note=note),
    ]  # fmt: skip


def measure(sizes: Sizes, *, bootstrap: str | None = None, log: Log = _quiet) -> list[Figure]:
    """Both figures at ``sizes``, on the broker at ``bootstrap`` (or one started here)."""
    from exchange.demo.setup import DemoDepartment

    log(f"CLUSTER-P3: preparing an exchange with {sizes.records:,} records")
    data, token, keys = prepare_exchange(sizes.records)
    root = data.parent
    try:
        for name in ("single", *NODES):
            shutil.copytree(data, root / name)
        depts: dict[str, object] = {
            c: DemoDepartment.load(data, c) for c in ("gongan", "renshe", "weijian")
        }
        reads = _Reads(token, keys)
        run = uuid.uuid4().hex[:6]
        env = {
            "GOVEX_KAFKA__TOPIC_PREFIX": f"govex.bench{run}.records.",
            "GOVEX_KAFKA__AUDIT_TOPIC": f"govex.bench{run}.audit",
        }
        with _broker(bootstrap, log) as servers:
            pids: list[int] = []
            with serve_process(root / "single", env={}, name="the single node", pids=pids) as url:
                log("CLUSTER-P3: the reads on one node (`govex serve`, no cluster)")
                reads.warm(url)
                single = _phase(pids, lambda: reads.spread([url], sizes.seconds, sizes.connections))
            _check(single.reads, "one node")
            with ExitStack() as stack:
                log("CLUSTER-P3: starting three nodes")
                pids = []
                urls = {
                    n: stack.enter_context(_node(root / n, n, servers, env, pids)) for n in NODES
                }
                every = [urls[n] for n in NODES]
                for url in every:
                    reads.warm(url)
                log("CLUSTER-P3: the reads on node A alone, then spread over A, B and C")
                alone = _phase(
                    pids, lambda: reads.spread([urls["a"]], sizes.seconds, sizes.connections)
                )
                spread = _phase(pids, lambda: reads.spread(every, sizes.seconds, sizes.connections))
                _check(alone.reads, "node A alone")
                _check(spread.reads, "three nodes")
                cluster = _Cluster(urls, depts)
                stack.callback(cluster.close)
                log(f"CLUSTER-PROP: {sizes.rounds} rounds of each change, without load")
                quiet = cluster.rounds(sizes.rounds, 0)
                rate = max(1.0, spread.reads.rate / 2)
                log(f"CLUSTER-PROP: {sizes.rounds} rounds again under reads at {rate:,.0f} req/s")
                load0, cpu0 = os.getloadavg()[0], _cpu_s(pids)
                with _background(reads, every, rate, sizes.connections) as chunks:
                    loaded = cluster.rounds(sizes.rounds, sizes.rounds)
                under = _Phase(
                    _merge(chunks, sum(c.seconds for c in chunks)),
                    _cpu_s(pids) - cpu0,
                    0.0,
                    (load0, os.getloadavg()[0]),
                )
                _check(under.reads, "reads under the rounds")
    except (RuntimeError, OSError, subprocess.SubprocessError, httpx.HTTPError) as exc:
        _tell_logs(root, log)
        return _failed(exc)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return _figures(sizes, single, alone, spread, quiet, loaded, under)


def _node(data: Path, name: str, servers: str, env: dict[str, str], pids: list[int]) -> Any:
    """``govex serve --node-id NAME`` on ``data`` (a context manager yielding its URL), its
    log in ``NAME.log`` beside ``data``."""
    return serve_process(
        data,
        *("--bus", f"kafka://{servers}", "--node-id", name),
        env=env,
        name=f"cluster node {name}",
        wait_s=180,
        pids=pids,
        log_file=data.parent / f"{name}.log",
    )


def _tell_logs(root: Path, log: Log, last: int = 8) -> None:
    """The last lines each node logged (when a figure cannot be measured)."""
    for name in NODES:
        try:
            lines = (root / f"{name}.log").read_text(errors="replace").splitlines()
        except OSError:
            continue
        for line in lines[-last:] or ["(nothing logged)"]:
            log(f"CLUSTER-P3: node {name.upper()}: {line[:300]}")


def _figures(
    sizes: Sizes,
    single: _Phase,
    alone: _Phase,
    spread: _Phase,
    quiet: _Rounds,
    loaded: _Rounds,
    under: _Phase,
) -> list[Figure]:
    rate, peer = spread.reads.rate, single.reads.rate
    loads = [x for p in (single, alone, spread, under) for x in p.load]
    machine = (
        f"one machine, {os.cpu_count()} cores shared by the broker, every node and the load "
        f"generator (load average {min(loads):.1f}–{max(loads):.1f} during the run)"
    )
    p3 = Figure(
        "CLUSTER-P3",
        f"P3's reads spread over 3 cluster nodes on one broker ({sizes.records:,} records)",
        round(rate),
        "req/s",
        "the same load on one node (`govex serve`, no cluster)",
        round(peer),
        round(rate / peer, 2) if peer else None,
        "— (reported: one machine, so the ratio is the cluster's cost, not a scale-out)",
        True,
        note=(
            f"three nodes: {spread.describe()}; one node: {single.describe()}; node A of the "
            f"cluster alone: {alone.describe()}; client CPU {spread.client_cpu_s:.1f} s "
            f"(three nodes) and {single.client_cpu_s:.1f} s (one node); python keep-alive "
            f"client, {sizes.connections} connections split evenly over the nodes, "
            f"{sizes.seconds:g} s closed loop each; every read on a cluster node is an entry "
            f"of the one audit log every node applies; {machine}"
        ),
    )
    under_all, quiet_all = loaded.all(), quiet.all()
    p99, peer99 = percentile(under_all, 99) * 1000, percentile(quiet_all, 99) * 1000
    prop = Figure(
        "CLUSTER-PROP",
        "control-plane propagation A → B, C (grant, grant revocation, certificate "
        "revocation) under P3 load on 3 nodes",
        round(p99, 1),
        "ms",
        "the same changes without load (p99)",
        round(peer99, 1),
        round(p99 / peer99, 2) if peer99 else None,
        TARGET,
        p99 <= 1000,
        note=(
            f"under load: {_kinds(loaded)}; without load: {_kinds(quiet)}; "
            f"{sizes.rounds} rounds of each, each change seen on B and on C, from A's answer "
            f"(A's own answer p50 {_ms(percentile(quiet.answers, 50))} ms without load, "
            f"{_ms(percentile(loaded.answers, 50))} ms under load); polled every 2 ms from "
            f"one thread per node, so a poll waits its turn among the reads; the load: reads "
            f"paced at half the three nodes' closed-loop rate, "
            f"{under.reads.rate:,.0f} req/s for {under.reads.seconds:.0f} s, p50 "
            f"{under.reads.percentile(50):.1f} / p99 {under.reads.percentile(99):.1f} ms from "
            f"the scheduled send, server CPU {under.server_cpu_s:.1f} s; a grant is seen when "
            f"a read on B or C is answered (itself an audited read), a certificate's "
            f"revocation when a verification is; {machine}"
        ),
    )
    return [p3, prop]


def cluster_p3(quick: bool = True, log: Log = _quiet) -> list[Figure]:
    """CLUSTER-P3 and CLUSTER-PROP (quick: 100,000 records; full: 1,000,000)."""
    return measure(QUICK if quick else FULL, log=log)
