"""Catalog management on a running exchange: add a resource, update its schema, list them.

The operator (运维, 大数据局) manages the catalog (政务信息资源目录) while the exchange runs;
the API (``/v1/admin/catalog``) and the CLI (``govex catalog``) are thin shells over
:class:`CatalogService`:

- :meth:`CatalogService.add` takes a new resource at version 1.0; its owner department
  must be registered;
- :meth:`CatalogService.update` takes a new version of a resource's schema: a compatible
  change is the next minor version; an incompatible one is refused
  (``exchange.incompatible_schema``, naming the field) unless ``major=True``, which starts
  the next major version (:mod:`exchange.catalog.versions` says which is which);
- :meth:`CatalogService.list` lists every resource with all its versions.

Every version is kept. A definition must fit the resource meta-schema
(:mod:`exchange.catalog.metaschema`). Each change is one audit entry (``catalog.add``,
``catalog.update``) naming the operator, written in the same transaction as the new
version; a refused change is audited too.
"""

from __future__ import annotations

import builtins
import threading
import weakref
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import duckdb
from pydantic import Field

from exchange import moment
from exchange.audit.log import AuditEvent, AuditLog, TxWork
from exchange.catalog.metaschema import parse_definition
from exchange.catalog.resources import Catalog
from exchange.catalog.versions import SchemaVersion, compatibility_problems, differences
from exchange.departments.registry import Registry
from exchange.errors import Conflict, ExchangeError, InvalidRequest, NotFound
from exchange.store import Store
from schemas.base import StrictModel
from schemas.catalog import ResourceDefinition, SharingType
from schemas.errors import ErrorCode

if TYPE_CHECKING:
    from exchange.service import Exchange

__all__ = [
    "CatalogChange",
    "CatalogEntry",
    "CatalogService",
    "ResourceVersionPublic",
    "catalog_service",
]

_MAX_DETAIL_CHANGES = 20  # an audit entry has a size cap: the first changes, then a count
Step = Callable[[], "tuple[CatalogChange, TxWork | None]"]
# one change at a time in this process: a version is numbered from the committed one before
_CHANGES = threading.Lock()


class ResourceVersionPublic(StrictModel):
    version: str = Field(examples=["1.1"])
    created_at: datetime
    created_by: str = Field(description="USCC of the operator department, or install/migration")


class CatalogEntry(StrictModel):
    """One resource of the catalog with every version of its schema."""

    code: str
    name: str
    owner: str = Field(description="USCC of the owner department")
    owner_code: str
    sharing_type: SharingType
    version: str = Field(description="the latest version")
    versions: list[ResourceVersionPublic]


class CatalogChange(StrictModel):
    """The answer to an add or an update."""

    code: str
    version: str
    previous: str | None = Field(description="the version before the change (None when added)")
    changed: bool = Field(description="false when the update was identical to the latest")
    changes: list[str]


