"""Output that survives a pipe (issue 19, item 7): every listing and report, not on a
terminal, prints whole values, one row a line, no markup; and the same as ``--json``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from exchange.cli.help import EXAMPLES, commands, tidy
from exchange.cli.main import app
from exchange.cli.output import show

pytestmark = pytest.mark.slow

runner = CliRunner()
CERT_ID = re.compile(r"1\.2\.156\.3005\.2\.\d{6}\.[0-9A-Z]{18}\.\d{8}\.\d{3}\.[0-9A-Z]")


def test_show_prints_whole_tab_separated_rows_when_not_a_terminal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    long = "x" * 500
    show(("a", "b"), [(long, "[bold]y\tz\nw")])
    out = capsys.readouterr().out
    assert out == f"{long}\t[bold]y z w\n"


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("pipe") / "city"
    assert runner.invoke(app, ["init", "--data", str(data), "--demo"]).exit_code == 0
    return data


def _run(*args: str) -> str:
    done = runner.invoke(app, list(args))
    assert done.exit_code in (0, 3), done.output
    assert "…" not in done.stdout, done.stdout  # nothing cut short
    return done.stdout


def test_every_listing_prints_whole_identifiers_through_a_pipe(city: Path, tmp_path: Path) -> None:
    d = str(city)
    departments = json.loads(_run("departments", "--data", d, "--json"))
    plain = _run("departments", "--data", d)
    for row in departments:
        assert f"{row['code']}\t{row['uscc']}\t" in plain  # the USCC --issuer needs, whole
    resources = json.loads(_run("catalog", "list", "--data", d, "--json"))
    listing = _run("catalog", "list", "--data", d)
    assert all(r["code"] in listing.split() for r in resources)
    types = json.loads(_run("cert", "types", "--json"))
    assert {t["code"] for t in types} <= {
        line.split("\t")[0] for line in _run("cert", "types").splitlines()
    }
    holders = tmp_path / "holders.csv"
    holders.write_text(
        "holder_name,holder_code,holder_code_type,sex,ethnicity,birth_date,address,"
        "issuing_authority\n"
        "赵浩然,411503198012147596,citizen_id,1,01,1980-12-14,信阳市新七大道70号,信阳市公安局\n",
        "utf-8",
    )
    bulk = _run(
        "cert", "issue-bulk", "--data", d, "--issuer", "gongan", "--type", "resident_id_card",
        "--csv", str(holders), "--json",
    )  # fmt: skip
    issued = json.loads(bulk)["first_id"]
    assert CERT_ID.fullmatch(issued)
    shown = _run("cert", "show", issued, "--data", d)
    assert f"id\t{issued}\n" in shown
    assert json.loads(_run("cert", "show", issued, "--data", d, "--json"))["id"] == issued
    trail = _run("audit", "trace", "--data", d, "--dept", "gongan")
    assert f"\tcert.issue_bulk\tok\t{issued}\t" in trail
    assert json.loads(_run("audit", "trace", "--data", d, "--dept", "gongan", "--json"))["entries"]
    assert isinstance(json.loads(_run("connector", "quarantine", "--data", d, "--json")), list)
    export = tmp_path / "log.jsonl"
    _run("audit", "export", "--data", d, "--out", str(export))
    assert json.loads(_run("audit", "verify", str(export), "--json"))["verified"] is True
    for line in (trail + plain + shown).splitlines():
        assert "[" not in line or "]" in line  # no half-rendered markup


def test_case_resolve_and_staff_list_print_plain_rows_through_a_pipe(city: Path) -> None:
    from exchange.demo.case import couple_applicants
    from exchange.demo.city import generate_city

    d = str(city)
    applicants = [
        x
        for a in couple_applicants(generate_city(), 1)
        for x in ("--applicant", f"{a['role']}:{a['id']}")
    ]
    matter = [
        "case",
        "resolve",
        "--data",
        d,
        "--matter",
        "budongchan.new_commercial_housing_transfer",
    ]
    bundle = json.loads(_run(*matter, *applicants, "--case", "PIPE-JSON-1", "--json"))
    resolved = _run(*matter, *applicants, "--case", "PIPE-PLAIN-1")
    lines = resolved.splitlines()
    assert lines[0] == f"{bundle['matter_name']}  case PIPE-PLAIN-1"
    for material in bundle["materials"]:
        status = "obtained" if material["status"] == "obtained" else "bring"
        detail = material["source"] if status == "obtained" else material["reason"]
        assert f"{material['name']}\t{status}\t{detail}" in lines  # whole, one row a line
    assert "obtained by the exchange" in lines[-1]
    added = ["staff", "add", "--data", d, "--dept", "gongan", "--staff-id", "gongan-clerk-007"]
    _run(*added, "--name", "张三", "--roles", "clerk")
    staff = json.loads(_run("staff", "list", "--data", d, "--dept", "gongan", "--json"))
    assert staff["staff"]
    listing = _run("staff", "list", "--data", d, "--dept", "gongan")
    for view in staff["staff"]:
        assert f"{view['staff_id']}\t{view['name']}\t" in listing
    for line in (resolved + listing).splitlines():
        assert "[" not in line or "]" in line  # no half-rendered markup


def test_every_command_has_examples_and_plain_metavars() -> None:
    root = tidy(__import__("typer").main.get_command(app))
    for path, command in commands(root):
        assert path in EXAMPLES, f"govex {path} has no examples"
        assert command.epilog.startswith("Examples:"), path
        for param in command.params:
            shown = str(param.metavar or "")
            assert "<" not in shown, (path, shown)
            assert "[" not in shown.replace("[ROLE:]", ""), (path, shown)


def test_connector_run_through_a_pipe_prints_its_summary_without_a_progress_bar(
    city: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sample = Path("exchange/demo/samples/gongan_resident_id_cards.toml").resolve()
    config = tmp_path / "gongan.toml"
    config.write_text(
        sample.read_text("utf-8").replace('path = "', f'path = "{sample.parent}/', 1), "utf-8"
    )
    monkeypatch.setenv("GOVEX_DATA", str(city))
    done = runner.invoke(app, ["connector", "run", str(config), "--dry-run"])
    assert done.exit_code == 3, done.output  # some rows refused
    first = done.stdout.splitlines()[0]
    assert first == "gongan-resident-id-cards → gongan.resident_id_card (dry run)", first
    assert "published 0  refuse" not in done.stdout  # the bar's last frame, cut at 80 columns
