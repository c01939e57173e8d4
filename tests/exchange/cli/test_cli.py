"""The govex command as a user runs it: real subprocesses, real data directories."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def govex(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exchange", *args],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env={**os.environ, "COLUMNS": "120", **(env or {})},
    )


def test_demo_tells_the_story_as_json(tmp_path: Path) -> None:
    result = govex("demo", "--data", str(tmp_path / "demo"), "--json")
    assert result.returncode == 0, result.stderr
    story = json.loads(result.stdout)
    statuses = [s["status"] for s in story["steps"]]
    outcomes = " ".join(s["outcome"] for s in story["steps"])
    assert 403 in statuses
    assert 200 in statuses
    assert "quarantined" in outcomes
    assert any(s["detail"].get("code") == "exchange.grant_missing" for s in story["steps"])
    assert any(s["detail"].get("code") == "exchange.not_shared" for s in story["steps"])
    assert story["published"]["gongan.resident_id_card"]["accepted"] > 100
    assert story["audit"], "the auditor sees the case trail"
    assert "Traceback" not in result.stderr


def test_init_demo_then_departments_and_token(tmp_path: Path) -> None:
    data = tmp_path / "ex"
    assert govex("init", "--data", str(data), "--demo").returncode == 0
    listing = govex("departments", "--data", str(data))
    assert listing.returncode == 0
    assert "信阳市公安局" in listing.stdout
    token = govex("token", "--data", str(data), "--dept", "gongan")
    assert token.returncode == 0, token.stderr
    assert token.stdout.count(".") == 2


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["departments", "--data", "{tmp}/missing"], "govex init"),
        (["init", "--data", "{tmp}/real"], "--uscc"),
        (["init", "--data", "{tmp}/real2", "--uscc", "11411500MB0000000X"], "USCC"),
        (["token", "--data", "{tmp}/missing", "--dept", "gongan"], "govex init"),
    ],
)
def test_bad_input_gets_one_clear_line_and_a_non_zero_exit(
    tmp_path: Path, args: list[str], says: str
) -> None:
    result = govex(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert says in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) <= 6, result.stderr


def test_init_refuses_an_existing_exchange(tmp_path: Path) -> None:
    data = tmp_path / "ex"
    assert govex("init", "--data", str(data), "--demo").returncode == 0
    again = govex("init", "--data", str(data), "--demo")
    assert again.returncode == 1
    assert "already holds an exchange" in again.stderr


def test_demo_through_a_pipe_lists_every_certificate_it_issued_and_cuts_no_value(
    tmp_path: Path,
) -> None:
    import re

    result = govex("demo", "--data", str(tmp_path / "demo"))  # stdout is a pipe
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    said = next(i for i, line in enumerate(lines) if re.search(r"issued \d+ certificates", line))
    count = int(re.search(r"issued (\d+) certificates", lines[said]).group(1))  # type: ignore[union-attr]
    assert lines[said + 1].strip() == "certificates:"
    listed = [line.strip()[2:] for line in lines[said + 2 : said + 2 + count]]
    cert_id = re.compile(r"1\.2\.156\.3005\.2\.\d{6}\.[0-9A-Z]{18}\.\d{8}\.\d{3}\.[0-9A-Z]")
    assert len(listed) == count == 4
    assert all(cert_id.fullmatch(i) for i in listed), listed
    # the connector's refused rows: each whole, on its own line (the last one too)
    refused = lines.index("    refused:")
    rows = [line.strip() for line in lines[refused + 1 : refused + 6]]
    assert [r.split(":")[0] for r in rows] == [f"- line {n}" for n in (9, 17, 26, 34, 43)]
    cut = [line for line in lines if line.endswith("…") and not line.endswith("subject=…")]
    assert not cut, cut  # (a subject's ID number is left out of a request line on purpose)
