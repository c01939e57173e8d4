"""``govex grant request|decide|revoke|narrow|list``: grants on conditional resources.

On ``--data`` each command runs its registered operation (:mod:`exchange.admin.grants`)
through :func:`~exchange.cli.options.operate`, whether or not ``govex serve`` holds the
directory; the operator names the department it acts for with ``--dept`` (a decision,
revocation or narrowing defaults to the resource's owner). With ``--url`` the key's own
department (``--uscc``, ``--key``) calls the exchange's grants API. Either way the result
prints as one line, a listing (table, or plain rows through a pipe) or ``--json``.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Any

import httpx
import typer

from exchange.cli.options import DataOpt, Target, absolute, operate
from exchange.cli.output import emit_json, say, show
from exchange.errors import ExchangeError, InvalidRequest
from schemas.errors import ErrorCode

__all__ = ["grant_app"]

grant_app = typer.Typer(
    help="Grants (共享授权) on conditional resources: request one for 事项 (matters), decide, "
    "revoke or narrow it as the owner, list them.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

GrantArg = Annotated[str, typer.Argument(metavar="GRANT-ID", help="the grant's id (grt_…)")]
DeptOpt = Annotated[str | None, typer.Option("--dept", help="the department acting (code or USCC)")]
ReasonOpt = Annotated[str, typer.Option("--reason", help="why (kept in the audit log)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print the grant(s) as JSON")]
ExpiresOpt = Annotated[
    str | None,
    typer.Option(
        "--expires", metavar="DATE", help="2027-12-31 (end of that day, Beijing time) or a time"
    ),
]
FieldOpt = Annotated[
    list[str] | None,
    typer.Option("--field", metavar="FIELD", help="a field (repeat the option for more)"),
]
_BEIJING = "+08:00"


def _expiry(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidRequest(
            f"--expires {text!r} is not a date: use 2027-12-31 or 2027-12-31T18:00:00+08:00",
            code=ErrorCode.INVALID_DATE,
        ) from None
    if len(text) == 10:  # a day: its end in Beijing
        value = datetime.combine(value.date(), time(23, 59, 59))
    if value.tzinfo is None:
        return value.isoformat() + _BEIJING
    return value.isoformat()


def _api(method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """Call the grants API of the exchange at ``--url`` as the key's department."""
    from exchange.admin.channel import RemoteChannel, _answer, open_channel

    target = Target.current()
    secret = os.environ.get("GOVEX_KEY_PASSPHRASE")
    channel = open_channel(
        url=target.url,
        uscc=target.uscc,
        key=absolute(target.key),
        passphrase=secret.encode() if secret is not None else None,
    )
    assert isinstance(channel, RemoteChannel)
    try:
        with channel._client() as client:
            token = channel.token(client)
            response = client.request(
                method, path, json=body, headers={"Authorization": f"Bearer {token}"}
            )
    except httpx.HTTPError as exc:
        raise ExchangeError(
            f"cannot reach the exchange at {target.url}: {exc}",
            code=ErrorCode.ADMIN_UNREACHABLE,
        ) from exc
    return _answer(response, str(target.url))


def _remote(dept: str | None) -> bool:
    target = Target.current()
    if target.url is None:
        return False
    if dept is not None and dept != target.uscc:
        raise InvalidRequest(
            "with --url you act as the key's department (--uscc): drop --dept or use that "
            "department's key",
            code=ErrorCode.INVALID_OPTION,
        )
    return True


def _line(grant: dict[str, Any]) -> str:
    due = f"answer due {grant['answer_due']}" + (" 超期未答复 overdue" if grant["overdue"] else "")
    state = due if grant["status"] == "pending" else f"until {grant['expires_at']}"
    return (
        f"{grant['id']} {grant['status']}: {grant['consumer']} → {grant['resource']} "
        f"fields {','.join(grant['fields'])} for {','.join(grant['purposes'])}; {state}"
    )


