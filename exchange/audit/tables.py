"""The audit index's rows, made by DuckDB from the log's own bytes.

The indexer (:mod:`exchange.audit.indexer`), a group written with work
(:mod:`exchange.audit.writer`) and opening the log (:mod:`exchange.audit.recovery`) fill
``audit_entries`` and ``audit_subjects`` the same way: the entries' leaf data, as a
group's body holds it (each entry's length, then its data), is handed to DuckDB as one
Arrow column over those very bytes (:func:`frame`: no Python object per entry, one
table for a whole batch of groups), and one
``INSERT … SELECT`` per table reads every column from each entry's JSON by name
(:func:`insert_index`). DuckDB parses the JSON in C++ without the interpreter lock, so
the index costs the serving process about 2 µs of CPU per entry instead of a Python
pass over every entry (README Performance, P6).

The one column not read by JSON path is ``detail``: the index keeps it as the text the
leaf holds (its JCS bytes, :func:`exchange.audit.leaf.canonical_detail`), cut out of the
entry's text between the ``"detail":`` member and the top-level ``,"outcome":`` member.
The entry's members are written with sorted keys, so the members before ``detail``
(``action``, ``actor``, ``case_no``, ``code``) are strings or null and the members after
``outcome`` are strings, numbers or null: neither can hold either marker outside a
string, and inside a JSON string a quote is escaped. So the first ``"detail":`` and the
last ``,"outcome":`` of the text are the top-level ones (a test checks details that hold
both markers themselves).
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from datetime import datetime
from itertools import accumulate
from typing import Any

import pyarrow as pa

from exchange.audit.segments import encode_body

__all__ = [
    "CHUNK",
    "ENTRIES_SQL",
    "SMALL_BODY",
    "SUBJECTS_SQL",
    "frame",
    "frame_of",
    "insert_index",
    "iso",
]

_HASH = pa.binary(32)
_LENGTH = 4  # the length before each entry's data in a group's body
CHUNK = 16_384  # entries of the index's table DuckDB reads as one chunk (one thread)
SMALL_BODY = 2**31  # bytes of a batch below which its offsets are 32-bit

# The view ``audit_index_frame`` is the Arrow table of :func:`frame`. ``t`` is an entry's
# text: its framed bytes after the length and the leaf's 0x00 prefix. ``v`` holds the
# members read by name, in the table's order (``ts`` gives the timestamp and its text).
ENTRIES_SQL = """
INSERT INTO audit_entries (seq, ts, actor, action, target, subject_hash, purpose, case_no,
    outcome, code, request_hash, detail, leaf_hash, ts_text, person)
SELECT v[1]::BIGINT, v[2]::TIMESTAMPTZ, v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10],
    v[11], nullif(t[position('"detail":' IN t) + 9 :
        length(t) - position(reverse(',"outcome":') IN reverse(t)) - 10], 'null'),
    leaf_hash, v[2], v[12]
FROM (SELECT t, leaf_hash, json_extract_string(t, ['$.seq', '$.ts', '$.actor', '$.action',
        '$.target', '$.subject_hash', '$.purpose', '$.case_no', '$.outcome', '$.code',
        '$.request_hash', '$.person']) AS v
    FROM (SELECT decode(entry[6:]) AS t, leaf_hash FROM audit_index_frame))
"""
"""``audit_entries`` rows of the frame's entries."""
SUBJECTS_SQL = """
INSERT INTO audit_subjects (seq, subject_hash)
SELECT seq, hash
FROM (SELECT seq, unnest(hashes) AS hash
    FROM (SELECT json_extract_string(t, '$.seq')::BIGINT AS seq,
            json_extract_string(t, '$.detail.subjects[*]') AS hashes
        FROM (SELECT decode(entry[6:]) AS t FROM audit_index_frame)
        WHERE contains(t, '"subjects":[')))
WHERE length(hash) = 64
"""
"""``audit_subjects`` rows (seq, subject_hash) of the frame's further subjects: the keyed
hashes (64 hex digits) of ``detail.subjects``; anything else a detail's ``subjects``
might hold (a null, a number) is no subject and is left out rather than closing the log
on a constraint."""


def iso(ts: datetime) -> str:
    """An entry's ``ts`` text: RFC 3339 UTC with microseconds."""
    return ts.isoformat(timespec="microseconds").replace("+00:00", "Z")


def frame(body: bytes, lengths: Sequence[int], leaves: bytes) -> pa.Table:
    """The Arrow table :func:`insert_index` reads: ``body`` (groups' bodies, joined) as a
    binary column of its framed entries over the body's own buffer, cut where the
    entries' ``lengths`` say (the offsets summed in C), and the entries' leaf hashes
    joined in ``leaves``. One table for a whole batch: its cost does not grow with the
    number of groups."""
    count = len(lengths)
    small = len(body) < SMALL_BODY  # 32-bit offsets (cheaper for DuckDB to read)
    starts = array("i" if small else "q", accumulate(map(_LENGTH.__add__, lengths), initial=0))
    entries = pa.Array.from_buffers(
        pa.binary() if small else pa.large_binary(),
        count,
        [None, pa.py_buffer(starts), pa.py_buffer(body)],
    )
    entries.validate(full=True)  # offsets within the body, rising: checked in C, not trusted
    if len(leaves) != 32 * count:
        raise ValueError(f"{count} entries but {len(leaves)} bytes of leaf hashes")
    hashes = pa.Array.from_buffers(_HASH, count, [None, pa.py_buffer(leaves)])
    table = pa.Table.from_arrays([entries, hashes], names=["entry", "leaf_hash"])
    # in chunks (zero-copy slices): DuckDB reads a large batch on every core, a small
    # one (a modest rate's) on one, leaving the other to the event loop
    return pa.Table.from_batches(table.to_batches(max_chunksize=CHUNK))


def frame_of(datas: list[bytes], leaves: bytes) -> pa.Table:
    """:func:`frame` of entries given as their leaf data (as the segments are read)."""
    return frame(encode_body(datas), list(map(len, datas)), leaves)


def insert_index(cur: Any, table: pa.Table) -> None:
    """Insert the index rows of ``table``'s entries (:func:`frame`) in ``cur``'s open
    transaction: their ``audit_entries`` rows and their further subjects."""
    if not table.num_rows:
        return
    cur.register("audit_index_frame", table)
    try:
        cur.execute(ENTRIES_SQL)
        cur.execute(SUBJECTS_SQL)
    finally:
        cur.unregister("audit_index_frame")
