"""The citizen's own view, "我的数据使用记录": sessions and the rows of the report.

A citizen signs in through the external identity provider (:mod:`exchange.web.oidc_client`)
and gets a :class:`CitizenSession`, apart from the staff's console sessions: another
cookie (``govex_citizen``, ``HttpOnly``, scoped to ``/console/citizen``), another store,
and no access token — a citizen session opens no API route and no staff page, only the
report about the 公民身份号码 the provider vouched for.

The report is the auditor's "who used my data" (:meth:`AuditReports.own_accesses`,
audited the same way), reduced to reads: department, clerk (the entry's ``person`` when
the exchange records one), purpose, case, time (北京时间) and each entry's inclusion
proof, checked here against the signed checkpoint and shown for anyone to re-check.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass

from exchange.audit.reports import SubjectAccesses
from exchange.service import Exchange
from exchange.web.oidc_client import Citizen
from exchange.web.trail import READ_ACTIONS, CheckpointView, TrailEntry, checkpoint_view, trail
from schemas.certificates import load_certificate_types
from schemas.matters import load_matters

__all__ = [
    "CITIZEN_COOKIE",
    "CITIZEN_PREFIX",
    "CITIZEN_STATE_COOKIE",
    "CitizenRead",
    "CitizenReport",
    "CitizenSession",
    "CitizenSessions",
    "citizen_actor",
    "citizen_report",
]

CITIZEN_PREFIX = "/console/citizen"
CITIZEN_COOKIE = "govex_citizen"
CITIZEN_STATE_COOKIE = "govex_citizen_state"


def citizen_actor(citizen: Citizen) -> str:
    """How a citizen appears as the actor of an audit entry: the provider's ``sub``
    (never the ID number)."""
    return f"citizen:{citizen.sub}"


@dataclass(frozen=True)
class CitizenSession:
    id: str
    citizen: Citizen
    expires_at: float
    csrf: str

    @property
    def remaining_s(self) -> int:
        return max(0, int(self.expires_at - time.time()))


class CitizenSessions:
    """Citizen sessions in memory, apart from the staff's; expired ones vanish. At the
    cap, a citizen's own oldest session goes first, then the oldest of all."""

    def __init__(self, ttl_s: int, max_sessions: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_sessions = max_sessions
        self._sessions: dict[str, CitizenSession] = {}
        self._lock = threading.Lock()

    def create(self, citizen: Citizen) -> CitizenSession:
        now = time.time()
        session = CitizenSession(
            id=secrets.token_urlsafe(32),
            citizen=citizen,
            expires_at=now + self.ttl_s,
            csrf=secrets.token_urlsafe(32),
        )
        with self._lock:
            if len(self._sessions) >= self.max_sessions:
                self._sessions = {k: s for k, s in self._sessions.items() if s.expires_at > now}
            if len(self._sessions) >= self.max_sessions:
                own = [s for s in self._sessions.values() if s.citizen.sub == citizen.sub]
                oldest = min(own or self._sessions.values(), key=lambda s: s.expires_at)
                del self._sessions[oldest.id]
            self._sessions[session.id] = session
        return session

    def get(self, session_id: str | None) -> CitizenSession | None:
        if not session_id:
            return None
        with self._lock:
            session = self._sessions.get(session_id)
            if session is not None and session.expires_at <= time.time():
                del self._sessions[session_id]
                return None
            return session

    def drop(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)


@dataclass(frozen=True)
class CitizenRead:
    """One read of the citizen's data, as the page shows it."""

    row: TrailEntry
    what: str
    purpose: str
    clerk: str | None
    proof_hashes: list[str]
    leaf_hash: str


@dataclass(frozen=True)
class CitizenReport:
    reads: list[CitizenRead]
    checkpoint: CheckpointView
    known: bool
    next_before: int | None
    departments: list[str]


def _clerk(row: TrailEntry) -> str | None:
    """The staff member who read (``person``), on exchanges whose entries record one."""
    person = row.entry.to_json().get("person")
    return person if isinstance(person, str) and person else None


def citizen_report(exchange: Exchange, report: SubjectAccesses) -> CitizenReport:
    """The rows of a citizen's report: reads only, each with its proof checked."""
    checkpoint = checkpoint_view(exchange, report.checkpoint.note, report.checkpoint.created_at)
    reads = [(e, proof) for e, proof in report.accesses if e.entry.action in READ_ACTIONS]
    rows = trail(exchange, [e for e, _ in reads], checkpoint, [proof for _, proof in reads])
    resources = {d.code: d.name for d, _ in exchange.catalog.resources()}
    resources |= {t.code: t.name for t in load_certificate_types().values()}
    matters = {m.code: m.name for m in load_matters().values()}
    out = []
    for row, (stored, proof) in zip(rows, reads, strict=True):
        entry = row.entry
        target = entry.target or ""
        out.append(
            CitizenRead(
                row=row,
                what=resources.get(target, matters.get(target, target)),
                purpose=matters.get(entry.purpose or "", entry.purpose or ""),
                clerk=_clerk(row),
                proof_hashes=[h.hex() for h in proof],
                leaf_hash=stored.leaf_hash.hex(),
            )
        )
    return CitizenReport(
        reads=out,
        checkpoint=checkpoint,
        known=report.subject_hash is not None,
        next_before=report.next_before,
        departments=sorted({r.row.actor_name for r in out}),
    )
