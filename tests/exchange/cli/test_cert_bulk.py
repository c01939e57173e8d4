"""Bulk issuance that can be trusted (issue 19, item 10): 10,000 GBK rows with 20 bad
ones, run twice → 9,980 certificates once, the mapping CSV, every holder in their trail."""

from __future__ import annotations

import csv
import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from exchange.audit.trail import trail
from exchange.cli.main import app
from exchange.config import Settings
from exchange.service import Exchange
from schemas.identifiers import make_id_number

pytestmark = pytest.mark.slow

runner = CliRunner()
ROWS, BAD = 10_000, 20
HEADER = (
    "holder_name,holder_code,holder_code_type,sex,ethnicity,birth_date,address,issuing_authority"
)


def _rows() -> tuple[list[str], list[str]]:
    lines, holders = [HEADER], []
    start = date(1960, 1, 1)
    for i in range(ROWS):
        born = start + timedelta(days=i // 50)
        number = make_id_number("411503", born, 100 + i % 50, female=i % 2 == 0)
        sex = "1" if i % 2 else "2"
        if i % (ROWS // BAD) == 7:
            sex = "男"  # a bad row: the code table wants 1 or 2
        else:
            holders.append(number)
        lines.append(f"居民{i},{number},citizen_id,{sex},01,{born},信阳市浉河区{i}号,信阳市公安局")
    return lines, holders


def test_ten_thousand_gbk_rows_twice_issue_each_holder_once(tmp_path: Path) -> None:
    data = tmp_path / "city"
    assert runner.invoke(app, ["init", "--data", str(data), "--demo"]).exit_code == 0
    lines, holders = _rows()
    source = tmp_path / "holders.csv"
    source.write_bytes(("\r\n".join(lines) + "\r\n").encode("gbk"))
    command = [
        "cert", "issue-bulk", "--data", str(data), "--issuer", "gongan",
        "--type", "resident_id_card", "--csv", str(source), "--out", str(tmp_path / "out"),
        "--json",
    ]  # fmt: skip
    first = runner.invoke(app, command)
    assert first.exit_code == 3, first.output
    summary = json.loads(first.stdout)
    assert summary["encoding"] == "gb18030"
    assert (summary["issued"], summary["skipped"], len(summary["refused"])) == (9_980, 0, 20)
    assert all("[schema.invalid_record]" in r["reason"] for r in summary["refused"])
    again = runner.invoke(app, command)
    assert again.exit_code == 3, again.output
    summary = json.loads(again.stdout)
    assert (summary["issued"], summary["skipped"], len(summary["refused"])) == (0, 9_980, 20)

    with (tmp_path / "out" / "results.csv").open(encoding="utf-8", newline="") as handle:
        mapping = list(csv.DictReader(handle))
    assert len(mapping) == ROWS
    assert {m["status"] for m in mapping} == {"exists", "refused"}  # the second run's view
    ids = {m["certificate_id"] for m in mapping if m["status"] == "exists"}
    assert len(ids) == 9_980
    credentials = (tmp_path / "out" / "credentials.jsonl").read_text("utf-8").splitlines()
    assert len(credentials) == 9_980
    assert {json.loads(c)["id"].removeprefix("urn:govex:cert:") for c in credentials} == ids

    with Exchange.open(Settings(data=data)) as exchange:
        row = exchange.store.fetchone(
            "SELECT count(*), count(DISTINCT holder_code) FROM certificates "
            "WHERE type_code = (SELECT max(type_code) FROM certificates)"
        )
        assert row == (9_980, 9_980)
        bulk = "SELECT seq FROM audit_entries WHERE action = 'cert.issue_bulk'"
        named = {
            str(h)
            for (h,) in exchange.store.fetchall(
                f"SELECT subject_hash FROM audit_entries WHERE seq IN ({bulk}) UNION "
                f"SELECT subject_hash FROM audit_subjects WHERE seq IN ({bulk})"
            )
        }
        for holder in holders:  # each holder's own "who used my data" finds the issuance
            assert exchange.audit.find_subject_hash(holder) in named, holder
        for holder in holders[:: len(holders) // 5]:
            found = trail(exchange.audit, exchange.checkpoints, subject=holder)
            assert [e.action for e in found.entries] == ["cert.issue_bulk"], holder
