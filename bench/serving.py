"""``govex serve`` as its own process for a benchmark: started, waited for, stopped."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path

__all__ = ["serve_process"]


@contextmanager
def serve_process(
    data: Path,
    *args: str,
    env: dict[str, str],
    name: str = "the exchange",
    wait_s: float = 120,
    pids: list[int] | None = None,
    log_file: Path | None = None,
) -> Iterator[str]:
    """``govex serve --data DATA --port FREE ARGS…`` until the block ends; yields its URL
    once ``/healthz`` answers 200 (``RuntimeError`` if it exits or is not up in ``wait_s``).
    The process id is appended to ``pids`` when given (for its CPU time); its log goes to
    ``log_file`` when given (else nowhere)."""
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with ExitStack() as files:
        out = files.enter_context(log_file.open("ab")) if log_file else subprocess.DEVNULL
        process = subprocess.Popen(
            [sys.executable, "-m", "exchange", "serve", "--data", str(data), "--port",
             str(port), *args],
            env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=out,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    if pids is not None:
        pids.append(process.pid)
    try:
        deadline = time.monotonic() + wait_s
        while True:
            with suppress(httpx.HTTPError):
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)
