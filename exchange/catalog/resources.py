"""The catalog of shared resources (政务信息资源目录): each resource with its owner department.

The definitions (fields, sharing type, key and subject fields) are packaged in
``schemas/resources``; the exchange registers those whose owner department exists, at
version 1.0. From then on the data directory holds them: every version of every
resource's schema (``resource_versions``), changed on a running exchange through
:class:`exchange.catalog.service.CatalogService`. :meth:`Catalog.resource` answers the
latest version (or the latest of one major); :meth:`Catalog.definition_at` the version a
record was validated against.
"""

from __future__ import annotations

from exchange.catalog.versions import SchemaVersion
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
        self.definitions: dict[str, ResourceDefinition] = {}  # the latest version of each
        self._versions: dict[str, dict[SchemaVersion, ResourceDefinition]] = {}
        self._owners: dict[str, str] = {}
        self.reload()

    def reload(self) -> None:
        """Read the catalog from the data directory again (after a change)."""
        rows = self.store.fetchall("SELECT code, owner_uscc, definition FROM resources")
        versions: dict[str, dict[SchemaVersion, ResourceDefinition]] = {}
        for code, major, minor, text in self.store.fetchall(
            "SELECT code, major, minor, definition FROM resource_versions"
        ):
            version = SchemaVersion(int(major), int(minor))
            definition = ResourceDefinition.model_validate_json(text)
            versions.setdefault(code, {})[version] = definition.model_copy(
                update={"version": str(version)}
            )
        latest: dict[str, ResourceDefinition] = {}
        for code, _, text in rows:
            held = versions.get(code)
            if held:
                latest[code] = held[max(held)]
            else:  # a row without versions: its stored definition is 1.0
                definition = ResourceDefinition.model_validate_json(text)
                latest[code] = definition
                versions[code] = {SchemaVersion.parse(definition.version): definition}
        self._versions, self.definitions = versions, latest
        self._owners = {code: owner for code, owner, _ in rows}

    def install(self) -> int:
        """Register every packaged resource whose owner department exists."""
        count = 0
        for code, definition in load_resources().items():
            if code in self._owners:
                continue
            try:
                owner = self.registry.by_code(definition.owner)
            except NotFound:
                continue
            text = definition.model_dump_json(by_alias=True)
            with self.store.transaction() as tx:
                tx.execute("INSERT INTO resources VALUES (?, ?, ?)", [code, owner.uscc, text])
                tx.execute(
                    "INSERT INTO resource_versions VALUES (?, 1, 0, ?, now(), 'install')",
                    [code, text],
                )
            count += 1
        self.reload()
        return count

    def resource(self, code: str, major: int | None = None) -> ResourceDefinition:
        """The latest version of a resource, or the latest of its ``major`` version."""
        if code not in self._owners:
            raise NotFound(
                f"no resource {code!r} in the catalog; list them with GET /v1/resources",
                code=ErrorCode.UNKNOWN_RESOURCE,
            )
        if major is None:
            return self.definitions[code]
        held = [v for v in self._versions[code] if v.major == major]
        if not held:
            majors = sorted({v.major for v in self._versions[code]})
            raise NotFound(
                f"{code} has no version {major}: its major versions are "
                f"{', '.join(map(str, majors))}"
            )
        return self._versions[code][max(held)]

    def definition_at(self, code: str, version: str) -> ResourceDefinition:
        """The definition a record was validated against (its ``schema_version``)."""
        latest = self.resource(code)
        if version == latest.version:
            return latest
        held = self._versions.get(code, {})
        try:
            wanted = SchemaVersion.parse(version)
        except ValueError:
            return latest
        found = held.get(wanted)
        if found is None:  # not kept: the latest of its major, else the latest
            same = [v for v in held if v.major == wanted.major]
            found = held[max(same)] if same else latest
        return found

    def versions(self, code: str) -> list[ResourceDefinition]:
        """Every version of a resource, oldest first."""
        self.resource(code)
        held = self._versions[code]
        return [held[v] for v in sorted(held)]

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
