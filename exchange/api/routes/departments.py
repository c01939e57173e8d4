"""Registered departments (public information about them: USCC, name, region, key ids)."""

from __future__ import annotations

from exchange.api.deps import CurrentDept, ExchangeDep, protected_router
from schemas.base import StrictModel
from schemas.catalog import DepartmentPublic

router = protected_router("/v1/departments", ["departments"])


class DepartmentsPublic(StrictModel):
    data: list[DepartmentPublic]
    count: int


@router.get("", summary="List registered departments")
def list_departments(exchange: ExchangeDep, _: CurrentDept) -> DepartmentsPublic:
    data = [exchange.registry.public(d.uscc) for d in exchange.registry.departments()]
    return DepartmentsPublic(data=data, count=len(data))


@router.get("/me", summary="The calling department")
def me(exchange: ExchangeDep, principal: CurrentDept) -> DepartmentPublic:
    return exchange.registry.public(principal.uscc)
