"""``govex department …`` and ``govex departments``: the department lifecycle.

Each command runs an operation of :mod:`exchange.admin.manage` through
:func:`exchange.cli.options.operate`: on the data directory (``--data``), through the
admin socket of a ``govex serve`` running on it, or ``--url`` with an operator's key; each
change is audited (the lifecycle's entry and ``admin.<operation>`` naming the operator).
``department add`` and ``department key rotate`` read only the public files of
``govex keys new`` (auth.pub.pem, seal.csr.pem, cert.csr.pem) and send their text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from exchange.cli.options import DataOpt, operate
from exchange.cli.output import show
from exchange.departments.keyfolder import read_key_material
from exchange.errors import InvalidRequest
from schemas.catalog import Role
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

DeptOpt = Annotated[str, typer.Option("--dept", help="department code or USCC")]
PurposeOpt = Annotated[str, typer.Option("--purpose", help="auth, seal or cert")]
KeysOpt = Annotated[
    Path, typer.Option("--keys", help="folder with the public files of `govex keys new`")
]
ReasonOpt = Annotated[str, typer.Option("--reason", help="why (kept in the audit log)")]


def _say(text: str) -> None:
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def _roles(text: str) -> list[str]:
    allowed = [r.value for r in Role]
    roles: list[str] = []
    for part in (p.strip() for p in text.split(",")):
        if part not in allowed:
            raise InvalidRequest(
                f"role {part!r} is not one of {', '.join(allowed)}", code=ErrorCode.INVALID_OPTION
            )
        roles.append(part)
    return roles


@department_app.command("add")
def add(
    uscc: Annotated[str, typer.Option("--uscc", help="统一社会信用代码")],
    code: Annotated[str, typer.Option("--code", help="short code, e.g. gongan")],
    name: Annotated[str, typer.Option("--name", help="the department's name")],
    region: Annotated[str, typer.Option("--region", help="行政区划代码, 6 digits")],
    keys: KeysOpt,
    roles: Annotated[
        str,
        typer.Option("--roles", help="comma-separated: department, approver, auditor, operator"),
    ] = "department",
    data: DataOpt = None,
) -> None:
    """Register a department and certify its auth, seal and cert keys."""
    chosen = _roles(roles)
    material = {m.purpose: m.pem for m in read_key_material(keys)}
    params = {
        "uscc": uscc,
        "code": code,
        "name": name,
        "region": region,
        "roles": chosen,
        "auth_public_key": material["auth"],
        "seal_csr": material["seal"],
        "cert_csr": material["cert"],
    }
    added = operate(data, "department.add", params)
    kids = ", ".join(f"{k['purpose']} {k['kid']}" for k in added["keys"])
    _say(f"{added['code']} ({added['uscc']}) registered with keys: {kids}")


@key_app.command("rotate")
def rotate(dept: DeptOpt, purpose: PurposeOpt, keys: KeysOpt, data: DataOpt = None) -> None:
    """Certify a new key for one purpose; the old one rotates out (its signatures stay valid)."""
    chosen = parse_purpose(purpose)
    (material,) = read_key_material(keys, (chosen,))
    key = operate(
        data, "department.key.rotate", {"dept": dept, "purpose": chosen, "pem": material.pem}
    )
    _say(f"{chosen} key of {key['code']} is now {key['kid']}; the previous one is rotated out")


@key_app.command("revoke")
def revoke(
    dept: DeptOpt,
    purpose: PurposeOpt,
    reason: ReasonOpt,
    kid: Annotated[
        str | None, typer.Option("--kid", help="a key id (default: the active key)")
    ] = None,
    data: DataOpt = None,
) -> None:
    """Revoke a key at once: its tokens stop working, its later signatures are refused."""
    chosen = parse_purpose(purpose)
    key = operate(
        data,
        "department.key.revoke",
        {"dept": dept, "purpose": chosen, "reason": reason, "kid": kid},
    )
    when = str(key["ended_at"])[:19].replace("T", " ")
    _say(f"{key['purpose']} key {key['kid']} of {key['code']} revoked at {when}Z")


def _change(data: Path | None, dept: str, action: str, reason: str) -> None:
    changed = operate(data, f"department.{action}", {"dept": dept, "reason": reason})
    _say(f"{changed['code']} ({changed['uscc']}) is {changed['state']}")


@department_app.command("suspend")
def suspend(
    dept: DeptOpt, reason: ReasonOpt = "suspended by the operator", data: DataOpt = None
) -> None:
    """Suspend a department at once: its tokens stop working; its records stay."""
    _change(data, dept, "suspend", reason)


@department_app.command("resume")
def resume(
    dept: DeptOpt, reason: ReasonOpt = "resumed by the operator", data: DataOpt = None
) -> None:
    """Resume a suspended department."""
    _change(data, dept, "resume", reason)


@department_app.command("remove")
def remove(
    dept: DeptOpt, reason: ReasonOpt = "removed by the operator", data: DataOpt = None
) -> None:
    """Remove a department for good: it can no longer act; its records stay."""
    _change(data, dept, "remove", reason)


def departments(
    data: DataOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON document")] = False,
) -> None:
    """List the departments: state, and each key's purpose, state and expiry (works while
    govex serve runs, through its admin socket, or with --url)."""
    rows: list[dict[str, Any]] = operate(data, "departments.list")
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
    show(header, lines, as_json=as_json, records=rows)
