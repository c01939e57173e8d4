"""The operator's operations: a registry of named functions every path runs the same way.

An operation is ``function(context, params) -> JSON-able result``: ``params`` is a
pydantic model (validated here, whichever path the call took), ``context`` holds the live
:class:`~exchange.service.Exchange` and the :class:`Operator` who asked. The CLI builds
the params; :mod:`exchange.admin.channel` either opens the data directory itself or sends
the call to the running ``govex serve`` (its admin socket, or ``POST /v1/admin/ops/{name}``
with an operator's token), and :func:`run_operation` runs the same function there.

Each call leaves one audit entry ``admin.<name>`` naming the operator (``local-operator``
with the OS user for the local channel, the department for a remote one), ok or refused
with the error's code.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import to_jsonable_python

from exchange.audit.log import AuditEvent
from exchange.errors import ExchangeError, Forbidden, InvalidRequest, NotFound
from schemas.errors import ErrorCode, SchemaError
from signing.errors import SigningError

if TYPE_CHECKING:
    from exchange.service import Exchange

__all__ = [
    "LOCAL_OPERATOR",
    "OPERATION_MODULES",
    "NoParams",
    "Operation",
    "OperationContext",
    "Operator",
    "Params",
    "lookup",
    "operation",
    "operations",
    "run_operation",
]

LOCAL_OPERATOR = "local-operator"

# the modules that register operations (imported on first lookup, so a module may import
# this one): add yours here — one line
OPERATION_MODULES: tuple[str, ...] = (
    "exchange.admin.builtin",
    "exchange.admin.manage",
    "exchange.admin.staff_ops",
    "exchange.admin.grants",
    "exchange.cluster.ops",
)


class Params(BaseModel):
    """Base of operation parameters: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NoParams(Params):
    """An operation without parameters."""


@dataclass(frozen=True)
class Operator:
    """Who runs an operation, and through which path.

    ``actor`` is what the audit entry names: ``local-operator`` (whoever can open the data
    directory or its admin socket is its owner) or the USCC of an operator department.
    ``local`` is true when the caller shares the exchange's host and file system (the
    direct path and the admin socket): only then may an operation write files it names.
    """

    actor: str
    person: str | None
    via: str  # "direct" | "socket" | "remote"

    @property
    def local(self) -> bool:
        return self.via != "remote"

    @classmethod
    def local_user(cls, user: str | None, via: str, uid: int | None = None) -> Operator:
        person = user if uid is None else f"{user or '?'} (uid {uid})"
        return cls(LOCAL_OPERATOR, person, via)


@dataclass(frozen=True)
class OperationContext:
    exchange: Exchange
    operator: Operator


P = TypeVar("P", bound=Params)
Function = Callable[[OperationContext, Any], Any]


@dataclass(frozen=True)
class Operation:
    """One named operation: its parameter model, its function, what it does."""

    name: str
    params: type[Params]
    function: Function
    summary: str
    local_only: bool = False  # writes files on the exchange's host: never over --url


_OPERATIONS: dict[str, Operation] = {}
_loaded = False
_loading = threading.Lock()


def operation(
    name: str, params: type[P], *, local_only: bool = False
) -> Callable[[Callable[[OperationContext, P], Any]], Callable[[OperationContext, P], Any]]:
    """Register ``function`` as operation ``name`` (its docstring's first line is its
    summary). ``local_only`` operations write files on the exchange's host."""

    def register(
        function: Callable[[OperationContext, P], Any],
    ) -> Callable[[OperationContext, P], Any]:
        if name in _OPERATIONS:
            raise RuntimeError(f"two operations named {name!r}")
        summary = (function.__doc__ or name).strip().splitlines()[0]
        _OPERATIONS[name] = Operation(name, params, function, summary, local_only)
        return function

    return register


def _load() -> None:
    global _loaded
    with _loading:
        if not _loaded:
            for module in OPERATION_MODULES:
                importlib.import_module(module)
            _loaded = True


def operations() -> dict[str, Operation]:
    """Every registered operation by name."""
    _load()
    return dict(_OPERATIONS)


def lookup(name: str) -> Operation:
    _load()
    try:
        return _OPERATIONS[name]
    except KeyError:
        raise NotFound(
            f"no operation {name!r}; known: {', '.join(sorted(_OPERATIONS))}",
            code=ErrorCode.UNKNOWN_OPERATION,
        ) from None


def _params(op: Operation, raw: Mapping[str, Any] | BaseModel | None) -> Params:
    if isinstance(raw, op.params):
        return raw
    data = raw.model_dump(mode="json") if isinstance(raw, BaseModel) else dict(raw or {})
    try:
        return op.params.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'params'}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidRequest(
            f"operation {op.name}: {problems}", code=ErrorCode.INVALID_OPTION
        ) from None


def run_operation(
    exchange: Exchange,
    name: str,
    params: Mapping[str, Any] | BaseModel | None,
    operator: Operator,
) -> Any:
    """Run operation ``name`` against ``exchange`` for ``operator``; audited either way.

    Returns the result as JSON-able data (what every path renders); raises the package
    errors, which the API turns into problem+json and the CLI into one line.
    """
    op = lookup(name)
    detail: dict[str, Any] = {"via": operator.via}
    if operator.person:
        detail["person"] = operator.person
    event = AuditEvent(actor=operator.actor, action=f"admin.{name}", outcome="ok", detail=detail)
    try:
        if op.local_only and not operator.local:
            raise Forbidden(
                f"operation {name} writes files on the exchange's host: run it there "
                "(govex … --data DIR)",
                code=ErrorCode.LOCAL_ONLY,
            )
        result = to_jsonable_python(
            op.function(OperationContext(exchange, operator), _params(op, params))
        )
    except (ExchangeError, SchemaError, SigningError) as exc:
        exchange.audit.append(
            AuditEvent(
                actor=event.actor,
                action=event.action,
                outcome="refused",
                code=str(exc.code),
                detail=detail,
            )
        )
        raise
    exchange.audit.append(event)
    return result
