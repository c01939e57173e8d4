"""Move old audit entries to Parquet; keep everything younger than the retention online.

网络安全法 第21条 asks for logs kept at least six months; the exchange keeps
``retention_days`` (≥ 183) online and refuses to move anything younger — there is no
other code path that removes entries, and no API for it.

:func:`archive_before` copies the oldest online entries older than a date to one
Parquet file (DuckDB ``COPY … (FORMAT parquet)``), reads the file back and checks
that every row is there and that each row's leaf hash is the leaf the tree holds,
records the file with its SHA-256 in ``audit_archives`` and only then deletes the
rows, in one transaction. The tree nodes stay in the database, and a checkpoint of
the archived range's end is signed first, so checkpoints and proofs for archived
entries verify exactly as before; exports read the Parquet files back.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from exchange.audit.checkpoints import Checkpointer
from exchange.audit.log import AuditEvent, AuditLog
from exchange.errors import Conflict, InvalidRequest
from schemas.errors import ErrorCode

__all__ = ["ARCHIVE_DIR", "ArchiveSummary", "archive_before"]

ARCHIVE_DIR = "audit-archive"


@dataclass(frozen=True)
class ArchiveSummary:
    """One archived range ``[first, end)`` and its file."""

    first: int
    end: int
    path: Path
    sha256: str


def _sql_path(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def archive_before(
    log: AuditLog,
    checkpoints: Checkpointer,
    before: datetime,
    *,
    actor: str,
    now: datetime | None = None,
) -> ArchiveSummary | None:
    """Archive the online entries older than ``before``; ``None`` if there are none."""
    now = now or datetime.now(UTC)
    if before.tzinfo is None:
        before = before.replace(tzinfo=UTC)
    oldest_allowed = now - timedelta(days=log.settings.retention_days)
    if before > oldest_allowed:
        raise InvalidRequest(
            f"entries stay online for {log.settings.retention_days} days (网络安全法 第21条): "
            f"archive only before {oldest_allowed:%Y-%m-%d %H:%M} UTC",
            code=ErrorCode.ARCHIVE_TOO_RECENT,
        )
    log.ensure_open()
    log.write_nodes()  # the index holds every committed entry
    store = log.store
    row = store.fetchone(
        "SELECT min(seq), (SELECT min(seq) FROM audit_entries WHERE ts >= ?) FROM audit_entries",
        [before],
    )
    if row is None or row[0] is None:
        return None
    first = int(row[0])
    end = int(row[1]) if row[1] is not None else log.size
    if end <= first:
        return None
    checkpoints.sign_at(end)  # the archived range stays bound to a signature
    folder = store.data_dir / ARCHIVE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"audit-{first:012d}-{end:012d}.parquet"
    if path.exists():
        raise Conflict(f"{path} already exists; the range was archived before")
    store.execute(
        f"COPY (SELECT * FROM audit_entries WHERE seq >= {first} AND seq < {end} "  # noqa: S608
        f"ORDER BY seq) TO {_sql_path(path)} (FORMAT parquet)"
    )
    check = store.fetchone("SELECT count(*), min(ts), max(ts) FROM read_parquet(?)", [str(path)])
    leaves = b"".join(
        bytes(r[0])
        for r in store.fetchall("SELECT leaf_hash FROM read_parquet(?) ORDER BY seq", [str(path)])
    )
    if (
        check is None
        or int(check[0]) != end - first
        or leaves != log.nodes.tile(0, first, end - first)
    ):
        path.unlink(missing_ok=True)
        raise Conflict(f"the archive of entries {first}..{end - 1} did not read back whole")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with store.transaction() as tx:
        tx.execute(
            "INSERT INTO audit_archives VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [first, end, str(path), digest, end - first, check[1], check[2], now],
        )
        tx.execute("DELETE FROM audit_entries WHERE seq >= ? AND seq < ?", [first, end])
    log.append(
        AuditEvent(
            actor=actor,
            action="audit.archive",
            outcome="ok",
            target=path.name,
            detail={"first": first, "end": end, "sha256": digest},
        )
    )
    return ArchiveSummary(first, end, path, digest)
