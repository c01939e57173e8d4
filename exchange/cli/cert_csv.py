"""The CSV files of ``govex cert issue-bulk`` and the folder of its results.

A CSV is read as UTF-8 or GB18030 (what Excel writes on Chinese Windows), its header
checked once against the certificate type's fields, and each line turned into a
:class:`~exchange.certificates.models.BulkItem` (a line that cannot be one carries its
reason); :class:`Results` writes ``credentials.jsonl`` and ``results.csv``. Also the two
readers ``govex cert`` shares: an input file's bytes and a date option.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

from exchange.certificates.models import BulkItem
from exchange.errors import InvalidRequest
from schemas.errors import ErrorCode

__all__ = ["Results", "check_header", "csv_items", "decode_csv", "parse_date", "read_input"]


def read_input(path: Path, what: str) -> bytes:
    """The bytes of input file ``path`` (``what`` names it in the error)."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidRequest(
            f"cannot read {what} {path}: {exc.strerror}", code=ErrorCode.UNREADABLE_FILE
        ) from exc


def parse_date(value: str | None, name: str) -> date | None:
    """A date YYYY-MM-DD given as ``name``; None when blank."""
    if value is None or not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError as exc:
        raise InvalidRequest(
            f"{name} {value!r} is not a date YYYY-MM-DD", code=ErrorCode.INVALID_DATE
        ) from exc


_ENCODINGS = {"utf-8": "utf-8-sig", "gbk": "gb18030", "gb18030": "gb18030", "gb2312": "gb18030"}


def decode_csv(path: Path, encoding: str) -> tuple[str, str]:
    """The text of CSV ``path`` and the encoding it was read with.

    ``auto`` reads UTF-8 (with or without a byte-order mark) and, when the bytes are not
    UTF-8, GB18030 (which contains GBK and GB2312: what Excel writes on Chinese Windows).
    """
    raw = read_input(path, "CSV")
    wanted = encoding.strip().lower().replace("_", "-")
    if wanted != "auto" and wanted not in _ENCODINGS:
        raise InvalidRequest(
            f"--encoding {encoding!r}: give auto, utf-8, gbk or gb18030",
            code=ErrorCode.INVALID_OPTION,
        )
    tries = ["utf-8", "gb18030"] if wanted == "auto" else [wanted]
    for name in tries:
        try:
            return raw.decode(_ENCODINGS[name]), name
        except UnicodeDecodeError as exc:
            problem = exc
    raise InvalidRequest(
        f"CSV {path} is not {' or '.join(tries)} text (byte {problem.start + 1}); "
        "save it as UTF-8 or give --encoding",
        code=ErrorCode.INVALID_FILE,
    )


def check_header(path: Path, names: list[str], ctype: Any) -> None:
    """Refuse, once for the whole file, a header with unknown or missing columns."""
    properties = ctype.json_schema.get("properties", {})
    allowed = [*properties, "valid_from", "valid_until"]
    unknown = [n for n in names if n not in allowed]
    missing = [n for n in ctype.json_schema.get("required", []) if n not in names]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    problems = []
    if unknown:
        problems.append(f"unknown column(s) {', '.join(unknown)}")
    if missing:
        problems.append(f"missing required column(s) {', '.join(missing)}")
    if duplicated:
        problems.append(f"repeated column(s) {', '.join(duplicated)}")
    if problems:
        raise InvalidRequest(
            f"CSV {path} header: {'; '.join(problems)} — the columns of {ctype.code} are "
            f"{', '.join(allowed)}",
            code=ErrorCode.INVALID_FILE,
        )


def csv_items(text: str, names: list[str], array_fields: set[str]) -> Iterator[BulkItem]:
    reader = csv.reader(io.StringIO(text, newline=""))
    next(reader, None)
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(names):
            yield BulkItem(line, {"__error__": f"{len(row)} cells, header has {len(names)}"})
            continue
        subject: dict[str, Any] = {}
        dates: dict[str, str] = {}
        for name, cell in zip(names, row, strict=True):
            value = cell.strip()
            if not value:
                continue
            if name in ("valid_from", "valid_until"):
                dates[name] = value
            elif name in array_fields:
                subject[name] = [v.strip() for v in value.split(";") if v.strip()]
            else:
                subject[name] = value
        try:
            yield BulkItem(
                line,
                subject,
                parse_date(dates.get("valid_from"), "valid_from"),
                parse_date(dates.get("valid_until"), "valid_until"),
            )
        except InvalidRequest as exc:
            yield BulkItem(line, {"__error__": f"[{exc.code.value}] {exc.message}"})


class Results:
    """``--out DIR``: credentials.jsonl (appended: one credential a line, never lost on a
    re-run) and results.csv (this run's mapping: line, certificate id, status, reason)."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.rows: list[tuple[int, str, str, str]] = []
        self._credentials = None
        if folder is not None:
            try:
                folder.mkdir(exist_ok=True)
                self._credentials = (folder / "credentials.jsonl").open("a", encoding="utf-8")
            except OSError as exc:
                raise InvalidRequest(
                    f"cannot write into --out {folder}: {exc.strerror}",
                    code=ErrorCode.UNWRITABLE_FILE,
                ) from exc

    def issued(self, line: int, certificate_id: str, credential: dict[str, Any]) -> None:
        self.rows.append((line, certificate_id, "issued", ""))
        if self._credentials is not None:
            self._credentials.write(json.dumps(credential, ensure_ascii=False) + "\n")

    def close(self, skipped: list[tuple[int, str]], refused: list[tuple[int, str]]) -> None:
        self.rows += [
            (line, cid, "exists", "already issued to this holder") for line, cid in skipped
        ]
        self.rows += [(line, "", "refused", reason) for line, reason in refused]
        self.rows.sort()
        if self._credentials is None or self.folder is None:
            return
        self._credentials.close()
        with (self.folder / "results.csv").open("w", encoding="utf-8", newline="") as handle:
            out = csv.writer(handle)
            out.writerow(("line", "certificate_id", "status", "reason"))
            out.writerows(self.rows)
