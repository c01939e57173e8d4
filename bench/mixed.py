"""H1: mixed load on loopback (query + verify + ingest), with A2 and D4 re-checked under it.

The exchange runs as its own process (``python -m exchange serve``). A bounded closed-loop
client keeps ``connections`` keep-alive connections busy for ``seconds``; each request is
one of:

* ``query``   — 不动产登记中心 reads an ID-card record it holds a grant for (200, masked);
* ``foreign`` — 民政局, with no grant, tries the same read (must be 403, nothing in the body);
* ``verify``  — 不动产登记中心 verifies an issued e-certificate (200, valid);
* ``publish`` — 公安局 publishes a sealed batch: new records, and new versions of records
  that the readers are reading at that moment.

Every answer is kept and checked after the run, so the client spends its CPU sending:

* **errors**: socket errors, 5xx, or an answer other than the one its kind expects;
* **A2 leaks**: a refused read whose body holds any value of the record, or a granted read
  that shows a field its grant does not open (unmasked);
* **stale reads**: a read sent after a publish of a newer version was answered, that still
  returns the older version (the record cache must never serve a value older than the
  last committed publish);
* **D4**: after the exchange stops, the audit log holds exactly one new entry per request,
  per kind, and every ``audit_seq`` a read returned is there.
"""

from __future__ import annotations

import json
import random
import shutil
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from bench.serving import serve_process

from .figures import Figure, percentile
from .load import read_response
from .query import PURPOSE, RESOURCE, _people, prepare_exchange

__all__ = ["KindStats", "MixedReport", "MixedSetup", "h1", "prepare_mixed", "run_mixed"]

# share of each kind of request in the mix (weights)
MIX: dict[str, int] = {"query": 60, "foreign": 10, "verify": 20, "publish": 10}
# what each kind must answer
EXPECTED: dict[str, int] = {"query": 200, "foreign": 403, "verify": 200, "publish": 200}
# audit action of each kind's entry (D4 per kind)
ACTIONS: dict[str, str] = {
    "query": "query",
    "foreign": "query",
    "verify": "cert.verify",
    "publish": "publish",
}
GRANTED = ("name", "sex", "birth_date")
NEW_PER_BATCH = 10
UPDATES_PER_BATCH = 10


@dataclass
class MixedSetup:
    """A prepared exchange: data directory, tokens, records and pre-sealed batches."""

    data: Path
    reader: str
    outsider: str
    publisher: str
    records: dict[str, dict[str, Any]]  # key → stored data (the working set)
    certificate: bytes
    batches: list[tuple[bytes, dict[str, int]]]  # body, key → version it publishes
    audit_size: int


@dataclass
class KindStats:
    requests: int = 0
    latencies_ms: list[float] = field(default_factory=list)

    def percentile(self, p: float) -> float:
        return percentile(self.latencies_ms, p)


@dataclass
class MixedReport:
    seconds: float
    kinds: dict[str, KindStats]
    errors: list[str]
    leaks: list[str]
    stale: list[str]
    audit_entries: dict[str, int]  # action → new entries
    audit_expected: dict[str, int]  # action → requests of that action
    missing_seqs: int
    records_published: int
    freshness_checked: int  # reads sent after a newer version of their record was committed

    @property
    def requests(self) -> int:
        return sum(k.requests for k in self.kinds.values())

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        merged = KindStats(latencies_ms=[x for k in self.kinds.values() for x in k.latencies_ms])
        return merged.percentile(p)

    @property
    def d4_holds(self) -> bool:
        return self.audit_entries == self.audit_expected and self.missing_seqs == 0

    def summary(self) -> str:
        kinds = ", ".join(
            f"{name} {k.requests:,} (p50 {k.percentile(50):.1f} / p95 {k.percentile(95):.1f} / "
            f"p99 {k.percentile(99):.1f} ms)"
            for name, k in self.kinds.items()
        )
        entries = sum(self.audit_entries.values())
        return (
            f"{self.requests:,} requests in {self.seconds:.1f} s ({self.rate:,.0f} req/s): "
            f"{kinds}; errors {len(self.errors)}, A2 leaks {len(self.leaks)}, stale reads "
            f"{len(self.stale)} of {self.freshness_checked:,} checked, "
            f"D4 entries/requests {entries:,}/{self.requests:,}, "
            f"returned audit_seq missing {self.missing_seqs}; "
            f"{self.records_published:,} records published under load"
        )