def _print(grant: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(grant)
    else:
        say(_line(grant))


@grant_app.command("request")
def request(
    resource: Annotated[str, typer.Option("--resource", help="a conditional resource's code")],
    purpose: Annotated[
        list[str], typer.Option("--purpose", metavar="MATTER", help="a 事项 code (repeatable)")
    ],
    data: DataOpt = None,
    dept: DeptOpt = None,
    field: FieldOpt = None,
    reason: Annotated[
        str, typer.Option("--reason", help="why the data is needed")
    ] = "办理事项所需 (needed for the matter)",
    expires: ExpiresOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Ask the owner for fields of a conditional resource (default: the fields the matters
    read); the owner answers within 10 working days."""
    from exchange.catalog.grants import check_purposes, matter_fields

    params: dict[str, Any] = {
        "resource": resource,
        "purposes": purpose,
        "reason": reason,
        "fields": field or None,
        "expires_at": _expiry(expires),
    }
    if _remote(dept):
        check_purposes(purpose, resource)
        params["fields"] = params["fields"] or matter_fields(resource, purpose) or None
        if params["expires_at"] is None:  # a year, as on --data
            params["expires_at"] = (datetime.now(UTC) + timedelta(days=365)).isoformat()
        grant = _api("POST", "/v1/grants", params)
    else:
        if dept is None:
            raise InvalidRequest(
                "which department asks? give --dept CODE", code=ErrorCode.INVALID_OPTION
            )
        grant = operate(data, "grant.request", {**params, "dept": dept})
    _print(grant, as_json)


@grant_app.command("decide")
def decide(
    grant: GrantArg,
    data: DataOpt = None,
    approve: Annotated[
        bool | None, typer.Option("--approve/--deny", help="approve or refuse (required)")
    ] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="why (required to refuse)")] = None,
    dept: DeptOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The owner approves or refuses a pending grant."""
    if approve is None:
        raise InvalidRequest("say --approve or --deny", code=ErrorCode.INVALID_OPTION)
    if reason is None and not approve:
        raise InvalidRequest("a refusal needs --reason", code=ErrorCode.INVALID_REASON)
    said = reason or "同意共享 (approved)"
    if _remote(dept):
        answer = _api("POST", f"/v1/grants/{grant}/decision", {"approve": approve, "reason": said})
    else:
        params = {"grant": grant, "approve": approve, "reason": said, "dept": dept}
        answer = operate(data, "grant.decide", params)
    _print(answer, as_json)


@grant_app.command("revoke")
def revoke(
    grant: GrantArg,
    reason: ReasonOpt,
    data: DataOpt = None,
    dept: DeptOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The owner revokes an approved grant: the next read under it is refused."""
    if _remote(dept):
        answer = _api("POST", f"/v1/grants/{grant}/revocation", {"reason": reason})
    else:
        answer = operate(data, "grant.revoke", {"grant": grant, "reason": reason, "dept": dept})
    _print(answer, as_json)


@grant_app.command("narrow")
def narrow(
    grant: GrantArg,
    reason: ReasonOpt,
    data: DataOpt = None,
    field: FieldOpt = None,
    purpose: Annotated[
        list[str] | None,
        typer.Option("--purpose", metavar="MATTER", help="a 事项 code kept (repeatable)"),
    ] = None,
    expires: ExpiresOpt = None,
    dept: DeptOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The owner narrows an approved grant: the fields or purposes kept, an earlier expiry."""
    body: dict[str, Any] = {"reason": reason}
    if field:
        body["fields"] = field
    if purpose:
        body["purposes"] = purpose
    if expires is not None:
        body["expires_at"] = _expiry(expires)
    if _remote(dept):
        answer = _api("POST", f"/v1/grants/{grant}/narrowing", body)
    else:
        answer = operate(data, "grant.narrow", {**body, "grant": grant, "dept": dept})
    _print(answer, as_json)


@grant_app.command("list")
def list_grants(
    data: DataOpt = None,
    dept: DeptOpt = None,
    status: Annotated[
        str | None,
        typer.Option("--status", metavar="STATUS", help="pending, approved, refused or revoked"),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Grants a department asked for or decides (on --data without --dept: every grant)."""
    if status is not None and status not in ("pending", "approved", "refused", "revoked"):
        raise InvalidRequest(
            f"--status {status!r}: use pending, approved, refused or revoked",
            code=ErrorCode.INVALID_OPTION,
        )
    if _remote(dept):
        query = f"?status={status}" if status else ""
        grants = _api("GET", f"/v1/grants{query}")["data"]
    else:
        grants = operate(data, "grant.list", {"dept": dept, "status": status})
    show(
        ["id", "status", "consumer", "resource", "fields", "purposes", "answer_due", "expires_at"],
        [
            (
                g["id"],
                g["status"] + (" 超期未答复" if g["overdue"] else ""),
                g["consumer"],
                g["resource"],
                ",".join(g["fields"]),
                ",".join(g["purposes"]),
                g["answer_due"],
                g["expires_at"],
            )
            for g in grants
        ],
        as_json=as_json,
        records=grants,
        title="共享授权 grants",
    )
