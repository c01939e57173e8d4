"""``govex audit``: export, verify offline, trace a trail, archive old entries.

``verify`` needs only the export file (no data directory, no network): it exits 0
when everything verifies, or 1 naming the first entry that does not match.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from exchange.audit.verify import AuditExportInvalid
from exchange.cli.options import DataOpt, operate, require_data
from exchange.config import Settings
from exchange.errors import InvalidRequest
from schemas.errors import ErrorCode

__all__ = ["audit_app"]

audit_app = typer.Typer(
    help="The audit log: export it with its proofs, verify an export offline, trace a "
    "subject, case or department, archive entries older than the retention period.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
console = Console()
err = Console(stderr=True)


def _when(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidRequest(
            f"{option} {text!r} is not a date: use 2026-05-01 or 2026-05-01T08:00:00+08:00",
            code=ErrorCode.INVALID_DATE,
        ) from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _say(text: str) -> None:
    """Print ``text`` as it is: no rich markup, no highlighting (values are the caller's)."""
    console.print(text, markup=False, highlight=False)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


def _open(data: Path | None):  # type: ignore[no-untyped-def]  # the Exchange, imported late
    from exchange.service import Exchange

    return Exchange.open(Settings(data=require_data(data)))


@audit_app.command()
def export(
    out: Annotated[Path, typer.Option("--out", "-o", help="file to write (JSON Lines)")],
    since: Annotated[
        str | None, typer.Option("--from", help="first day or time to include (UTC if no zone)")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--to", help="day or time to stop before (UTC if no zone)")
    ] = None,
    data: DataOpt = None,
) -> None:
    """Write entries with the tree and every signed checkpoint, ready for `govex audit verify`."""
    _when(since, "--from")  # a bad date is refused before anything runs
    _when(until, "--to")
    path = out.expanduser().resolve()
    with _progress() as progress:  # the operation reports no steps: a running bar only
        progress.add_task("exporting", total=None)
        summary = operate(data, "audit.export", {"since": since, "until": until, "out": str(path)})
    if summary.get("text") is not None:  # exported on another host: written here
        try:
            path.write_text(summary["text"], "utf-8")
        except OSError as exc:
            raise InvalidRequest(
                f"cannot write {path}: {exc.strerror}", code=ErrorCode.UNWRITABLE_FILE
            ) from exc
    _say(
        f"exported entries {summary['first']}..{summary['end'] - 1} to {path} "
        f"({summary['checkpoints'] + 1} signed checkpoints, the last of size {summary['anchor']})"
    )


@audit_app.command()
def verify(
    file: Annotated[Path, typer.Argument(help="an export written by `govex audit export`")],
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            "--checkpoint",
            help="a signed checkpoint you kept earlier (e.g. from GET /v1/audit/checkpoint): "
            "the export must extend it",
        ),
    ] = None,
    vkey: Annotated[
        str | None, typer.Option("--vkey", help="pin the log's verifier key (name+id+key)")
    ] = None,
) -> None:
    """Recompute every leaf and the tree, check every signature; exit 1 at the first mismatch."""
    from exchange.audit.verify import verify_export

    if not file.is_file():
        raise InvalidRequest(f"{file} is not a file", code=ErrorCode.UNREADABLE_FILE)
    known = checkpoint.read_text("utf-8") if checkpoint is not None else None
    try:
        with _progress() as progress:
            task = progress.add_task("verifying", total=None)
            result = verify_export(
                file,
                known=known,
                vkey=vkey,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
    except AuditExportInvalid as exc:
        err.print(f"FAILED: {exc.message}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1) from exc
    _say(
        f"VERIFIED: entries {result.first}..{result.end - 1} of {result.origin}; "
        f"{len(result.checkpoints)} signed checkpoints match"
        + (f"; cosigned by {', '.join(result.witnesses)}" if result.witnesses else "")
        + (f"; consistent with the known checkpoint of size {result.known}" if result.known else "")
    )
    if not result.key_pinned:
        _say("note: the log key was taken from the file; pin it with --vkey or --checkpoint")


@audit_app.command()
def trace(
    subject: Annotated[
        str | None, typer.Option("--subject", help="ID number or USCC (hashed, never stored)")
    ] = None,
    case: Annotated[str | None, typer.Option("--case", help="case number (办件编号)")] = None,
    dept: Annotated[str | None, typer.Option("--dept", help="acting department's USCC")] = None,
    limit: Annotated[int, typer.Option(help="at most this many entries")] = 1000,
    data: DataOpt = None,
) -> None:
    """Print the trail of a subject, a case or a department, archived entries included."""
    if sum(x is not None for x in (subject, case, dept)) != 1:
        raise InvalidRequest(
            "give exactly one of --subject, --case or --dept", code=ErrorCode.INVALID_OPTION
        )
    found = operate(
        data, "audit.trace", {"subject": subject, "case": case, "dept": dept, "limit": limit}
    )
    names = found["names"]
    table = Table("seq", "time (UTC)", "dept", "action", "outcome", "target", "purpose", "case")
    for e in found["entries"]:
        code = e["code"]
        # every cell is plain text: a purpose such as "[/]" or "[bold]x" is shown as written,
        # never read as rich markup (which would fail or restyle what the auditor sees)
        table.add_row(
            *(
                Text(value)
                for value in (
                    str(e["seq"]),
                    str(e["ts"])[:19].replace("T", " "),
                    names.get(e["actor"], e["actor"]),
                    e["action"],
                    e["outcome"] + (f" ({code.split('.')[-1]})" if code else ""),
                    e["target"] or "",
                    e["purpose"] or "",
                    e["case_no"] or "",
                )
            )
        )
    console.print(table)
    _say(found["summary"])


@audit_app.command()
def archive(
    before: Annotated[str, typer.Option("--before", help="archive entries older than this day")],
    data: DataOpt = None,
) -> None:
    """Move entries older than DATE (and older than the retention period) to Parquet."""
    from exchange.audit.archive import archive_before

    when = _when(before, "--before")
    assert when is not None
    with _open(data) as exchange:
        summary = archive_before(
            exchange.audit, exchange.checkpoints, when, actor=exchange.identity.uscc
        )
    if summary is None:
        _say(f"no online entries older than {before}")
        return
    _say(
        f"archived entries {summary.first}..{summary.end - 1} to {summary.path} "
        f"(sha256 {summary.sha256[:16]}…); their proofs still verify"
    )
