"""``govex staff …`` and the demo exposure guard of ``govex serve``, as a user runs them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from exchange.config import Settings
from exchange.demo.setup import create_demo
from exchange.service import Exchange

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.slow  # each command is a process of its own


def _govex(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exchange", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
        check=False,
    )


def test_staff_add_prints_a_code_that_enrols_once_and_list_disable_work(tmp_path: Path) -> None:
    data = tmp_path / "data"
    create_demo(Settings(data=data)).close()
    added = _govex(
        "staff", "add", "--data", str(data), "--dept", "zhujian", "--staff-id", "zj-9",
        "--name", "钱九", "--roles", "clerk,approver",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    code = re.search(r"enrolment code for zj-9: ([0-9A-F-]{19})", added.stdout)
    assert code is not None, added.stdout
    bad = _govex("staff", "add", "--data", str(data), "--dept", "zhujian", "--staff-id", "zj-9",
                 "--name", "x", "--roles", "cook")  # fmt: skip
    assert bad.returncode != 0
    assert "Traceback" not in bad.stderr
    assert "unknown staff role 'cook'" in bad.stderr
    with Exchange.open(Settings(data=data)) as exchange:
        exchange.staff.enrol("zj-9", code.group(1), "correct horse battery staple")
    listed = _govex("staff", "list", "--data", str(data), "--dept", "zhujian")
    assert "zj-9" in listed.stdout
    assert "active" in listed.stdout
    off = _govex("staff", "disable", "--data", str(data), "--dept", "zhujian", "--staff-id", "zj-9")
    assert "zj-9 (钱九) is disabled" in off.stdout
    act = _govex("staff", "require-act", "--data", str(data), "--dept", "zhujian", "on")
    assert act.returncode == 0, act.stderr
    with Exchange.open(Settings(data=data)) as exchange:
        uscc = exchange.registry.by_code("zhujian").uscc
        assert exchange.staff.requires_act(uscc)
        actions = [
            r[0]
            for r in exchange.store.fetchall(
                "SELECT action FROM audit_entries WHERE action LIKE 'staff.%' ORDER BY seq"
            )
        ]
    assert actions == ["staff.add", "staff.enrol", "staff.disable", "staff.require_act"]


def test_serve_refuses_a_demo_exchange_beyond_loopback(tmp_path: Path) -> None:
    data = tmp_path / "data"
    create_demo(Settings(data=data)).close()
    r = _govex("serve", "--data", str(data), "--host", "0.0.0.0", "--port", "1")
    assert r.returncode == 2
    assert "--allow-demo-exposure" in r.stderr
    assert "Traceback" not in r.stderr
