"""The operator's console (大数据局): what a 大数据局 watches and reports upward.

Each view is built from the service that owns the facts, never from a copy of its SQL:
departments with their state and keys (:class:`exchange.departments.registry.Registry`),
the quarantine list masked as the API masks it for an operator
(:func:`exchange.records.quarantine.list_quarantine`), the grant backlog and answers
overdue (:meth:`exchange.catalog.grants.Grants.grants_for` of each owner), connector
freshness (the last ``publish`` entry per department and resource in the audit log),
call volumes and response times per department (:mod:`exchange.api.middleware.calltimes`)
and the materials removed per matter as measured over the cases resolved
(:meth:`exchange.cases.resolver.Cases.figures`: obtained vs still to bring).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from exchange.catalog.grants import GrantPublic
from exchange.records.quarantine import QuarantinePublic, list_quarantine
from exchange.service import Exchange
from exchange.web.clock import beijing
from exchange.web.messages import humanise, message_for, resource_name

__all__ = ["STATE_LABELS", "DepartmentRow", "Freshness", "Operations", "operations"]

QUARANTINE_SHOWN = 50
KEY_PURPOSE_LABELS = {"auth": "身份认证", "seal": "批次签章", "cert": "证照签发"}
STATE_LABELS = {
    "active": ("正常", "active"),
    "suspended": ("已暂停", "suspended"),
    "removed": ("已注销", "removed"),
    "rotated": ("已轮换", "rotated"),
    "revoked": ("已吊销", "revoked"),
}


@dataclass(frozen=True)
class KeyRow:
    purpose: str
    kid: str
    state: str
    expires: str  # Beijing time, "" when the key has no end
    expiring: bool  # ends within 30 days


@dataclass(frozen=True)
class DepartmentRow:
    code: str
    name: str
    uscc: str
    state: str
    changed: str
    reason: str
    keys: list[KeyRow]


@dataclass(frozen=True)
class Freshness:
    department: str
    resource: str
    last: str  # Beijing time
    age_hours: float


@dataclass(frozen=True)
class QuarantineRow:
    received: str
    resource: str
    publisher: str
    key: str
    reason_zh: str
    reason: str  # identifiers masked


@dataclass(frozen=True)
class GrantRow:
    consumer: str
    resource: str
    owner: str
    requested: str
    due: str
    overdue: bool


@dataclass(frozen=True)
class CallRow:
    department: str
    calls: int
    refused: int
    p50_ms: float
    p95_ms: float
    max_ms: float


@dataclass
class Operations:
    departments: list[DepartmentRow] = field(default_factory=list)
    quarantine: list[QuarantineRow] = field(default_factory=list)
    backlog: list[GrantRow] = field(default_factory=list)
    freshness: list[Freshness] = field(default_factory=list)
    calls: list[CallRow] = field(default_factory=list)

    @property
    def overdue(self) -> int:
        return sum(1 for g in self.backlog if g.overdue)


def _departments(exchange: Exchange, now: datetime) -> list[DepartmentRow]:
    registry = exchange.registry
    out = []
    for dept in registry.departments():
        status = registry.status(dept.uscc)
        keys = [
            KeyRow(
                purpose=KEY_PURPOSE_LABELS.get(str(k.purpose), str(k.purpose)),
                kid=k.kid,
                state=str(k.state),
                expires=beijing(k.not_after, seconds=False) if k.not_after else "",
                expiring=k.not_after is not None and (k.not_after - now).days < 30,
            )
            for k in registry.keys(dept.uscc)
            if str(k.state) == "active"
        ]
        out.append(
            DepartmentRow(
                code=dept.code,
                name=dept.name,
                uscc=dept.uscc,
                state=str(status.state),
                changed=beijing(status.changed_at, seconds=False) if status.changed_at else "",
                reason=status.reason or "",
                keys=keys,
            )
        )
    return out


def _quarantine(exchange: Exchange, names: dict[str, str]) -> list[QuarantineRow]:
    # viewer None: every row masked (keys and identifiers in the reason), as the operator
    # sees other departments' rows through the API
    rows: list[QuarantinePublic] = list_quarantine(
        exchange.store, None, everyone=True, limit=QUARANTINE_SHOWN
    )
    return [
        QuarantineRow(
            received=beijing(q.received_at, seconds=False),
            resource=resource_name(q.resource) if q.resource else "—",
            publisher=names.get(q.publisher or "", q.publisher or "—"),
            key=q.key or "—",
            reason_zh=message_for(q.reason_code).zh,
            reason=humanise(q.reason),
        )
        for q in reversed(rows)
    ]


def _backlog(exchange: Exchange, names: dict[str, str]) -> list[GrantRow]:
    pending: dict[str, GrantPublic] = {}
    for dept in exchange.registry.departments():
        for g in exchange.grants.grants_for(dept.uscc, status="pending"):
            pending[g.id] = g
    return [
        GrantRow(
            consumer=names.get(g.consumer, g.consumer),
            resource=resource_name(g.resource),
            owner=names.get(g.owner, g.owner),
            requested=beijing(g.requested_at, seconds=False),
            due=g.answer_due.isoformat(),
            overdue=g.overdue,
        )
        for g in sorted(pending.values(), key=lambda g: (not g.overdue, g.answer_due))
    ]


def _freshness(exchange: Exchange, names: dict[str, str], now: datetime) -> list[Freshness]:
    out = []
    for actor, target, last in exchange.store.fetchall(
        "SELECT actor, target, max(ts) FROM audit_entries WHERE action = 'publish' "
        "AND outcome = 'ok' GROUP BY actor, target ORDER BY max(ts)"
    ):
        moment = last if last.tzinfo else last.replace(tzinfo=UTC)
        out.append(
            Freshness(
                department=names.get(actor, actor),
                resource=resource_name(str(target or "—")),
                last=beijing(moment, seconds=False),
                age_hours=round((now - moment).total_seconds() / 3600, 1),
            )
        )
    return out


def _calls(call_times: Any, names: dict[str, str]) -> list[CallRow]:
    if call_times is None:
        return []
    return [
        CallRow(names.get(f.uscc, f.uscc), f.calls, f.refused, f.p50_ms, f.p95_ms, f.max_ms)
        for f in call_times.figures()
    ]


def operations(exchange: Exchange, call_times: Any = None) -> Operations:
    """Everything the operator's console shows, now."""
    now = datetime.now(UTC)
    names = {d.uscc: d.name for d in exchange.registry.departments()}
    return Operations(
        departments=_departments(exchange, now),
        quarantine=_quarantine(exchange, names),
        backlog=_backlog(exchange, names),
        freshness=_freshness(exchange, names, now),
        calls=_calls(call_times, names),
    )
