"""``govex grant …`` on a stopped exchange, through a running ``govex serve`` (its admin
socket) and with ``--url`` and a department's own key; bad input is one line, exit 1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from exchange.demo.setup import demo_departments
from tests.support.serve import govex_serve

pytestmark = pytest.mark.slow

USCC = {d.code: d.uscc for d in demo_departments()}
MATTER = "budongchan.new_commercial_housing_transfer"
INVOICE = "shuiwu.house_sale_invoice"


def govex(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exchange", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env={**os.environ, "PYTHONIOENCODING": "utf-8", **(env or {})},
    )


def lines(stderr: str) -> list[str]:
    return [x for x in stderr.splitlines() if x.strip() and not x.startswith("nanobind:")]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("grant") / "city"
    done = govex("init", "--data", folder, "--demo")
    assert done.returncode == 0, done.stderr
    return folder


def _cycle(*where: str | Path, verbose: bool = False) -> None:
    """Request (the matter's fields by default), list, approve, narrow, revoke."""
    done = govex(
        *(["-v"] if verbose else []),
        "grant",
        "request",
        *where,
        "--dept",
        "budongchan",
        "--resource",
        INVOICE,
        "--purpose",
        MATTER,
        "--json",
    )
    assert done.returncode == 0, done.stderr
    grant = json.loads(done.stdout)
    assert grant["status"] == "pending"
    if verbose:
        assert "through the running govex serve (admin socket)" in done.stderr
    assert "buyer_id_numbers" in grant["fields"]  # the matter's fields, preselected
    listed = govex("grant", "list", *where, "--status", "pending")
    assert listed.returncode == 0, listed.stderr
    assert any(row.split("\t")[0] == grant["id"] for row in listed.stdout.splitlines())
    done = govex("grant", "decide", grant["id"], *where, "--approve", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["decided_by"] == USCC["shuiwu"]  # the owner decided
    done = govex(
        "grant", "narrow", grant["id"], *where, "--field", "invoice_number", "--reason", "最小必要"
    )
    assert done.returncode == 0, done.stderr
    assert f"{grant['id']} approved" in done.stdout
    assert "fields invoice_number for" in done.stdout
    done = govex("grant", "revoke", grant["id"], *where, "--reason", "办件结束")
    assert done.returncode == 0, done.stderr
    assert f"{grant['id']} revoked" in done.stdout


def test_grant_commands_on_a_stopped_exchange(data: Path) -> None:
    _cycle("--data", data)


@pytest.fixture(scope="module")
def served(data: Path) -> Iterator[str]:
    with govex_serve(data) as server:
        yield server.url


def test_grant_commands_through_the_running_exchange_and_with_a_department_key(
    data: Path, served: str
) -> None:
    _cycle("--data", data, verbose=True)
    key = {"GOVEX_KEY_PASSPHRASE": "govex-demo-only"}

    def remote(code: str) -> list[str | Path]:
        return [
            "--url",
            served,
            "--uscc",
            USCC[code],
            "--key",
            data / "demo-keys" / f"{code}.auth.pem",
        ]

    done = govex(
        *remote("budongchan"),
        "grant",
        "request",
        "--resource",
        INVOICE,
        "--purpose",
        MATTER,
        "--json",
        env=key,
    )
    assert done.returncode == 0, done.stderr
    grant = json.loads(done.stdout)
    assert grant["consumer"] == USCC["budongchan"]
    # another department's key cannot decide: the owner's can
    refused = govex(*remote("minzheng"), "grant", "decide", grant["id"], "--approve", env=key)
    assert refused.returncode == 1
    assert lines(refused.stderr) == [lines(refused.stderr)[0]]
    assert lines(refused.stderr)[0].startswith("error [exchange.not_owner]")
    done = govex(
        *remote("shuiwu"), "grant", "decide", grant["id"], "--deny", "--reason", "用途不符", env=key
    )
    assert done.returncode == 0, done.stderr
    assert f"{grant['id']} refused" in done.stdout
    listed = govex(*remote("budongchan"), "grant", "list", "--json", env=key)
    assert grant["id"] in {g["id"] for g in json.loads(listed.stdout)}


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (
            ["request", "--dept", "budongchan", "--resource", INVOICE, "--purpose", "核验"],
            "exchange.purpose_not_a_matter",
        ),
        (["request", "--resource", INVOICE, "--purpose", MATTER], "exchange.invalid_option"),
        (
            [
                "request",
                "--dept",
                "budongchan",
                "--resource",
                INVOICE,
                "--purpose",
                MATTER,
                "--expires",
                "next year",
            ],
            "exchange.invalid_date",
        ),
        (["decide", "grt_0000000000000000", "--approve"], "exchange.not_found"),
        (["decide", "grt_0000000000000000"], "exchange.invalid_option"),
        (["decide", "grt_0000000000000000", "--deny"], "exchange.invalid_reason"),
        (["revoke", "grt_0000000000000000", "--reason", "x"], "exchange.not_found"),
        (["list", "--status", "lost"], "exchange.invalid_option"),
        (["list", "--dept", "nosuch"], "exchange.not_found"),
    ],
    ids=[
        "free-text purpose",
        "no dept",
        "bad date",
        "unknown grant",
        "no answer",
        "refusal without reason",
        "revoke unknown",
        "bad status",
        "unknown dept",
    ],
)
def test_bad_input_is_one_line_and_exit_1(data: Path, args: list[str], code: str) -> None:
    done = govex("grant", *args, "--data", data)
    assert done.returncode == 1, done.stdout + done.stderr
    said = lines(done.stderr)
    assert len(said) == 1, done.stderr
    assert said[0].startswith(f"error [{code}]"), said[0]
