"""``govex catalog``: add a resource, update its schema version, list the catalog.

A thin shell over :class:`exchange.catalog.service.CatalogService` (the checks, the
versions and the audit entry live there); the operating department of the exchange is
the operator named in the audit entry. Bad input — an unreadable file, invalid JSON, a
definition outside the resource meta-schema, an unknown owner department, an
incompatible update — is one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from exchange.config import Settings
from exchange.errors import InvalidRequest
from schemas.errors import ErrorCode

__all__ = ["catalog_app"]

catalog_app = typer.Typer(
    help="The catalog (政务信息资源目录) of a stopped exchange: add a resource, update its "
    "schema (a compatible change is a minor version; --major starts a new major version), "
    "list resources with their versions.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
console = Console()

DataOpt = Annotated[
    Path, typer.Option("--data", "-d", help="data directory of the exchange", envvar="GOVEX_DATA")
]
FileArg = Annotated[
    Path,
    typer.Argument(help="a resource definition in JSON (the form of schemas/resources/*.json)"),
]


def _read(file: Path) -> Any:
    """The JSON of ``file``, or one clear InvalidRequest."""
    try:
        text = file.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InvalidRequest(
            f"cannot read {file}: {reason}", code=ErrorCode.UNREADABLE_FILE
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidRequest(
            f"{file} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            code=ErrorCode.MALFORMED_JSON,
        ) from None


def _open(data: Path):  # type: ignore[no-untyped-def]  # the Exchange, imported late
    from exchange.service import Exchange

    return Exchange.open(Settings(data=data))


def _say(change: Any) -> None:
    if not change.changed:
        print(f"{change.code} unchanged at version {change.version}")
        return
    was = f" (was {change.previous})" if change.previous else ""
    print(f"{change.code} version {change.version}{was}: {'; '.join(change.changes)}")


@catalog_app.command("add")
def add(file: FileArg, data: DataOpt) -> None:
    """Add a resource to the catalog at version 1.0 (its owner department must exist)."""
    from exchange.catalog.service import catalog_service

    raw = _read(file)
    with _open(data) as exchange:
        _say(catalog_service(exchange).add(raw, actor=exchange.identity.uscc))


@catalog_app.command("update")
def update(
    file: FileArg,
    data: DataOpt,
    major: Annotated[
        bool,
        typer.Option(
            "--major",
            help="start a new major version: allows removing or retyping fields, new required "
            "fields, another key or subject fields; older records stay readable as stored",
        ),
    ] = False,
) -> None:
    """A new version of a resource's schema; an incompatible change needs --major."""
    from exchange.catalog.service import catalog_service

    raw = _read(file)
    with _open(data) as exchange:
        _say(catalog_service(exchange).update(raw, actor=exchange.identity.uscc, major=major))


@catalog_app.command("list")
def list_catalog(
    data: DataOpt,
    as_json: Annotated[bool, typer.Option("--json", help="print the catalog as JSON")] = False,
) -> None:
    """Every resource with its owner, sharing type and schema versions."""
    from exchange.catalog.service import catalog_service

    with _open(data) as exchange:
        entries = catalog_service(exchange).list()
    if as_json:
        print(json.dumps([e.model_dump(mode="json") for e in entries], ensure_ascii=False))
        return
    rows = [
        (
            e.code,
            e.owner_code,
            e.sharing_type.value,
            e.version,
            ",".join(v.version for v in e.versions),
            e.name,
        )
        for e in entries
    ]
    if not sys.stdout.isatty():  # plain rows for pipes and scripts
        for row in rows:
            print("\t".join(row))
        return
    table = Table("code", "owner", "sharing", "version", "versions", "name")
    for row in rows:
        table.add_row(*row)
    console.print(table)
