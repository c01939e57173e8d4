"""``govex audit``: export, verify offline, trace a trail, archive old entries.

``verify FILE`` needs only the export file (no data directory, no network): it exits 0
when everything verifies, or 1 naming the first entry that does not match; ``verify
--data DIR`` verifies the live log the same way (the exchange exports and checks it, the
log key pinned to its own). ``export``, ``trace``, ``archive`` and ``verify --data`` run
on the data directory, through a running ``govex serve``'s admin socket, or ``--url``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from exchange.admin.builtin import audit_time
from exchange.audit.verify import AuditExportInvalid
from exchange.cli.options import DataOpt, Target, operate
from exchange.cli.output import emit_json, err, say, show
from exchange.errors import InvalidRequest
from schemas.errors import ErrorCode

__all__ = ["audit_app"]

audit_app = typer.Typer(
    help="The audit log: export it with its proofs, verify an export offline, trace a "
    "subject, case or department, archive entries older than the retention period.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


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
    audit_time(since, "--from")  # a bad date is refused before anything runs
    audit_time(until, "--to")
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
    say(
        f"exported entries {summary['first']}..{summary['end'] - 1} to {path} "
        f"({summary['checkpoints'] + 1} signed checkpoints, the last of size {summary['anchor']})"
    )


def _kept_note(path: Path) -> str:
    """The signed note in ``path``: the note itself (``GET /log/checkpoint``) or the JSON
    the audit API answers (``GET /v1/audit/checkpoint``, its ``note``)."""
    import json

    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeError) as exc:
        raise InvalidRequest(
            f"--checkpoint {path}: cannot read it ({exc})", code=ErrorCode.UNREADABLE_FILE
        ) from exc
    if text.lstrip().startswith("{"):
        try:
            note = json.loads(text).get("note")
        except (ValueError, AttributeError):
            note = None
        if isinstance(note, str):
            return note
    elif "\n\n" in text:
        return text
    raise InvalidRequest(
        f"--checkpoint {path} holds no signed checkpoint: give the body of GET /log/checkpoint "
        "or the JSON of GET /v1/audit/checkpoint",
        code=ErrorCode.INVALID_OPTION,
    )


@audit_app.command()
def verify(
    file: Annotated[
        Path | None,
        typer.Argument(help="an export written by `govex audit export` (or --data DIR)"),
    ] = None,
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            "--checkpoint",
            help="a signed checkpoint you kept earlier (the body of GET /log/checkpoint, or "
            "the JSON of GET /v1/audit/checkpoint): the export must extend it",
        ),
    ] = None,
    vkey: Annotated[
        str | None,
        typer.Option("--vkey", metavar="VKEY", help="pin the log's verifier key (name+id+key)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
    data: DataOpt = None,
) -> None:
    """Recompute every leaf and the tree, check every signature; exit 1 at the first mismatch.

    With --data DIR instead of FILE: the live log of that exchange (also while it serves)."""
    from dataclasses import asdict

    from exchange.audit.verify import verify_export

    if file is None:
        _verify_live(data, checkpoint, vkey, as_json=as_json)
        return
    if data is not None:
        raise InvalidRequest(
            "give an export FILE or --data DIR, not both", code=ErrorCode.INVALID_OPTION
        )
    if not file.is_file():
        raise InvalidRequest(f"{file} is not a file", code=ErrorCode.UNREADABLE_FILE)
    known = _kept_note(checkpoint) if checkpoint is not None else None
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
        if as_json:
            emit_json({"verified": False, "reason": exc.message, "index": exc.index})
        err.print(f"FAILED: {exc.message}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1) from exc
    if as_json:
        emit_json({"verified": True, **asdict(result)})
        return
    say(
        f"VERIFIED: entries {result.first}..{result.end - 1} of {result.origin}; "
        f"{len(result.checkpoints)} signed checkpoints match"
        + (f"; cosigned by {', '.join(result.witnesses)}" if result.witnesses else "")
        + (f"; consistent with the known checkpoint of size {result.known}" if result.known else "")
    )
    if not result.key_pinned:
        say("note: the log key was taken from the file; pin it with --vkey or --checkpoint")


def _subject(value: str) -> str:
    """An ID number or a USCC with its check character right, or one clear refusal."""
    from schemas.errors import SchemaError
    from schemas.identifiers import validate_id_number, validate_uscc

    text = value.strip().upper()
    try:
        return validate_id_number(text)
    except SchemaError as as_id:
        try:
            return validate_uscc(text)
        except SchemaError:
            raise InvalidRequest(
                f"--subject {value!r} is neither a valid ID number nor a valid USCC "
                f"({as_id.message})",
                code=ErrorCode.INVALID_IDENTIFIER,
            ) from None


def _dept_uscc(data: Path | None, dept: str) -> str:
    """The USCC of department ``dept`` given by code or USCC; other actors (such as
    ``local-operator``) as they are."""
    wanted = dept.strip()
    rows: list[dict[str, Any]] = operate(data, "departments.list")
    for row in rows:
        if wanted in (row["code"], row["uscc"]) or wanted.upper() == row["uscc"]:
            return str(row["uscc"])
    return wanted


def _verify_live(
    data: Path | None, checkpoint: Path | None, vkey: str | None, *, as_json: bool
) -> None:
    if checkpoint is not None or vkey is not None:
        raise InvalidRequest(
            "--checkpoint and --vkey check an export FILE; the live log is checked against "
            "the exchange's own key",
            code=ErrorCode.INVALID_OPTION,
        )
    if data is None and Target.current().url is None:
        raise InvalidRequest(
            "give an export FILE, or --data DIR for the live log", code=ErrorCode.INVALID_OPTION
        )
    try:
        with _progress() as progress:
            progress.add_task("verifying the live log", total=None)
            result = operate(data, "audit.verify")
    except AuditExportInvalid as exc:  # on the direct path (the others answer a problem)
        if as_json:
            emit_json({"verified": False, "reason": exc.message, "index": exc.index})
        err.print(f"FAILED: {exc.message}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1) from exc
    if as_json:
        emit_json({"verified": True, "live": True, **result})
        return
    if result["end"] == 0:
        say(f"nothing to verify: the live log of {result['origin']} holds no entries yet")
        return
    say(
        f"VERIFIED: entries {result['first']}..{result['end'] - 1} of {result['origin']} "
        f"(the live log); {result['checkpoints']} signed checkpoints match"
        + (f"; cosigned by {', '.join(result['witnesses'])}" if result.get("witnesses") else "")
    )


@audit_app.command(
    epilog="Examples:\n\n"
    "  govex audit trace --data ./city --case BDC-2026-000001\n\n"
    "  govex audit trace --data ./city --subject 411502199001011234 --json\n\n"
    "  govex audit trace --data ./city --dept budongchan | cut -f1,4"
)
def trace(
    subject: Annotated[
        str | None,
        typer.Option("--subject", metavar="ID", help="ID number or USCC (hashed, never stored)"),
    ] = None,
    case: Annotated[
        str | None, typer.Option("--case", metavar="CASE", help="case number (办件编号)")
    ] = None,
    dept: Annotated[
        str | None,
        typer.Option("--dept", metavar="DEPT", help="acting department's code or USCC"),
    ] = None,
    limit: Annotated[
        int, typer.Option(metavar="N", help="at most this many entries", min=1)
    ] = 1000,
    as_json: Annotated[bool, typer.Option("--json", help="print the trail as JSON")] = False,
    data: DataOpt = None,
) -> None:
    """Print the trail of a subject, a case or a department, archived entries included.

    An ID number or USCC with a wrong check character, an unknown department or a case no
    entry names is refused (exit 1), never answered with an empty trail."""
    if sum(x is not None for x in (subject, case, dept)) != 1:
        raise InvalidRequest(
            "give exactly one of --subject, --case or --dept", code=ErrorCode.INVALID_OPTION
        )
    refusal: InvalidRequest | None = None
    if subject is not None:
        try:
            subject = _subject(subject)
        except InvalidRequest as exc:  # said only if no entry names it as written
            refusal, subject = exc, subject.strip()
    if dept is not None:
        dept = _dept_uscc(data, dept)
    found = operate(
        data, "audit.trace", {"subject": subject, "case": case, "dept": dept, "limit": limit}
    )
    if refusal is not None and not found["entries"]:
        raise refusal
    if case is not None and not found["entries"]:
        raise InvalidRequest(
            f"no such case {case!r}: no audit entry names it (case numbers look like "
            "BDC-2026-000001)",
            code=ErrorCode.NOT_FOUND,
        )
    if dept is not None and not found["entries"]:
        raise InvalidRequest(
            f"no such department {dept!r}: no entry was made by it; give a department code "
            "or USCC (`govex departments` lists them)",
            code=ErrorCode.UNKNOWN_DEPARTMENT,
        )
    names = found["names"]
    rows = []
    for e in found["entries"]:
        code = e["code"]
        rows.append(
            (
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
    columns = ("seq", "time (UTC)", "dept", "action", "outcome", "target", "purpose", "case")
    show(columns, rows, as_json=as_json, records=found)
    if not as_json:
        say(found["summary"])


@audit_app.command()
def archive(
    before: Annotated[str, typer.Option("--before", help="archive entries older than this day")],
    data: DataOpt = None,
) -> None:
    """Move entries older than DATE (and older than the retention period) to Parquet."""
    audit_time(before, "--before")  # a bad date is refused before anything runs
    summary = operate(data, "audit.archive", {"before": before})
    if summary is None:
        say(f"no online entries older than {before}")
        return
    say(
        f"archived entries {summary['first']}..{summary['end'] - 1} to {summary['path']} "
        f"(sha256 {summary['sha256'][:16]}…); their proofs still verify"
    )
