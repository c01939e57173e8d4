"""The catalog of shared resources (政务信息资源目录): each resource with its owner department.

The definitions (fields, sharing type, key and subject fields) are packaged in
``schemas/resources``; the exchange registers those whose owner department exists.
"""

from __future__ import annotations

from exchange.departments.registry import Registry
from exchange.errors import NotFound
from exchange.store import Store
from schemas.catalog import ResourceDefinition, load_resources
from schemas.errors import ErrorCode

__all__ = ["Catalog"]


class Catalog:
    """Resources and their owner departments."""

    def __init__(self, store: Store, registry: Registry) -> None:
        self.store = store
        self.registry = registry
        self.definitions = load_resources()
        self._owners: dict[str, str] = {}
        self.reload()

    def reload(self) -> None:
        self._owners = dict(self.store.fetchall("SELECT code, owner_uscc FROM resources"))

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

    def owner_or_none(self, code: str) -> str | None:
        return self._owners.get(code)

    def owned_by(self, uscc: str) -> list[str]:
        """Codes of the resources a department owns."""
        return sorted(c for c, o in self._owners.items() if o == uscc)

    def resources(self) -> list[tuple[ResourceDefinition, str]]:
        return [(self.definitions[c], o) for c, o in sorted(self._owners.items())]
