"""The catalog of shared resources and the grants that open conditional ones.

Sharing policy (国发〔2016〕51号):

- unconditional (无条件共享): every registered department may read; sensitive fields
  are masked unless a grant names them.
- conditional (有条件共享): only with an approved, unexpired grant whose purposes
  include the request's purpose; fields outside the grant are masked.
- not shared (不予共享): the owner only.

A grant is requested by the consumer and decided by the owner; the answer is
due within 10 working days (weekends skipped; public holidays are not modelled).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from pydantic import Field

from exchange.departments.registry import Registry
from exchange.errors import Conflict, Forbidden, InvalidRequest, NotFound
from exchange.store import Store
from schemas._base import StrictModel
from schemas.catalog import ResourceDefinition, SharingType, load_resources
from schemas.errors import ErrorCode

__all__ = [
    "ANSWER_WORKING_DAYS",
    "AccessDecision",
    "Catalog",
    "GrantDecision",
    "GrantPublic",
    "GrantRequest",
    "add_working_days",
]

# the longest a grant may last (about five years; setting api.max_grant_days)
MAX_GRANT_DAYS = 5 * 365 + 1

ANSWER_WORKING_DAYS = 10


def add_working_days(start: date, days: int) -> date:
    current = start
    added = 0
    while added < days:
        current += timedelta(days=1)
        if current.weekday() < 5:
            added += 1
    return current


class GrantRequest(StrictModel):
    resource: str = Field(max_length=128)
    fields: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        min_length=1, max_length=64
    )
    purposes: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        min_length=1, max_length=16, description="事项 codes or purposes the data will serve"
    )
    reason: str = Field(min_length=1, max_length=1000)
    expires_at: datetime


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
    status: str  # pending | approved | refused
    requested_at: datetime
    answer_due: date
    overdue: bool
    expires_at: datetime
    decided_at: datetime | None = None
    decided_by: str | None = None
    decision_reason: str | None = None


@dataclass(frozen=True)
class AccessDecision:
    """What a consumer may see of a resource for one purpose."""

    resource: ResourceDefinition
    owner: bool
    clear_fields: frozenset[str]
    grant_id: str | None


class Catalog:
    """Resources (with their owner departments) and grants."""

    def __init__(
        self, store: Store, registry: Registry, *, max_grant_days: int = MAX_GRANT_DAYS
    ) -> None:
        self.store = store
        self.registry = registry
        self.max_grant_days = max_grant_days
        self.definitions = load_resources()
        self._owners: dict[str, str] = {}
        self._grant_cache: dict[tuple[str, str], list[GrantPublic]] = {}
        self.reload()

    def reload(self) -> None:
        self._owners = dict(self.store.fetchall("SELECT code, owner_uscc FROM resources"))
        self._grant_cache.clear()

    def install(self) -> int:
        """Register every packaged resource whose owner department exists."""
        count = 0
        for code, definition in self.definitions.items():
            if code in self._owners:
                continue
            try:
                owner = self.registry.by_code(definition.owner)
            except NotFound:
                continue
            self.store.execute(
                "INSERT INTO resources VALUES (?, ?, ?)",
                [code, owner.uscc, definition.model_dump_json(by_alias=True)],
            )
            count += 1
        self.reload()
        return count

    # -- resources ------------------------------------------------
    def resource(self, code: str) -> ResourceDefinition:
        if code not in self._owners:
            raise NotFound(
                f"no resource {code!r} in the catalog; list them with GET /v1/resources",
                code=ErrorCode.UNKNOWN_RESOURCE,
            )
        return self.definitions[code]

    def owner(self, code: str) -> str:
        self.resource(code)
        return self._owners[code]

    def resources(self) -> list[tuple[ResourceDefinition, str]]:
        return [(self.definitions[c], o) for c, o in sorted(self._owners.items())]

    # -- grants ------------------------------------------------
    def request_grant(self, consumer: str, req: GrantRequest) -> GrantPublic:
        definition = self.resource(req.resource)
        owner = self._owners[req.resource]
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
        unknown = sorted(set(req.fields) - set(definition.field_names))
        if unknown:
            raise InvalidRequest(
                f"fields not in {req.resource}: {', '.join(unknown)}",
                code=ErrorCode.UNKNOWN_FIELD,
            )
        now = datetime.now(UTC)
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
        grant_id = "grt_" + secrets.token_hex(8)
        due = add_working_days(now.date(), ANSWER_WORKING_DAYS)
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
        self._grant_cache.clear()
        return self.grant(grant_id)

    def decide(self, grant_id: str, owner: str, decision: GrantDecision) -> GrantPublic:
        grant = self.grant(grant_id)
        if grant.owner != owner:
            raise Forbidden(
                "only the resource's owner decides its grants", code=ErrorCode.NOT_OWNER
            )
        if grant.status != "pending":
            raise Conflict(f"grant {grant_id} was already {grant.status}")
        self.store.execute(
            "UPDATE grants SET status = ?, decided_at = ?, decided_by = ?, decision_reason = ? "
            "WHERE id = ?",
            [
                "approved" if decision.approve else "refused",
                datetime.now(UTC),
                owner,
                decision.reason,
                grant_id,
            ],
        )
        self._grant_cache.clear()
        return self.grant(grant_id)

    _GRANT_COLUMNS = (
        "id, consumer, resource, fields, purposes, reason, status, requested_at, "
        "answer_due, expires_at, decided_at, decided_by, decision_reason"
    )

    def _row(self, row: tuple[Any, ...]) -> GrantPublic:
        values = dict(zip([c.strip() for c in self._GRANT_COLUMNS.split(",")], row, strict=True))
        values["owner"] = self._owners.get(values["resource"], "")
        values["overdue"] = values["status"] == "pending" and date.today() > values["answer_due"]
        return GrantPublic(**values)

    def grant(self, grant_id: str) -> GrantPublic:
        row = self.store.fetchone(
            f"SELECT {self._GRANT_COLUMNS} FROM grants WHERE id = ?",  # noqa: S608
            [grant_id],
        )
        if row is None:
            raise NotFound(f"no grant {grant_id}")
        return self._row(row)

    def grants_for(self, uscc: str, *, status: str | None = None) -> list[GrantPublic]:
        """Grants a department asked for, and those on resources it owns."""
        owned = [c for c, o in self._owners.items() if o == uscc]
        rows = self.store.fetchall(
            f"SELECT {self._GRANT_COLUMNS} FROM grants "  # noqa: S608
            "WHERE (consumer = ? OR list_contains(?, resource)) "
            "AND (? IS NULL OR status = ?) ORDER BY requested_at DESC",
            [uscc, owned, status, status],
        )
        return [self._row(r) for r in rows]

    def _active_grants(self, consumer: str, resource: str) -> list[GrantPublic]:
        key = (consumer, resource)
        cached = self._grant_cache.get(key)
        if cached is None:
            rows = self.store.fetchall(
                f"SELECT {self._GRANT_COLUMNS} FROM grants WHERE consumer = ? AND resource = ? "  # noqa: S608
                "AND status = 'approved'",
                [consumer, resource],
            )
            cached = [self._row(r) for r in rows]
            self._grant_cache[key] = cached
        now = datetime.now(UTC)
        return [g for g in cached if g.expires_at > now]

    # -- policy ------------------------------------------------
    def decide_access(self, consumer: str, resource: str, purpose: str) -> AccessDecision:
        """Apply the sharing type and grants; raise Forbidden when nothing may be read."""
        definition = self.resource(resource)
        all_fields = frozenset(definition.field_names)
        if self._owners[resource] == consumer:
            return AccessDecision(definition, True, all_fields, None)
        grants = [g for g in self._active_grants(consumer, resource) if purpose in g.purposes]
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


def mask_value(field: str, value: Any, definition: ResourceDefinition) -> Any:
    """Mask one value: keep the shape, hide the content (个人信息保护法 第6条)."""
    if isinstance(value, list):
        return [mask_value(field, v, definition) for v in value]
    if not isinstance(value, str):
        return None
    spec = definition.json_schema.get("properties", {}).get(field, {})
    fmt = spec.get("format") or (spec.get("items") or {}).get("format")
    if fmt in ("cn-id", "uscc") and len(value) == 18:
        return value[:6] + "*" * 8 + value[-4:]
    if field.endswith("name") and value:
        return value[0] + "*" * max(1, len(value) - 1)
    return "*" * min(max(len(value), 2), 8)


def apply_mask(data: dict[str, Any], decision: AccessDecision) -> tuple[dict[str, Any], list[str]]:
    if decision.owner:
        return data, []
    out: dict[str, Any] = {}
    masked: list[str] = []
    for field, value in data.items():
        if field in decision.clear_fields:
            out[field] = value
        else:
            out[field] = mask_value(field, value, decision.resource)
            masked.append(field)
    return out, masked


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
