"""``govex department …`` and ``govex departments``, as the operator runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from exchange.config import Settings
from exchange.demo.setup import create_demo
from exchange.service import Exchange
from tests.exchange.cli.test_keys import USCC, govex, one_clear_line

PASS = {"GOVEX_KEY_PASSPHRASE": "a department passphrase"}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("dept") / "data"
    create_demo(Settings(data=folder)).close()
    return folder


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("k") / "keys"
    assert govex("keys", "new", "--out", str(out), "--uscc", USCC, env=PASS).returncode == 0
    return out


def test_the_operator_adds_rotates_revokes_suspends_and_lists(
    data: Path, keys: Path, tmp_path: Path
) -> None:
    d = str(data)
    added = govex(
        "department",
        "add",
        "--data",
        d,
        "--uscc",
        USCC,
        "--code",
        "jiaoyu",
        "--name",
        "信阳市教育局",
        "--region",
        "411500",
        "--roles",
        "department,approver",
        "--keys",
        str(keys),
    )
    assert added.returncode == 0, added.stderr
    assert "jiaoyu" in added.stdout
    new = tmp_path / "new"
    assert govex("keys", "new", "--out", str(new), "--uscc", USCC, env=PASS).returncode == 0
    rotated = govex(
        "department",
        "key",
        "rotate",
        "--data",
        d,
        "--dept",
        "jiaoyu",
        "--purpose",
        "cert",
        "--keys",
        str(new),
    )
    assert rotated.returncode == 0, rotated.stderr
    revoked = govex(
        "department",
        "key",
        "revoke",
        "--data",
        d,
        "--dept",
        USCC,
        "--purpose",
        "auth",
        "--reason",
        "lost",
    )
    assert revoked.returncode == 0, revoked.stderr
    suspended = govex(
        "department", "suspend", "--data", d, "--dept", "jiaoyu", "--reason", "review"
    )
    assert suspended.returncode == 0
    assert "suspended" in suspended.stdout
    listing = govex("departments", "--data", d)
    assert listing.returncode == 0, listing.stderr
    rows = [line.split("\t") for line in listing.stdout.splitlines() if "jiaoyu" in line]
    assert [r[4] for r in rows] == ["auth", "seal", "cert", "cert"]
    assert {r[3] for r in rows} == {"suspended"}
    states = [r[6].split()[0] for r in rows]
    assert states == ["revoked", "active", "rotated", "active"]
    as_json = json.loads(govex("departments", "--data", d, "--json").stdout)
    mine = [r for r in as_json if r["code"] == "jiaoyu"]
    assert {r["purpose"] for r in mine} == {"auth", "seal", "cert"}
    assert all(r["not_after"] for r in mine)
    with Exchange.open(Settings(data=data)) as exchange:
        actions = [
            row[0]
            for row in exchange.store.fetchall(
                "SELECT action FROM audit_entries WHERE target = ? ORDER BY seq", [USCC]
            )
        ]
        operator = exchange.identity.uscc
        actors = {
            row[0]
            for row in exchange.store.fetchall(
                "SELECT actor FROM audit_entries WHERE target = ?", [USCC]
            )
        }
    assert actions == [
        "department.add",
        "department.key.rotate",
        "department.key.revoke",
        "department.suspend",
    ]
    assert actors == {operator}


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["department", "suspend", "--dept", "nobody"], "no department with code"),
        (
            [
                "department",
                "key",
                "revoke",
                "--dept",
                "gongan",
                "--purpose",
                "token",
                "--reason",
                "x",
            ],
            "not one of auth, seal, cert",
        ),
        (
            [
                "department",
                "key",
                "rotate",
                "--dept",
                "gongan",
                "--purpose",
                "seal",
                "--keys",
                "{tmp}/nothing",
            ],
            "govex keys new",
        ),
        (
            [
                "department",
                "add",
                "--uscc",
                USCC,
                "--code",
                "x1",
                "--name",
                "n",
                "--region",
                "411500",
                "--roles",
                "king",
                "--keys",
                "{keys}",
            ],
            "role 'king'",
        ),
        (
            [
                "department",
                "add",
                "--uscc",
                USCC,
                "--code",
                "x2",
                "--name",
                "n",
                "--region",
                "41150",
                "--keys",
                "{keys}",
            ],
            "region",
        ),
        (
            [
                "department",
                "add",
                "--uscc",
                "11411500000005004X",
                "--code",
                "x3",
                "--name",
                "n",
                "--region",
                "411500",
                "--keys",
                "{keys}",
            ],
            "check character",
        ),
        (
            [
                "department",
                "add",
                "--uscc",
                "114115000000060072",
                "--code",
                "x4",
                "--name",
                "n",
                "--region",
                "411500",
                "--keys",
                "{keys}",
            ],
            "names USCC",
        ),
        (
            [
                "department",
                "key",
                "rotate",
                "--dept",
                "gongan",
                "--purpose",
                "seal",
                "--keys",
                "{keys}",
            ],
            "names USCC",
        ),
        (["department", "resume", "--dept", "gongan"], "is already active"),
        (["departments", "--data", "{tmp}/missing"], "govex init"),
    ],
)
def test_bad_input_to_each_department_command_gets_one_clear_line(
    data: Path, keys: Path, tmp_path: Path, args: list[str], says: str
) -> None:
    filled = [a.replace("{tmp}", str(tmp_path)).replace("{keys}", str(keys)) for a in args]
    if "--data" not in filled:
        filled += ["--data", str(data)]
    one_clear_line(govex(*filled), says)
