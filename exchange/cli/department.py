"""``govex department …`` and ``govex departments``: the department lifecycle.

Thin callers of :class:`exchange.departments.lifecycle.DepartmentAdmin`, operating on
the data directory (``--data``) as the exchange's operator; each change is one audit
entry. ``department add`` and ``department key rotate`` read only the public files of
``govex keys new`` (auth.pub.pem, seal.csr.pem, cert.csr.pem).
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
from exchange.departments.keyfolder import read_key_material
from exchange.errors import InvalidRequest
from schemas.catalog import Department, Role
from schemas.errors import ErrorCode
from signing.purposes import parse_purpose

__all__ = ["department_app", "departments"]

department_app = typer.Typer(
    help="Departments: add with their keys, rotate or revoke a key, suspend, resume, remove.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
key_app = typer.Typer(
    help="A department's keys: rotate or revoke one purpose's key.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
department_app.add_typer(key_app, name="key")
console = Console()

DataOpt = Annotated[
    Path, typer.Option("--data", "-d", help="data directory of the exchange", envvar="GOVEX_DATA")
]
DeptOpt = Annotated[str, typer.Option("--dept", help="department code or USCC")]
PurposeOpt = Annotated[str, typer.Option("--purpose", help="auth, seal or cert")]
KeysOpt = Annotated[
    Path, typer.Option("--keys", help="folder with the public files of `govex keys new`")
]
ReasonOpt = Annotated[str, typer.Option("--reason", help="why (kept in the audit log)")]


from exchange.cli.options import DataOpt as OptionalDataOpt  # noqa: E402
from exchange.cli.options import operate  # noqa: E402


def _open(data: Path) -> Any:
    from exchange.service import Exchange

    return Exchange.open(Settings(data=data))


def _say(text: str) -> None:
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def _roles(text: str) -> list[Role]:
    allowed = [r.value for r in Role]
    roles: list[Role] = []
    for part in (p.strip() for p in text.split(",")):
        if part not in allowed:
            raise InvalidRequest(
                f"role {part!r} is not one of {', '.join(allowed)}", code=ErrorCode.INVALID_OPTION
            )
        roles.append(Role(part))
    return roles


@department_app.command("add")
def add(
    data: DataOpt,
    uscc: Annotated[str, typer.Option("--uscc", help="统一社会信用代码")],
    code: Annotated[str, typer.Option("--code", help="short code, e.g. gongan")],
    name: Annotated[str, typer.Option("--name", help="the department's name")],
    region: Annotated[str, typer.Option("--region", help="行政区划代码, 6 digits")],
    keys: KeysOpt,
    roles: Annotated[
        str,
        typer.Option("--roles", help="comma-separated: department, approver, auditor, operator"),
    ] = "department",
) -> None:
    """Register a department and certify its auth, seal and cert keys."""
    material = read_key_material(keys)
    department = Department(uscc=uscc, code=code, name=name, region=region, roles=_roles(roles))
    with _open(data) as exchange:
        added = exchange.departments.add(exchange.identity.uscc, department, material)
        kids = ", ".join(f"{k.purpose} {k.kid}" for k in exchange.registry.keys(added.uscc))
    _say(f"{added.code} ({added.uscc}) registered with keys: {kids}")


@key_app.command("rotate")
def rotate(data: DataOpt, dept: DeptOpt, purpose: PurposeOpt, keys: KeysOpt) -> None:
    """Certify a new key for one purpose; the old one rotates out (its signatures stay valid)."""
    chosen = parse_purpose(purpose)
    (material,) = read_key_material(keys, (chosen,))
    with _open(data) as exchange:
        key = exchange.departments.rotate_key(exchange.identity.uscc, dept, material)
    _say(f"{chosen} key of {dept} is now {key.kid}; the previous one is rotated out")


@key_app.command("revoke")
def revoke(
    data: DataOpt,
    dept: DeptOpt,
    purpose: PurposeOpt,
    reason: ReasonOpt,
    kid: Annotated[
        str | None, typer.Option("--kid", help="a key id (default: the active key)")
    ] = None,
) -> None:
    """Revoke a key at once: its tokens stop working, its later signatures are refused."""
    with _open(data) as exchange:
        key = exchange.departments.revoke_key(exchange.identity.uscc, dept, purpose, reason, kid)
    _say(f"{key.purpose} key {key.kid} of {dept} revoked at {key.ended_at:%Y-%m-%d %H:%M:%S}Z")


def _change(data: Path, dept: str, action: str, reason: str) -> None:
    with _open(data) as exchange:
        department = getattr(exchange.departments, action)(exchange.identity.uscc, dept, reason)
        state = exchange.registry.status(department.uscc).state.value
    _say(f"{department.code} ({department.uscc}) is {state}")


@department_app.command("suspend")
def suspend(data: DataOpt, dept: DeptOpt, reason: ReasonOpt = "suspended by the operator") -> None:
    """Suspend a department at once: its tokens stop working; its records stay."""
    _change(data, dept, "suspend", reason)


@department_app.command("resume")
def resume(data: DataOpt, dept: DeptOpt, reason: ReasonOpt = "resumed by the operator") -> None:
    """Resume a suspended department."""
    _change(data, dept, "resume", reason)


@department_app.command("remove")
def remove(data: DataOpt, dept: DeptOpt, reason: ReasonOpt = "removed by the operator") -> None:
    """Remove a department for good: it can no longer act; its records stay."""
    _change(data, dept, "remove", reason)


def departments(
    data: OptionalDataOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON document")] = False,
) -> None:
    """List the departments: state, and each key's purpose, state and expiry (works while
    govex serve runs, through its admin socket, or with --url)."""
    rows: list[dict[str, Any]] = operate(data, "departments.list")
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    header = ("code", "USCC", "name", "state", "purpose", "kid", "key state", "expires")
    lines = [
        (
            r["code"],
            r["uscc"],
            r["name"],
            r["department_state"],
            r["purpose"],
            r["kid"],
            r["state"] if r["ended_at"] is None else f"{r['state']} {r['ended_at'][:16]}Z",
            r["not_after"][:10] if r["not_after"] else "-",
        )
        for r in rows
    ]
    if not sys.stdout.isatty():
        for line in lines:
            print("\t".join(line))
        return
    table = Table(*header)
    for line in lines:
        table.add_row(*line)
    console.print(table)
