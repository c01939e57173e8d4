"""Grants: a consumer asks for fields of a conditional resource, the owner decides.

Sharing policy (国发〔2016〕51号):

- unconditional (无条件共享): every registered department may read; sensitive fields
  are masked unless a grant names them.
- conditional (有条件共享): only with an approved, unexpired grant whose purposes
  include the request's purpose; fields outside the grant are masked.
- not shared (不予共享): the owner only.

A grant is requested by the consumer for purposes that are 事项 codes (a case reads
under its matter's code: a free-text purpose no case would ever match is refused) and
decided by the owner; the answer is due within 10 working days on the real calendar
(法定节假日 and 调休, :mod:`exchange.catalog.grants_calendar`). The owner may later revoke
an approved grant or narrow it (fewer fields or purposes, an earlier expiry), and sees
the reads made under it (:mod:`exchange.catalog.grants_owner`). Every request, decision
and change, allowed or refused, is one audit entry, written here for the API, the CLI
and the console alike.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import duckdb
from pydantic import Field

from exchange import moment
from exchange.audit.log import AuditEvent, AuditLog
from exchange.catalog.grants_calendar import (
    ANSWER_WORKING_DAYS,
    add_working_days,
    answer_due,
    beijing_date,
)
from exchange.catalog.masking import AccessDecision
from exchange.catalog.resources import Catalog
from exchange.errors import Conflict, ExchangeError, Forbidden, InvalidRequest, NotFound
from exchange.store import Store
from schemas.base import StrictModel
from schemas.catalog import SharingType
from schemas.errors import ErrorCode
from schemas.matters import Matter, load_matters

if TYPE_CHECKING:
    from exchange.catalog.grants_owner import GrantChange, GrantNarrowing, GrantUses

__all__ = [
    "ANSWER_WORKING_DAYS",
    "GrantDecision",
    "GrantPublic",
    "GrantRequest",
    "Grants",
    "add_working_days",
    "check_purposes",
    "matter_fields",
]

# the longest a grant may last (about five years; setting api.max_grant_days)
MAX_GRANT_DAYS = 5 * 365 + 1


def check_purposes(purposes: list[str], resource: str | None = None) -> None:
    """Refuse purposes that are not 事项 codes where a matter reads ``resource``: a case
    reads under its matter's code, so any other purpose would never be matched.

    A resource that no known matter reads (one an operator added for the departments' own
    systems) is read through the API under the purpose its consumer states, as before."""
    matters = load_matters()
    if resource is not None and not _read_by_a_matter(resource, matters.values()):
        return
    unknown = [p for p in purposes if p not in matters]
    if unknown:
        known = ", ".join(f"{code} ({m.name})" for code, m in sorted(matters.items()))
        raise InvalidRequest(
            f"purposes must be 事项 (matter) codes, which cases read under; not matters: "
            f"{', '.join(repr(p[:64]) for p in unknown[:3])}; the matters are {known}",
            code=ErrorCode.PURPOSE_NOT_A_MATTER,
        )


def _read_by_a_matter(resource: str, matters: Iterable[Matter]) -> bool:
    """Whether a case of some matter reads ``resource``: as a resource or a check, or as
    the register behind an e-certificate type (its ``source_resource``)."""
    from schemas.certificates import certificate_type

    for matter in matters:
        for material in matter.materials:
            source = material.source
            if getattr(source, "resource", None) == resource:
                return True
            ctype = getattr(source, "certificate_type", None)
            if ctype and getattr(certificate_type(ctype), "source_resource", None) == resource:
                return True
    return False


def _today() -> date:
    return beijing_date(datetime.now(UTC))


def matter_fields(resource: str, purposes: list[str]) -> list[str]:
    """The fields of ``resource`` that the matters ``purposes`` read (a request's default)."""
    matters = load_matters()
    found: set[str] = set()
    for code in purposes:
        matter = matters.get(code)
        for material in matter.materials if matter else ():
            source = material.source
            if getattr(source, "resource", None) == resource:
                found.update(getattr(source, "fields", ()))
    return sorted(found)


class GrantRequest(StrictModel):
    resource: str = Field(max_length=128)
    fields: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        min_length=1, max_length=64
    )
    purposes: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        min_length=1,
        max_length=16,
        description="事项 (matter) codes the data will serve, e.g. "
        "budongchan.new_commercial_housing_transfer; a case reads under its matter's code",
    )
    reason: str = Field(min_length=1, max_length=1000)
    expires_at: datetime
    version: int | None = Field(
        default=None,
        ge=1,
        le=999_999,
        description="major version of the resource's schema the fields are read in "
        "(default: the latest); every field must exist in it",
    )


