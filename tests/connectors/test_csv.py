from __future__ import annotations

from pathlib import Path

import pytest

from connectors.base import Source
from connectors.csv import CsvSource
from connectors.errors import ConfigError, SourceError


def _write(tmp_path: Path, lines: list[bytes], name: str = "x.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(b"".join(lines))
    return path


def test_gbk_rows_are_decoded_with_their_line_numbers(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        ["姓名,性别\r\n".encode("gbk"), "张伟,男\r\n".encode("gbk"), "李娜,女\r\n".encode("gbk")],
    )
    rows = list(CsvSource(path, encoding="GBK").read())
    assert [(r.line, dict(r.fields)) for r in rows] == [
        (2, {"姓名": "张伟", "性别": "男"}),
        (3, {"姓名": "李娜", "性别": "女"}),
    ]
    assert isinstance(CsvSource(path, encoding="gbk"), Source)


def test_a_line_in_the_wrong_encoding_is_one_reported_row_and_the_rest_goes_on(
    tmp_path: Path,
) -> None:
    path = _write(
        tmp_path,
        [
            "姓名,住址\n".encode("gbk"),
            "张伟,信阳市浉河区\n".encode("gbk"),
            "李娜,信阳市浉河区新华路1号\n".encode(),  # UTF-8 inside a GBK file
            "王芳,信阳市平桥区\n".encode("gbk"),
        ],
    )
    rows = list(CsvSource(path, encoding="gbk").read())
    assert [r.line for r in rows] == [2, 3, 4]
    assert rows[0].problem is None
    assert rows[2].fields == {"姓名": "王芳", "住址": "信阳市平桥区"}
    assert rows[1].fields == {}
    assert rows[1].problem is not None
    assert "not valid GBK" in rows[1].problem


def test_gb18030_reads_characters_that_gbk_cannot_hold(tmp_path: Path) -> None:
    rare = "\U00020000"  # CJK Extension B: in GB18030, not in GBK
    path = _write(tmp_path, ["名\n".encode("gb18030"), f"王{rare}\n".encode("gb18030")])
    (row,) = CsvSource(path, encoding="gb18030").read()
    assert row.fields == {"名": f"王{rare}"}
    (bad,) = CsvSource(path, encoding="gbk").read()
    assert bad.problem is not None


def test_utf8_with_a_bom_and_a_quoted_value_over_two_lines_keeps_the_start_line(
    tmp_path: Path,
) -> None:
    path = _write(
        tmp_path,
        [b"\xef\xbb\xbfname,note\n", b'a,"one\n', b'two"\n', b"b,three\n"],
    )
    rows = list(CsvSource(path, encoding="utf-8").read())
    assert [(r.line, r.fields["name"], r.fields["note"]) for r in rows] == [
        (2, "a", "one\ntwo"),
        (4, "b", "three"),
    ]


def test_a_row_with_the_wrong_number_of_fields_is_reported(tmp_path: Path) -> None:
    path = _write(tmp_path, [b"a,b,c\n", b"1,2\n", b"\n", b"4,5,6\n"])
    rows = list(CsvSource(path).read())
    assert rows[0].problem == (
        "row has 2 fields but the header has 3 (a delimiter inside an unquoted value?)"
    )
    assert (rows[1].line, rows[1].fields) == (4, {"a": "4", "b": "5", "c": "6"})


def test_columns_name_the_fields_of_a_file_without_header(tmp_path: Path) -> None:
    path = _write(tmp_path, [b"1;x\n", b"2;y\n"])
    source = CsvSource(path, delimiter=";", columns=["n", "v"])
    assert [dict(r.fields) for r in source.read()] == [{"n": "1", "v": "x"}, {"n": "2", "v": "y"}]
    assert source.header() == ["n", "v"]


def test_header_reads_the_first_row(tmp_path: Path) -> None:
    path = _write(tmp_path, ["\n公民身份号码, 姓名\n".encode("gbk"), b"1,2\n"])
    assert CsvSource(path, encoding="gbk").header() == ["公民身份号码", "姓名"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"a,a\n1,2\n", "names column 'a' twice"),
        (b"a,\n1,2\n", "empty column name"),
        (b"\xff\xfe,a\n", "header is unreadable"),
    ],
)
def test_an_unusable_header_stops_the_run_with_a_plain_error(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = _write(tmp_path, [content])
    with pytest.raises(SourceError, match=message):
        list(CsvSource(path, encoding="gbk").read())


def test_a_missing_file_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="cannot open"):
        list(CsvSource(tmp_path / "nope.csv").read())


def test_only_gbk_gb18030_and_utf8_are_accepted() -> None:
    with pytest.raises(ConfigError, match="UTF-8, GBK, GB18030"):
        CsvSource(Path("x.csv"), encoding="latin-1")