def _publish_body(batch: Any) -> bytes:
    return orjson.dumps(batch.model_dump(mode="json"))


def prepare_mixed(
    records: int, batches: int, progress: Callable[[int], None] | None = None
) -> MixedSetup:
    """An exchange holding ``records`` ID cards, a grant for the reader, one certificate,
    and ``batches`` sealed batches for the publisher (new records and updates)."""
    from exchange.certificates.models import CertificateRequest
    from exchange.config import Settings
    from exchange.demo.setup import DemoDepartment
    from exchange.service import Exchange

    data, reader, keys = prepare_exchange(records, progress)
    rng = random.Random(11)
    with Exchange.open(Settings(data=data)) as exchange:
        rows = exchange.store.fetchall(
            "SELECT key, data FROM record_latest WHERE resource = ? AND key IN "
            "(SELECT unnest(?::VARCHAR[]))",
            [RESOURCE, keys],
        )
        stored = {str(k): json.loads(d) for k, d in rows}
        outsider = exchange.tokens.mint(exchange.registry.by_code("minzheng").uscc, ttl_s=3600)
        gongan = DemoDepartment.load(exchange, "gongan")
        publisher = exchange.tokens.mint(gongan.uscc, ttl_s=3600)
        person = stored[keys[0]]
        issued = exchange.certificates.issue(
            gongan.uscc,
            CertificateRequest(
                type="resident_id_card",
                subject={
                    "holder_name": person["name"],
                    "holder_code": person["id_number"],
                    "holder_code_type": "citizen_id",
                    "sex": person["sex"],
                    "ethnicity": person["ethnicity"],
                    "birth_date": person["birth_date"],
                    "address": person["address"],
                    "issuing_authority": person["issuing_authority"],
                },
                valid_from=datetime.now(UTC).date() - timedelta(days=1),
                valid_until=datetime.now(UTC).date() + timedelta(days=3650),
            ),
        )
        certificate = orjson.dumps(issued.credential)
        # each working-set key is updated at most once (version 2), so "newer" is well defined
        updatable = list(stored)
        rng.shuffle(updatable)
        sealed: list[tuple[bytes, dict[str, int]]] = []
        offset = records
        for b in range(batches):
            fresh = list(_people(NEW_PER_BATCH, offset))
            offset += NEW_PER_BATCH
            updates = updatable[b * UPDATES_PER_BATCH : (b + 1) * UPDATES_PER_BATCH]
            changed = [{**stored[k], "name": f"{stored[k]['name']}·改"} for k in updates]
            body_new = gongan.seal(RESOURCE, fresh, "id_number", version=1)
            versions = {r["id_number"]: 1 for r in fresh}
            sealed.append((_publish_body(body_new), versions))
            if changed:
                body_upd = gongan.seal(RESOURCE, changed, "id_number", version=2)
                sealed.append((_publish_body(body_upd), dict.fromkeys(updates, 2)))
        rng.shuffle(sealed)
        audit_size = exchange.audit.size
    return MixedSetup(data, reader, outsider, publisher, stored, certificate, sealed, audit_size)


def _request(
    method: str, path: str, token: str, body: bytes = b"", content_type: str = "application/json"
) -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
    if method == "POST":
        head += f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


@dataclass
class _Answer:
    kind: str
    key: str
    sent: float
    done: float
    status: int
    body: bytes
    versions: dict[str, int] | None = None


