"""Searching the audit entries: filters, who may see what, online and archived ranges.

Visibility (:class:`Scope`), decided once here for the API and the CLI:

* an **auditor** sees every entry;
* a **department** sees, with ``view="actions"`` (the default), the entries whose
  actor it is — what it did; with ``view="data"``, the entries *about data it owns*,
  whoever acted: the target is one of its catalog resources (reads, publishes,
  grant requests on them) or a certificate it issued (the issuer's USCC is part of
  the certificate id ``1.2.156.3005.2.<type>.<issuer>.<serial>…``);
* nobody else (an operator-only department) sees any entry.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import orjson

from exchange.audit.leaf import ENTRY_FIELDS, AuditEntry
from exchange.store import Store

__all__ = [
    "COLUMNS",
    "PAGE_VIEW_SQL",
    "SUBJECT_SQL",
    "EntryFilter",
    "Scope",
    "StoredEntry",
    "count",
    "entries_source",
    "entry_from_row",
    "iterate",
    "search",
]

COLUMNS = ", ".join([*("ts_text" if f == "ts" else f for f in ENTRY_FIELDS), "leaf_hash"])
"""The columns of an entry's row as :func:`entry_from_row` reads them: the entry's fields
(:data:`exchange.audit.leaf.ENTRY_FIELDS`, ``ts`` as its leaf text) then the leaf hash."""

PAGE_VIEW_SQL = (
    "(action IN ('http.get', 'http.head') AND starts_with(coalesce(target, ''), '/console'))"
)
"""A console page load: the one entry D4 gives a GET of a console page that no route audited
itself (static files are not audited at all); the auditor's timeline hides them unless asked."""

_LEAF = len(ENTRY_FIELDS)


@dataclass(frozen=True)
class StoredEntry:
    """An entry and the leaf hash the tree holds for it."""

    entry: AuditEntry
    leaf_hash: bytes


def entry_from_row(row: tuple[Any, ...]) -> StoredEntry:
    """A :class:`StoredEntry` from a row of :data:`COLUMNS`."""
    values = dict(zip(ENTRY_FIELDS, row[:_LEAF], strict=True))
    values["seq"] = int(values["seq"])
    values["ts"] = str(values["ts"])
    if values["detail"] is not None:
        values["detail"] = orjson.loads(values["detail"])
    return StoredEntry(AuditEntry(**values), bytes(row[_LEAF]))


@dataclass(frozen=True)
class EntryFilter:
    """What to look for; ``None`` means any."""

    subject_hash: str | None = None
    actor: str | None = None
    case_no: str | None = None
    action: str | None = None
    target: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    first_seq: int | None = None
    end_seq: int | None = None  # exclusive
    audit_actions: bool | None = None  # only the log's own reads (audit.*), or none of them
    # the console's page loads (a GET of a /console page, audited by D4): with them, or not
    page_views: bool | None = None


@dataclass(frozen=True)
class Scope:
    """Which entries a caller may see (see the module docstring)."""

    kind: Literal["all", "actions", "data", "none"]
    uscc: str | None = None

    @classmethod
    def everything(cls) -> Scope:
        return cls("all")

    @classmethod
    def actions_of(cls, uscc: str) -> Scope:
        return cls("actions", uscc)

    @classmethod
    def data_of(cls, uscc: str) -> Scope:
        return cls("data", uscc)

    def sql(self) -> tuple[str, list[Any]]:
        if self.kind == "all":
            return "TRUE", []
        if self.kind == "actions":
            return "actor = ?", [self.uscc]
        if self.kind == "data":
            return (
                "(target IN (SELECT code FROM resources WHERE owner_uscc = ?) "
                "OR target LIKE '1.2.156.3005.2.%.' || ? || '.%')",
                [self.uscc, self.uscc],
            )
        return "FALSE", []


