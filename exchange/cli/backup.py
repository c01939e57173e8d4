"""``govex backup`` and ``govex restore``: a consistent copy of an exchange, and a new
exchange made from one and proved equal to it (row counts and the audit log's root)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from exchange.cli.options import DataOpt, operate, refuse_while_serving, require_data
from exchange.cli.output import console, err
from exchange.config import Settings
from exchange.errors import InvalidRequest
from schemas.errors import ErrorCode

__all__ = ["backup", "restore"]


def backup(
    out: Annotated[Path, typer.Option(help="backup file to write (.tar.gz)")],
    data: DataOpt = None,
) -> None:
    """Write a consistent backup of DATA, also while `govex serve` runs on it (reads go on).

    The folder of OUT must exist (it is never created) and OUT must not."""
    path = out.expanduser().resolve()
    if not path.parent.is_dir():
        raise InvalidRequest(
            f"--out {out}: the folder {path.parent} does not exist; create it or choose another",
            code=ErrorCode.UNWRITABLE_FILE,
        )
    manifest = operate(data, "backup", {"out": str(path)})
    rows = sum(manifest["counts"].values())
    console.print(
        f"backup written to {out}: {rows:,} rows in {len(manifest['counts'])} tables, "
        f"audit log of {manifest['audit_tree_size']:,} entries (root "
        f"{manifest['audit_root'][:16]}…)"
    )


def restore(
    archive: Annotated[Path, typer.Argument(help="backup file from `govex backup`")],
    data: DataOpt = None,
) -> None:
    """Restore a backup into a new DATA directory and prove it: counts and audit root.

    Offline only: refused while `govex serve` runs on DATA (stop the exchange first)."""
    from exchange.backup import restore as run_restore

    refuse_while_serving(require_data(data), "restore")
    report = run_restore(archive, Settings(data=require_data(data)))
    if not report.ok:
        err.print(
            f"error: restored copy differs from the backup's manifest: counts "
            f"{report.counts} vs {report.expected}, audit root matches: "
            f"{report.root_matches}"
        )
        raise typer.Exit(1)
    console.print(
        f"restored into {data}: {sum(report.counts.values()):,} rows as recorded, "
        f"audit root of {report.tree_size:,} entries recomputed and equal"
    )
