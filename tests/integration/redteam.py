"""The red team's replay (RELIABILITY J4): twelve attacks against a live ``govex serve``.

Each attack was once found against a running demo exchange; each was fixed at its root
with unit tests. Here they are replayed from outside, as an attacker would: real HTTP
(httpx), real CLI subprocesses and raw sockets against ``python -m exchange serve`` on
loopback over a ``python -m exchange init --demo`` data directory. The attacker holds
what a department's insider holds: the department's keys in ``DATA/demo-keys``.

- :class:`LiveExchange` — the server subprocess: start, stop, restart, its RSS;
- :class:`RedTeam` — the attacker's session: tokens, departments' keys, audit counts;
- :class:`Judge` — one attack's verdict: every expectation that failed is a breach;
- one function per attack (:data:`ATTACKS`), each returning its :class:`Finding`;
- :func:`run` — set up, prepare what must precede a restart, replay, stop.

Every wait is bounded; nothing leaves loopback.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization

from exchange.certificates.qr import qr_text
from exchange.certificates.vocabulary import key_urn
from exchange.client import ASSERTION_TYPE, JWT_ALG
from exchange.config import DEMO_PASSPHRASE, Settings
from exchange.demo.case import MATTER, couple_applicants
from exchange.demo.city import City, generate_city
from exchange.demo.setup import DemoDepartment
from exchange.service import Exchange
from schemas.identifiers import make_id_number
from signing.algorithms import algorithm_of
from signing.ca import issue_seal_certificate
from signing.keys import generate_key, kid_of, load_private_key, save_private_key
from signing.proofs import add_proof
from signing.seal import seal_batch
from tests.support import LOOPBACK, free_port
from tests.support.certificates import id_card_subject

__all__ = ["ATTACKS", "Finding", "LiveExchange", "RedTeam", "run", "table"]

GOVEX = [sys.executable, "-m", "exchange"]
HEADER_TIMEOUT_S = 3.0
START_BOUND_S = 120.0
CLI_BOUND_S = 180.0
HEALTHZ_BOUND_S = 10.0
RSS_BOUND_KIB = 64 * 1024  # the first 16 hostile requests (allocator high-water)
RSS_AGAIN_KIB = 16 * 1024  # 16 more, twice: a leak of the 6 MB purposes grows both times
# (the allocator's high-water mark may still move once, in either batch: the freed 6 MB
# bodies are reused or returned to the system as the collector and malloc's trim decide)
ID_CARDS = "gongan.resident_id_card"
LICENCES = "shichang.business_licence"
PURPOSE = "budongchan.new_commercial_housing_transfer"
EXPIRED_SEAL = "shichang.expired-seal.pem"
REGION = "411528"  # 信阳市息县: no record of the demo city lives there


# -- the server -------------------------------------------------------------------------


class LiveExchange:
    """``python -m exchange serve`` over ``data`` on a free loopback port."""

    def __init__(self, data: Path, env: dict[str, str]) -> None:
        self.data = data
        self.env = env
        self.port = free_port()
        self.log = data.parent / "serve.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        args = [*GOVEX, "serve", "--data", str(self.data), "--port", str(self.port)]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                args, env=self.env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        deadline = time.monotonic() + START_BOUND_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"govex serve exited with {self.process.returncode}\n{self.tail()}"
                )
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"govex serve did not answer in {START_BOUND_S:g} s\n{self.tail()}")

    def stop(self) -> None:
        """SIGTERM, SIGKILL after a bounded wait; the data directory stays."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)

    def restart(self) -> None:
        self.stop()
        self.start()

    def rss_kib(self) -> int:
        """Resident set size of the server process, from /proc."""
        for line in Path(f"/proc/{self.pid}/status").read_text(encoding="ascii").splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS in /proc status")

    def tail(self) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-30:])


