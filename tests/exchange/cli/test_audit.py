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
