"""`govex catalog …` as an operator runs it: real subprocesses on a real data directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from exchange.config import Settings
from exchange.demo.setup import create_demo
from schemas.catalog import load_resources


def govex(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exchange", *args],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env={**os.environ, "COLUMNS": "80"},
    )


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("catalog") / "data"
    create_demo(Settings(data=folder)).close()
    return folder


def definition(code: str) -> dict[str, Any]:
    return load_resources()[code].model_dump(mode="json", by_alias=True)


def write(folder: Path, name: str, value: Any) -> Path:
    path = folder / name
    path.write_text(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
    return path


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_list_prints_plain_rows_and_json(data: Path) -> None:
    plain = govex("catalog", "list", "--data", str(data))
    assert plain.returncode == 0, plain.stderr
    rows = [line.split("\t") for line in plain.stdout.splitlines()]
    assert len(rows) == len(load_resources())
    assert rows[2][:5] == ["gongan.resident_id_card", "gongan", "conditional", "1.0", "1.0"]
    as_json = govex("catalog", "list", "--data", str(data), "--json")
    assert as_json.returncode == 0, as_json.stderr
    entries = json.loads(as_json.stdout)
    assert {e["code"] for e in entries} == set(load_resources())
    assert all(e["version"] == "1.0" for e in entries)


def test_add_update_and_major_from_files(data: Path, tmp_path: Path) -> None:
    added = definition("yibao.medical_insurance")
    added.update(code="yibao.long_term_care", catalog_no="411500-YB-00099", name="长期护理保险信息")
    result = govex("catalog", "add", str(write(tmp_path, "add.json", added)), "--data", str(data))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "yibao.long_term_care version 1.0: added"

    minor = definition("weijian.birth_medical_certificate")
    minor["schema"]["properties"]["remarks_en"] = {"type": "string", "title": "备注 (英文)"}
    path = write(tmp_path, "minor.json", minor)
    result = govex("catalog", "update", str(path), "--data", str(data))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "weijian.birth_medical_certificate version 1.1 (was 1.0): new optional field remarks_en"
    )

    major = dict(minor)
    major["schema"] = {**minor["schema"], "required": [*minor["schema"]["required"], "remarks_en"]}
    path = write(tmp_path, "major.json", major)
    line = one_line_error(govex("catalog", "update", str(path), "--data", str(data)))
    assert "exchange.incompatible_schema" in line
    assert "remarks_en" in line
    result = govex("catalog", "update", str(path), "--major", "--data", str(data))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("weijian.birth_medical_certificate version 2.0 (was 1.1)")

    listed = json.loads(govex("catalog", "list", "--data", str(data), "--json").stdout)
    entry = next(e for e in listed if e["code"] == "weijian.birth_medical_certificate")
    assert [v["version"] for v in entry["versions"]] == ["1.0", "1.1", "2.0"]


def _unknown_owner(d: dict[str, Any]) -> Any:
    d.update(code="jiaotong.road_permit", owner="jiaotong")
    return d


def _outside_meta_schema(d: dict[str, Any]) -> Any:
    d.update(code="gongan.other_card")
    d["key_field"] = "photo"
    return d


def _pydantic(d: dict[str, Any]) -> Any:
    d.update(code="gongan.third_card", sharing_type="sometimes")
    return d


def _incompatible(d: dict[str, Any]) -> Any:
    del d["schema"]["properties"]["address"]
    d["schema"]["required"].remove("address")
    d["sensitive_fields"] = ["id_number"]
    return d


def _unknown_resource(d: dict[str, Any]) -> Any:
    d.update(code="gongan.no_such_card")
    return d


BAD: list[tuple[str, str, Callable[[dict[str, Any]], Any] | str | None, str]] = [
    ("missing file", "add", None, "cannot read"),
    ("a directory", "add", "DIR", "cannot read"),
    ("invalid JSON", "add", '{"code": "gongan.x",', "not valid JSON"),
    ("not an object", "add", "[1, 2]", "JSON object"),
    ("outside the meta-schema", "add", _outside_meta_schema, "key field photo"),
    ("a bad sharing type", "add", _pydantic, "sharing_type"),
    ("unknown owner department", "add", _unknown_owner, "jiaotong"),
    ("already in the catalog", "add", lambda d: d, "already in the catalog"),
    ("incompatible update", "update", _incompatible, "field address was removed"),
    ("update of an unknown resource", "update", _unknown_resource, "gongan.no_such_card"),
]


@pytest.mark.parametrize(("case", "command", "content", "named"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_one_line_and_a_non_zero_exit(
    data: Path,
    tmp_path: Path,
    case: str,
    command: str,
    content: Callable[[dict[str, Any]], Any] | str | None,
    named: str,
) -> None:
    path = tmp_path / "definition.json"
    if content == "DIR":
        path.mkdir()
    elif isinstance(content, str):
        path.write_text(content)
    elif content is not None:
        write(tmp_path, path.name, content(definition("gongan.resident_id_card")))
    line = one_line_error(govex("catalog", command, str(path), "--data", str(data)))
    assert named in line, (case, line)


def test_a_missing_data_directory_is_one_line(tmp_path: Path) -> None:
    line = one_line_error(govex("catalog", "list", "--data", str(tmp_path / "none")))
    assert "govex init" in line
