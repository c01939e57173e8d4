"""The operations behind ``govex grant request|decide|revoke|narrow|list``.

A grant is asked for and decided by departments: on the local paths (the data directory
or the admin socket) the operator names the department it acts for (``dept``; a decision
defaults to the resource's owner); over ``--url`` an operator department acts only as
itself (the CLI sends a department's own calls to ``/v1/grants``). The grants service
applies the rules and writes the ``grant.*`` audit entry; :func:`run_operation` adds the
``admin.grant.*`` entry naming the operator.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import Field

from exchange.admin.operations import OperationContext, Params, operation
from exchange.catalog.grants import GrantDecision, GrantRequest, check_purposes, matter_fields
from exchange.catalog.grants_owner import GrantNarrowing
from exchange.errors import ExchangeError, Forbidden, InvalidRequest
from schemas.errors import ErrorCode

__all__: list[str] = []  # operations are found by name (exchange.admin.operations.lookup)

Text = Annotated[str, Field(min_length=1, max_length=200)]


def _uscc(ctx: OperationContext, dept: str | None) -> str | None:
    """The department named (code or USCC), if any; remote callers act as themselves."""
    if dept is None:
        return None if ctx.operator.local else ctx.operator.actor
    return _named(ctx, dept)


def _named(ctx: OperationContext, dept: str) -> str:
    """The USCC of the department named by code or USCC (over --url: the caller only)."""
    registry = ctx.exchange.registry
    try:
        uscc = str(registry.department(dept).uscc)
    except ExchangeError:
        uscc = str(registry.by_code(dept).uscc)
    if not ctx.operator.local and uscc != ctx.operator.actor:
        raise Forbidden(
            "over --url a department acts only as itself: use that department's key",
            code=ErrorCode.FORBIDDEN,
        )
    return uscc


def _owner(ctx: OperationContext, grant_id: str, dept: str | None) -> str:
    return _uscc(ctx, dept) or ctx.exchange.grants.grant(grant_id).owner


class RequestParams(Params):
    dept: str = Field(min_length=1, max_length=64, description="the requesting department")
    resource: str = Field(min_length=1, max_length=128)
    purposes: list[Text] = Field(min_length=1, max_length=16, description="事项 codes")
    fields: list[Text] | None = Field(
        default=None, max_length=64, description="default: the fields the matters read"
    )
    reason: str = Field(min_length=1, max_length=1000)
    expires_at: datetime | None = Field(default=None, description="default: a year from now")


@operation("grant.request", RequestParams)
def grant_request(ctx: OperationContext, params: RequestParams) -> dict[str, Any]:
    """A department asks the owner of a conditional resource for a grant."""
    consumer = _named(ctx, params.dept)
    check_purposes(params.purposes, params.resource)  # before the matters' fields are looked for
    fields = params.fields or matter_fields(params.resource, params.purposes)
    if not fields:
        raise InvalidRequest(
            f"the matters {', '.join(params.purposes)} read no field of {params.resource}: "
            "name the fields (--field)",
            code=ErrorCode.UNKNOWN_FIELD,
        )
    request = GrantRequest(
        resource=params.resource,
        fields=fields,
        purposes=params.purposes,
        reason=params.reason,
        expires_at=params.expires_at or datetime.now(UTC) + timedelta(days=365),
    )
    return ctx.exchange.grants.request(consumer, request).model_dump(mode="json")


class DecideParams(Params):
    grant: str = Field(min_length=1, max_length=64)
    approve: bool
    reason: str = Field(min_length=1, max_length=1000)
    dept: str | None = Field(default=None, max_length=64, description="default: the owner")


@operation("grant.decide", DecideParams)
def grant_decide(ctx: OperationContext, params: DecideParams) -> dict[str, Any]:
    """The owner approves or refuses a pending grant, with a reason."""
    owner = _owner(ctx, params.grant, params.dept)
    decision = GrantDecision(approve=params.approve, reason=params.reason)
    return ctx.exchange.grants.decide(params.grant, owner, decision).model_dump(mode="json")


class RevokeParams(Params):
    grant: str = Field(min_length=1, max_length=64)
    reason: str = Field(min_length=1, max_length=1000)
    dept: str | None = Field(default=None, max_length=64, description="default: the owner")


@operation("grant.revoke", RevokeParams)
def grant_revoke(ctx: OperationContext, params: RevokeParams) -> dict[str, Any]:
    """The owner revokes an approved grant: the next read under it is refused."""
    owner = _owner(ctx, params.grant, params.dept)
    return ctx.exchange.grants.revoke(params.grant, owner, params.reason).model_dump(mode="json")


class NarrowParams(Params):
    grant: str = Field(min_length=1, max_length=64)
    reason: str = Field(min_length=1, max_length=1000)
    fields: list[Text] | None = None
    purposes: list[Text] | None = None
    expires_at: datetime | None = None
    dept: str | None = Field(default=None, max_length=64, description="default: the owner")


@operation("grant.narrow", NarrowParams)
def grant_narrow(ctx: OperationContext, params: NarrowParams) -> dict[str, Any]:
    """The owner narrows an approved grant: fewer fields or purposes, an earlier expiry."""
    owner = _owner(ctx, params.grant, params.dept)
    change = GrantNarrowing(
        fields=params.fields,
        purposes=params.purposes,
        expires_at=params.expires_at,
        reason=params.reason,
    )
    return ctx.exchange.grants.narrow(params.grant, owner, change).model_dump(mode="json")


class ListParams(Params):
    dept: str | None = Field(default=None, max_length=64, description="default: every grant")
    status: Literal["pending", "approved", "refused", "revoked"] | None = None


@operation("grant.list", ListParams)
def grant_list(ctx: OperationContext, params: ListParams) -> list[dict[str, Any]]:
    """Grants a department asked for or decides (locally: every grant), newest first."""
    grants = ctx.exchange.grants
    uscc = _uscc(ctx, params.dept)
    if uscc is not None:
        found = grants.grants_for(uscc, status=params.status)
    else:
        found = grants.every(status=params.status)
    return [g.model_dump(mode="json") for g in found]
