"""The README's "Run a real exchange" section, run as written: its fenced shell blocks, in
order, as one bash script (``set -e``, ``pipefail``) in a fresh directory, with real
processes — ``govex serve`` in the background as the README starts it, the connector,
curl — and real HTTP.

Only the port is changed (8000 → a free port, the README's default), so that parallel
runs do not meet; ``docs/examples/`` is copied beside the script as a clean clone has it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from tests.support import free_port
from tests.support.readme import ROOT, ShellSession, fenced_blocks, readme

SECTION = "## Run a real exchange"


def test_the_section_has_the_steps_the_issue_names() -> None:
    script = "\n".join(fenced_blocks(readme(), SECTION))
    for step in (
        "govex init --data ./exchange --issuer https://",
        "govex keys new --out ./minzheng",
        "govex keys new --out ./gongan",
        "govex department add",
        "govex catalog add docs/examples/",
        "govex serve --data ./exchange --port 8000 &",
        "govex token --url",
        "govex connector run docs/examples/",
        "/v1/grants",
        "/decision",
        "/records/",
        "govex department key rotate",
        "govex department key revoke",
        "govex backup --data ./exchange",
        "govex restore",
    ):
        assert step in script, step


@pytest.mark.timeout(900)  # a dozen CLI processes and a server on a busy machine
def test_run_a_real_exchange_as_written(tmp_path: Path) -> None:
    if shutil.which("curl") is None or shutil.which("jq") is None:
        pytest.fail("the README section needs curl and jq (apt-get install curl jq)")
    port = str(free_port())
    blocks = fenced_blocks(readme(), SECTION)
    script = "\n".join(block.replace("8000", port) for block in blocks)
    work = tmp_path / "clone"
    shutil.copytree(ROOT / "docs" / "examples", work / "docs" / "examples")
    (tmp_path / "tour.sh").write_text("set -e -o pipefail\n" + script, "utf-8")
    env = ShellSession(tmp_path, work).env  # govex on PATH; no GOVEX_* of the tests
    # files, not pipes: the background server would hold a pipe open after a failed line
    with (tmp_path / "out.txt").open("wb") as stdout, (tmp_path / "err.txt").open("wb") as stderr:
        proc = subprocess.Popen(
            ["bash", str(tmp_path / "tour.sh")],
            cwd=work,
            env=env,
            stdout=stdout,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # the background govex serve is in this group
        )
        try:
            proc.wait(timeout=900)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)  # what `kill %1` did not stop
    out = (tmp_path / "out.txt").read_text("utf-8")
    errors = (tmp_path / "err.txt").read_text("utf-8")
    assert proc.returncode == 0, f"{out}\n{errors}"
    assert "registered with keys: auth" in out
    assert "minzheng.elderly_allowance version 1.0" in out
    assert re.search(r"published \(acknowledged\)\s*│\s*4 in 1 batch", out), out
    assert "approved" in out
    assert "王德厚" in out
    assert "411502193805010136" not in out
    assert "seal key of minzheng is now" in out
    assert "auth key" in out
    assert "revoked at" in out
    assert "\n401\n" in out, out
    assert "VERIFIED" in out
    assert "backup written to exchange.tar.gz" in out
    assert "audit root of" in out
    assert "recomputed and equal" in out
    assert not (work / "exchange" / "admin.sock").exists()  # serve stopped by `kill %1`
