"""A small, bounded HTTP/1.1 keep-alive load generator for loopback benchmarks.

Raw sockets and pre-built requests keep the client's own cost low, so on a 2-core
machine the server, not the client, is what gets measured. Two modes:

- ``closed``: ``connections`` workers send back-to-back for ``seconds`` (throughput);
- ``paced``: requests are scheduled at a fixed total ``rate``; latency is measured from
  the scheduled send time, so a slow server cannot hide its queueing (no coordinated omission).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .figures import percentile

__all__ = ["LoadResult", "read_response", "run_load"]


@dataclass
class LoadResult:
    requests: int = 0
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        return percentile(self.latencies_ms, p)


def read_response(sock: socket.socket, buf: bytearray) -> tuple[int, bytes]:
    """Read one HTTP/1.1 response with a Content-Length from ``sock``: (status, body).
    ``buf`` keeps bytes already received beyond it for the next call."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        buf.extend(chunk)
    head_end = buf.index(b"\r\n\r\n") + 4
    head = bytes(buf[:head_end])
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:].strip())
            break
    while len(buf) < head_end + length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        buf.extend(chunk)
    body = bytes(buf[head_end : head_end + length])
    del buf[: head_end + length]
    return status, body


def run_load(
    host: str,
    port: int,
    make_request: Callable[[int], bytes],
    *,
    seconds: float,
    connections: int = 8,
    rate: float | None = None,
    limit: int | None = None,
) -> LoadResult:
    """Send requests built by ``make_request(i)`` for ``seconds`` (or until ``limit``
    requests in all, spread over the connections); bounded in time and count."""
    result = LoadResult()
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds
    per_conn_interval = (connections / rate) if rate else 0.0

    per_connection = None if limit is None else -(-limit // connections)

    def worker(n: int) -> None:
        sock = socket.create_connection((host, port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(10)
        buf = bytearray()
        local_lat: list[float] = []
        statuses: dict[int, int] = {}
        errors = i = 0
        next_at = time.perf_counter() + (n * per_conn_interval / connections)
        try:
            while True:
                now = time.perf_counter()
                if now >= deadline or (per_connection is not None and i >= per_connection):
                    break
                if per_conn_interval:
                    if now < next_at:
                        time.sleep(next_at - now)
                    start = next_at
                    next_at += per_conn_interval
                else:
                    start = now
                sock.sendall(
                    make_request(n * per_connection + i if per_connection else n * 1_000_003 + i)
                )
                status, _ = read_response(sock, buf)
                local_lat.append((time.perf_counter() - start) * 1000)
                statuses[status] = statuses.get(status, 0) + 1
                if status >= 500:
                    errors += 1
                i += 1
        except (OSError, ConnectionError):
            errors += 1
        finally:
            sock.close()
        with lock:
            result.requests += len(local_lat)
            result.errors += errors
            result.latencies_ms.extend(local_lat)
            for s, c in statuses.items():
                result.statuses[s] = result.statuses.get(s, 0) + c

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(connections)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 30)
    result.seconds = time.perf_counter() - began
    return result