def run_mixed(
    setup: MixedSetup, *, seconds: float, connections: int, mix: dict[str, int] | None = None
) -> MixedReport:
    """Serve ``setup.data``, run the mix for ``seconds`` on ``connections``, stop the
    exchange and check every answer (A2, freshness) and the audit log (D4)."""
    from exchange.config import Settings
    from exchange.service import Exchange

    with Exchange.open(Settings(data=setup.data)) as exchange:  # D4 counts from here
        setup = replace(setup, audit_size=exchange.audit.size)
    keys = list(setup.records)
    batches = list(setup.batches)
    batch_lock = threading.Lock()
    answers: list[_Answer] = []
    socket_errors: list[str] = []
    kinds = list(mix or MIX)
    weights = [(mix or MIX)[k] for k in kinds]

    def read_path(key: str, n: int) -> str:
        return f"/v1/resources/{RESOURCE}/records/{key}?purpose={PURPOSE}&case=H1-{n}"

    with serve_process(setup.data, env={}) as url:
        port = int(url.rsplit(":", 1)[1])
        deadline = time.perf_counter() + seconds

        def worker(n: int) -> None:
            rng = random.Random(1000 + n)
            local: list[_Answer] = []
            buf = bytearray()
            try:
                sock = socket.create_connection(("127.0.0.1", port))
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.settimeout(30)
                i = 0
                while time.perf_counter() < deadline:
                    kind = rng.choices(kinds, weights)[0]
                    key, versions = "", None
                    if kind == "publish":
                        with batch_lock:
                            taken = batches.pop() if batches else None
                        if taken is None:
                            kind = "query"
                        else:
                            body, versions = taken
                            request = _request("POST", "/v1/records", setup.publisher, body)
                    if kind in ("query", "foreign"):
                        key = rng.choice(keys)
                        token = setup.reader if kind == "query" else setup.outsider
                        request = _request("GET", read_path(key, n * 1_000_000 + i), token)
                    elif kind == "verify":
                        request = _request("POST", "/v1/verify", setup.reader, setup.certificate)
                    sent = time.perf_counter()
                    sock.sendall(request)
                    status, answer = read_response(sock, buf)
                    local.append(
                        _Answer(kind, key, sent, time.perf_counter(), status, answer, versions)
                    )
                    i += 1
                sock.close()
            except (OSError, ConnectionError) as exc:
                socket_errors.append(f"connection {n}: {exc}")
            with batch_lock:
                answers.extend(local)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(connections)]
        began = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=seconds + 60)
        elapsed = time.perf_counter() - began
    return _check(setup, answers, socket_errors, elapsed)


