"""Catalog management (operator): add a resource, update its schema version, list versions.

A thin shell over :class:`exchange.catalog.service.CatalogService`, which checks the
definition against the resource meta-schema, decides the version and writes the audit
entry naming the operator.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query

from exchange.api.deps import ExchangeDep, Operator, protected_router
from exchange.catalog.service import CatalogChange, CatalogEntry, catalog_service
from exchange.errors import InvalidRequest
from schemas.base import StrictModel
from schemas.catalog import ResourceDefinition
from schemas.errors import ErrorCode

router = protected_router("/v1/admin/catalog", ["admin"])


class CatalogEntries(StrictModel):
    data: list[CatalogEntry]
    count: int


class ResourceVersionsPublic(StrictModel):
    data: list[dict[str, Any]]
    count: int


@router.get("", summary="Every resource with the versions of its schema (operator)")
def list_catalog(exchange: ExchangeDep, _: Operator) -> CatalogEntries:
    data = catalog_service(exchange).list()
    return CatalogEntries(data=data, count=len(data))


@router.post("", summary="Add a resource to the catalog at version 1.0 (operator)", status_code=201)
def add_resource(
    definition: ResourceDefinition, exchange: ExchangeDep, principal: Operator
) -> CatalogChange:
    """The definition has the form of ``schemas/resources/*.json``; its ``version`` is
    ignored (the catalog numbers versions)."""
    return catalog_service(exchange).add(definition, actor=principal.uscc)


@router.put(
    "/{code}",
    summary="A new version of a resource's schema: compatible changes are a minor version; "
    "major=true starts a new major version (operator)",
)
def update_resource(
    code: str,
    definition: ResourceDefinition,
    exchange: ExchangeDep,
    principal: Operator,
    major: Annotated[
        bool, Query(description="start a new major version (allows incompatible changes)")
    ] = False,
) -> CatalogChange:
    if definition.code != code:
        raise InvalidRequest(
            f"the definition's code {definition.code} is not {code} of the path",
            code=ErrorCode.INVALID_DEFINITION,
        )
    return catalog_service(exchange).update(definition, actor=principal.uscc, major=major)


@router.get("/{code}/versions", summary="Every version of a resource's definition (operator)")
def resource_versions(code: str, exchange: ExchangeDep, _: Operator) -> ResourceVersionsPublic:
    data = [d.model_dump(mode="json", by_alias=True) for d in exchange.catalog.versions(code)]
    return ResourceVersionsPublic(data=data, count=len(data))
