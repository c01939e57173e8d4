"""一件事一次办: resolve a case into a signed bundle; the materials figures per matter."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query

from exchange.api.deps import Approver, CurrentDept, ExchangeDep, protected_router
from exchange.cases.models import CaseRequest, MatterFigures
from schemas.base import StrictModel

router = protected_router("/v1", ["cases"])


class MaterialsFigures(StrictModel):
    data: list[MatterFigures]
    count: int


@router.post(
    "/cases", summary="Resolve a matter's materials for applicants (signed bundle)", status_code=201
)
def resolve_case(
    request: CaseRequest, exchange: ExchangeDep, principal: Approver
) -> dict[str, Any]:
    return exchange.cases.resolve(principal, request)


@router.get("/cases/{case_no}", summary="A resolved case's bundle (its approver, auditors)")
def get_case(
    case_no: str,
    exchange: ExchangeDep,
    principal: CurrentDept,
    approver: Annotated[
        str | None,
        Query(
            min_length=18,
            max_length=18,
            description="auditors: the approving department's USCC (case numbers are per approver)",
        ),
    ] = None,
) -> dict[str, Any]:
    return exchange.cases.get(case_no, principal, approver=approver)


@router.get("/metrics/materials", summary="Materials required, obtained, to bring, per matter")
def materials_metrics(exchange: ExchangeDep, _: CurrentDept) -> MaterialsFigures:
    data = exchange.cases.figures()
    return MaterialsFigures(data=data, count=len(data))
