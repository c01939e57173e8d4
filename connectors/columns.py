"""Columnar reading and mapping: a whole CSV export as columns, mapped column by column.

The row path (:meth:`connectors.csv.CsvSource.read`, :meth:`connectors.mapping.Mapper.map`)
handles every file and words every problem. Most exports are plain: they decode in their
encoding, have no quoted values, no blank lines and one record per line. Such a file is
read here in one go — decoded with the source's codec (GBK and GB18030 transcoded to
UTF-8), split by pyarrow's CSV reader into string columns — and mapped a column at a time:
a text column is trimmed in one pass, a code table, a date format or a number is worked out
once per distinct value. Only the rows that fail a step go through :meth:`Mapper.map`
itself, so every refused row gets exactly the reason (and key) the row path gives it.

A file that is not plain (or larger than :data:`MAX_COLUMNAR_BYTES`) is not read here:
:func:`read_csv_columns` answers None and the runner reads it row by row.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .base import RowProblem, SourceRecord
from .errors import SourceError

if TYPE_CHECKING:
    from .csv import CsvSource
    from .mapping import MappedRecord, Mapper

__all__ = ["MAX_COLUMNAR_BYTES", "Columns", "map_columns", "read_csv_columns"]

MAX_COLUMNAR_BYTES = 64 * 1024 * 1024
"""Larger files are read row by row: the columnar read holds the whole file, and every
mapped row of it, in memory at once (~500,000 rows of ten columns here)."""

_FAILED = object()  # a value whose mapping raised: its row goes through Mapper.map
_UNSEEN = object()


@dataclass(frozen=True, slots=True)
class Columns:
    """Rows of a source as columns: ``values[name][i]`` is row ``i``'s raw text of column
    ``name``; ``lines[i]`` its line in the file."""

    names: list[str]
    values: dict[str, list[str]]
    lines: list[int]

    def row(self, i: int) -> SourceRecord:
        """Row ``i`` as the row path would have read it."""
        return SourceRecord(self.lines[i], {n: self.values[n][i] for n in self.names})


def read_csv_columns(source: CsvSource) -> Columns | None:
    """The rows of ``source`` as columns, or None when the file must be read row by row
    (it does not decode, holds a quote, a carriage return alone, a NUL, a blank line, a row
    with another number of fields …)."""
    import pyarrow as pa  # loaded by the first columnar read, not by importing connectors
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    try:
        size = source.path.stat().st_size
        raw = source.path.read_bytes() if size <= MAX_COLUMNAR_BYTES else None
    except OSError as exc:
        raise SourceError(f"cannot open {source.path}: {exc.strerror or exc}") from exc
    delimiter = source.delimiter
    if raw is None or not delimiter.isascii() or delimiter in "\r\n":
        return None
    try:
        text = raw.decode(source.codec)
    except UnicodeDecodeError:
        return None  # the row path names each line that does not decode
    if text.startswith("\ufeff"):
        text = text[1:]
    text = text.replace("\r\n", "\n")
    if source.quotechar in text or "\r" in text or "\x00" in text:
        return None
    lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    if source.columns is not None:
        names, first = list(source.columns), 1
    else:
        head = text.split("\n", 1)[0]
        if not head.strip():
            return None
        names, first = [name.strip() for name in head.split(delimiter)], 2
        source.check_header(names)  # raises as the row path does
    if len(names) < 2 or len(set(names)) != len(names):
        return None
    try:
        table = pacsv.read_csv(
            pa.BufferReader(text.encode()),
            read_options=pacsv.ReadOptions(
                column_names=names, skip_rows=first - 1, use_threads=False
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter,
                quote_char=False,
                escape_char=False,
                newlines_in_values=False,
                ignore_empty_lines=True,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, ValueError):
        return None
    count = table.num_rows
    if count != lines - (first - 1):  # a blank line: the row path skips it, with its number
        return None
    limit = csv.field_size_limit()  # a longer value is "not valid CSV" on the row path
    if any((pc.max(pc.utf8_length(c)).as_py() or 0) > limit for c in table.columns):
        return None
    values = {name: table.column(name).to_pylist() for name in names}
    return Columns(names, values, list(range(first, first + count)))


def map_columns(
    mapper: Mapper, columns: Columns, record: type[MappedRecord], bad: type[Exception]
) -> list[tuple[Any, MappedRecord | RowProblem]] | None:
    """Each row's watermark and what :meth:`Mapper.map` makes of it, in row order; None when
    the mapping reads a column the rows do not have (the row path then maps them).
    ``record`` and ``bad`` are the mapping's record class and the error a field raises."""
    values, n = columns.values, len(columns.lines)
    spec = mapper.spec
    needed = mapper.source_columns()
    if any(c not in values for c in needed):
        return None
    ok = bytearray(b"\x01") * n
    mapped: list[tuple[str, list[Any]]] = []
    for field in mapper.fields:
        fs = field.spec
        if fs.column is None:
            if fs.value is not None:
                mapped.append((field.name, [fs.value] * n))
            continue
        raw = values[fs.column]
        if field.plain:
            texts: list[Any] = list(map(str.strip, raw)) if fs.trim else list(raw)
            if "" in texts:
                default = fs.default
                texts = [t or default for t in texts]
            mapped.append((field.name, texts))
            continue
        memo: dict[str, Any] = {}
        out: list[Any] = []
        for i, text in enumerate(raw):
            got = memo.get(text, _UNSEEN)
            if got is _UNSEEN:
                try:
                    got = field({fs.column: text})
                except bad:
                    got = _FAILED
                memo[text] = got
            if got is _FAILED:
                ok[i] = 0
                got = None
            elif got.__class__ is list:
                got = list(got)  # each record its own list
            out.append(got)
        mapped.append((field.name, out))
    by_name = dict(mapped)
    for field in mapper.required:
        column = by_name.get(field.name)
        _refuse(ok, range(n) if column is None else (i for i, v in enumerate(column) if v is None))
    keys = by_name.get(mapper.key_field)
    if keys is None:
        return None
    _refuse(ok, (i for i, k in enumerate(keys) if k.__class__ is not str or not k))
    versions = _versions(mapper, values, ok, n, bad)
    marks: list[Any] = [None] * n if spec.watermark is None else values[spec.watermark]
    names = [name for name, _ in mapped]
    cols = [column for _, column in mapped]
    if any(None in column for column in cols):
        datas = [
            {name: v for name, v in zip(names, row, strict=True) if v is not None}
            for row in zip(*cols, strict=True)
        ]
    else:
        datas = [dict(zip(names, row, strict=True)) for row in zip(*cols, strict=True)]
    lines = columns.lines
    result: list[tuple[Any, MappedRecord | RowProblem]] = []
    append = result.append
    for i in range(n):
        if ok[i]:
            append((marks[i], record(lines[i], keys[i], versions[i], datas[i], marks[i])))
        else:  # the row path words why (and maps it, should the columns have been too strict)
            append((marks[i], mapper.map(columns.row(i))))
    return result


def _refuse(ok: bytearray, rows: Any) -> None:
    for i in rows:
        ok[i] = 0


def _versions(
    mapper: Mapper, values: Mapping[str, list[str]], ok: bytearray, n: int, bad: type[Exception]
) -> list[int]:
    """Each row's version (0 where it cannot be read: that row goes the row path)."""
    version = mapper.spec.version
    if isinstance(version, int):
        return [version] * n
    column = version.column
    read = mapper.version_of
    out: list[int] = []
    for i, text in enumerate(values[column]):
        try:
            out.append(read({column: text}))
        except bad:
            ok[i] = 0
            out.append(0)
    return out
