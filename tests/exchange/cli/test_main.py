"""The CLI turns an unusable data directory into one clear line and a non-zero exit."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


def govex(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exchange", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("cli") / "data"
    done = govex("init", "--data", str(data), "--demo")
    assert done.returncode == 0, done.stderr
    return data


def _one_line_error(done: subprocess.CompletedProcess[str], code: str) -> str:
    out = (done.stdout + done.stderr).strip()
    assert done.returncode != 0
    assert "Traceback" not in out, out
    assert len(out.splitlines()) == 1, out
    assert out.startswith(f"error [{code}]: "), out
    return out


@pytest.mark.parametrize("command", ["departments", "serve"])
def test_a_corrupt_database_file_is_one_line_and_a_non_zero_exit(
    pristine: Path, tmp_path: Path, command: str
) -> None:
    data = tmp_path / "data"
    shutil.copytree(pristine, data)
    db = data / "govex.duckdb"
    with db.open("r+b") as f:  # keep DuckDB's header, damage the blocks after it
        f.seek(8192)
        f.write(os.urandom(min(db.stat().st_size - 8192, 1 << 20)))
    extra = ["--port", "0"] if command == "serve" else []
    line = _one_line_error(
        govex(command, "--data", str(data), *extra), "exchange.store_unavailable"
    )
    assert "restore" in line


@pytest.mark.parametrize("command", ["departments", "serve"])
def test_an_unwritable_data_directory_is_one_line_and_a_non_zero_exit(
    pristine: Path, tmp_path: Path, command: str
) -> None:
    data = tmp_path / "data"
    shutil.copytree(pristine, data)
    (data / "govex.lock").unlink()
    (data / "govex.lock").mkdir()  # the lock file cannot be opened for writing
    extra = ["--port", "0"] if command == "serve" else []
    line = _one_line_error(
        govex(command, "--data", str(data), *extra), "exchange.store_unavailable"
    )
    assert "govex.lock" in line


def test_init_under_a_regular_file_is_one_line_and_a_non_zero_exit(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    line = _one_line_error(
        govex("init", "--data", str(blocker / "data"), "--demo"), "exchange.store_unavailable"
    )
    assert "Not a directory" in line


def test_serve_warns_of_a_setting_it_does_not_know_and_serves(
    pristine: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    shutil.copytree(pristine, data)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    process = subprocess.Popen(
        [sys.executable, "-m", "exchange", "serve", "--data", str(data), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONIOENCODING": "utf-8", "GOVEX_API__MAX_BODY_BYTE": "1024"},
    )
    try:
        deadline, status = time.monotonic() + 60, 0
        while time.monotonic() < deadline and status != 200:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code
            except httpx.HTTPError:
                time.sleep(0.2)
        assert status == 200
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    assert (
        "warning: GOVEX_API__MAX_BODY_BYTE is not a govex setting and is ignored; "
        "did you mean GOVEX_API__MAX_BODY_BYTES?"
    ) in stderr.splitlines()
