"""The audit index's rows as Arrow tables: from the callers' rows, or from the log's bytes.

The indexer (:mod:`exchange.audit.indexer`) fills ``audit_entries`` and
``audit_subjects`` with tables made here. :func:`entries_table` and
:func:`subjects_table` make them from the rows a caller encoded
(:data:`exchange.audit.event.Row`); :func:`tables_of` makes the same tables from what the
segments hold — a group's body, its entries' leaf data — by reading each entry's JSON by
field name (:func:`row_of`), as opening the log does (:mod:`exchange.audit.recovery`).

:func:`tables_of` needs nothing but bytes, so the indexer runs it in a worker process
(the index's Python work off the serving process's interpreter lock); the worker imports
this module and what reading an entry needs (no database).
"""

from __future__ import annotations

from datetime import datetime
from itertools import groupby
from operator import itemgetter
from typing import Any

import orjson
import pyarrow as pa

from exchange.audit.event import ROW_COLUMNS, SUBJECTS, SUBJECTS_KEY, TABLE_COLUMNS, Row
from exchange.audit.leaf import canonical_detail
from exchange.audit.segments import split_body

__all__ = [
    "Part",
    "entries_table",
    "iso",
    "row_of",
    "run_tables",
    "subjects_table",
    "tables_of",
]

_TS = pa.timestamp("us", tz="UTC")
_HASH = pa.binary(32)
_PERSON = ROW_COLUMNS.index("person")  # the one caller column after the leaf hash
_DETAIL = ROW_COLUMNS.index("detail")
_COLUMN = [itemgetter(i) for i in range(len(ROW_COLUMNS))]

Part = tuple[int, int, bytes, bytes]
"""A durable group as :func:`tables_of` takes it: its first sequence number, its count of
entries, its body as the segment holds it (each entry's length and leaf data) and its
leaf hashes joined (32 bytes each)."""


def iso(ts: datetime) -> str:
    """An entry's ``ts`` text: RFC 3339 UTC with microseconds."""
    return ts.isoformat(timespec="microseconds").replace("+00:00", "Z")


def row_of(data: bytes) -> tuple[Row, str]:
    """The index row of one entry from its leaf data, and its ``ts`` text.

    Generic over the entry's members: every column of :data:`ROW_COLUMNS` is read from
    the JSON by name (``detail`` as its canonical JSON text).
    """
    entry: dict[str, Any] = orjson.loads(data)
    detail = entry.get("detail")
    values = [entry.get(name) for name in ROW_COLUMNS]
    values[_DETAIL] = None if detail is None else canonical_detail(detail).decode()
    further = tuple(detail.get(SUBJECTS_KEY, ())) if isinstance(detail, dict) else ()
    return (*values, None, None, further), str(entry["ts"])


def _parse_ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def entries_table(
    first: int,
    rows: list[Row],
    leaves: list[bytes] | bytes,
    now: datetime,
    runs: list[tuple[int, datetime]] | None = None,
) -> pa.Table:
    """``audit_entries`` rows of a group whose first entry is ``first``, written at ``now``
    (or its runs of entries each at its own time: ``runs`` of (count, time)); ``leaves``
    the leaf hashes, or all of them joined.

    Column by column (``map`` of an item getter per column: no tuple per entry, unlike a
    transposition with ``zip``); the columns every entry of a run shares are repeated by
    Arrow, the leaf hashes are one buffer.
    """
    n = len(rows)
    text = pa.string()
    if runs is None or len(runs) == 1:
        when = now if runs is None else runs[0][1]
        micros = pa.repeat(pa.scalar(_micros(when), pa.int64()), n)
        texts = pa.repeat(pa.scalar(iso(when), text), n)
    else:  # many runs (small groups tabulated together): lists, not an array a run
        times: list[int] = []
        stamps: list[str] = []
        for count, when in runs:
            times += [_micros(when)] * count
            stamps += [iso(when)] * count
        micros, texts = pa.array(times, pa.int64()), pa.array(stamps, text)
    return pa.Table.from_arrays(
        [
            pa.array(range(first, first + n), pa.int64()),
            micros.cast(_TS),
            *(pa.array(list(map(_COLUMN[i], rows)), text) for i in range(_PERSON)),
            _hashes(leaves, n),
            texts,
            pa.array(list(map(_COLUMN[_PERSON], rows)), text),
        ],
        names=list(TABLE_COLUMNS),
    )


def _micros(when: datetime) -> int:
    return int(when.timestamp()) * 1_000_000 + when.microsecond


def _hashes(leaves: list[bytes] | bytes, n: int) -> pa.Array:
    """The leaf hashes as one ``binary(32)`` array over their joined bytes."""
    data = leaves if isinstance(leaves, bytes) else b"".join(leaves)
    if len(data) != 32 * n:  # not all 32 bytes: let Arrow say which
        whole = [data[i : i + 32] for i in range(0, len(data), 32)] if data is leaves else leaves
        return pa.array(whole, _HASH)
    return pa.Array.from_buffers(_HASH, n, [None, pa.py_buffer(data)])


def subjects_table(first: int, rows: list[Row]) -> pa.Table | None:
    """``audit_subjects`` rows (seq, subject_hash) of a group's further subjects."""
    seqs: list[int] = []
    hashes: list[str] = []
    for seq, row in enumerate(rows, start=first):
        found = row[SUBJECTS]
        if found:
            seqs.extend([seq] * len(found))
            hashes.extend(found)
    if not seqs:
        return None
    return pa.table(
        {"seq": pa.array(seqs, pa.int64()), "subject_hash": pa.array(hashes, pa.string())}
    )


def tables_of(parts: list[Part]) -> tuple[pa.Table | None, pa.Table | None]:
    """The ``audit_entries`` and ``audit_subjects`` tables of durable groups, from their
    bytes alone (``None``: no rows): the same tables :func:`entries_table` and
    :func:`subjects_table` make from the callers' rows (a test compares them).

    One ``audit_entries`` table for each run of consecutive sequence numbers
    (:func:`run_tables`).
    """
    entries: list[pa.Table] = []
    further: list[pa.Table] = []
    start = 0
    for i in range(1, len(parts) + 1):
        if i < len(parts) and parts[i][0] == parts[i - 1][0] + parts[i - 1][1]:
            continue
        run = parts[start:i]
        start = i
        datas = [data for _first, count, body, _ in run for data in split_body(body, count)]
        found, more = run_tables(run[0][0], datas, b"".join(p[3] for p in run))
        if found is not None:
            entries.append(found)
        if more is not None:
            further.append(more)
    return _one(entries), _one(further)


def run_tables(
    first: int, datas: list[bytes], leaves: bytes
) -> tuple[pa.Table | None, pa.Table | None]:
    """The index tables of consecutive entries from ``first`` on, from their leaf data
    (each with its RFC 6962 prefix) and their leaf hashes joined; each entry's time is the
    ``ts`` its leaf holds (a group's calls may bring their own)."""
    if not datas:
        return None, None
    rows: list[Row] = []
    stamps: list[str] = []
    for data in datas:
        row, stamp = row_of(data[1:])
        rows.append(row)
        stamps.append(stamp)
    times = [(sum(1 for _ in same), _parse_ts(t)) for t, same in groupby(stamps)]
    return entries_table(first, rows, leaves, times[0][1], times), subjects_table(first, rows)


def _one(tables: list[pa.Table]) -> pa.Table | None:
    if not tables:
        return None
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables)
