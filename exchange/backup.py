"""Backup and restore of a data directory (RELIABILITY F2).

A backup is one ``.tar.gz`` holding a snapshot of the DuckDB file, the encrypted keys,
the exchange's identity, and a manifest: row counts per table and the audit log's tree
size and root.

The snapshot is taken online (:func:`backup_exchange`, what ``govex backup`` runs inside
``govex serve`` through the admin channel, or on a stopped exchange it opens): one DuckDB
transaction reads the counts and the audit root and runs ``COPY FROM DATABASE`` into a
fresh attached file. DuckDB's snapshot isolation makes the three agree with each other;
readers and writers go on meanwhile (writes committed after the transaction began are
not in the backup).
A cluster node's backup also holds, as ``audit-cluster.json``, the audit topic's position
its replica had reached before the snapshot (not the live file, which may be ahead of the
snapshot): restored and started with a new ``--node-id``, the copy reads the control and
audit topics on from its snapshot (docs/architecture.md, "Backup and restore of a node").
Restore unpacks into a new directory and proves the copy: counts equal the manifest,
and the audit tree recomputed from the restored entries has the manifest's root.
"""

from __future__ import annotations

import io
import json
import secrets
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from exchange.audit.cluster import STATE_FILE as AUDIT_POSITION
from exchange.audit.cluster import ClusterAuditLog
from exchange.bus.node import NODE_FILE
from exchange.config import Settings
from exchange.errors import Conflict, InvalidRequest
from exchange.service import Exchange
from exchange.store import DB_FILE, LOCK_FILE
from schemas.errors import ErrorCode
from signing.merkle import root_of

__all__ = ["BACKUP_TABLES", "RestoreReport", "backup", "backup_exchange", "restore"]

MANIFEST = "govex-backup.json"
BACKUP_TABLES = (
    "departments",
    "department_keys",
    "resources",
    "batches",
    "record_history",
    "record_latest",
    "quarantine",
    "grants",
    "audit_entries",
    "audit_subjects",
    "checkpoints",
    "assertion_jti",
    "staff",
    "department_settings",
    "department_oidc",
    "console_sessions",
    "resource_versions",
    "batch_schemas",
)


@dataclass
class RestoreReport:
    counts: dict[str, int]
    expected: dict[str, int]
    tree_size: int
    root_matches: bool

    @property
    def ok(self) -> bool:
        return self.counts == self.expected and self.root_matches


Cursor = Any  # a DuckDB cursor


def _counts(cur: Cursor) -> dict[str, int]:
    tables = {
        r[0]
        for r in cur.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_catalog = "
            "current_database()"
        ).fetchall()
    }
    return {
        t: int(cur.execute(f"SELECT count(*) FROM {t}").fetchone()[0])  # noqa: S608
        for t in BACKUP_TABLES
        if t in tables
    }


def _audit_root(cur: Cursor, size: int) -> str:
    leaves = [
        bytes(r[0])
        for r in cur.execute(
            "SELECT leaf_hash FROM audit_entries WHERE seq < ? ORDER BY seq", [size]
        ).fetchall()
    ]
    if len(leaves) != size:
        return f"missing entries: {len(leaves)} of {size}"
    return root_of(leaves).hex()


# what is not copied from the directory: the live database (its snapshot goes in its place),
# the lock, and the admin socket of a running exchange
# node.id: a restored copy is another node on the bus, with its own consumer group
_SKIPPED = frozenset({DB_FILE, f"{DB_FILE}.wal", LOCK_FILE, "admin.sock", NODE_FILE})
# the audit log's segment and tree files grow while the exchange serves: the snapshot's
# index holds the same entries, and the restored exchange writes them into segments anew
_SKIPPED_DIRS = ("audit/",)


def _snapshot(exchange: Exchange, target: Path) -> dict[str, Any]:
    """Copy the database into ``target`` inside one read transaction; return the counts,
    the audit tree size and root that the copy holds."""
    exchange.audit.wait_indexed()  # the index holds the entries durable so far
    cur = exchange.store.cursor()
    alias = f"govex_backup_{secrets.token_hex(4)}"
    path = str(target).replace("'", "''")
    source = cur.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
    cur.execute(f"ATTACH '{path}' AS {alias}")
    try:
        cur.execute("BEGIN TRANSACTION")
        try:
            counts = _counts(cur)
            row = cur.execute("SELECT coalesce(max(seq) + 1, 0) FROM audit_entries").fetchone()
            size = int(row[0]) if row else 0
            root = _audit_root(cur, size)
            cur.execute(f'COPY FROM DATABASE "{source}" TO {alias}')
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
    finally:
        cur.execute(f"DETACH {alias}")
    return {"counts": counts, "audit_tree_size": size, "audit_root": root}


