"""``govex catalog``: add a resource, update its schema version, list the catalog.

Each command runs an operation of :mod:`exchange.admin.manage` (a thin caller of
:class:`exchange.catalog.service.CatalogService`: the checks, the versions and the audit
entry live there) through :func:`exchange.cli.options.operate`: on the data directory, the
admin socket of a ``govex serve`` running on it, or ``--url``. Bad input — an unreadable
file, invalid JSON, a definition outside the resource meta-schema, an unknown owner
department, an incompatible update — is one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from exchange.cli.options import DataOpt, operate
from exchange.cli.output import show
from exchange.errors import InvalidRequest
from schemas.errors import ErrorCode

__all__ = ["catalog_app"]

catalog_app = typer.Typer(
    help="The catalog (政务信息资源目录): add a resource, update its "
    "schema (a compatible change is a minor version; --major starts a new major version), "
    "list resources with their versions.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
console = Console()

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


def _definition(file: Path) -> dict[str, Any]:
    raw = _read(file)
    if not isinstance(raw, dict):
        raise InvalidRequest(
            f"{file} holds no resource definition: a JSON object is expected",
            code=ErrorCode.INVALID_DEFINITION,
        )
    return raw


def _say(change: dict[str, Any]) -> None:
    if not change["changed"]:
        print(f"{change['code']} unchanged at version {change['version']}")
        return
    was = f" (was {change['previous']})" if change["previous"] else ""
    print(f"{change['code']} version {change['version']}{was}: {'; '.join(change['changes'])}")


@catalog_app.command("add")
def add(file: FileArg, data: DataOpt = None) -> None:
    """Add a resource to the catalog at version 1.0 (its owner department must exist)."""
    _say(operate(data, "catalog.add", {"definition": _definition(file)}))


@catalog_app.command("update")
def update(
    file: FileArg,
    data: DataOpt = None,
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
    _say(operate(data, "catalog.update", {"definition": _definition(file), "major": major}))


@catalog_app.command("list")
def list_catalog(
    data: DataOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the catalog as JSON")] = False,
) -> None:
    """Every resource with its owner, sharing type and schema versions."""
    entries: list[dict[str, Any]] = operate(data, "catalog.list")
    rows = [
        (
            e["code"],
            e["owner_code"],
            e["sharing_type"],
            e["version"],
            ",".join(v["version"] for v in e["versions"]),
            e["name"],
        )
        for e in entries
    ]
    columns = ("code", "owner", "sharing", "version", "versions", "name")
    show(columns, rows, as_json=as_json, records=entries)
