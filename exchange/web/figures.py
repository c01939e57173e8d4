"""The operator's figures: exchanges per department per day, refusals, quarantine, materials.

Counted from the audit log (``audit_entries``: every exchange is one entry) and the
quarantine table, grouped by calendar day in China Standard Time; the materials
figures come from the case service. Read-only queries, bounded to the last ``days``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from exchange.certificates.vocabulary import CHINA_TIME
from exchange.service import Exchange

__all__ = ["EXCHANGE_ACTIONS_SQL", "Figures", "figures"]

# an exchange: data published, read (records, certificates) or resolved for a case
EXCHANGE_ACTIONS_SQL = (
    "(action = 'publish' OR action LIKE 'query%' OR action IN ('cert.lookup', 'cert.read', "
    "'case.resolve'))"
)
_CST_OFFSET_S = 8 * 3600
_EPOCH = date(1970, 1, 1)


@dataclass
class Figures:
    """Everything the dashboard draws."""

    days: list[date]
    exchanges: dict[str, list[int]]  # department name → count per day
    refused_by_day: list[int]
    refused_by_code: list[tuple[str, int]]
    quarantine_by_resource: list[tuple[str, int]]
    quarantine_by_reason: list[tuple[str, int]]
    quarantine_total: int
    exchanges_total: int
    refused_total: int
    materials: list[Any] = field(default_factory=list)


def _day_number(day: date) -> int:
    return (day - _EPOCH).days


def figures(exchange: Exchange, *, days: int = 14, today: date | None = None) -> Figures:
    """The figures of the last ``days`` days (China Standard Time), today included."""
    today = today or datetime.now(UTC).astimezone(CHINA_TIME).date()
    span = [today - timedelta(days=days - 1 - i) for i in range(days)]
    first = _day_number(span[0])
    since = datetime.combine(span[0], datetime.min.time(), CHINA_TIME).astimezone(UTC)
    day_sql = f"CAST(floor((epoch(ts) + {_CST_OFFSET_S}) / 86400) AS BIGINT)"
    names = {d.uscc: d.name for d in exchange.registry.departments()}
    store = exchange.store

    exchanges: dict[str, list[int]] = {}
    for actor, day, n in store.fetchall(
        f"SELECT actor, {day_sql} AS day, count(*) FROM audit_entries "  # noqa: S608 - fixed SQL
        f"WHERE ts >= ? AND {EXCHANGE_ACTIONS_SQL} GROUP BY actor, day",
        [since],
    ):
        index = int(day) - first
        if 0 <= index < days:
            row = exchanges.setdefault(names.get(actor, actor), [0] * days)
            row[index] += int(n)
    exchanges = dict(sorted(exchanges.items(), key=lambda kv: -sum(kv[1])))

    refused_by_day = [0] * days
    for day, n in store.fetchall(
        f"SELECT {day_sql} AS day, count(*) FROM audit_entries "  # noqa: S608 - fixed SQL
        "WHERE ts >= ? AND action LIKE 'query%' AND outcome = 'refused' GROUP BY day",
        [since],
    ):
        index = int(day) - first
        if 0 <= index < days:
            refused_by_day[index] += int(n)
    refused_by_code = [
        (str(code or "—"), int(n))
        for code, n in store.fetchall(
            "SELECT code, count(*) AS n FROM audit_entries WHERE ts >= ? "
            "AND action LIKE 'query%' AND outcome = 'refused' GROUP BY code ORDER BY n DESC "
            "LIMIT 8",
            [since],
        )
    ]
    resources = {d.code: d.name for d, _ in exchange.catalog.resources()}
    quarantine_by_resource = [
        (resources.get(str(r), str(r or "—")), int(n))
        for r, n in store.fetchall(
            "SELECT resource, count(*) AS n FROM quarantine GROUP BY resource ORDER BY n DESC "
            "LIMIT 10"
        )
    ]
    quarantine_by_reason = [
        (str(code), int(n))
        for code, n in store.fetchall(
            "SELECT reason_code, count(*) AS n FROM quarantine GROUP BY reason_code "
            "ORDER BY n DESC LIMIT 10"
        )
    ]
    return Figures(
        days=span,
        exchanges=exchanges,
        refused_by_day=refused_by_day,
        refused_by_code=refused_by_code,
        quarantine_by_resource=quarantine_by_resource,
        quarantine_by_reason=quarantine_by_reason,
        quarantine_total=int((store.fetchone("SELECT count(*) FROM quarantine") or (0,))[0]),
        exchanges_total=sum(sum(v) for v in exchanges.values()),
        refused_total=sum(refused_by_day),
        materials=exchange.cases.figures(),
    )
