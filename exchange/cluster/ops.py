"""The operations behind ``govex cluster status|drain|remove`` (run by the serving node,
which knows its plane; a data directory not serving a cluster says so)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from exchange.admin.operations import NoParams, OperationContext, Params, operation
from exchange.cluster.membership import drain_node, remove_node
from exchange.cluster.status import cluster_status
from exchange.errors import InvalidRequest
from schemas.errors import ErrorCode

if TYPE_CHECKING:
    from exchange.cluster.plane import ControlPlane

__all__: list[str] = []  # operations are found by name (exchange.admin.operations.lookup)


def _plane(ctx: OperationContext) -> ControlPlane:
    plane = ctx.exchange.cluster
    if plane is None:
        raise InvalidRequest(
            "this exchange is not a cluster node: start it with "
            "govex serve --node-id N --bus kafka://HOST:PORT, then ask it",
            code=ErrorCode.NOT_A_CLUSTER,
        )
    return plane


@operation("cluster.status", NoParams)
def status(ctx: OperationContext, params: NoParams) -> dict[str, Any]:
    """The cluster's nodes: applied control offset, lag per topic, state digest."""
    return cluster_status(_plane(ctx))


class DrainParams(Params):
    grace_s: float = Field(default=0.0, ge=0, le=600, description="503 this long once idle")


@operation("cluster.drain", DrainParams)
def drain(ctx: OperationContext, params: DrainParams) -> dict[str, Any]:
    """Take this node out: refuse new requests, finish those in flight, apply the control
    topic, say it leaves, stop serving (govex serve exits 0)."""
    return drain_node(ctx.exchange, _plane(ctx), params.grace_s)


class RemoveParams(Params):
    node: str = Field(min_length=1, max_length=64, description="the id of a node that left")


@operation("cluster.remove", RemoveParams)
def remove(ctx: OperationContext, params: RemoveParams) -> dict[str, Any]:
    """Forget a node that left (or fell silent): no node lists it any more."""
    return remove_node(_plane(ctx), params.node)
