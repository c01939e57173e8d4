"""Helpers shared by the test suite: free loopback ports (here), a real Kafka broker
(:mod:`.kafka`, :mod:`.kafka_cluster`), a running ``govex serve`` (:mod:`.serve`), the
README's shell blocks run as written (:mod:`.readme`), the OIDC provider (:mod:`.oidc`) and
certificate fixtures (:mod:`.certificates`).

``free_port()`` asks the kernel for a port nobody listens on; the port is free
when it returns, which is as much as any test helper can promise (bind it soon).
"""

from __future__ import annotations

import socket
from contextlib import ExitStack

__all__ = ["LOOPBACK", "free_port", "free_ports"]

LOOPBACK = "127.0.0.1"


def free_ports(count: int) -> list[int]:
    """Return ``count`` distinct TCP ports that are free on the loopback interface.

    All sockets stay bound until every port is chosen, so the ports differ.
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    with ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((LOOPBACK, 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def free_port() -> int:
    """Return one TCP port that is free on the loopback interface."""
    return free_ports(1)[0]
