"""A real ``govex serve`` for the tests: started on a free loopback port, waited for until
``/healthz`` answers 200 and its admin socket listens, stopped when the block ends.

- :class:`Served` — the data directory, port, URL and process of one running exchange.
- :func:`govex_serve` — the context manager that runs it (``env`` added to the tests' own).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from exchange.admin.channel import server_listening
from tests.support import LOOPBACK, free_port

__all__ = ["Served", "govex_serve"]


@dataclass(frozen=True)
class Served:
    """One running ``govex serve``."""

    data: Path
    port: int
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"


@contextmanager
def govex_serve(
    data: Path, *, env: dict[str, str] | None = None, wait_s: float = 90
) -> Iterator[Served]:
    """``govex serve --data DATA --port FREE`` until the block ends; fails the test with
    the server's stderr if it exits, or if it is not up within ``wait_s``."""
    port = free_port()
    with tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "exchange", "serve", "--data", str(data), "--port", str(port)],
            env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=stderr,
        )  # fmt: skip
        served = Served(data, port, proc)
        try:
            deadline = time.monotonic() + wait_s
            while True:
                if proc.poll() is not None:
                    stderr.seek(0)
                    raise AssertionError(f"govex serve stopped: {stderr.read().decode()[-2000:]}")
                assert time.monotonic() < deadline, "govex serve did not start"
                try:
                    healthy = httpx.get(f"{served.url}/healthz", timeout=2).status_code == 200
                    if healthy and server_listening(data / "admin.sock"):
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
            yield served
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
