"""CSV exports (GBK, GB18030 or UTF-8), one row per record, with their line numbers.

Department systems in China often export CSV in GBK or GB18030. Each physical line
is decoded on its own, so a line in the wrong encoding (a UTF-8 row pasted into a
GBK file, a stray byte) becomes one reported row — ``line 7 is not valid GBK: bytes
…`` — and the rest of the file goes on. Splitting on ``\\n`` before decoding is safe
for these encodings: no byte of a GBK/GB18030 multi-byte character is ``0x0A``.

The first non-empty row is the header unless ``columns`` names the fields of a file
without one. A quoted value may span lines; its row keeps the line where it starts.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .base import SourceRecord
from .columns import Columns, read_csv_columns
from .errors import ConfigError, SourceError

__all__ = ["ENCODINGS", "CsvSource", "normalise_encoding"]

# accepted encoding names → Python codec; labels for messages
ENCODINGS: dict[str, str] = {
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "utf-8-sig": "utf-8",
    "gbk": "gbk",
    "cp936": "gbk",
    "gb2312": "gbk",
    "gb18030": "gb18030",
}


def normalise_encoding(name: str) -> str:
    """The codec for an encoding name (GBK, GB18030, UTF-8), or :class:`ConfigError`."""
    codec = ENCODINGS.get(name.strip().lower().replace("_", "-"))
    if codec is None:
        raise ConfigError(
            f"encoding {name!r} is not supported for CSV; use one of UTF-8, GBK, GB18030"
        )
    codecs.lookup(codec)
    return codec


class CsvSource:
    """Rows of a CSV file; ``fields`` maps header names to the raw (string) values."""

    def __init__(
        self,
        path: Path,
        *,
        encoding: str = "utf-8",
        delimiter: str = ",",
        quotechar: str = '"',
        columns: Sequence[str] | None = None,
    ) -> None:
        if len(delimiter) != 1 or len(quotechar) != 1:
            raise ConfigError("CSV delimiter and quotechar are single characters")
        self.path = Path(path)
        self.codec = normalise_encoding(encoding)
        self.label = self.codec.upper()
        self.delimiter = delimiter
        self.quotechar = quotechar
        self.columns = list(columns) if columns is not None else None
        self._header: list[str] | None = None

    def describe(self) -> str:
        return f"CSV {self.path} ({self.label})"

    def header(self) -> list[str]:
        """The column names (the configured ``columns``, or the file's header row)."""
        if self.columns is not None:
            return list(self.columns)
        for _ in self._rows(header_only=True):
            pass
        return list(self._header or [])

    def read(self, since: Any = None) -> Iterator[SourceRecord]:
        return self._rows(header_only=False)

    def read_columns(self) -> Columns | None:
        """The whole file as columns when it is plain (:mod:`connectors.columns`), else None:
        :meth:`read` then gives its rows one by one."""
        return read_csv_columns(self)

    def _rows(self, *, header_only: bool) -> Iterator[SourceRecord]:
        bad: dict[int, str] = {}
        try:
            handle = self.path.open("rb")
        except OSError as exc:
            raise SourceError(f"cannot open {self.path}: {exc.strerror or exc}") from exc
        with handle:
            reader = csv.reader(
                self._lines(handle, bad), delimiter=self.delimiter, quotechar=self.quotechar
            )
            header = self.columns
            last = 0
            while True:
                try:
                    row = next(reader)
                except StopIteration:
                    break
                except csv.Error as exc:
                    start, last = last + 1, reader.line_num
                    yield SourceRecord(start, {}, f"not valid CSV: {exc}")
                    continue
                start, last = last + 1, reader.line_num
                problems = [bad.pop(n) for n in range(start, last + 1) if n in bad] if bad else []
                if not row or (len(row) == 1 and not row[0].strip()):
                    if header is None and problems:
                        raise SourceError(f"{self.path}: the header is unreadable: {problems[0]}")
                    continue
                if header is None:
                    if problems:
                        raise SourceError(f"{self.path}: the header is unreadable: {problems[0]}")
                    header = [name.strip() for name in row]
                    self.check_header(header)
                    self._header = header
                    if header_only:
                        return
                    continue
                if problems:
                    yield SourceRecord(start, {}, problems[0])
                elif len(row) != len(header):
                    yield SourceRecord(
                        start,
                        {},
                        f"row has {len(row)} fields but the header has {len(header)} "
                        "(a delimiter inside an unquoted value?)",
                    )
                else:
                    yield SourceRecord(start, dict(zip(header, row, strict=True)))
        if header is None and self.columns is None:
            raise SourceError(f"{self.path} is empty: no header row")

    def check_header(self, header: list[str]) -> None:
        """Raise :class:`SourceError` for an empty or repeated column name."""
        seen: set[str] = set()
        for name in header:
            if not name:
                raise SourceError(f"{self.path}: the header has an empty column name")
            if name in seen:
                raise SourceError(f"{self.path}: the header names column {name!r} twice")
            seen.add(name)

    def _lines(self, handle: Any, bad: dict[int, str]) -> Iterator[str]:
        for number, raw in enumerate(handle, start=1):
            try:
                text: str = raw.decode(self.codec)
            except UnicodeDecodeError as exc:
                where = raw[exc.start : min(exc.end, exc.start + 4)].hex(" ")
                bad[number] = (
                    f"not valid {self.label}: bytes {where} at byte {exc.start + 1} "
                    "(saved in another encoding?)"
                )
                text = raw.decode(self.codec, errors="replace")
            if number == 1 and text.startswith("\ufeff"):
                text = text[1:]
            yield text