class GrantDecision(StrictModel):
    approve: bool
    reason: str = Field(min_length=1, max_length=1000)


class GrantPublic(StrictModel):
    id: str
    consumer: str
    resource: str
    owner: str
    fields: list[str]
    purposes: list[str]
    reason: str
    status: str  # pending | approved | refused | revoked
    requested_at: datetime
    answer_due: date
    overdue: bool = Field(description="超期未答复: pending after its answer deadline")
    expires_at: datetime
    active: bool = Field(default=False, description="approved and not expired: reads may use it")
    decided_at: datetime | None = None
    decided_by: str | None = None
    decision_reason: str | None = None


_GRANT_COLUMNS = (
    "id, consumer, resource, fields, purposes, reason, status, requested_at, "
    "answer_due, expires_at, decided_at, decided_by, decision_reason"
)


class Grants:
    """Grant requests and decisions (audited), and the access decision of a read."""

    def __init__(
        self,
        store: Store,
        catalog: Catalog,
        audit: AuditLog,
        *,
        max_grant_days: int = MAX_GRANT_DAYS,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.audit = audit
        self.max_grant_days = max_grant_days
        self._cache: dict[tuple[str, str], list[GrantPublic]] = {}
        self._generation = 0  # moved on by every change: a read that raced one keeps nothing
        self._cache_lock = threading.Lock()

    # -- requests and decisions ------------------------------------------------
    def request(self, consumer: str, req: GrantRequest) -> GrantPublic:
        """Record a pending grant request; audited (``grant.request``) either way."""
        event = AuditEvent(
            actor=consumer,
            action="grant.request",
            outcome="ok",
            target=req.resource,
            purpose=",".join(req.purposes),
        )
        try:
            grant = self._request(consumer, req)
        except ExchangeError as exc:
            event.outcome, event.code = "refused", exc.code.value
            self.audit.append(event)
            raise
        event.detail = {"grant": grant.id, "fields": grant.fields}
        self.audit.append(event)
        return grant

    def _request(self, consumer: str, req: GrantRequest) -> GrantPublic:
        definition = self.catalog.resource(req.resource, req.version)
        owner = self.catalog.owner(req.resource)
        if definition.sharing_type is not SharingType.CONDITIONAL:
            raise InvalidRequest(
                f"{req.resource} is {definition.sharing_type.value}: grants exist only for "
                "conditional resources",
                code=ErrorCode.GRANT_NOT_APPLICABLE,
            )
        if owner == consumer:
            raise InvalidRequest(
                "the owner of a resource needs no grant", code=ErrorCode.GRANT_NOT_APPLICABLE
            )
        check_purposes(req.purposes, req.resource)
        unknown = sorted(set(req.fields) - set(definition.field_names))
        if unknown:
            raise InvalidRequest(
                f"fields not in {req.resource} {definition.version}: {', '.join(unknown)}",
                code=ErrorCode.UNKNOWN_FIELD,
            )
        now = moment.now()
        if req.expires_at.tzinfo is None or req.expires_at <= now:
            raise InvalidRequest(
                "expires_at must be a future time with a time zone", code=ErrorCode.INVALID_EXPIRY
            )
        if req.expires_at > now + timedelta(days=self.max_grant_days):
            raise InvalidRequest(
                f"a grant lasts at most {self.max_grant_days} days: expires_at must be before "
                f"{now + timedelta(days=self.max_grant_days):%Y-%m-%d}; request a new grant then",
                code=ErrorCode.INVALID_EXPIRY,
            )
        grant_id = "grt_" + moment.token_hex(8)
        due = answer_due(now)
        self.store.execute(
            "INSERT INTO grants VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, NULL, NULL, NULL)",
            [
                grant_id,
                consumer,
                req.resource,
                sorted(set(req.fields)),
                sorted(set(req.purposes)),
                req.reason,
                now,
                due,
                req.expires_at,
            ],
        )
        self.forget()
        return self.grant(grant_id)

    def decide(self, grant_id: str, owner: str, decision: GrantDecision) -> GrantPublic:
        """The owner approves or refuses a pending grant; audited (``grant.decide``)."""
        event = AuditEvent(
            actor=owner,
            action="grant.decide",
            outcome="approved" if decision.approve else "refused",
            target=grant_id,
        )
        try:
            grant = self._decide(grant_id, owner, decision)
        except ExchangeError as exc:
            event.outcome, event.code = "refused", exc.code.value
            self.audit.append(event)
            raise
        event.detail = {"resource": grant.resource, "consumer": grant.consumer}
        self.audit.append(event)
        return grant

    def _decide(self, grant_id: str, owner: str, decision: GrantDecision) -> GrantPublic:
        grant = self.grant(grant_id)
        if grant.owner != owner:
            raise Forbidden(
                "only the resource's owner decides its grants", code=ErrorCode.NOT_OWNER
            )
        # One decision per grant: the update is conditional on the grant still pending, so
        # of two concurrent decisions one updates and the other finds it decided (or DuckDB
        # reports the concurrent write: the other decision won as well).
        try:
            won = self.store.fetchone(
                "UPDATE grants SET status = ?, decided_at = ?, decided_by = ?, "
                "decision_reason = ? WHERE id = ? AND status = 'pending' RETURNING id",
                [
                    "approved" if decision.approve else "refused",
                    moment.now(),
                    owner,
                    decision.reason,
                    grant_id,
                ],
            )
        except duckdb.TransactionException:
            won = None
        self.forget()
        if won is None:
            status = self.grant(grant_id).status
            raise Conflict(
                f"grant {grant_id} was already {status}"
                if status != "pending"
                else f"grant {grant_id} is being decided by another request",
                code=ErrorCode.GRANT_ALREADY_DECIDED,
            )
        return self.grant(grant_id)

    # -- the owner's changes (exchange.catalog.grants_owner) ----------------------
    def revoke(self, grant_id: str, owner: str, reason: str) -> GrantPublic:
        """The owner withdraws an approved grant; the next read under it is refused."""
        from exchange.catalog.grants_owner import revoke

        return revoke(self, grant_id, owner, reason)

    def narrow(self, grant_id: str, owner: str, change: GrantNarrowing) -> GrantPublic:
        """The owner narrows an approved grant: fewer fields or purposes, earlier expiry."""
        from exchange.catalog.grants_owner import narrow

        return narrow(self, grant_id, owner, change)

    def uses(self, grant_id: str, uscc: str, *, limit: int = 100) -> GrantUses:
        """The reads made under a grant (from the audit index), for its owner or consumer."""
        from exchange.catalog.grants_owner import uses

        return uses(self, self.visible(grant_id, uscc), limit=limit)

    def history(self, grant_id: str, uscc: str) -> list[GrantChange]:
        """Request, decision and every change of a grant, from the audit index."""
        from exchange.catalog.grants_owner import history

        return history(self, self.visible(grant_id, uscc))

    def forget(self) -> None:
        """Drop the cached approved grants (after a change to any grant): now, and again
        once the change's transaction has ended, so that a read on another thread which
        missed the cache meanwhile and read the rows from before the commit keeps nothing
        (each drop moves the generation on; :meth:`_active` keeps what it read only if the
        generation did not move while it read)."""
        self._drop()
        self.store.when_ended(self._drop)

    def _drop(self) -> None:
        with self._cache_lock:
            self._generation += 1
            self._cache.clear()

    # -- reading grants ------------------------------------------------
    def _row(self, row: tuple[Any, ...]) -> GrantPublic:
        values = dict(zip([c.strip() for c in _GRANT_COLUMNS.split(",")], row, strict=True))
        values["owner"] = self.catalog.owner_or_none(values["resource"]) or ""
        values["overdue"] = values["status"] == "pending" and _today() > values["answer_due"]
        values["active"] = values["status"] == "approved" and values["expires_at"] > datetime.now(
            UTC
        )
        return GrantPublic(**values)

    def grant(self, grant_id: str) -> GrantPublic:
        row = self.store.fetchone(
            f"SELECT {_GRANT_COLUMNS} FROM grants WHERE id = ?",  # noqa: S608
            [grant_id],
        )
        if row is None:
            raise NotFound(f"no grant {grant_id}")
        return self._row(row)

    def visible(self, grant_id: str, uscc: str) -> GrantPublic:
        """One grant, for its consumer or the resource's owner only."""
        grant = self.grant(grant_id)
        if uscc not in (grant.consumer, grant.owner):
            raise Forbidden(
                "only the requesting department and the owner see a grant",
                code=ErrorCode.FORBIDDEN,
            )
        return grant

    def grants_for(self, uscc: str, *, status: str | None = None) -> list[GrantPublic]:
        """Grants a department asked for, and those on resources it owns."""
        rows = self.store.fetchall(
            f"SELECT {_GRANT_COLUMNS} FROM grants "  # noqa: S608
            "WHERE (consumer = ? OR list_contains(?, resource)) "
            "AND (? IS NULL OR status = ?) ORDER BY requested_at DESC",
            [uscc, self.catalog.owned_by(uscc), status, status],
        )
        return [self._row(r) for r in rows]

    def every(self, *, status: str | None = None) -> list[GrantPublic]:
        """Every grant (the operator's view of the backlog), newest first."""
        rows = self.store.fetchall(
            f"SELECT {_GRANT_COLUMNS} FROM grants "  # noqa: S608
            "WHERE (? IS NULL OR status = ?) ORDER BY requested_at DESC",
            [status, status],
        )
        return [self._row(r) for r in rows]

    def _active(self, consumer: str, resource: str) -> list[GrantPublic]:
        key = (consumer, resource)
        with self._cache_lock:
            cached, generation = self._cache.get(key), self._generation
        if cached is None:
            rows = self.store.fetchall(
                f"SELECT {_GRANT_COLUMNS} FROM grants WHERE consumer = ? AND resource = ? "  # noqa: S608
                "AND status = 'approved'",
                [consumer, resource],
            )
            cached = [self._row(r) for r in rows]
            with self._cache_lock:  # kept if no change began or ended meanwhile, and not
                # read within a transaction of this thread's (its own rows, or an old snapshot)
                if generation == self._generation and not self.store.in_transaction():
                    self._cache[key] = cached
        now = datetime.now(UTC)
        return [g for g in cached if g.expires_at > now]

    # -- policy ------------------------------------------------
    def decide_access(self, consumer: str, resource: str, purpose: str) -> AccessDecision:
        """Apply the sharing type and grants; raise Forbidden when nothing may be read."""
        definition = self.catalog.resource(resource)
        all_fields = frozenset(definition.field_names)
        if self.catalog.owner(resource) == consumer:
            return AccessDecision(definition, True, all_fields, None)
        grants = [g for g in self._active(consumer, resource) if purpose in g.purposes]
        granted = frozenset(f for g in grants for f in g.fields)
        grant_id = grants[0].id if grants else None
        if definition.sharing_type is SharingType.NOT_SHARED:
            raise Forbidden(
                f"{resource} is not shared (不予共享): only its owner reads it",
                code=ErrorCode.NOT_SHARED,
            )
        if definition.sharing_type is SharingType.UNCONDITIONAL:
            clear = (all_fields - frozenset(definition.sensitive_fields)) | granted
            return AccessDecision(definition, False, clear, grant_id)
        if not grants:
            raise Forbidden(
                f"{resource} is conditional (有条件共享) and you hold no approved grant for "
                "purpose "
                f"{purpose!r}; request one with POST /v1/grants",
                code=ErrorCode.GRANT_MISSING,
            )
        return AccessDecision(definition, False, granted, grant_id)
