"""A plain CSV export is read and mapped column by column, with the row path's answers."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.base import Columnar, SourceRecord
from connectors.csv import CsvSource
from connectors.errors import SourceError
from connectors.publishers import EmbeddedPublisher
from connectors.runner import Runner
from exchange.cli.connector import SAMPLES
from exchange.service import Exchange

from .test_reasons import HEADER, _good, _summary, _with
from .test_runner import make_runner, run


def _rows(source: CsvSource) -> list[tuple[int, dict[str, Any]]]:
    return [(r.line, dict(r.fields)) for r in source.read() if r.problem is None]


def _as_rows(source: CsvSource) -> list[tuple[int, dict[str, Any]]]:
    columns = source.read_columns()
    assert columns is not None
    return [(columns.lines[i], dict(columns.row(i).fields)) for i in range(len(columns.lines))]


@pytest.mark.parametrize(
    ("encoding", "data", "options"),
    [
        ("gbk", "姓名,性别\r\n 张伟 ,男\r\n李娜,女\r\n".encode("gbk"), {}),
        ("gb18030", "姓名,住址\n𠀀丽,信阳市\n王芳,\n".encode("gb18030"), {}),
        ("utf-8", "\ufeff姓名,性别\n张伟,男".encode(), {}),
        ("utf-8", "张伟\t男\n李娜\t女\n".encode(), {"delimiter": "\t", "columns": ["a", "b"]}),
    ],
)
def test_a_plain_export_as_columns_holds_the_rows_the_row_path_reads(
    tmp_path: Path, encoding: str, data: bytes, options: dict[str, Any]
) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(data)
    source = CsvSource(path, encoding=encoding, **options)
    assert _as_rows(source) == _rows(source)
    assert _rows(source)


@pytest.mark.parametrize(
    "data",
    [
        '姓名,性别\n"张伟",男\n'.encode("gbk"),  # a quote
        "姓名,性别\n张伟,男\n\n李娜,女\n".encode("gbk"),  # a blank line
        "姓名,性别\n张伟,男\n   \n".encode("gbk"),  # a line of spaces
        "姓名,性别\n".encode("gbk") + "张伟,男\n".encode(),  # a UTF-8 line in a GBK file
        "姓名,性别\n张伟,男,多\n".encode("gbk"),  # a field too many
        "姓名,性别\n张伟\n".encode("gbk"),  # a field short
        "姓名,性别\n张伟,男\r李娜,女\n".encode("gbk"),  # a carriage return alone
        "姓名,性别\n张\x00伟,男\n".encode("gbk"),  # a NUL
        "姓名\n张伟\n".encode("gbk"),  # one column
        "\n姓名,性别\n张伟,男\n".encode("gbk"),  # the header not on line 1
        "姓名,住址\n张伟,".encode("gbk") + b"x" * 131_073 + b"\n",  # beyond the csv field limit
    ],
)
def test_an_export_that_is_not_plain_is_left_to_the_row_path(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(data)
    assert CsvSource(path, encoding="gbk").read_columns() is None


def test_a_bad_header_is_refused_as_the_row_path_refuses_it(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes("姓名,姓名\n张伟,男\n".encode("gbk"))
    with pytest.raises(SourceError, match="names column '姓名' twice"):
        CsvSource(path, encoding="gbk").read_columns()


class _RowsOnly:
    """The same source without its columnar read: the runner reads it row by row."""

    def __init__(self, inner: CsvSource) -> None:
        self.inner = inner

    def describe(self) -> str:
        return self.inner.describe()

    def read(self, since: Any = None) -> Iterator[SourceRecord]:
        return self.inner.read(since)


def _bad_values_csv() -> bytes:
    """A plain GBK export (one record per line, no quotes): good rows between rows whose
    values a connector refuses, and rows it maps (trimmed, looked up, upper-cased)."""
    rows = [_good(0)]
    wrong_check = _good(1)
    wrong_check[0] = wrong_check[0][:17] + ("0" if wrong_check[0][17] != "0" else "1")
    rows.append(wrong_check)
    for i, column, value in [
        (2, 0, "41150219"),
        (3, 0, ""),
        (4, 1, ""),
        (5, 1, "   "),
        (6, 2, "X"),
        (7, 3, "火星族"),
        (8, 4, "1988年13月01日"),
        (9, 4, "1988-01-01"),
        (10, 4, "2019年02月30日"),
        (11, 5, "长" * 300),
        (12, 7, "2016/01/01"),
        (13, 8, "永久"),
        (14, 8, "2036.01.01"),
        (15, 9, "yesterday"),
        (16, 9, ""),
        (17, 9, "1960-01-01 00:00:00"),
        (19, 6, ""),
        (24, 1, "\u3000居民24\u3000"),
        (25, 2, "female"),
        (26, 3, "98"),
        (27, 0, "41150219600101001Z"),
        (28, 2, "X"),  # the same bad code again: worked out once, refused twice
    ]:
        rows.append(_with(i, column, value))
    lowercase = _good(18)
    lowercase[0] = lowercase[0].lower()
    rows += [lowercase, _good(23), _good(23), *(_good(i) for i in range(30, 40))]
    lines = [HEADER, *(",".join(r) for r in rows)]
    return ("\r\n".join(lines) + "\r\n").encode("gbk")


def _runner(config: Path, env: dict[str, str], *, columnar: bool, **kw: Any) -> Runner:
    runner = make_runner(config, env, kw.get("publisher"), kw.get("outbox"), batch_size=7)
    assert isinstance(runner.source, CsvSource)
    if not columnar:
        runner.source = _RowsOnly(runner.source)
    return runner


def test_refused_rows_of_a_plain_export_get_the_reasons_of_the_row_path(
    exchange: Exchange, connector_env: dict[str, str], tmp_path: Path
) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    config = folder / "plain.toml"
    shutil.copy(SAMPLES / "gongan_resident_id_cards.toml", config)
    csv = folder / "gongan_resident_id_cards.csv"
    csv.write_bytes(_bad_values_csv())
    columns = CsvSource(csv, encoding="gbk").read_columns()
    assert columns is not None  # this export is read as columns
    assert isinstance(CsvSource(csv), Columnar)

    dry = run(_runner(config, connector_env, columnar=True), dry_run=True)
    dry_rows = run(_runner(config, connector_env, columnar=False), dry_run=True)
    assert dry.refused == dry_rows.refused
    assert (dry.read, dry.stored) == (dry_rows.read, dry_rows.stored) == (37, 18)
    assert len({p.reason for p in dry.refused}) >= 17

    publisher = EmbeddedPublisher(exchange.embedded_bus())
    summaries = []
    for name, columnar in (("columns", True), ("rows", False)):
        (folder / f"{name}.toml").write_text(
            config.read_text(encoding="utf-8").replace(
                'name = "gongan-resident-id-cards"', f'name = "gongan-{name}"'
            ),
            encoding="utf-8",
        )
        runner = _runner(
            folder / f"{name}.toml",
            connector_env,
            columnar=columnar,
            publisher=publisher,
            outbox=tmp_path / f"{name}.sqlite",
        )
        summaries.append(_summary(run(runner)))
    columns_run, rows_run = summaries
    assert columns_run["refused"] == rows_run["refused"]
    assert columns_run["stored"] == rows_run["stored"] == 17  # one row twice in the export
    assert columns_run["accepted"] == 17
    assert rows_run["duplicates"] == 17  # the same records again: stored once
