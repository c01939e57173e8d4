"""A live exchange for the interop tests: ``govex serve`` on demo data, on a loopback port."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from exchange.config import DEMO_PASSPHRASE, Settings
from exchange.demo.setup import create_demo
from tests.support import LOOPBACK, free_port

START_S = 60.0


@dataclass(frozen=True)
class LiveExchange:
    url: str
    data: Path
    token_endpoint: str  # the audience of client assertions (RFC 8414 metadata)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code < 500
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="session")
def live_exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveExchange]:
    root = tmp_path_factory.mktemp("live")
    data = root / "data"
    create_demo(Settings(data=data)).close()
    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    env = {
        **os.environ,
        "GOVEX_SIGNING__KEY_PASSPHRASE": DEMO_PASSPHRASE,
        "PYTHONWARNINGS": "ignore::DeprecationWarning",
    }
    log = root / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "exchange", "serve", "--data", str(data), "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + START_S
        while not _answers(f"{url}/healthz"):
            if process.poll() is not None:
                raise AssertionError(f"govex serve exited:\n{log.read_text('utf-8')[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting for govex serve")
            time.sleep(0.1)
        meta = httpx.get(f"{url}/.well-known/oauth-authorization-server").json()
        yield LiveExchange(url, data, str(meta["token_endpoint"]))
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)
