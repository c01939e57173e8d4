"""A cluster node that drains (``govex cluster drain``) takes no new request.

Outermost of the API's middleware: while a node drains, ``/healthz`` answers 503 with
``"status": "draining"`` (a load balancer takes the node out) and every other request is
refused at once with 503 ``exchange.node_draining`` and ``Retry-After`` (ask another
node); it reaches nothing behind, so it leaves no audit entry. Requests already in flight
are counted (:class:`exchange.cluster.membership.Drain`) and finish; the drain waits for
them. A node that is no cluster node passes everything through.
"""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from exchange.api.errors import problem_response
from exchange.service import Exchange
from schemas.errors import ErrorCode, Problem

__all__ = ["DrainMiddleware"]

HEALTH = "/healthz"


class DrainMiddleware:
    """Counts the API requests in flight on a cluster node; refuses new ones once draining."""

    def __init__(self, app: ASGIApp, *, exchange: Exchange) -> None:
        self.app = app
        self.exchange = exchange

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        plane = self.exchange.cluster
        if plane is None or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        drain = plane.drain
        if not drain.enter():
            await self._refuse(scope, receive, send, plane.node)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            drain.leave()

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, node: str) -> None:
        if scope["path"] == HEALTH:
            body = {"status": "draining", "node": node}
            await JSONResponse(body, status_code=503)(scope, receive, send)
            return
        problem = Problem.of(
            ErrorCode.NODE_DRAINING,
            503,
            "Node draining",
            f"node {node} is leaving the cluster (govex cluster drain) and takes no new "
            "request: ask another node",
            instance=str(scope["path"]),
            node=node,
        )
        await problem_response(problem, {"Retry-After": "1"})(scope, receive, send)
