"""Catalog pages: every shared resource with its owner, sharing type and fields."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import Request
from fastapi.responses import HTMLResponse

from exchange.api.deps import CurrentDept, ExchangeDep
from exchange.web.guard import console_router
from exchange.web.pages import render
from schemas.catalog import Role, SharingType
from schemas.matters import load_matters

__all__ = ["router"]

router = console_router("/catalog")

SHARING_EN = {
    SharingType.UNCONDITIONAL: "unconditional",
    SharingType.CONDITIONAL: "conditional",
    SharingType.NOT_SHARED: "not shared",
}


@router.get("", response_class=HTMLResponse)
def catalog(request: Request, exchange: ExchangeDep, principal: CurrentDept) -> HTMLResponse:
    rows = [
        {
            "definition": definition,
            "owner": exchange.registry.department(owner),
            "mine": owner == principal.uscc,
            "sharing_en": SHARING_EN[definition.sharing_type],
        }
        for definition, owner in exchange.catalog.resources()
    ]
    counts = {
        t: sum(1 for d, _ in exchange.catalog.resources() if d.sharing_type is t)
        for t in SharingType
    }
    return render(
        request,
        "catalog.html",
        {"rows": rows, "counts": counts, "sharing_en": SHARING_EN},
        active="catalog",
    )


@router.get("/{code}", response_class=HTMLResponse)
def resource(
    code: str, request: Request, exchange: ExchangeDep, principal: CurrentDept
) -> HTMLResponse:
    definition = exchange.catalog.resource(code)
    owner = exchange.registry.department(exchange.catalog.owner(code))
    may_request = (
        definition.sharing_type is SharingType.CONDITIONAL
        and owner.uscc != principal.uscc
        and (principal.has(Role.DEPARTMENT) or principal.has(Role.APPROVER))
    )
    mine = [
        g
        for g in exchange.grants.grants_for(principal.uscc)
        if g.resource == code and g.consumer == principal.uscc
    ]
    matters = sorted(load_matters().values(), key=lambda m: m.code)
    default_expiry = (datetime.now(UTC) + timedelta(days=365)).date().isoformat()
    return render(
        request,
        "resource.html",
        {
            "definition": definition,
            "owner": owner,
            "sharing_en": SHARING_EN[definition.sharing_type],
            "may_request": may_request,
            "my_grants": mine,
            "matters": matters,
            "default_expiry": default_expiry,
        },
        active="catalog",
    )