def govex(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """A ``govex`` CLI command as a subprocess (bounded)."""
    return subprocess.run(
        [*GOVEX, *args], env=env, capture_output=True, text=True, timeout=CLI_BOUND_S, check=False
    )


# -- verdicts -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    number: int
    attack: str
    held: bool
    evidence: str

    @property
    def verdict(self) -> str:
        return "HELD" if self.held else "BREACHED"


@dataclass
class Judge:
    """What one attack saw: the breaches (expectations that failed) and the evidence."""

    breaches: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def expect(self, ok: bool, breach: str) -> None:
        if not ok:
            self.breaches.append(breach)

    def note(self, text: str) -> None:
        self.notes.append(text)

    def finding(self, number: int, attack: str) -> Finding:
        held = not self.breaches
        return Finding(number, attack, held, "; ".join(self.notes if held else self.breaches))


def table(findings: list[Finding]) -> str:
    lines = ["| # | attack | verdict | evidence |", "|---|---|---|---|"]
    lines += [f"| {f.number} | {f.attack} | {f.verdict} | {f.evidence} |" for f in findings]
    return "\n".join(lines)


def _code(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("code", "")) if isinstance(body, dict) else ""


def _answer(response: httpx.Response) -> str:
    code = _code(response)
    return f"{response.status_code} {code}".strip()


def _refused(response: httpx.Response) -> bool:
    return 400 <= response.status_code < 500


# -- the attacker's session ------------------------------------------------------------------


@dataclass
class RedTeam:
    """The attacker: departments' keys from the data directory, tokens from the live API."""

    live: LiveExchange
    root: Path
    city: City
    env: dict[str, str]
    trust: Path | None = None
    prepared: dict[str, Any] = field(default_factory=dict)
    figures: dict[str, str] = field(default_factory=dict)
    _tokens: dict[str, tuple[str, float]] = field(default_factory=dict)
    _depts: dict[str, DemoDepartment] = field(default_factory=dict)
    _grants: dict[tuple[str, str, tuple[str, ...]], str] = field(default_factory=dict)
    _http: httpx.Client | None = None

    @property
    def data(self) -> Path:
        return self.live.data

    @property
    def http(self) -> httpx.Client:
        if self._http is None or str(self._http.base_url).rstrip("/") != self.live.url:
            if self._http is not None:
                self._http.close()
            self._http = httpx.Client(base_url=self.live.url, timeout=60.0)
        return self._http

    def close(self) -> None:
        if self._http is not None:
            self._http.close()

    def dept(self, code: str) -> DemoDepartment:
        if code not in self._depts:
            self._depts[code] = DemoDepartment.load(self.data, code)
        return self._depts[code]

    def audience(self) -> str:
        return str(self.http.get("/.well-known/govex").json()["client_assertion_audience"])

    def assertion(self, code: str, *, jti: str | None = None, lifetime_s: int = 280) -> str:
        """A client assertion of ``code`` with the ``jti`` the attacker chooses."""
        dept = self.dept(code)
        now = int(time.time())
        claims = {
            "iss": dept.uscc,
            "sub": dept.uscc,
            "aud": self.audience(),
            "iat": now,
            "exp": now + lifetime_s,
            "jti": jti or secrets.token_urlsafe(16),
        }
        alg = JWT_ALG[algorithm_of(dept.auth_key)]
        return jwt.encode(claims, dept.auth_key, algorithm=alg, headers={"kid": dept.auth_kid})

    def ask_token(self, assertion: str) -> httpx.Response:
        return self.http.post(
            "/v1/token",
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": assertion,
            },
        )

    def token(self, code: str) -> str:
        cached = self._tokens.get(code)
        if cached is None or time.monotonic() - cached[1] > 240:
            r = self.ask_token(self.assertion(code))
            if r.status_code != 200:
                raise RuntimeError(f"token for {code}: {r.status_code} {r.text[:200]}")
            cached = (str(r.json()["access_token"]), time.monotonic())
            self._tokens[code] = cached
        return cached[0]

    def auth(self, code: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(code)}"}

    def audit_size(self) -> int:
        """The log's size as the auditor (审计局) sees it (one audited read itself)."""
        r = self.http.get("/v1/audit/entries", params={"limit": 1}, headers=self.auth("shenji"))
        if r.status_code != 200:
            raise RuntimeError(f"auditor read: {r.status_code} {r.text[:200]}")
        return int(r.json()["tree_size"])

    def grant(self, reader: str, resource: str, owner: str, fields: list[str]) -> str:
        """An approved grant of ``fields`` of ``resource`` to ``reader`` (asked, decided)."""
        key = (reader, resource, tuple(fields))
        if key not in self._grants:
            grant_id = self.ask_grant(reader, resource, fields)
            d = self.http.post(
                f"/v1/grants/{grant_id}/decision",
                headers=self.auth(owner),
                json={"approve": True, "reason": "red team"},
            )
            if d.status_code != 200:
                raise RuntimeError(f"grant decision: {d.status_code} {d.text[:200]}")
            self._grants[key] = grant_id
        return self._grants[key]

    def ask_grant(self, reader: str, resource: str, fields: list[str]) -> str:
        r = self.http.post(
            "/v1/grants", headers=self.auth(reader), json=grant_body(resource, fields)
        )
        if r.status_code != 201:
            raise RuntimeError(f"grant request: {r.status_code} {r.text[:200]}")
        return str(r.json()["id"])

    def publish(self, code: str, body: dict[str, Any] | str) -> httpx.Response:
        text = body if isinstance(body, str) else json.dumps(body)
        headers = {**self.auth(code), "content-type": "application/json"}
        return self.http.post("/v1/records", headers=headers, content=text)


def grant_body(resource: str, fields: list[str], **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resource": resource,
        "fields": fields,
        "purposes": [PURPOSE],
        "reason": "red team replay",
        "expires_at": (datetime.now(UTC) + timedelta(days=3)).isoformat(),
    }
    return {**body, **changes}


def sealed_batch(
    dept: DemoDepartment,
    resource: str,
    rows: list[dict[str, Any]],
    key_field: str,
    *,
    version: int = 1,
    sealed_at: datetime | None = None,
    key: Any = None,
    kid: str | None = None,
) -> dict[str, Any]:
    records = [
        {"resource": resource, "key": str(r[key_field]), "version": version, "data": r}
        for r in rows
    ]
    sealed = seal_batch(
        records,
        resource=resource,
        issuer=dept.uscc,
        key=key if key is not None else dept.seal_key,
        kid=kid if kid is not None else dept.seal_kid,
        sealed_at=sealed_at,
    )
    return {
        "resource": resource,
        "records": [{k: v for k, v in r.items() if k != "resource"} for r in records],
        "seal": sealed.seal.model_dump(),
    }


def id_card(serial: int, *, born: str = "1931-05-17", female: bool = False) -> dict[str, str]:
    """A 居民身份证 record in a region the demo city does not use."""
    birth = datetime.fromisoformat(born).date()
    return {
        "id_number": make_id_number(
            REGION, birth, 2 * serial + (0 if female else 1), female=female
        ),
        "name": "红队甲",
        "sex": "2" if female else "1",
        "ethnicity": "01",
        "birth_date": born,
        "address": "信阳市息县红队路 1 号",
        "issuing_authority": "息县公安局",
        "valid_from": "2016-01-01",
        "valid_until": "长期",
    }


