"""``govex staff …``: staff accounts of a department (工作人员), at the exchange's console.

``add`` prints a one-time enrolment code: the person sets their password with it at
``/console/enrol`` (and gets a TOTP secret there when their roles need one). ``list``,
``disable``, ``enable``, ``reset`` (a new code; password and TOTP forgotten),
``require-act`` (reads of the department must name the person) and ``oidc`` (the
department's staff sign in through its own OpenID Connect provider). Each runs its operation
(:mod:`exchange.admin.staff_ops`) through :func:`exchange.cli.options.operate`: on the
data directory, through the admin socket of a running ``govex serve``, or with ``--url``.
Every change is audited with the operator as actor; the API's ``/v1/staff`` does the
same for a department's security officer.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from exchange.cli.options import DataOpt, operate
from exchange.cli.output import say, show
from exchange.errors import InvalidRequest
from schemas.errors import ErrorCode

__all__ = ["staff_app"]

staff_app = typer.Typer(
    help="Staff accounts of a department: add, list, disable, enable, reset, require-act, oidc.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
console = Console()

DeptOpt = Annotated[str, typer.Option("--dept", help="the department's code or USCC")]
StaffOpt = Annotated[str, typer.Option("--staff-id", help="the staff member's id")]


def _print_code(enrolment: dict[str, Any]) -> None:
    expires = datetime.fromisoformat(str(enrolment["expires_at"]))
    console.print(
        f"enrolment code for {enrolment['staff_id']}: {enrolment['code']}\n"
        f"valid until {expires:%Y-%m-%d %H:%M} UTC, once; shown only now. The person sets "
        "their password with it at /console/enrol.",
        markup=False,
        highlight=False,
    )


@staff_app.command("add")
def add(
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
    data: DataOpt = None,
) -> None:
    """Add a staff member and print their one-time enrolment code."""
    params = {"dept": dept, "staff_id": staff_id, "name": name, "roles": roles}
    _print_code(operate(data, "staff.add", params))


@staff_app.command("list")
def list_staff(
    dept: DeptOpt,
    data: DataOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON document")] = False,
) -> None:
    """List a department's staff: id, name, roles, status, whether TOTP is required."""
    listed = operate(data, "staff.list", {"dept": dept})
    rows = [
        (
            view["staff_id"],
            view["name"],
            ", ".join(view["roles"]),
            view["status"],
            "yes" if view["totp"] else "no",
        )
        for view in listed["staff"]
    ]
    show(("staff id", "name", "roles", "status", "TOTP"), rows, as_json=as_json, records=listed)
    if listed["require_act"] and not as_json:
        say("reads of this department must name the person (require-act on)")


def _set(data: Any, dept: str, staff_id: str, enabled: bool) -> None:
    params = {"dept": dept, "staff_id": staff_id, "enabled": enabled}
    member = operate(data, "staff.status", params)
    console.print(f"{member['staff_id']} ({member['name']}) is {member['status']}", markup=False)


@staff_app.command("disable")
def disable(dept: DeptOpt, staff_id: StaffOpt, data: DataOpt = None) -> None:
    """Disable an account: its console sessions and act claims are refused at once."""
    _set(data, dept, staff_id, False)


@staff_app.command("enable")
def enable(dept: DeptOpt, staff_id: StaffOpt, data: DataOpt = None) -> None:
    """Enable an account again (pending if it never enrolled)."""
    _set(data, dept, staff_id, True)


@staff_app.command("reset")
def reset(dept: DeptOpt, staff_id: StaffOpt, data: DataOpt = None) -> None:
    """Forget the password and TOTP secret and print a new enrolment code."""
    _print_code(operate(data, "staff.reset", {"dept": dept, "staff_id": staff_id}))


@staff_app.command("require-act")
def require_act(
    dept: DeptOpt,
    state: Annotated[str, typer.Argument(help="on or off")],
    data: DataOpt = None,
) -> None:
    """Whether the department's reads must name the person (RFC 8693 act claim)."""
    if state not in ("on", "off"):
        raise InvalidRequest("say `on` or `off`", code=ErrorCode.INVALID_OPTION)
    done = operate(data, "staff.require_act", {"dept": dept, "on": state == "on"})
    console.print(f"require-act is {state} for {done['department']}", markup=False)


@staff_app.command("oidc")
def oidc(
    dept: DeptOpt,
    issuer: Annotated[
        str | None, typer.Option("--issuer", help="the department's provider (https URL)")
    ] = None,
    client_id: Annotated[
        str | None, typer.Option("--client-id", help="govex's client id at that provider")
    ] = None,
    client_secret_file: Annotated[
        Path | None,
        typer.Option("--client-secret-file", help="a file holding the client secret"),
    ] = None,
    staff_claim: Annotated[
        str, typer.Option("--staff-claim", help="the ID-token claim naming the staff id")
    ] = "staff_id",
    off: Annotated[bool, typer.Option("--off", help="sign in with passwords again")] = False,
    data: DataOpt = None,
) -> None:
    """Staff of the department sign in through its own OpenID Connect provider
    (通过本单位统一身份认证登录)."""
    secret = None
    if client_secret_file is not None:
        try:
            secret = client_secret_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise InvalidRequest(
                f"cannot read the client secret file: {exc.strerror or exc}",
                code=ErrorCode.INVALID_OPTION,
            ) from exc
    params = {
        "dept": dept,
        "issuer": issuer,
        "client_id": client_id,
        "client_secret": secret,
        "staff_claim": staff_claim,
        "off": off,
    }
    done = operate(data, "staff.oidc", params)
    if done["oidc"] is None:
        console.print(f"{done['department']}: staff sign in with passwords", markup=False)
        return
    settings = done["oidc"]
    console.print(
        f"{done['department']}: staff sign in through {settings['issuer']} "
        f"(client {settings['client_id']}, claim {settings['staff_claim']}, "
        f"secret {'set' if settings['client_secret'] else 'none'})",
        markup=False,
    )
