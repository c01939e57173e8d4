"""Backup and restore of a data directory (RELIABILITY F2).

A backup is one ``.tar.gz`` holding the DuckDB file (checkpointed first, while the
exchange's lock is held, so the copy is consistent), the encrypted keys, the exchange's
identity, and a manifest: row counts per table and the audit log's tree size and root.
Restore unpacks into a new directory and proves the copy: counts equal the manifest,
and the audit tree recomputed from the restored entries has the manifest's root.
"""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from exchange.config import Settings
from exchange.errors import Conflict, InvalidRequest
from exchange.service import Exchange
from exchange.store import DB_FILE, LOCK_FILE
from schemas.errors import ErrorCode
from signing.merkle import root_of

__all__ = ["BACKUP_TABLES", "RestoreReport", "backup", "restore"]

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


def _counts(exchange: Exchange) -> dict[str, int]:
    tables = {
        r[0] for r in exchange.store.fetchall("SELECT table_name FROM information_schema.tables")
    }
    return {
        t: int(exchange.store.fetchone(f"SELECT count(*) FROM {t}")[0])  # type: ignore[index]  # noqa: S608
        for t in BACKUP_TABLES
        if t in tables
    }


def _audit_root(exchange: Exchange, size: int) -> str:
    leaves = [
        bytes(r[0])
        for r in exchange.store.fetchall(
            "SELECT leaf_hash FROM audit_entries WHERE seq < ? ORDER BY seq", [size]
        )
    ]
    if len(leaves) != size:
        return f"missing entries: {len(leaves)} of {size}"
    return root_of(leaves).hex()


def backup(settings: Settings, out: Path) -> dict[str, Any]:
    """Write a consistent backup of ``settings.data`` to ``out``; return its manifest."""
    data = Path(settings.data)
    with Exchange.open(settings) as exchange:
        exchange.store.execute("CHECKPOINT")
        size = exchange.audit.size
        manifest = {
            "format": "govex-backup/1",
            "created_at": datetime.now(UTC).isoformat(),
            "exchange": exchange.identity.name,
            "counts": _counts(exchange),
            "audit_tree_size": size,
            "audit_root": _audit_root(exchange, size),
        }
        out.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(out, "w:gz") as tar:
            for path in sorted(data.rglob("*")):
                name = path.relative_to(data).as_posix()
                if path.is_dir() or name in (LOCK_FILE, f"{DB_FILE}.wal"):
                    continue
                tar.add(path, arcname=name)
            body = json.dumps(manifest, ensure_ascii=False, indent=2).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return manifest


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
        root = _audit_root(exchange, size)
        return RestoreReport(
            counts=_counts(exchange),
            expected=dict(manifest["counts"]),
            tree_size=size,
            root_matches=root == manifest["audit_root"],
        )