def _resigned(red: RedTeam, doc: dict[str, Any], code: str = "gongan") -> dict[str, Any]:
    """``doc`` signed again with the issuing department's own certificate key."""
    dept = red.dept(code)
    unsigned = {k: v for k, v in doc.items() if k != "proof"}
    now = datetime.now(UTC).replace(microsecond=0)
    return add_proof(
        unsigned, dept.cert_key, verification_method=key_urn(dept.cert_kid), created=now
    )


def _status_dropped(doc: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    out.pop("credentialStatus", None)
    return out


def _field_changed(doc: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    out["credentialSubject"]["address"] = "河南省信阳市浉河区伪造路 1 号"
    return out


# -- set-up before the server runs, and what must precede its restart ------------------------


def add_expired_seal_key(data: Path) -> datetime:
    """A second seal key of 市场监督管理局 whose certificate expired a second after it began
    (the attacker holds it; see :func:`forged_seals`). Done while no server runs; returns a
    moment inside the certificate's validity, for a backdated ``sealed_at``."""
    with Exchange.open(Settings(data=data)) as exchange:
        dept = exchange.registry.by_code("shichang")
        key = generate_key("Ed25519")
        stored = exchange.registry.add_key(dept.uscc, "seal", key.public_key())
        ca = exchange.registry.keyring.ca_certificate
        start = ca.not_valid_before_utc
        end = start + timedelta(seconds=1)
        cert = issue_seal_certificate(
            exchange.registry.keyring.ca_key,
            ca,
            subject_public_key=key.public_key(),
            uscc=dept.uscc,
            department_name=dept.name,
            valid_from=start,
            valid_until=end,
        )
        pem = cert.public_bytes(serialization.Encoding.PEM).decode()
        exchange.store.execute(
            "UPDATE department_keys SET certificate_pem = ?, not_before = ?, not_after = ? "
            "WHERE kid = ?",
            [pem, start, end, stored.kid],
        )
    save_private_key(key, data / "demo-keys" / EXPIRED_SEAL, DEMO_PASSPHRASE.encode())
    return start


def prepare_first_run(red: RedTeam) -> None:
    """Before the restart: certificates issued (one revoked), one client assertion used."""
    for name, index in (("revoked", 80), ("live", 81)):
        person = red.city.people[index]
        subject = id_card_subject(person)
        r = red.http.post(
            "/v1/certificates",
            headers=red.auth("gongan"),
            json={"type": "resident_id_card", "subject": subject},
        )
        if r.status_code != 201:
            raise RuntimeError(f"issue: {r.status_code} {r.text[:300]}")
        red.prepared[name] = r.json()["credential"]
        red.prepared[f"{name}_id"] = r.json()["id"]
    r = red.http.post(
        f"/v1/certificates/{red.prepared['revoked_id']}/status",
        headers=red.auth("gongan"),
        json={"action": "revoke", "reason": "红队: 证照已吊销 (revoked)"},
    )
    if r.status_code != 200:
        raise RuntimeError(f"revoke: {r.status_code} {r.text[:300]}")
    assertion = red.assertion("gongan")
    used = red.ask_token(assertion)
    if used.status_code != 200:
        raise RuntimeError(f"first use of an assertion: {used.status_code} {used.text[:200]}")
    red.prepared["used_assertion"] = assertion


def export_trust(red: RedTeam) -> None:
    """``govex trust export`` while the server is stopped (it opens the data directory)."""
    out = red.root / "trust.json"
    done = govex(red.env, "trust", "export", "--data", str(red.data), "--out", str(out))
    if done.returncode != 0:
        raise RuntimeError(f"trust export: {done.stderr[-500:]}")
    red.trust = out


# -- the attacks ----------------------------------------------------------------------------


def forged_credentials(red: RedTeam) -> Judge:
    """1 · J3: a revoked certificate, changed, its status dropped, re-signed with the
    department's own key; and the same id with different content."""
    j = Judge()
    revoked, live = red.prepared["revoked"], red.prepared["live"]
    forged = {
        "revoked, changed, status dropped": _resigned(
            red, _field_changed(_status_dropped(revoked))
        ),
        "revoked, status dropped": _resigned(red, _status_dropped(revoked)),
        "same id, changed, status kept": _resigned(red, _field_changed(live)),
        "same id, changed, status dropped": _resigned(red, _field_changed(_status_dropped(live))),
    }
    red.prepared["forged_licence"] = forged["revoked, changed, status dropped"]
    assert red.trust is not None
    accepted = checked = 0
    codes: Counter[str] = Counter()
    for i, (name, doc) in enumerate({"genuine (control)": live, **forged}.items()):
        control = i == 0
        r = red.http.post("/v1/verify", json=doc, headers=red.auth("budongchan"))
        j.expect(r.status_code < 500, f"{name}: online verify answered {r.status_code}")
        online_valid = r.status_code == 200 and r.json()["valid"] is True
        path = red.root / f"forged-{i}.json"
        path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
        done = govex(red.env, "cert", "verify", str(path), "--trust", str(red.trust), "--json")
        j.expect("Traceback" not in done.stderr, f"{name}: offline verify printed a traceback")
        offline_valid = done.returncode == 0
        if control:
            j.expect(online_valid and offline_valid, "the genuine certificate did not verify")
            continue
        if r.status_code == 200:
            codes.update(c["name"] for c in r.json()["checks"] if not c["passed"])
        checked += 2
        accepted += online_valid + offline_valid
        j.expect(not online_valid, f"{name}: accepted by POST /v1/verify")
        j.expect(not offline_valid, f"{name}: accepted by govex cert verify --trust")
    red.figures["J3"] = f"forged credentials accepted {accepted} of {checked}"
    j.note(f"forged accepted {accepted}/{checked} (online, offline); failed checks {dict(codes)}")
    return j


def forged_seals(red: RedTeam) -> Judge:
    """2 · A batch sealed far in the future, and one backdated under an expired key."""
    j = Judge()
    shichang = red.dept("shichang")
    rows = [dict(r) for r in red.city.business_licences()[10:12]]
    now = datetime.now(UTC).replace(microsecond=0)
    ahead = sealed_batch(
        shichang, LICENCES, rows, "uscc", version=7, sealed_at=now + timedelta(days=30)
    )
    r = red.publish("shichang", ahead)
    body = r.json() if r.status_code == 200 else {}
    codes = {q["reason_code"] for q in body.get("quarantined", [])}
    held = _refused(r) or (body.get("accepted") == 0 and codes == {"signing.seal_in_future"})
    j.expect(held, f"sealed 30 days ahead: {r.status_code} {r.text[:160]}")
    j.note(f"30 days ahead → {r.status_code} {sorted(codes) or _code(r)}")

    expired = load_private_key(red.data / "demo-keys" / EXPIRED_SEAL, DEMO_PASSPHRASE.encode())
    kid = kid_of(expired.public_key())
    backdated = sealed_batch(
        shichang, LICENCES, rows, "uscc", version=8, key=expired, kid=kid,
        sealed_at=red.prepared["expired_seal_at"],
    )  # fmt: skip
    r = red.publish("shichang", backdated)
    accepted = r.json().get("accepted", 0) if r.status_code == 200 else 0
    j.expect(
        r.status_code < 500 and accepted == 0,
        f"backdated, expired key: {r.status_code} {r.text[:160]}",
    )
    j.note(f"backdated under an expired key → {_answer(r)}")

    control = sealed_batch(
        shichang, LICENCES, rows, "uscc", version=9, sealed_at=now + timedelta(minutes=2)
    )
    r = red.publish("shichang", control)
    j.expect(
        r.status_code == 200 and r.json()["accepted"] == 2, f"control batch refused: {r.text[:160]}"
    )
    return j


def oversize_verify(red: RedTeam) -> Judge:
    """3 · A 2.8 MB credential and a deep text/plain body; /healthz while six run."""
    j = Judge()
    headers = red.auth("budongchan")
    big = json.dumps({"type": ["VerifiableCredential"], "pad": "x" * 2_800_000}).encode()
    deep = b"[" * 4_000 + b"]" * 4_000
    deep_object = b'{"a":' * 3_000 + b"1" + b"}" * 3_000

    def send(i: int) -> httpx.Response:
        body, kind = [(big, "application/json"), (deep, "text/plain"), (deep_object, "text/plain")][
            i % 3
        ]
        with httpx.Client(base_url=red.live.url, timeout=60.0) as c:
            return c.post("/v1/verify", content=body, headers={**headers, "content-type": kind})

    worst = 0.0
    with ThreadPoolExecutor(max_workers=6) as pool:
        futures = [pool.submit(send, i) for i in range(12)]
        while not all(f.done() for f in futures):
            start = time.monotonic()
            try:
                ok = red.http.get("/healthz", timeout=HEALTHZ_BOUND_S).status_code == 200
            except httpx.HTTPError:
                ok = False
            took = time.monotonic() - start
            worst = max(worst, took)
            j.expect(ok, f"/healthz failed after {took:.1f} s while six verifications ran")
            time.sleep(0.05)
        answers = [f.result(timeout=120) for f in futures]
    statuses = Counter(a.status_code for a in answers)
    j.expect(all(s in (413, 422) for s in statuses), f"answers {dict(statuses)}")
    j.expect(worst < HEALTHZ_BOUND_S, f"/healthz took {worst:.1f} s")
    red.figures["healthz"] = f"{worst * 1000:.0f} ms"
    j.note(
        f"12 hostile verifies → {dict(sorted(statuses.items()))}; /healthz worst {worst * 1000:.0f} ms"
    )
    return j


def _twins(red: RedTeam) -> tuple[dict[str, str], dict[str, str]]:
    """Two ID cards that differ only in what the mask must hide (serial and check digit)."""
    if "twins" not in red.prepared:
        twins = (id_card(401), id_card(402))
        batch = sealed_batch(red.dept("gongan"), ID_CARDS, list(twins), "id_number")
        r = red.publish("gongan", batch)
        if r.status_code != 200 or r.json()["accepted"] != 2:
            raise RuntimeError(f"publishing the twins: {r.status_code} {r.text[:300]}")
        red.prepared["twins"] = twins
    twins = red.prepared["twins"]
    return twins[0], twins[1]


def _by_subject(red: RedTeam, reader: str, subject: str) -> httpx.Response:
    return red.http.get(
        f"/v1/resources/{ID_CARDS}/records",
        params={"purpose": PURPOSE, "case": "RT-CASE-1", "subject": subject},
        headers=red.auth(reader),
    )


def subject_read_keys(red: RedTeam) -> Judge:
    """4 · A by-subject read: the key of a non-granted key field is not in clear."""
    j = Judge()
    one, _ = _twins(red)
    red.grant("budongchan", ID_CARDS, "gongan", ["name", "sex", "birth_date"])
    r = _by_subject(red, "budongchan", one["id_number"])
    j.expect(r.status_code == 200, f"by-subject read answered {_answer(r)}")
    if r.status_code != 200:
        return j
    text = r.text
    keys = [rec["key"] for rec in r.json()["data"]]
    j.expect(len(keys) == 1, f"{len(keys)} records for one subject")
    j.expect(one["id_number"] not in text, "the ID number is in the answer")
    j.expect(one["id_number"][6:] not in text, "the ID number's hidden part is in the answer")
    j.note(f"key answered as {keys[0][:10]}… (opaque), ID number in answer: no")
    return j


def masking(red: RedTeam) -> Judge:
    """5 · With birth_date and sex granted, the masked ID number cannot be rebuilt."""
    j = Judge()
    twins = _twins(red)
    red.grant("budongchan", ID_CARDS, "gongan", ["name", "sex", "birth_date"])
    answers = []
    rebuilt = 0
    for twin in twins:
        number = twin["id_number"]
        by_subject = _by_subject(red, "budongchan", number)
        by_key = red.http.get(
            f"/v1/resources/{ID_CARDS}/records/{number}",
            params={"purpose": PURPOSE, "case": "RT-CASE-1"},
            headers=red.auth("budongchan"),
        )
        for name, r in (("by subject", by_subject), ("by key", by_key)):
            j.expect(r.status_code == 200, f"{name}: {_answer(r)}")
            if r.status_code != 200:
                return j
        records = by_subject.json()["data"]
        shown = {rec["data"].get("id_number") for rec in records} | {
            by_key.json()["data"].get("id_number")
        }
        hidden = number[6:]
        leaked = hidden in by_subject.text or hidden in json.dumps(by_key.json()["data"])
        rebuilt += leaked or shown != {REGION + "*" * 12}
        j.expect(shown == {REGION + "*" * 12}, f"masked ID number shows {shown}")
        j.expect(not leaked, "the serial and check digit are in the answer")
        answers.append([rec["data"] for rec in records])
    same = answers[0] == answers[1]
    rebuilt += not same
    j.expect(same, "twins that differ only in the hidden part read differently")
    red.figures["J5"] = f"identifiers rebuilt {rebuilt} of {len(twins) * 2} reads"
    j.note(f"masked as {REGION}{'*' * 12}; twins read the same; rebuilt {rebuilt}")
    return j


def bounded_inputs(red: RedTeam) -> Judge:
    """6 · A 6 MB purpose, expiry in 9999, empty purposes, lone surrogates → 4xx; RSS bounded."""
    j = Judge()
    shichang = red.dept("shichang")
    row = dict(red.city.business_licences()[12])
    surrogate_record = sealed_batch(shichang, LICENCES, [row], "uscc", version=11)
    surrogate_record["records"][0]["data"]["name"] = "信阳\ud800有限公司"
    kinds: list[tuple[str, str, Callable[[], httpx.Response]]] = [
        ("6 MB purpose", "budongchan", lambda: red.http.post(
            "/v1/grants", headers=red.auth("budongchan"),
            json=grant_body(ID_CARDS, ["name"], purposes=["p" * 6_000_000]))),
        ("expiry 9999", "budongchan", lambda: red.http.post(
            "/v1/grants", headers=red.auth("budongchan"),
            json=grant_body(ID_CARDS, ["name"], expires_at="9999-12-31T00:00:00+00:00"))),
        ("empty purposes", "budongchan", lambda: red.http.post(
            "/v1/grants", headers=red.auth("budongchan"), json=grant_body(ID_CARDS, ["name"], purposes=[]))),
        ("lone surrogate in a list item", "budongchan", lambda: red.http.post(
            "/v1/grants", headers={**red.auth("budongchan"), "content-type": "application/json"},
            content=json.dumps(grant_body(ID_CARDS, ["name", "\ud800"])))),
        ("lone surrogate in record data", "shichang", lambda: red.publish("shichang", surrogate_record)),
    ]  # fmt: skip
    for _, code, _send in kinds:
        red.token(code)
    seen: dict[str, Counter[int]] = {}
    largest = 0

    def sixteen() -> int:
        """Send 16 of them (the kinds in turn); the server's RSS growth in KiB."""
        nonlocal largest
        before = red.live.rss_kib()
        for i in range(16):
            name, _, send = kinds[i % len(kinds)]
            r = send()
            seen.setdefault(name, Counter())[r.status_code] += 1
            largest = max(largest, len(r.content))
            j.expect(_refused(r), f"{name}: {_answer(r)}")
        time.sleep(0.5)
        return red.live.rss_kib() - before

    first, again, third = sixteen(), sixteen(), sixteen()
    j.expect(first <= RSS_BOUND_KIB, f"server RSS grew {first / 1024:.1f} MiB over 16 requests")
    j.expect(
        min(again, third) <= RSS_AGAIN_KIB,
        f"and {again / 1024:.1f}, then {third / 1024:.1f} MiB over 16 more each",
    )
    j.expect(largest <= 64 * 1024, f"an answer of {largest} bytes (input echoed?)")
    red.figures["rss"] = (
        f"grew {first / 1024:.1f} MiB, then {again / 1024:.1f} and {third / 1024:.1f} MiB"
    )
    statuses = ", ".join(f"{k} {'/'.join(map(str, v))}" for k, v in seen.items())
    j.expect(len(seen) == len(kinds), "not every kind was sent")
    j.note(
        f"48 requests → {statuses}; largest answer {largest} B; RSS grew "
        f"{first / 1024:.1f} MiB over 16, then {again / 1024:.1f} and {third / 1024:.1f} MiB "
        "over 16 more each"
    )
    return j


def _resolve(red: RedTeam, approver: str, case_no: str, index: int = 1) -> httpx.Response:
    if approver == "weijian":
        mother = next(p for p in red.city.people if p.sex == "2" and p.spouse is not None)
        body: dict[str, Any] = {
            "matter": "weijian.newborn_birth",
            "applicants": [{"role": "mother", "id": mother.id_number}],
        }
    else:
        body = {"matter": MATTER, "applicants": couple_applicants(red.city, index)}
    return red.http.post("/v1/cases", headers=red.auth(approver), json={**body, "case_no": case_no})


def _together(count: int, call: Callable[[int], httpx.Response]) -> list[httpx.Response]:
    """``count`` calls released at once from a barrier (bounded waits)."""
    start = threading.Barrier(count, timeout=30)

    def go(i: int) -> httpx.Response:
        start.wait()
        return call(i)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return [f.result(timeout=120) for f in [pool.submit(go, i) for i in range(count)]]


def _client_call(red: RedTeam, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One request on its own connection (threads must not share a client's pool order)."""
    with httpx.Client(base_url=red.live.url, timeout=60.0) as c:
        return c.request(method, path, **kwargs)


def request_hash(r: httpx.Response) -> str:
    """The ``request_hash`` the exchange stamps on the entries of the request behind ``r``:
    SHA-256 of method, path, query and the body's SHA-256 (see exchange.audit.context)."""
    request = r.request
    digest = hashlib.sha256()
    for part in (request.method, request.url.path, request.url.query.decode("latin-1")):
        digest.update(part.encode("utf-8", "surrogateescape") + b"\n")
    digest.update(hashlib.sha256(request.content).digest())
    return digest.hexdigest()


def entries_since(red: RedTeam, seq: int) -> list[dict[str, Any]]:
    """Every audit entry from ``seq`` on, read page by page as the auditor."""
    out: list[dict[str, Any]] = []
    offset: int | None = seq
    for _ in range(100):
        if offset is None:
            break
        r = red.http.get(
            "/v1/audit/entries",
            params={"offset": offset, "limit": 1000},
            headers=red.auth("shenji"),
        )
        if r.status_code != 200:
            raise RuntimeError(f"auditor read: {r.status_code} {r.text[:200]}")
        out += r.json()["data"]
        offset = r.json().get("next_offset")
    return out


def server_errors(red: RedTeam) -> Judge:
    """7 · Every former 500 trigger gets a 4xx or a correct success, and every answer has
    its audit entry (found by its request hash through the auditor's API)."""
    j = Judge()
    before = red.audit_size()
    reader = {**red.auth("budongchan"), "content-type": "application/json"}
    surrogate_grant = json.dumps(grant_body(ID_CARDS, ["name"], reason="\udfff"))
    triggers: list[tuple[str, str, str, dict[str, Any]]] = [
        ("deep text/plain verify", "POST", "/v1/verify", {
            "content": b"[" * 4000 + b"]" * 4000,
            "headers": {**reader, "content-type": "text/plain"}}),
        ("lone surrogate in a grant", "POST", "/v1/grants", {
            "content": surrogate_grant, "headers": reader}),
        ("lone surrogate to verify", "POST", "/v1/verify", {
            "content": json.dumps({"id": "\ud83d"}), "headers": reader}),
        ("proof index 2^53", "GET", "/v1/audit/proofs/inclusion", {
            "params": {"index": 2**53, "size": 2**53 + 1}, "headers": red.auth("shenji")}),
    ]  # fmt: skip
    answers = [(name, red.http.request(m, path, **kw)) for name, m, path, kw in triggers]
    for name, r in answers:
        j.expect(_refused(r), f"{name}: {_answer(r)}")
    asked = red.http.post(
        "/v1/grants", headers=red.auth("budongchan"), json=grant_body(ID_CARDS, ["name"])
    )
    grant_id = asked.json()["id"]
    owner = red.auth("gongan")
    decisions = _together(12, lambda i: _client_call(
        red, "POST", f"/v1/grants/{grant_id}/decision", headers=owner,
        json={"approve": i % 2 == 0, "reason": f"decision {i}"}))  # fmt: skip
    got = Counter(r.status_code for r in decisions)
    j.expect(got == {200: 1, 409: 11}, f"12 concurrent decisions → {dict(got)}")
    case_no = f"RT-RACE-{secrets.token_hex(4)}"
    approver = red.auth("budongchan")
    body = {"matter": MATTER, "applicants": couple_applicants(red.city, 2), "case_no": case_no}
    # one body four times; a query parameter the route ignores tells the requests apart
    cases = _together(4, lambda i: _client_call(
        red, "POST", "/v1/cases", headers=approver, json=body, params={"attempt": i}))  # fmt: skip
    got_cases = Counter(r.status_code for r in cases)
    j.expect(got_cases == {201: 1, 409: 3}, f"4 concurrent resolutions → {dict(got_cases)}")
    sent = [*(a for _, a in answers), asked, *decisions, *cases]
    servers = [r for r in sent if r.status_code >= 500]
    j.expect(not servers, f"{len(servers)} answers were 5xx")
    entries = entries_since(red, before)
    by_request = Counter(e.get("request_hash") for e in entries)
    unaudited = [r for r in sent if by_request[request_hash(r)] == 0]
    j.expect(not unaudited, f"answers without an audit entry: {[_answer(r) for r in unaudited]}")
    audited = len(sent) - len(unaudited)
    red.figures["D4"] = f"answers with their audit entry {audited}/{len(sent)}"
    losers = [r for r in cases if r.status_code == 409]
    named = sum(
        any(e.get("code") == "exchange.case_exists" for e in entries
            if e.get("request_hash") == request_hash(r))
        for r in losers
    )  # fmt: skip
    j.note(
        f"5xx 0 of {len(sent)}; decisions {dict(got)}, resolutions {dict(got_cases)}; "
        f"answers with their audit entry {audited}/{len(sent)} ({len(entries)} entries); "
        f"409 resolutions whose entries name exchange.case_exists {named}/{len(losers)}"
    )
    return j


def races_and_oracles(red: RedTeam) -> Judge:
    """8 · Two concurrent approvals; case numbers per approver; no existence oracle."""
    j = Judge()
    grant_id = red.ask_grant("budongchan", ID_CARDS, ["name"])
    owner = red.auth("gongan")
    twice = _together(2, lambda i: _client_call(
        red, "POST", f"/v1/grants/{grant_id}/decision", headers=owner,
        json={"approve": True, "reason": f"approval {i}"}))  # fmt: skip
    got = sorted(r.status_code for r in twice)
    j.expect(got == [200, 409], f"two concurrent approvals → {got}")
    tag = secrets.token_hex(3).upper()
    shared = f"RT-SHARED-{tag}"
    mine, theirs = _resolve(red, "budongchan", shared, 3), _resolve(red, "weijian", shared)
    j.expect(
        mine.status_code == theirs.status_code == 201,
        f"one number, two approvers → {mine.status_code}/{theirs.status_code}",
    )
    j.expect(_resolve(red, "budongchan", f"RT-ORACLE-{tag}1", 4).status_code == 201, "oracle case")
    weijian = red.auth("weijian")
    someone_elses = red.http.get(f"/v1/cases/RT-ORACLE-{tag}1", headers=weijian)
    nobodys = red.http.get(f"/v1/cases/RT-ORACLE-{tag}2", headers=weijian)
    one, other = someone_elses.json(), nobodys.json()
    same = (
        someone_elses.status_code == nobodys.status_code
        and one.get("code") == other.get("code")
        and str(one.get("detail", "")).replace(f"{tag}1", f"{tag}2") == other.get("detail")
    )
    j.expect(same, f"another's case {_answer(someone_elses)}, no case {_answer(nobodys)}")
    j.note(
        f"approvals {got}; shared number → 201/201; another's case and no case both "
        f"{_answer(nobodys)}"
    )
    return j


def replay_after_restart(red: RedTeam) -> Judge:
    """9 · A client assertion used before a restart is refused after it; one jti, two
    departments → both accepted."""
    j = Judge()
    replay = red.ask_token(red.prepared["used_assertion"])
    j.expect(_refused(replay), f"replayed assertion after restart → {_answer(replay)}")
    j.expect(_code(replay) == "exchange.replay", f"refused, but as {_code(replay)} not a replay")
    jti = secrets.token_urlsafe(16)
    both = [
        red.ask_token(red.assertion(code, jti=jti)).status_code for code in ("gongan", "budongchan")
    ]
    j.expect(both == [200, 200], f"one jti from two departments → {both}")
    j.note(f"replay after restart → {_answer(replay)}; one jti, two departments → {both}")
    return j


def quarantine_view(red: RedTeam) -> Judge:
    """10 · The operator's quarantine view shows no full ID number."""
    j = Judge()
    bad = id_card(403)
    number = bad["id_number"]
    bad["id_number"] = number[:-1] + ("0" if number[-1] != "0" else "1")
    r = red.publish("gongan", sealed_batch(red.dept("gongan"), ID_CARDS, [bad], "id_number"))
    quarantined = r.json().get("quarantined", []) if r.status_code == 200 else []
    j.expect(len(quarantined) == 1, f"wrong check digit → {r.status_code} {r.text[:160]}")
    pages = 0
    texts: list[str] = []
    offset: int | None = 0
    while offset is not None and pages < 50:
        q = red.http.get(
            "/v1/quarantine",
            params={"resource": ID_CARDS, "limit": 1000, "offset": offset},
            headers=red.auth("dashuju"),
        )
        j.expect(q.status_code == 200, f"operator's quarantine view → {_answer(q)}")
        if q.status_code != 200:
            return j
        texts.append(q.text)
        offset = q.json().get("next_offset")
        pages += 1
    text = "".join(texts)
    j.expect(bad["id_number"] not in text, "the full ID number is in the operator's view")
    j.expect(bad["id_number"][6:] not in text, "the hidden part is in the operator's view")
    j.expect(REGION in text, "the quarantined record is not in the operator's view")
    j.note(f"quarantined 1 (wrong check digit); operator sees {REGION}…, full ID number: no")
    return j


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]*)"', html)
    if match is None:
        raise RuntimeError("no csrf field in the page")
    return match.group(1)


def console_forgery(red: RedTeam) -> Judge:
    """11 · The console signs in (demo picker) and shows a forged licence as invalid."""
    j = Judge()
    forged = red.prepared.get("forged_licence") or _resigned(
        red, _field_changed(_status_dropped(red.prepared["revoked"]))
    )
    html_accept = {"accept": "text/html"}
    with httpx.Client(base_url=red.live.url, timeout=60.0) as browser:
        login = browser.get("/console/login")
        r = browser.post(
            "/console/login",
            data={"csrf": _csrf(login.text), "method": "demo", "department": "budongchan"},
            follow_redirects=False,
        )
        j.expect(r.status_code == 303, f"demo sign-in → {r.status_code}")
        page = browser.get("/console/verify", headers=html_accept)
        csrf = _csrf(page.text)

        def verify(doc: dict[str, Any]) -> str:
            v = browser.post(
                "/console/verify",
                data={"csrf": csrf, "document": qr_text(doc)},
                headers=html_accept,
            )
            j.expect(v.status_code == 200, f"console verify → {v.status_code}")
            return v.text

        genuine = verify(red.prepared["live"])
        html = verify(forged)
    j.expect(
        'data-verdict="valid"' in genuine, "control: the genuine licence is not drawn as valid"
    )
    j.expect('data-verdict="invalid"' in html, "the forged licence is not marked invalid")
    j.expect("无效 — 不得作为办事依据" in html, "no 无效 — 不得作为办事依据 banner")
    for mark in ('class="licence"', "qr-code", "data-print", "扫码离线核验"):
        j.expect(mark not in html, f"the forged licence's page has {mark}")
    j.note("forged licence: 无效 — 不得作为办事依据, no licence card, QR or print")
    return j


def slow_clients(red: RedTeam) -> Judge:
    """12 · 50 connections trickling a header byte a second are cut off within the header
    timeout; a normal read answers meanwhile."""
    j = Judge()
    count = 50
    limit_s = HEADER_TIMEOUT_S + 6
    token = red.token("budongchan")
    socks: list[socket.socket] = []
    cut: dict[int, float] = {}
    start = time.monotonic()
    read_status: int | None = None
    read_ms = 0.0
    try:
        for _ in range(count):
            s = socket.create_connection((LOOPBACK, red.live.port), timeout=5)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            s.setblocking(False)
            socks.append(s)
        while len(cut) < count and time.monotonic() - start < limit_s:
            time.sleep(1.0)
            for i, s in enumerate(socks):
                if i in cut:
                    continue
                if _closed(s):
                    cut[i] = time.monotonic() - start
                    continue
                try:
                    s.send(b"a")
                except OSError:
                    cut[i] = time.monotonic() - start
            if read_status is None:
                t = time.monotonic()
                with httpx.Client(base_url=red.live.url, timeout=10.0) as c:
                    read_status = c.get(
                        "/v1/resources", headers={"Authorization": f"Bearer {token}"}
                    ).status_code
                read_ms = (time.monotonic() - t) * 1000
    finally:
        for s in socks:
            s.close()
    latest = max(cut.values(), default=float("inf"))
    j.expect(len(cut) == count, f"{count - len(cut)} of {count} slow connections still open")
    j.expect(latest <= HEADER_TIMEOUT_S + 3, f"last cut off after {latest:.1f} s")
    j.expect(read_status == 200, f"a normal read meanwhile → {read_status}")
    j.note(
        f"{len(cut)}/{count} cut off, last after {latest:.1f} s (header timeout "
        f"{HEADER_TIMEOUT_S:g} s); catalog read meanwhile {read_status} in {read_ms:.0f} ms"
    )
    return j


def _closed(s: socket.socket) -> bool:
    try:
        return s.recv(1024) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


ATTACKS: list[tuple[int, str, Callable[[RedTeam], Judge]]] = [
    (
        1,
        "revoked certificate re-signed without status; same id, other content (J3)",
        forged_credentials,
    ),
    (2, "batch sealed in the future / backdated under an expired key", forged_seals),
    (3, "2.8 MB and deeply nested bodies to /v1/verify; /healthz meanwhile", oversize_verify),
    (4, "by-subject read: key of a non-granted key field", subject_read_keys),
    (5, "masking: rebuild the ID number from birth_date and sex", masking),
    (
        6,
        "bounded inputs: 6 MB purpose, expiry 9999, empty purposes, lone surrogates; RSS",
        bounded_inputs,
    ),
    (7, "former 500s, each with its audit entry", server_errors),
    (8, "concurrent approvals; case numbers per approver; case oracle", races_and_oracles),
    (
        9,
        "client assertion replayed after a restart; one jti, two departments",
        replay_after_restart,
    ),
    (10, "operator's quarantine view of a bad ID number", quarantine_view),
    (11, "console shows a forged licence", console_forgery),
    (12, "50 slow-header clients; a normal read meanwhile", slow_clients),
]
# the replay goes first after the restart, while the assertion it replays has not expired
ORDER = (9, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12)


def _attack(red: RedTeam, number: int) -> Finding:
    _, name, attack = next(a for a in ATTACKS if a[0] == number)
    try:
        judge = attack(red)
    except Exception as exc:  # an attack that cannot complete proves nothing: not HELD
        judge = Judge([f"the attack could not complete: {exc!r}"[:300]])
    return judge.finding(number, name)


@contextmanager
def red_team(root: Path) -> Iterator[RedTeam]:
    """A demo exchange in ``root/data`` served live, with the attacker's session on it."""
    data = root / "data"
    env = {
        **os.environ,
        "GOVEX_API__HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S),
        "PYTHONUNBUFFERED": "1",
        "NO_COLOR": "1",
        "COLUMNS": "200",
        "PYTHONWARNINGS": "ignore::DeprecationWarning",
    }
    init = govex(env, "init", "--demo", "--data", str(data))
    if init.returncode != 0:
        raise RuntimeError(f"govex init --demo: {init.stderr[-800:]}")
    backdate_to = add_expired_seal_key(data)
    live = LiveExchange(data, env)
    red = RedTeam(live, root, generate_city(), env)
    red.prepared["expired_seal_at"] = backdate_to
    try:
        yield red
    finally:
        red.close()
        live.stop()


def run(root: Path) -> tuple[list[Finding], dict[str, str]]:
    """Set up, prepare, restart, replay every attack; the findings in attack order."""
    with red_team(root) as red:
        red.live.start()
        prepare_first_run(red)
        red.live.stop()
        export_trust(red)
        red.live.start()
        findings = [_attack(red, number) for number in ORDER]
    return sorted(findings, key=lambda f: f.number), red.figures