def _check(
    setup: MixedSetup, answers: list[_Answer], socket_errors: list[str], elapsed: float
) -> MixedReport:
    from exchange.config import Settings
    from exchange.service import Exchange

    stats = {k: KindStats() for k in MIX}
    errors = list(socket_errors)
    leaks: list[str] = []
    stale: list[str] = []
    seqs: list[int] = []
    published = checked = 0
    # when each (key, version) was known committed: the publish's answer arrived
    committed: dict[str, list[tuple[float, int]]] = {}
    for a in answers:
        if a.kind == "publish" and a.status == 200 and a.versions:
            for key, version in a.versions.items():
                committed.setdefault(key, []).append((a.done, version))
    for a in answers:
        s = stats[a.kind]
        s.requests += 1
        s.latencies_ms.append((a.done - a.sent) * 1000)
        if a.status != EXPECTED[a.kind]:
            errors.append(f"{a.kind} {a.key}: {a.status} {a.body[:200]!r}")
            continue
        body = orjson.loads(a.body)
        if a.kind == "publish":
            if body.get("accepted") != len(a.versions or {}):
                errors.append(f"publish accepted {body.get('accepted')} of {len(a.versions or {})}")
            published += len(a.versions or {})
        elif a.kind == "verify":
            if body.get("valid") is not True:
                errors.append(f"verify: not valid: {a.body[:200]!r}")
        elif a.kind == "foreign":
            original = setup.records[a.key]
            text = a.body.decode()
            shown = [
                f
                for f, v in original.items()
                if isinstance(v, str) and len(v) > 3 and v in text and f != "id_number"
            ]
            if shown or body.get("code") != "exchange.grant_missing" or "data" in body:
                leaks.append(f"refused read of {a.key} showed {shown or body}")
        else:
            original = setup.records[a.key]
            data = body["data"]
            for f, value in original.items():
                if f in GRANTED or not value:
                    continue
                if data.get(f) == value:
                    leaks.append(f"granted read of {a.key} showed {f} unmasked")
            seqs.append(int(body["audit_seq"]))
            newer = [v for t, v in committed.get(a.key, []) if t < a.sent]
            checked += bool(newer)
            if newer and int(body["version"]) < max(newer):
                stale.append(f"{a.key}: version {body['version']} after {max(newer)} committed")
    expected: dict[str, int] = {}
    for kind, s in stats.items():
        expected[ACTIONS[kind]] = expected.get(ACTIONS[kind], 0) + s.requests
    with Exchange.open(Settings(data=setup.data)) as exchange:
        rows = exchange.store.fetchall(
            "SELECT action, count(*) FROM audit_entries WHERE seq >= ? GROUP BY action",
            [setup.audit_size],
        )
        entries = {str(a): int(c) for a, c in rows}
        present = exchange.store.fetchone(
            "SELECT count(*) FROM audit_entries WHERE seq IN (SELECT unnest(?::BIGINT[]))",
            [seqs],
        )
    missing = len(set(seqs)) - int(present[0] if present else 0)
    return MixedReport(
        seconds=elapsed,
        kinds=stats,
        errors=errors,
        leaks=leaks,
        stale=stale,
        audit_entries=entries,
        audit_expected={k: v for k, v in expected.items() if v},
        missing_seqs=missing + (len(seqs) - len(set(seqs))),
        records_published=published,
        freshness_checked=checked,
    )


def h1(quick: bool, log: Callable[[str], None] = lambda s: None) -> list[Figure]:
    records = 100_000 if quick else 1_000_000
    seconds = 8.0 if quick else 60.0
    connections = 32
    log(f"H1: preparing an exchange with {records:,} records and sealed batches")
    setup = prepare_mixed(records, batches=150 if quick else 1_000)
    try:
        # the peer: the same server answering reads alone, so the cost of the mix shows
        reads = run_mixed(setup, seconds=seconds / 2, connections=connections, mix={"query": 1})
        log(f"H1: reads alone: {reads.summary()}")
        report = run_mixed(setup, seconds=seconds, connections=connections)
    finally:
        shutil.rmtree(setup.data.parent, ignore_errors=True)
    log(f"H1: {report.summary()}")
    clean = not report.errors and not report.leaks and not report.stale and report.d4_holds
    error_rate = len(report.errors) / max(1, report.requests)
    return [
        Figure(
            "H1",
            f"mixed load ({', '.join(f'{k} {w} %' for k, w in MIX.items())}), "
            f"{connections} connections, {records:,} records",
            report.rate,
            "req/s",
            f"granted reads alone, same server (p99 {reads.percentile(99):.0f} ms)",
            reads.rate,
            report.rate / reads.rate if reads.rate else None,
            "error rate 0 %, A2 leaks 0, stale reads 0, D4 one entry per request",
            clean and not reads.errors and not reads.leaks and reads.d4_holds,
            note=f"p50 {report.percentile(50):.0f} / p95 {report.percentile(95):.0f} / "
            f"p99 {report.percentile(99):.0f} ms; {report.summary()}; error rate "
            f"{error_rate:.2%}",
        )
    ]
