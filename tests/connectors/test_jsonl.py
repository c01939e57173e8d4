from __future__ import annotations

from pathlib import Path

import pytest

from connectors.errors import SourceError
from connectors.jsonl import JsonlSource


def test_each_object_line_is_a_row_and_bad_lines_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"a": 1, "b": ["x", "y"]}\n\n{"a": 2,\n[1, 2]\n{"a": "\xe4\xb8\xad"}\n')
    rows = list(JsonlSource(path).read())
    assert [r.line for r in rows] == [1, 3, 4, 5]
    assert rows[0].fields == {"a": 1, "b": ["x", "y"]}
    assert rows[1].problem is not None
    assert rows[1].problem.startswith("not valid JSON")
    assert rows[2].problem == "a JSON list, not an object"
    assert rows[3].fields == {"a": "中"}


def test_a_missing_file_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="cannot open"):
        list(JsonlSource(tmp_path / "nope.jsonl").read())
