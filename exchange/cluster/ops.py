"""The operation behind ``govex cluster status`` (run by the serving node, which knows its
plane; a data directory not serving a cluster says so)."""

from __future__ import annotations

from typing import Any

from exchange.admin.operations import NoParams, OperationContext, operation
from exchange.cluster.status import cluster_status
from exchange.errors import InvalidRequest
from schemas.errors import ErrorCode

__all__: list[str] = []  # operations are found by name (exchange.admin.operations.lookup)


@operation("cluster.status", NoParams)
def status(ctx: OperationContext, params: NoParams) -> dict[str, Any]:
    """The cluster's nodes: applied control offset, lag per topic, state digest."""
    plane = ctx.exchange.cluster
    if plane is None:
        raise InvalidRequest(
            "this exchange is not a cluster node: start it with "
            "govex serve --node-id N --bus kafka://HOST:PORT, then ask it",
            code=ErrorCode.NOT_A_CLUSTER,
        )
    return cluster_status(plane)
