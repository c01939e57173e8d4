"""The operations behind ``govex staff …``: a department's staff accounts (工作人员).

``staff.add`` and ``staff.reset`` return the one-time enrolment code (shown once by the
CLI; the audit entries never hold it); ``staff.list``, ``staff.status`` (disable or
enable), ``staff.require_act`` and ``staff.oidc`` (the department's own identity
provider for its staff's sign-in; its client secret is never answered nor audited).
Each change is audited by :class:`exchange.departments.staff.Staff` with the operator as
actor, beside the
``admin.staff.*`` entry of :func:`exchange.admin.operations.run_operation`.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from exchange.admin.operations import OperationContext, Params, operation
from exchange.departments.staff import Enrolment
from exchange.departments.staff_roles import parse_roles
from exchange.errors import ExchangeError, InvalidRequest
from schemas.errors import ErrorCode

__all__: list[str] = []  # operations are found by name (exchange.admin.operations.lookup)

_DEPT = Field(min_length=1, max_length=64, description="the department's code or USCC")
_STAFF_ID = Field(min_length=1, max_length=64, description="the staff member's id")


def _uscc(ctx: OperationContext, dept: str) -> str:
    registry = ctx.exchange.registry
    try:
        return str(registry.department(dept).uscc)
    except ExchangeError:
        return str(registry.by_code(dept).uscc)


def _enrolment(enrolment: Enrolment) -> dict[str, Any]:
    return {
        "staff_id": enrolment.staff_id,
        "code": enrolment.code,
        "expires_at": enrolment.expires_at.isoformat(),
    }


class DeptParams(Params):
    dept: str = _DEPT


class StaffParams(Params):
    dept: str = _DEPT
    staff_id: str = _STAFF_ID


class AddParams(StaffParams):
    name: str = Field(min_length=1, max_length=100, description="the person's name")
    roles: list[str] = Field(min_length=1, max_length=10, description="staff role names")


class StatusParams(StaffParams):
    enabled: bool


class RequireActParams(DeptParams):
    on: bool


@operation("staff.add", AddParams)
def staff_add(ctx: OperationContext, params: AddParams) -> dict[str, Any]:
    """Add a staff member (pending until enrolled) and make their one-time enrolment code."""
    staff = ctx.exchange.staff
    roles = parse_roles(params.roles)
    uscc = _uscc(ctx, params.dept)
    return _enrolment(
        staff.add(uscc, params.staff_id, params.name, roles, actor=ctx.operator.actor)
    )


@operation("staff.list", DeptParams)
def staff_list(ctx: OperationContext, params: DeptParams) -> dict[str, Any]:
    """A department's staff (no secrets) and whether its reads must name the person."""
    staff = ctx.exchange.staff
    uscc = _uscc(ctx, params.dept)
    return {
        "department": uscc,
        "require_act": staff.requires_act(uscc),
        "staff": [member.public() for member in staff.of(uscc)],
    }


@operation("staff.status", StatusParams)
def staff_status(ctx: OperationContext, params: StatusParams) -> dict[str, Any]:
    """Disable an account (its sessions and act claims stop at once) or enable it again."""
    member = ctx.exchange.staff.set_status(
        _uscc(ctx, params.dept), params.staff_id, params.enabled, actor=ctx.operator.actor
    )
    return member.public()


@operation("staff.reset", StaffParams)
def staff_reset(ctx: OperationContext, params: StaffParams) -> dict[str, Any]:
    """Forget the password and TOTP secret; a new one-time enrolment code."""
    staff = ctx.exchange.staff
    uscc = _uscc(ctx, params.dept)
    return _enrolment(staff.reset(uscc, params.staff_id, actor=ctx.operator.actor))


@operation("staff.require_act", RequireActParams)
def staff_require_act(ctx: OperationContext, params: RequireActParams) -> dict[str, Any]:
    """Whether the department's reads must name the person (RFC 8693 act claim)."""
    uscc = _uscc(ctx, params.dept)
    ctx.exchange.staff.set_require_act(uscc, params.on, actor=ctx.operator.actor)
    return {"department": uscc, "require_act": params.on}


class OidcParams(DeptParams):
    issuer: str | None = Field(default=None, max_length=512, description="the provider's URL")
    client_id: str | None = Field(default=None, max_length=256)
    client_secret: str | None = Field(default=None, max_length=1024)
    staff_claim: str = Field(default="staff_id", min_length=1, max_length=128)
    off: bool = Field(default=False, description="staff sign in with passwords again")


@operation("staff.oidc", OidcParams)
def staff_oidc(ctx: OperationContext, params: OidcParams) -> dict[str, Any]:
    """Set (or with ``off`` remove) the department's own OpenID Connect provider."""
    oidc = ctx.exchange.staff.oidc
    uscc = _uscc(ctx, params.dept)
    if params.off:
        oidc.remove(uscc, actor=ctx.operator.actor)
        return {"department": uscc, "oidc": None}
    if not params.issuer or not params.client_id:
        raise InvalidRequest(
            "give the provider's --issuer and govex's --client-id there (or --off)",
            code=ErrorCode.INVALID_OPTION,
        )
    settings = oidc.set(
        uscc,
        issuer=params.issuer,
        client_id=params.client_id,
        client_secret=params.client_secret,
        staff_claim=params.staff_claim,
        actor=ctx.operator.actor,
    )
    return {"department": uscc, "oidc": settings.public()}
