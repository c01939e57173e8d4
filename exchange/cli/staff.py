"""``govex staff …``: staff accounts of a department (工作人员), at the exchange's console.

``add`` prints a one-time enrolment code: the person sets their password with it at
``/console/enrol`` (and gets a TOTP secret there when their roles need one). ``list``,
``disable``, ``enable``, ``reset`` (a new code; password and TOTP forgotten) and
``require-act`` (reads of the department must name the person). Every change is
audited with the exchange as actor; the API's ``/v1/staff`` does the same for a
department's security officer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from exchange.departments.staff import parse_roles
from exchange.errors import ExchangeError, InvalidRequest
from schemas.errors import ErrorCode

__all__ = ["staff_app"]

staff_app = typer.Typer(
    help="Staff accounts of a department: add, list, disable, enable, reset, require-act.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
console = Console()

DataOpt = Annotated[
    Path, typer.Option("--data", "-d", help="data directory of the exchange", envvar="GOVEX_DATA")
]
DeptOpt = Annotated[str, typer.Option("--dept", help="the department's code or USCC")]
StaffOpt = Annotated[str, typer.Option("--staff-id", help="the staff member's id")]


def _open(data: Path) -> Any:
    from exchange.config import Settings
    from exchange.service import Exchange

    return Exchange.open(Settings(data=data))


def _uscc(exchange: Any, dept: str) -> str:
    try:
        return str(exchange.registry.department(dept).uscc)
    except ExchangeError:
        return str(exchange.registry.by_code(dept).uscc)


def _print_code(staff_id: str, code: str, expires: Any) -> None:
    console.print(
        f"enrolment code for {staff_id}: {code}\n"
        f"valid until {expires:%Y-%m-%d %H:%M} UTC, once; shown only now. The person sets "
        "their password with it at /console/enrol.",
        markup=False,
        highlight=False,
    )


@staff_app.command("add")
def add(
    data: DataOpt,
    dept: DeptOpt,
    staff_id: StaffOpt,
    name: Annotated[str, typer.Option("--name", help="the person's name")],
    roles: Annotated[
        list[str],
        typer.Option(
            "--roles",
            help="clerk, approver, auditor, operator, security_officer (repeat or comma-separate)",
        ),
    ],
) -> None:
    """Add a staff member and print their one-time enrolment code."""
    with _open(data) as exchange:
        enrolment = exchange.staff.add(
            _uscc(exchange, dept), staff_id, name, parse_roles(roles), actor=exchange.identity.uscc
        )
        _print_code(enrolment.staff_id, enrolment.code, enrolment.expires_at)


@staff_app.command("list")
def list_staff(data: DataOpt, dept: DeptOpt) -> None:
    """List a department's staff: id, name, roles, status, whether TOTP is required."""
    with _open(data) as exchange:
        uscc = _uscc(exchange, dept)
        table = Table("staff id", "name", "roles", "status", "TOTP")
        for member in exchange.staff.of(uscc):
            view = member.public()
            table.add_row(
                view["staff_id"],
                view["name"],
                ", ".join(view["roles"]),
                view["status"],
                "yes" if view["totp"] else "no",
            )
        console.print(table)
        if exchange.staff.requires_act(uscc):
            console.print("reads of this department must name the person (require-act on)")


def _set(data: Path, dept: str, staff_id: str, enabled: bool) -> None:
    with _open(data) as exchange:
        member = exchange.staff.set_status(
            _uscc(exchange, dept), staff_id, enabled, actor=exchange.identity.uscc
        )
        console.print(f"{member.staff_id} ({member.name}) is {member.status}", markup=False)


@staff_app.command("disable")
def disable(data: DataOpt, dept: DeptOpt, staff_id: StaffOpt) -> None:
    """Disable an account: its console sessions and act claims are refused at once."""
    _set(data, dept, staff_id, False)


@staff_app.command("enable")
def enable(data: DataOpt, dept: DeptOpt, staff_id: StaffOpt) -> None:
    """Enable an account again (pending if it never enrolled)."""
    _set(data, dept, staff_id, True)


@staff_app.command("reset")
def reset(data: DataOpt, dept: DeptOpt, staff_id: StaffOpt) -> None:
    """Forget the password and TOTP secret and print a new enrolment code."""
    with _open(data) as exchange:
        enrolment = exchange.staff.reset(
            _uscc(exchange, dept), staff_id, actor=exchange.identity.uscc
        )
        _print_code(enrolment.staff_id, enrolment.code, enrolment.expires_at)


@staff_app.command("require-act")
def require_act(
    data: DataOpt,
    dept: DeptOpt,
    state: Annotated[str, typer.Argument(help="on or off")],
) -> None:
    """Whether the department's reads must name the person (RFC 8693 act claim)."""
    if state not in ("on", "off"):
        raise InvalidRequest("say `on` or `off`", code=ErrorCode.INVALID_OPTION)
    with _open(data) as exchange:
        uscc = _uscc(exchange, dept)
        exchange.staff.set_require_act(uscc, state == "on", actor=exchange.identity.uscc)
        console.print(f"require-act is {state} for {uscc}", markup=False)
