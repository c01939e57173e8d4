"""The operations of the department lifecycle and the catalog (``govex department …``,
``govex catalog …``), on every path of the admin channel.

Each is a thin caller of :class:`exchange.departments.lifecycle.DepartmentAdmin` or
:class:`exchange.catalog.service.CatalogService`, which write the domain's own audit entry
(``department.add``, ``catalog.update`` …) in the same transaction as the change; the
channel adds ``admin.<name>`` naming who asked and how (:func:`~.operations.run_operation`).
The domain entry names the operating department of the exchange for a local operator
(the data directory's owner) and the operator department for a remote one.

Only public material crosses the channel: the CLI reads ``auth.pub.pem`` and the CSRs of
``govex keys new`` and sends their text, never a path the server would open.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from exchange.admin.operations import NoParams, OperationContext, Params, operation
from exchange.departments.keyfolder import KeyMaterial
from schemas.catalog import Department, Role

__all__: list[str] = []  # operations are found by name (exchange.admin.operations.lookup)

_PEM = 16_384
Purpose = Literal["auth", "seal", "cert"]


def _actor(ctx: OperationContext) -> str:
    """Who the domain's audit entry names: the remote operator department, or the
    exchange's own operating department for the data directory's owner."""
    if ctx.operator.local:
        return str(ctx.exchange.identity.uscc)
    return ctx.operator.actor


# --------------------------------------------------------------------------- departments


class DepartmentAddParams(Params):
    uscc: str = Field(min_length=1, max_length=64, description="统一社会信用代码")
    code: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=500)
    region: str = Field(min_length=1, max_length=16, description="行政区划代码")
    roles: list[Role] = Field(default_factory=lambda: [Role.DEPARTMENT], min_length=1, max_length=4)
    auth_public_key: str = Field(min_length=1, max_length=_PEM, description="auth.pub.pem")
    seal_csr: str = Field(min_length=1, max_length=_PEM, description="seal.csr.pem")
    cert_csr: str = Field(min_length=1, max_length=_PEM, description="cert.csr.pem")


@operation("department.add", DepartmentAddParams)
def department_add(ctx: OperationContext, params: DepartmentAddParams) -> dict[str, Any]:
    """Register a department and certify its auth, seal and cert keys."""
    exchange = ctx.exchange
    department = Department(
        uscc=params.uscc.strip(),
        code=params.code,
        name=params.name,
        region=params.region.strip(),
        roles=params.roles,
    )
    material = [
        KeyMaterial("auth", params.auth_public_key),
        KeyMaterial("seal", params.seal_csr),
        KeyMaterial("cert", params.cert_csr),
    ]
    added = exchange.departments.add(_actor(ctx), department, material)
    keys = [{"purpose": k.purpose, "kid": k.kid} for k in exchange.registry.keys(added.uscc)]
    return {"uscc": added.uscc, "code": added.code, "name": added.name, "keys": keys}


class KeyRotateParams(Params):
    dept: str = Field(min_length=1, max_length=64, description="department code or USCC")
    purpose: Purpose
    pem: str = Field(
        min_length=1, max_length=_PEM, description="auth.pub.pem for auth, the CSR otherwise"
    )


@operation("department.key.rotate", KeyRotateParams)
def department_key_rotate(ctx: OperationContext, params: KeyRotateParams) -> dict[str, Any]:
    """Certify a new key for one purpose; the old one rotates out (its signatures stay valid)."""
    exchange = ctx.exchange
    key = exchange.departments.rotate_key(
        _actor(ctx), params.dept, KeyMaterial(params.purpose, params.pem)
    )
    department = exchange.registry.department(key.uscc)
    return {"uscc": key.uscc, "code": department.code, "purpose": key.purpose, "kid": key.kid}


class KeyRevokeParams(Params):
    dept: str = Field(min_length=1, max_length=64, description="department code or USCC")
    purpose: Purpose
    reason: str = Field(min_length=1, max_length=500)
    kid: str | None = Field(default=None, min_length=1, max_length=128)


@operation("department.key.revoke", KeyRevokeParams)
def department_key_revoke(ctx: OperationContext, params: KeyRevokeParams) -> dict[str, Any]:
    """Revoke a key at once: its tokens stop working, its later signatures are refused."""
    exchange = ctx.exchange
    key = exchange.departments.revoke_key(
        _actor(ctx), params.dept, params.purpose, params.reason, params.kid
    )
    department = exchange.registry.department(key.uscc)
    return {
        "uscc": key.uscc,
        "code": department.code,
        "purpose": key.purpose,
        "kid": key.kid,
        "ended_at": key.ended_at.isoformat() if key.ended_at else None,
    }


class StateParams(Params):
    dept: str = Field(min_length=1, max_length=64, description="department code or USCC")
    reason: str = Field(min_length=1, max_length=500)


def _state(ctx: OperationContext, params: StateParams, action: str) -> dict[str, Any]:
    exchange = ctx.exchange
    department = getattr(exchange.departments, action)(_actor(ctx), params.dept, params.reason)
    state = exchange.registry.status(department.uscc).state.value
    return {"uscc": department.uscc, "code": department.code, "state": state}


@operation("department.suspend", StateParams)
def department_suspend(ctx: OperationContext, params: StateParams) -> dict[str, Any]:
    """Suspend a department at once: its tokens stop working; its records stay."""
    return _state(ctx, params, "suspend")


@operation("department.resume", StateParams)
def department_resume(ctx: OperationContext, params: StateParams) -> dict[str, Any]:
    """Resume a suspended department."""
    return _state(ctx, params, "resume")


@operation("department.remove", StateParams)
def department_remove(ctx: OperationContext, params: StateParams) -> dict[str, Any]:
    """Remove a department for good: it can no longer act; its records stay."""
    return _state(ctx, params, "remove")


# --------------------------------------------------------------------------- catalog


class CatalogAddParams(Params):
    definition: dict[str, Any] = Field(description="the form of schemas/resources/*.json")


class CatalogUpdateParams(CatalogAddParams):
    major: bool = False


@operation("catalog.add", CatalogAddParams)
def catalog_add(ctx: OperationContext, params: CatalogAddParams) -> dict[str, Any]:
    """Add a resource to the catalog at version 1.0 (its owner department must exist)."""
    from exchange.catalog.service import catalog_service

    change = catalog_service(ctx.exchange).add(params.definition, actor=_actor(ctx))
    return change.model_dump(mode="json")


@operation("catalog.update", CatalogUpdateParams)
def catalog_update(ctx: OperationContext, params: CatalogUpdateParams) -> dict[str, Any]:
    """A new version of a resource's schema; an incompatible change needs major."""
    from exchange.catalog.service import catalog_service

    change = catalog_service(ctx.exchange).update(
        params.definition, actor=_actor(ctx), major=params.major
    )
    return change.model_dump(mode="json")


@operation("catalog.list", NoParams)
def catalog_list(ctx: OperationContext, params: NoParams) -> list[dict[str, Any]]:
    """Every resource with its owner, sharing type and schema versions."""
    from exchange.catalog.service import catalog_service

    return [e.model_dump(mode="json") for e in catalog_service(ctx.exchange).list()]
