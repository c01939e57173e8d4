"""Refused and quarantined rows keep their exact reasons through every rewrite of the pipeline.

``connector_reasons.json`` holds what the connector answered before ingest became columnar:
for each shipped sample (CSV in GBK, JSON Lines, SQL) and for a generated GBK CSV with every
kind of bad row, the refused rows (line, key, code, reason) of a dry run, and for the generated
CSV the whole summary of a real run on the embedded bus (stored, already, published, accepted,
duplicates, refused, quarantined — with each quarantined row's source line). The test runs the
same inputs through today's code and compares every field. Set ``GOVEX_RECORD_REASONS=1`` to
write the file anew (only ever from a trusted version).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from connectors.base import RowProblem
from connectors.publishers import EmbeddedPublisher
from connectors.runner import RunSummary
from exchange.cli.connector import SAMPLES
from exchange.service import Exchange

from .test_runner import make_runner, run

FIXTURE = Path(__file__).with_name("connector_reasons.json")
SAMPLE_CONFIGS = (
    "gongan_resident_id_cards.toml",
    "zhujian_sales_contract_filings.toml",
    "shuiwu_deed_tax_payments.toml",
)
HEADER = "公民身份号码,姓名,性别,民族,出生日期,住址,签发机关,有效期起始日期,有效期截止日期,更新时间"


def _good(i: int) -> list[str]:
    from datetime import date, timedelta

    from schemas.identifiers import make_id_number

    born = date(1960, 1, 1) + timedelta(days=37 * i)
    number = make_id_number("411502", born, 2 * i + 1, female=False)
    return [
        number,
        f"居民{i}",
        "男",
        "汉族",
        born.strftime("%Y年%m月%d日"),
        f"信阳市浉河区新华路{i + 1}号",
        "信阳市公安局浉河分局",
        "2016.01.01",
        "长期",
        f"2026-01-05 09:{i % 60:02d}:00",
    ]


def _with(i: int, column: int, value: str) -> list[str]:
    row = _good(i)
    row[column] = value
    return row


def _bad_rows_csv() -> bytes:
    """A GBK export: good rows between every kind of bad row a connector refuses."""
    lines: list[bytes] = [HEADER.encode("gbk")]

    def add(cells: list[str]) -> None:
        lines.append(",".join(cells).encode("gbk"))

    add(_good(0))
    wrong_check = _good(1)
    wrong_check[0] = wrong_check[0][:17] + ("0" if wrong_check[0][17] != "0" else "1")
    add(wrong_check)
    add(_with(2, 0, "41150219"))  # too short
    add(_with(3, 0, ""))  # no key
    add(_with(4, 1, ""))  # required name empty
    add(_with(5, 1, "   "))  # blank name
    add(_with(6, 2, "X"))  # unknown sex code
    add(_with(7, 3, "火星族"))  # unknown ethnicity
    add(_with(8, 4, "1988年13月01日"))  # no such month
    add(_with(9, 4, "1988-01-01"))  # another date format
    add(_with(10, 4, "2019年02月30日"))  # no such day
    add(_with(11, 5, "长" * 300))  # address too long
    add(_with(12, 7, "2016/01/01"))  # valid_from in another format
    add(_with(13, 8, "永久"))  # valid_until neither a date nor 长期
    add(_with(14, 8, "2036.01.01"))  # a date: fine
    add(_with(15, 9, "yesterday"))  # version not a timestamp
    add(_with(16, 9, ""))  # version empty
    add(_with(17, 9, "1960-01-01 00:00:00"))  # before the epoch: a negative version
    lowercase = _good(18)
    lowercase[0] = lowercase[0].lower()
    add(lowercase)  # a lower-case x is made upper case
    add(_with(19, 6, ""))  # issuing authority empty (required)
    add(_good(20)[:9])  # a field short
    add([*_good(21), "extra"])  # a field too many
    lines.append(",".join(_good(22)).encode("utf-8"))  # a UTF-8 line in a GBK file
    lines.append(b"")  # an empty line is skipped
    add(_good(23))
    add(_good(23))  # the same key and version again: stored once
    add(_with(24, 1, "\u3000居民24\u3000"))  # ideographic spaces are trimmed too
    add(_with(25, 2, "female"))
    add(_with(26, 3, "98"))
    add(_with(27, 0, "41150219600101001Z"))  # not a check character at all
    add(['"' + ",".join(_good(28))])  # an unterminated quote runs to the end of the file
    return b"\n".join(lines) + b"\n"


def _problems(problems: list[RowProblem]) -> list[dict[str, Any]]:
    return [{"line": p.line, "key": p.key, "code": p.code, "reason": p.reason} for p in problems]


def _summary(summary: RunSummary) -> dict[str, Any]:
    return {
        "read": summary.read,
        "stored": summary.stored,
        "already": summary.already,
        "published": summary.published,
        "accepted": summary.accepted,
        "duplicates": summary.duplicates,
        "refused": _problems(summary.refused),
        "quarantined": _problems(summary.quarantined),
        "outbox": summary.outbox,
    }


def _bad_config(tmp_path: Path) -> Path:
    folder = tmp_path / "bad"
    folder.mkdir()
    shutil.copy(SAMPLES / SAMPLE_CONFIGS[0], folder / "bad.toml")
    (folder / "gongan_resident_id_cards.csv").write_bytes(_bad_rows_csv())
    return folder / "bad.toml"


def _observed(exchange: Exchange, env: dict[str, str], tmp_path: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in SAMPLE_CONFIGS:
        summary = run(make_runner(SAMPLES / name, env, None, None), dry_run=True)
        out[f"dry run: {name}"] = _problems(summary.refused)
    config = _bad_config(tmp_path)
    summary = run(make_runner(config, env, None, None), dry_run=True)
    out["dry run: every kind of bad row"] = _problems(summary.refused)
    publisher = EmbeddedPublisher(exchange.embedded_bus())
    runner = make_runner(config, env, publisher, tmp_path / "bad.sqlite", batch_size=7)
    out["run: every kind of bad row"] = _summary(run(runner))
    again = make_runner(config, env, publisher, tmp_path / "bad.sqlite", batch_size=7)
    out["second run: every kind of bad row"] = _summary(run(again))
    return out


def test_refused_and_quarantined_rows_keep_their_exact_reasons(
    exchange: Exchange, connector_env: dict[str, str], tmp_path: Path
) -> None:
    observed = _observed(exchange, connector_env, tmp_path)
    if os.environ.get("GOVEX_RECORD_REASONS") == "1":
        FIXTURE.write_text(
            json.dumps(observed, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
        )
        pytest.skip(f"wrote {FIXTURE.name}")
    expected = json.loads(FIXTURE.read_text(encoding="utf-8"))
    assert observed.keys() == expected.keys()
    for name, value in expected.items():
        assert observed[name] == value, name
    # the generated set holds every kind of bad row, refused for twenty different reasons
    refused = expected["dry run: every kind of bad row"]
    assert len({r["reason"] for r in refused}) >= 20