def backup_exchange(exchange: Exchange, out: Path) -> dict[str, Any]:
    """Write a consistent backup of the open ``exchange`` to ``out``; return its manifest.

    Safe while the exchange serves: the database is read in one transaction (see the
    module's docstring), the other files of the data directory are written once and
    only read here.
    """
    data = Path(exchange.settings.data)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # a cluster node's audit log follows the audit topic: the copy goes on reading it from
    # where the replica stood before the snapshot (what it reads again it drops as seen);
    # the live file, written later and apart from the snapshot, may be ahead of it
    position = exchange.audit.position() if isinstance(exchange.audit, ClusterAuditLog) else None
    with tempfile.TemporaryDirectory(prefix=".govex-backup-", dir=out.parent) as scratch:
        snapshot = Path(scratch) / DB_FILE
        taken = _snapshot(exchange, snapshot)
        extra: dict[str, bytes] = {}
        if position is not None:
            position["size"] = min(int(position["size"]), int(taken["audit_tree_size"]))
            extra[AUDIT_POSITION] = json.dumps(position).encode()
        manifest = {
            "format": "govex-backup/1",
            "created_at": datetime.now(UTC).isoformat(),
            "exchange": exchange.identity.name,
            "snapshot": "one DuckDB transaction: COPY FROM DATABASE",
            **taken,
        }
        partial = out.with_name(f".{out.name}.partial")
        try:
            _write_archive(partial, data, snapshot, manifest, extra)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        partial.replace(out)
    return manifest


def _write_archive(
    path: Path, data: Path, snapshot: Path, manifest: dict[str, Any], extra: dict[str, bytes]
) -> None:
    """The archive: the snapshot, the directory's other files (``extra`` in place of those
    it names) and the manifest."""
    with tarfile.open(path, "w:gz") as tar:
        tar.add(snapshot, arcname=DB_FILE)
        for item in sorted(data.rglob("*")):
            name = item.relative_to(data).as_posix()
            if name in _SKIPPED or name in extra or name.startswith(_SKIPPED_DIRS):
                continue
            if not (item.is_file() or item.is_symlink()):
                continue
            tar.add(item, arcname=name)
        body = json.dumps(manifest, ensure_ascii=False, indent=2).encode()
        for name, content in {**extra, MANIFEST: body}.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))


def backup(settings: Settings, out: Path) -> dict[str, Any]:
    """Open the stopped exchange in ``settings.data`` and back it up (:func:`backup_exchange`)."""
    with Exchange.open(settings) as exchange:
        return backup_exchange(exchange, out)


def restore(archive: Path, settings: Settings) -> RestoreReport:
    """Unpack ``archive`` into the empty ``settings.data`` and prove the copy."""
    target = Path(settings.data)
    if target.exists() and any(target.iterdir()):
        raise Conflict(f"{target} is not empty; restore into a new directory")
    try:
        with tarfile.open(archive, "r:gz") as tar:
            try:
                manifest = json.loads(tar.extractfile(MANIFEST).read())  # type: ignore[union-attr]
            except (KeyError, AttributeError, ValueError) as exc:
                raise InvalidRequest(
                    f"{archive} has no valid {MANIFEST}", code=ErrorCode.INVALID_BACKUP
                ) from exc
            target.mkdir(parents=True, exist_ok=True)
            members = [m for m in tar.getmembers() if m.name != MANIFEST]
            tar.extractall(target, members=members, filter="data")
    except (OSError, tarfile.TarError) as exc:
        raise InvalidRequest(
            f"{archive} is not a readable govex backup: {exc}", code=ErrorCode.INVALID_BACKUP
        ) from exc
    with Exchange.open(settings) as exchange:
        size = int(manifest["audit_tree_size"])
        cur = exchange.store.cursor()
        root = _audit_root(cur, size)
        return RestoreReport(
            counts=_counts(cur),
            expected=dict(manifest["counts"]),
            tree_size=size,
            root_matches=root == manifest["audit_root"],
        )