# The online entries about a subject (its hash twice): those naming it first, by the
# index on audit_entries.subject_hash, and those naming it further on. Written as one
# ``seq IN`` of a union, not as ``subject_hash = ? OR seq IN (...)``: DuckDB uses the
# index only for the plain equality, and the ``OR`` scanned every entry (28 → 3 ms at 3M
# entries). Archived entries are not in audit_entries: a search over them keeps the ``OR``.
SUBJECT_SQL = (
    "seq IN (SELECT seq FROM audit_entries WHERE subject_hash = ? "
    "UNION ALL SELECT seq FROM audit_subjects WHERE subject_hash = ?)"
)
_SUBJECT_ANYWHERE_SQL = (
    "(subject_hash = ? OR seq IN (SELECT seq FROM audit_subjects WHERE subject_hash = ?))"
)


def _where(flt: EntryFilter, scope: Scope, *, online: bool = True) -> tuple[str, list[Any]]:
    """The filter and scope as SQL over audit_entries (``online``) or a source that also
    holds archived entries."""
    clauses, params = [], []
    scope_sql, scope_params = scope.sql()
    clauses.append(scope_sql)
    params.extend(scope_params)
    if flt.subject_hash is not None:  # the first subject, or one of the further ones
        clauses.append(SUBJECT_SQL if online else _SUBJECT_ANYWHERE_SQL)
        params.extend([flt.subject_hash, flt.subject_hash])
    if flt.audit_actions is not None:
        clauses.append(("" if flt.audit_actions else "NOT ") + "starts_with(action, 'audit.')")
    if flt.page_views is not None:
        clauses.append(("" if flt.page_views else "NOT ") + PAGE_VIEW_SQL)
    for column, op, value in (
        ("actor", "=", flt.actor),
        ("case_no", "=", flt.case_no),
        ("action", "=", flt.action),
        ("target", "=", flt.target),
        ("ts", ">=", flt.since),
        ("ts", "<", flt.until),
        ("seq", ">=", flt.first_seq),
        ("seq", "<", flt.end_seq),
    ):
        if value is not None:
            clauses.append(f"{column} {op} ?")
            params.append(value)
    return " AND ".join(clauses), params


def entries_source(store: Store, *, archived: bool) -> tuple[str, list[Any]]:
    """SQL (and its parameters) for the entries: online, or online and archived.

    Archives written before entries named a person (migration 14) have no ``person``
    column: read by name, it is ``NULL`` there."""
    if not archived:
        return "audit_entries", []
    paths = [str(r[0]) for r in store.fetchall("SELECT path FROM audit_archives ORDER BY 1")]
    if not paths:
        return "audit_entries", []
    return (
        f"(SELECT {COLUMNS}, ts FROM audit_entries UNION ALL "  # noqa: S608 - constants
        f"SELECT {COLUMNS}, ts FROM ((SELECT * FROM audit_entries LIMIT 0) UNION ALL BY NAME "
        "(SELECT * FROM read_parquet(?, union_by_name = true))))",
        [paths],
    )


def count(store: Store, flt: EntryFilter, scope: Scope) -> int:
    """How many online entries match ``flt`` within ``scope``."""
    where, params = _where(flt, scope)
    row = store.fetchone(
        f"SELECT count(*) FROM audit_entries WHERE {where}",  # noqa: S608 - fixed fragments
        params,
    )
    return int(row[0]) if row else 0


def search(
    store: Store,
    flt: EntryFilter,
    scope: Scope,
    *,
    limit: int = 100,
    offset: int = 0,
    archived: bool = False,
    newest_first: bool = False,
) -> list[StoredEntry]:
    """Entries matching ``flt`` within ``scope``, by sequence number (or newest first)."""
    source, source_params = entries_source(store, archived=archived)
    where, params = _where(flt, scope, online=not source_params)  # no archives in it
    order = "seq DESC" if newest_first else "seq"
    rows = store.fetchall(
        f"SELECT {COLUMNS} FROM {source} "  # noqa: S608 - fixed fragments
        f"WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?",
        [*source_params, *params, limit, offset],
    )
    return [entry_from_row(r) for r in rows]


def iterate(
    store: Store, flt: EntryFilter, scope: Scope, *, archived: bool = True, batch: int = 10_000
) -> Iterator[StoredEntry]:
    """Every matching entry, in sequence order, read in batches."""
    offset = 0
    while True:
        page = search(store, flt, scope, limit=batch, offset=offset, archived=archived)
        yield from page
        if len(page) < batch:
            return
        offset += batch
