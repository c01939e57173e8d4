"""Export a range of the audit log to one file that verifies offline.

Format: JSON Lines, UTF-8, one object per line, in this order.

1. The header::

     {"govex_audit_export": 1, "origin": …, "vkey": …, "witnesses": [vkey, …],
      "first": a, "end": b, "created_at": …, "prefix": [[level, idx, hex], …]}

   Entries ``a ≤ seq < b`` follow. ``prefix`` holds the roots of the complete
   subtrees of the tree over ``[0, a)`` (none when ``a = 0``): with them the roots of
   larger trees can be computed from this range alone.
2. ``{"checkpoint": note}`` for every signed checkpoint of size in ``(a, b)``, then
   ``{"anchor": note}``: the checkpoint of size exactly ``b`` (signed for the export if
   the exchange had none of that size), so the end of the range is always bound to a
   signature and a truncated file cannot pass for a shorter log.
3. ``{"tree": level, "from": idx, "hashes": base64}``: the exchange's stored tree
   nodes whose whole subtree lies in ``[a, b)``, level 0 (the leaves) first,
   8192 hashes a line, concatenated in index order.
4. One line per entry, exactly ``{"leaf":"<hex>","entry":<leaf data>}``: ``leaf`` is
   the hash stored in the entry's row and ``<leaf data>`` the canonical JSON of the
   entry (:mod:`exchange.audit.leaf`) — the bytes its leaf hashes, recomputed here
   from the stored columns.

Archived ranges are read back from their Parquet files; their tree nodes never
left the database, so they export and verify like online ones.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson

from exchange.audit.checkpoints import Checkpointer
from exchange.audit.entrylines import ENTRY_MIDDLE, ENTRY_PREFIX
from exchange.audit.log import AuditLog
from exchange.audit.query import COLUMNS, entries_source, entry_from_row
from exchange.errors import AuditUnavailable, InvalidRequest
from schemas.errors import ErrorCode
from signing.checkpoint import NoteVerifier
from signing.cosignature import CosignatureVerifier

__all__ = [
    "ENTRY_MIDDLE",
    "ENTRY_PREFIX",
    "EXPORT_FORMAT",
    "TREE_CHUNK",
    "ExportSummary",
    "export_log",
]

EXPORT_FORMAT = 1
TREE_CHUNK = 8192


@dataclass(frozen=True)
class ExportSummary:
    """What an export holds."""

    path: Path
    first: int
    end: int
    checkpoints: int
    anchor: int


def _range(log: AuditLog, since: datetime | None, until: datetime | None) -> tuple[int, int]:
    source, params = entries_source(log.store, archived=True)
    first, end = 0, log.size
    if since is not None:
        row = log.store.fetchone(
            f"SELECT min(seq) FROM {source} WHERE ts >= ?",  # noqa: S608 - fixed fragments
            [*params, since],
        )
        first = end if row is None or row[0] is None else int(row[0])
    if until is not None:
        row = log.store.fetchone(
            f"SELECT max(seq) FROM {source} WHERE ts < ?",  # noqa: S608 - fixed fragments
            [*params, until],
        )
        end = min(end, 0 if row is None or row[0] is None else int(row[0]) + 1)
    if end <= first:
        raise InvalidRequest(
            f"no audit entries to export in that range (the log holds {log.size})",
            code=ErrorCode.INVALID_TREE_SIZE,
        )
    return first, end


def _entry_line(row: tuple[Any, ...]) -> bytes:
    stored = entry_from_row(row)
    data = stored.entry.leaf_bytes_fast()
    return b"%s%s%s%s}\n" % (ENTRY_PREFIX, stored.leaf_hash.hex().encode(), ENTRY_MIDDLE, data)


def _write_tree(log: AuditLog, out: IO[bytes], first: int, end: int) -> None:
    """Every complete node within ``[first, end)``, level by level, from the tree's files."""
    for level in range(max(end, 1).bit_length()):
        lo = -(-first >> level)  # the first node starting at or after ``first``
        hi = end >> level  # nodes ending at or before ``end``
        for start in range(lo, hi, TREE_CHUNK):
            count = min(TREE_CHUNK, hi - start)
            chunk = log.nodes.tile(level, start, count)
            if len(chunk) != 32 * count:
                raise AuditUnavailable(f"the audit tree's files lack nodes of level {level}")
            line = {"tree": level, "from": start, "hashes": base64.b64encode(chunk).decode()}
            out.write(orjson.dumps(line) + b"\n")


def export_log(
    log: AuditLog,
    checkpoints: Checkpointer,
    path: Path,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    witnesses: Sequence[NoteVerifier | CosignatureVerifier] = (),
    progress: Callable[[int, int], None] | None = None,
) -> ExportSummary:
    """Write entries ``since ≤ ts < until`` (all by default) with their proofs to ``path``."""
    log.ensure_open()
    log.write_nodes()  # the index holds every committed entry
    first, end = _range(log, since, until)
    anchor = checkpoints.sign_at(end)
    prefix: list[list[Any]] = []
    for level in reversed(range(first.bit_length())):
        if (first >> level) & 1:
            found = log.nodes.get(level, (first >> level) - 1)
            if found is None:
                raise InvalidRequest(
                    f"the tree has no node ({level}, {(first >> level) - 1})",
                    code=ErrorCode.AUDIT_INCOMPLETE,
                )
            prefix.append([level, (first >> level) - 1, found.hex()])
    header = {
        "govex_audit_export": EXPORT_FORMAT,
        "origin": checkpoints.origin,
        "vkey": checkpoints.verifier.vkey,
        "witnesses": [w.vkey for w in witnesses],
        "first": first,
        "end": end,
        "created_at": datetime.now(UTC).isoformat(),
        "prefix": prefix,
    }
    signed = checkpoints.between(first + 1, end - 1)
    with path.open("wb") as out:
        out.write(orjson.dumps(header) + b"\n")
        for c in signed:
            out.write(orjson.dumps({"checkpoint": c.note}) + b"\n")
        out.write(orjson.dumps({"anchor": anchor.note}) + b"\n")
        _write_tree(log, out, first, end)
        source, params = entries_source(log.store, archived=True)
        result = log.store.cursor().execute(
            f"SELECT {COLUMNS} FROM {source} "  # noqa: S608 - fixed fragments
            "WHERE seq >= ? AND seq < ? ORDER BY seq",
            [*params, first, end],
        )
        written = 0
        while batch := result.fetchmany(10_000):
            out.write(b"".join(_entry_line(row) for row in batch))
            written += len(batch)
            if progress is not None:
                progress(written, end - first)
    if written != end - first:
        raise InvalidRequest(
            f"entries {first}..{end - 1} should be {end - first} but {written} were found: "
            "the log is missing entries",
            code=ErrorCode.AUDIT_INCOMPLETE,
        )
    return ExportSummary(path, first, end, len(signed), anchor.size)
