"""The citizen's own view, "我的数据使用记录": sessions and the rows of the report.

A citizen signs in through the external identity provider (:mod:`exchange.web.oidc_client`)
and gets a :class:`CitizenSession`, apart from the staff's console sessions: another
cookie (``govex_citizen``, ``HttpOnly``, scoped to ``/console/citizen``), another kind in
the sessions store (:class:`~exchange.web.sessions_store.SessionStore` with the
``citizen`` policy: it survives a restart, ends when idle and at an absolute end, a
citizen's own oldest session goes first) whose verified claims are sealed under the
session id, and no access token — a citizen session opens no API route and no staff
page, only the report about the 公民身份号码 the provider vouched for.

The report is the auditor's "who used my data" (:meth:`AuditReports.own_accesses`,
audited the same way), reduced to reads: department, clerk (the entry's ``person`` when
the exchange records one), purpose, case, time (北京时间) and each entry's inclusion
proof, checked here against the signed checkpoint and shown for anyone to re-check.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

from exchange.audit.reports import SubjectAccesses
from exchange.config import CitizenSettings
from exchange.service import Exchange
from exchange.store import Store
from exchange.web.oidc_client import Citizen
from exchange.web.sessions_store import SessionPolicy, SessionStore
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
    ends_at: float  # when it ends unless used again (idle), never after the absolute end
    expires_at: float  # the absolute end
    csrf: str

    @property
    def remaining_s(self) -> int:
        return max(0, int(self.ends_at - time.time()))


class CitizenSessions:
    """Citizen sessions: the ``citizen`` kind of the sessions store, apart from the staff's.
    The citizen's verified claims are the session's sealed payload; a citizen's own oldest
    session goes first beyond ``sessions_per_person``."""

    def __init__(self, store: Store, settings: CitizenSettings) -> None:
        self.sessions = SessionStore(store, None, SessionPolicy.citizen(settings))

    def create(self, citizen: Citizen, *, address: str | None = None) -> CitizenSession:
        payload = json.dumps(asdict(citizen), ensure_ascii=False).encode()
        session, _ = self.sessions.create(
            "",
            staff_id=None,
            method="oidc",
            address=address,
            owner=f"citizen:{citizen.issuer}#{citizen.sub}",
            payload=payload,
        )
        return CitizenSession(
            session.id, citizen, session.ends_at, session.expires_at, session.csrf
        )

    def get(self, session_id: str | None) -> CitizenSession | None:
        if not session_id:
            return None
        session = self.sessions.get(session_id)
        if session is None or session.payload is None:
            return None
        citizen = Citizen(**json.loads(session.payload))
        return CitizenSession(
            session.id, citizen, session.ends_at, session.expires_at, session.csrf
        )

    def drop(self, session_id: str) -> None:
        self.sessions.drop(session_id)


@dataclass(frozen=True)
class CitizenRead:
    """One read of the citizen's data, as the page shows it."""

    row: TrailEntry
    what: str
    purpose: str
    clerk: str | None  # the staff member who read: "name (staff id)", where recorded
    proof_hashes: list[str]
    leaf_hash: str


@dataclass(frozen=True)
class CitizenReport:
    reads: list[CitizenRead]
    checkpoint: CheckpointView
    known: bool
    next_before: int | None
    departments: list[str]


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
                clerk=row.person_name,
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
