"""``POST /v1/admin/ops/{name}``: the operator's operations over the API (``govex … --url``).

The same registry as the local admin socket (:mod:`exchange.admin.operations`), for a
department holding the operator role, with its access token. Operations that write files
on the exchange's host (``backup``) are refused here (403 ``exchange.local_only``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI

from exchange.admin.operations import Operator, operations, run_operation
from exchange.api.deps import ExchangeDep, protected_router, require_role
from exchange.departments.auth import Principal
from schemas.catalog import Role

__all__ = ["install_admin_routes", "router"]

router = protected_router("/v1/admin", tags=["admin"])
OperatorDept = Annotated[Principal, Depends(require_role(Role.OPERATOR))]


@router.get("/ops", summary="The operator's operations by name")
def list_operations(principal: OperatorDept) -> dict[str, str]:
    return {name: op.summary for name, op in sorted(operations().items())}


@router.post("/ops/{name}", summary="Run one of the operator's operations (audited)")
def run(
    name: str,
    exchange: ExchangeDep,
    principal: OperatorDept,
    params: Annotated[dict[str, Any], Body(default_factory=dict)],
) -> Any:
    operator = Operator(principal.uscc, principal.code, "remote")
    return run_operation(exchange, name, params, operator)


def install_admin_routes(app: FastAPI) -> None:
    """Add the admin routes to the API (:func:`exchange.server.build_app` does)."""
    app.include_router(router)