class CatalogService:
    """Adds and updates catalog resources with versioned schemas (audited)."""

    def __init__(self, store: Store, catalog: Catalog, registry: Registry, audit: AuditLog) -> None:
        self.store = store
        self.catalog = catalog
        self.registry = registry
        self.audit = audit

    # -- changes ------------------------------------------------
    def add(
        self, definition: Mapping[str, Any] | ResourceDefinition, *, actor: str
    ) -> CatalogChange:
        """A new resource at version 1.0 (its owner department must be registered)."""
        event = AuditEvent(actor=actor, action="catalog.add", outcome="ok")
        try:
            checked = parse_definition(definition)
        except ExchangeError as exc:
            self._refused(event, exc, definition)
            raise
        return self.add_checked(_plain(checked), actor)

    def add_checked(self, definition: dict[str, Any], actor: str) -> CatalogChange:
        """:meth:`add` of a definition that fits the meta-schema, as JSON: the change
        itself, which every node of a cluster applies alike."""
        event = AuditEvent(actor=actor, action="catalog.add", outcome="ok")
        try:
            checked = parse_definition(definition)
            event.target = checked.code
            return self._audited(event, lambda: self._add(checked, actor))
        except ExchangeError as exc:
            self._refused(event, exc, definition)
            raise

    def update(
        self,
        definition: Mapping[str, Any] | ResourceDefinition,
        *,
        actor: str,
        major: bool = False,
    ) -> CatalogChange:
        """A new version of a resource: the next minor when compatible; the next major when
        ``major`` (any change); otherwise refused naming the incompatible fields."""
        event = AuditEvent(actor=actor, action="catalog.update", outcome="ok")
        try:
            checked = parse_definition(definition)
        except ExchangeError as exc:
            self._refused(event, exc, definition)
            raise
        return self.update_checked(_plain(checked), actor, major)

    def update_checked(self, definition: dict[str, Any], actor: str, major: bool) -> CatalogChange:
        """:meth:`update` of a definition that fits the meta-schema, as JSON: the change
        itself, which every node of a cluster applies alike."""
        event = AuditEvent(actor=actor, action="catalog.update", outcome="ok")
        try:
            checked = parse_definition(definition)
            event.target = checked.code
            return self._audited(event, lambda: self._update(checked, major, actor))
        except ExchangeError as exc:
            self._refused(event, exc, definition)
            raise

    def _refused(
        self, event: AuditEvent, exc: ExchangeError, raw: Mapping[str, Any] | ResourceDefinition
    ) -> None:
        if event.target is None:
            code = raw.code if isinstance(raw, ResourceDefinition) else None
            if code is None and isinstance(raw, Mapping):
                code = raw.get("code") if isinstance(raw.get("code"), str) else None
            event.target = None if code is None else str(code)[:128]
        event.outcome, event.code = "refused", exc.code.value
        event.detail = {"reason": exc.message[:500]}
        self.audit.append(event)

    def _audited(self, event: AuditEvent, step: Step) -> CatalogChange:
        with _CHANGES:
            change, work = step()
            if work is None:
                event.detail = {"version": change.version, "changed": False}
                self.audit.append(event)
                return change
            event.detail = {
                "version": change.version,
                "previous": change.previous,
                "changes": change.changes[:_MAX_DETAIL_CHANGES],
                "more_changes": max(0, len(change.changes) - _MAX_DETAIL_CHANGES),
            }
            try:
                self.audit.append(event, work=work)
            except (duckdb.ConstraintException, duckdb.TransactionException) as exc:
                raise Conflict(
                    f"{change.code} was changed at the same time; list the catalog and retry"
                ) from exc
            finally:
                self.catalog.reload()
            return change

    def _add(self, definition: ResourceDefinition, actor: str) -> tuple[CatalogChange, TxWork]:
        if definition.code in self.catalog.definitions or self.catalog.owner_or_none(
            definition.code
        ):
            raise Conflict(f"{definition.code} is already in the catalog; change it with an update")
        try:
            owner = self.registry.by_code(definition.owner)
        except NotFound:
            raise InvalidRequest(
                f"owner department {definition.owner!r} is not registered; register it first",
                code=ErrorCode.UNKNOWN_DEPARTMENT,
            ) from None
        stored = definition.model_copy(update={"version": "1.0"})
        text = stored.model_dump_json(by_alias=True)
        at = moment.now()

        def work(tx: duckdb.DuckDBPyConnection) -> None:
            tx.execute("INSERT INTO resources VALUES (?, ?, ?)", [stored.code, owner.uscc, text])
            tx.execute(
                "INSERT INTO resource_versions VALUES (?, 1, 0, ?, ?, ?)",
                [stored.code, text, at, actor],
            )

        change = CatalogChange(
            code=stored.code, version="1.0", previous=None, changed=True, changes=["added"]
        )
        return change, work

    def _update(
        self, definition: ResourceDefinition, major: bool, actor: str
    ) -> tuple[CatalogChange, TxWork | None]:
        current = self.catalog.resource(definition.code)
        if definition.owner != current.owner:
            raise InvalidRequest(
                f"{definition.code} belongs to {current.owner}; an update cannot give it to "
                f"{definition.owner}",
                code=ErrorCode.NOT_OWNER,
            )
        previous = SchemaVersion.parse(current.version)
        proposed = definition.model_copy(update={"version": current.version})
        if proposed.model_dump() == current.model_dump() and not major:
            change = CatalogChange(
                code=current.code,
                version=current.version,
                previous=current.version,
                changed=False,
                changes=[],
            )
            return change, None
        if not major:
            problems = compatibility_problems(current, definition)
            if problems:
                raise Conflict(
                    f"incompatible update of {current.code} {current.version}: "
                    f"{'; '.join(problems)}; publish it as a new major version (--major, "
                    "major=true) or keep the change compatible",
                    code=ErrorCode.INCOMPATIBLE_SCHEMA,
                    extra={"problems": problems},
                )
        version = previous.next(major=major)
        stored = definition.model_copy(update={"version": str(version)})
        text = stored.model_dump_json(by_alias=True)
        at = moment.now()

        def work(tx: duckdb.DuckDBPyConnection) -> None:
            tx.execute(
                "INSERT INTO resource_versions VALUES (?, ?, ?, ?, ?, ?)",
                [stored.code, version.major, version.minor, text, at, actor],
            )
            tx.execute("UPDATE resources SET definition = ? WHERE code = ?", [text, stored.code])

        changes = differences(current, definition) or ["no change but a new major version"]
        if major:
            changes = [f"new major version {version}", *changes]
        change = CatalogChange(
            code=stored.code,
            version=str(version),
            previous=current.version,
            changed=True,
            changes=changes,
        )
        return change, work

    # -- reading ------------------------------------------------
    def list(self) -> builtins.list[CatalogEntry]:
        """Every resource of the catalog with all its versions, by code."""
        rows = self.store.fetchall(
            "SELECT code, major, minor, created_at, created_by FROM resource_versions "
            "ORDER BY code, major, minor"
        )
        history: dict[str, list[ResourceVersionPublic]] = {}
        for code, major, minor, created_at, created_by in rows:
            history.setdefault(code, []).append(
                ResourceVersionPublic(
                    version=f"{major}.{minor}", created_at=created_at, created_by=created_by
                )
            )
        out = []
        for definition, owner in self.catalog.resources():
            out.append(
                CatalogEntry(
                    code=definition.code,
                    name=definition.name,
                    owner=owner,
                    owner_code=definition.owner,
                    sharing_type=definition.sharing_type,
                    version=definition.version,
                    versions=history.get(definition.code, []),
                )
            )
        return out


# one service per catalog, so a cluster node's control plane can send its changes
# through the control topic (exchange.cluster.kinds)
_SERVICES: weakref.WeakKeyDictionary[Catalog, CatalogService] = weakref.WeakKeyDictionary()
_SERVICES_LOCK = threading.Lock()


def catalog_service(exchange: Exchange) -> CatalogService:
    """The catalog service of a composed exchange (the API and the CLI use this)."""
    with _SERVICES_LOCK:
        service = _SERVICES.get(exchange.catalog)
        if service is None:
            service = CatalogService(
                exchange.store, exchange.catalog, exchange.registry, exchange.audit
            )
            _SERVICES[exchange.catalog] = service
        return service


def _plain(definition: ResourceDefinition) -> dict[str, Any]:
    """A checked definition as the JSON it is stored as (``schema``, not ``json_schema``)."""
    plain: dict[str, Any] = definition.model_dump(mode="json", by_alias=True)
    return plain
