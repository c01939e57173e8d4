"""``govex keys new`` and ``govex token``: a department's own keys, on its own machine.

``keys new`` needs no exchange: it writes the department's three key pairs (one per
purpose) and the public files its operator registers (``govex department add``).
``token --url`` gets an access token from a running exchange with the auth key; the
exchange never sees the private key. ``token --data --dept`` acts as a demo department.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from exchange.departments.keyfolder import new_key_folder, request_token
from exchange.errors import InvalidRequest
from schemas.errors import ErrorCode
from signing.keys import load_private_key

__all__ = ["keys_app", "token"]

keys_app = typer.Typer(
    help="A department's own keys: auth, seal and cert, made on its own machine.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
console = Console()
PASSPHRASE_ENV = "GOVEX_KEY_PASSPHRASE"  # noqa: S105 - the name of a variable, not a secret


def _passphrase() -> bytes:
    value = os.environ.get(PASSPHRASE_ENV, "")
    if not value:
        raise InvalidRequest(
            f"set {PASSPHRASE_ENV} to the passphrase of the department's keys",
            code=ErrorCode.INVALID_OPTION,
        )
    return value.encode()


@keys_app.command("new")
def new(
    out: Annotated[Path, typer.Option("--out", help="folder for the key files (made if missing)")],
    uscc: Annotated[str, typer.Option("--uscc", help="the department's 统一社会信用代码")],
    alg: Annotated[
        str,
        typer.Option("--alg", "--crypto", help="ed25519 (default), p256 or sm2 (国密 SM2)"),
    ] = "ed25519",
) -> None:
    """Make the department's auth, seal and cert keys (encrypted with GOVEX_KEY_PASSPHRASE).

    Writes auth.pem, seal.pem, cert.pem (private, encrypted) and auth.pub.pem,
    seal.csr.pem, cert.csr.pem (for the exchange's operator); never overwrites a file.
    """
    written = new_key_folder(out, uscc, alg, _passphrase())
    console.print(
        f"keys written to {out}: {', '.join(p.name for p in written)}; "
        "hand auth.pub.pem, seal.csr.pem and cert.csr.pem to the exchange's operator",
        markup=False,
        highlight=False,
    )


def token(
    data: Annotated[
        Path | None,
        typer.Option("--data", "-d", help="data directory of a demo exchange", envvar="GOVEX_DATA"),
    ] = None,
    dept: Annotated[
        str | None, typer.Option("--dept", help="USCC or code of a demo department (--data)")
    ] = None,
    url: Annotated[str | None, typer.Option("--url", help="address of a running exchange")] = None,
    uscc: Annotated[
        str | None, typer.Option("--uscc", help="your department's USCC (--url)")
    ] = None,
    key: Annotated[
        Path | None, typer.Option("--key", help="your auth.pem (--url; GOVEX_KEY_PASSPHRASE)")
    ] = None,
    staff: Annotated[
        str | None,
        typer.Option("--staff", help="name this staff member in the token (RFC 8693 act)"),
    ] = None,
) -> None:
    """Print an access token: with --url --uscc --key from a running exchange, or for a
    demo department with --data --dept (try the API with curl)."""
    if url is not None:
        if uscc is None or key is None:
            raise InvalidRequest(
                "--url needs --uscc and --key (the department's auth.pem)",
                code=ErrorCode.INVALID_OPTION,
            )
        print(request_token(url, uscc, load_private_key(key, _passphrase()), act=staff))
        return
    if data is None or dept is None:
        raise InvalidRequest(
            "give --url URL --uscc USCC --key auth.pem, or --data DIR --dept CODE (demo)",
            code=ErrorCode.INVALID_OPTION,
        )
    print(_demo_token(data, dept, staff))


def _demo_token(data: Path, dept: str, staff: str | None = None) -> str:
    # directly, or through the running govex serve's admin socket
    from exchange.cli.options import operate

    params = {"dept": dept} if staff is None else {"dept": dept, "staff": staff}
    return str(operate(data, "token.demo", params)["access_token"])
