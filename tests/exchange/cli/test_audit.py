"""``govex audit trace`` (exchange/cli/audit.py) prints every value as written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from exchange.audit.log import AuditEvent
from exchange.config import Settings
from exchange.demo.setup import create_demo


def test_trace_prints_markup_like_values_as_written(tmp_path: Path) -> None:
    data = tmp_path / "data"
    exchange = create_demo(Settings(data=data))
    try:
        for purpose in ("[/]", "[bold]x", "[red]y[/red]"):
            exchange.audit.append(
                AuditEvent(
                    actor=exchange.identity.uscc,
                    action="query",
                    outcome="ok",
                    target="[i]target",
                    purpose=purpose,
                    case_no="ESC-CLI-1",
                )
            )
    finally:
        exchange.close()
    everything = _trace(data, "3")
    for value in ("[/]", "[bold]x", "[red]y[/red]", "[i]target"):
        assert value in everything
    newest = _trace(data, "2")
    assert "[/]" not in newest  # the newest two of three …
    assert "older entries not shown" in newest  # … and a word that there is more


def _trace(data: Path, limit: str) -> str:
    command = ["audit", "trace", "--data", str(data), "--case", "ESC-CLI-1", "--limit", limit]
    done = subprocess.run(
        [sys.executable, "-m", "exchange", *command],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "250", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path.cwd())},
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout


def _one_line(result: subprocess.CompletedProcess[str], says: str) -> None:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("nanobind:")]
    assert len(lines) == 1, result.stderr
    assert says in lines[0], lines[0]


def test_bad_input_to_archive_and_verify_is_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    create_demo(Settings(data=data)).close()
    export = tmp_path / "log.jsonl"
    export.write_text("{}\n", "utf-8")
    for args, says in (
        (["audit", "archive", "--data", str(data), "--before", "soon"], "is not a date"),
        (["audit", "archive", "--data", str(data), "--before", "2999-01-01"], "stay online"),
        (["audit", "verify"], "give an export FILE, or --data DIR"),
        (["audit", "verify", str(export), "--data", str(data)], "not both"),
        (["audit", "verify", "--data", str(data), "--vkey", "x"], "--checkpoint and --vkey"),
        (["audit", "verify", "--data", str(tmp_path / "none")], "govex init"),
    ):
        _one_line(
            subprocess.run(
                [sys.executable, "-m", "exchange", *args],
                capture_output=True,
                text=True,
                timeout=240,
                check=False,
            ),
            says,
        )


def test_verify_with_data_checks_the_live_log(tmp_path: Path) -> None:
    data = tmp_path / "data"
    create_demo(Settings(data=data)).close()

    def verify() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "exchange", "audit", "verify", "--data", str(data)],
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )

    empty = verify()  # a new exchange has written nothing yet
    assert empty.returncode == 0, empty.stderr
    assert empty.stdout.startswith("nothing to verify"), empty.stdout
    done = verify()  # the first call's own audit entry is there now
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("VERIFIED: entries 0..0 of"), done.stdout
    assert "(the live log)" in done.stdout
