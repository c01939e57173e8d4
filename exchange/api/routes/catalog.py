"""The catalog (政务信息资源目录): resources, their sharing type and items."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query
from pydantic import Field

from exchange.api.deps import CurrentDept, ExchangeDep, protected_router
from schemas.base import StrictModel
from schemas.catalog import Item, ResourceDefinition, SharingType

router = protected_router("/v1/resources", ["catalog"])


class ResourcePublic(StrictModel):
    code: str
    catalog_no: str
    name: str
    name_en: str
    owner: str = Field(description="USCC of the owner department")
    owner_name: str
    sharing_type: SharingType
    sharing_label: str
    key_field: str
    sensitive_fields: list[str]
    update_cycle: str
    version: str = Field(description="the latest version of the resource's schema (major.minor)")
    items: list[Item]


class ResourcesPublic(StrictModel):
    data: list[ResourcePublic]
    count: int


def _public(exchange: Any, definition: ResourceDefinition, owner: str) -> ResourcePublic:
    return ResourcePublic(
        code=definition.code,
        catalog_no=definition.catalog_no,
        name=definition.name,
        name_en=definition.name_en,
        owner=owner,
        owner_name=exchange.registry.department(owner).name,
        sharing_type=definition.sharing_type,
        sharing_label=definition.sharing_type.label,
        key_field=definition.key_field,
        sensitive_fields=definition.sensitive_fields,
        update_cycle=definition.update_cycle.value,
        version=definition.version,
        items=definition.items,
    )


@router.get("", summary="List the catalog")
def list_resources(exchange: ExchangeDep, _: CurrentDept) -> ResourcesPublic:
    data = [_public(exchange, d, o) for d, o in exchange.catalog.resources()]
    return ResourcesPublic(data=data, count=len(data))


@router.get("/{code}", summary="One catalog entry")
def get_resource(code: str, exchange: ExchangeDep, _: CurrentDept) -> ResourcePublic:
    definition = exchange.catalog.resource(code)
    return _public(exchange, definition, exchange.catalog.owner(code))


@router.get("/{code}/schema", summary="The JSON Schema of the resource's records")
def get_schema(
    code: str,
    exchange: ExchangeDep,
    _: CurrentDept,
    version: Annotated[
        int | None,
        Query(ge=1, le=999_999, description="major version (default: the latest)"),
    ] = None,
) -> dict[str, Any]:
    return exchange.catalog.resource(code, version).json_schema
