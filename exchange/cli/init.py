"""``govex init``: create an exchange in a new data directory, whole or not at all.

The directory is built in a hidden sibling and renamed into place at the end
(:func:`exchange.provision.staged_directory`): an init that fails midway leaves nothing.
A real exchange needs its public issuer URL, the operating department's USCC, a name and
``GOVEX_SIGNING__KEY_PASSPHRASE`` (its keys are encrypted at rest); ``--demo`` makes the
demo city with the documented demo passphrase and a ``.example`` issuer.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from exchange.cli.options import DataOpt, require_data
from exchange.config import Settings
from exchange.errors import InvalidRequest
from schemas.errors import ErrorCode

__all__ = ["init"]

console = Console()


def init(
    data: DataOpt = None,
    demo: Annotated[
        bool,
        typer.Option(
            "--demo",
            help="add the demo city's departments with keys, the catalog and synthetic registers",
        ),
    ] = False,
    issuer: Annotated[
        str | None,
        typer.Option(
            help="public base URL of the exchange, https://HOST[/PATH]: the iss of its tokens, "
            "the issuer of its certificates and status lists (required without --demo)"
        ),
    ] = None,
    name: Annotated[str | None, typer.Option(help="name of the exchange")] = None,
    region: Annotated[
        str | None,
        typer.Option(help="行政区划代码 of the exchange (default: from the USCC)"),
    ] = None,
    uscc: Annotated[str | None, typer.Option(help="USCC of the operating department")] = None,
    crypto: Annotated[
        str,
        typer.Option(
            "--crypto",
            help="cryptographic suite of every key: ed25519 (default) or sm2 (国密 SM2/SM3/SM4)",
        ),
    ] = "ed25519",
) -> None:
    """Create a fresh exchange in DATA: its keys, root CA and database.

    A real exchange: `govex init --data DIR --issuer https://HOST --uscc USCC --name NAME`
    with GOVEX_SIGNING__KEY_PASSPHRASE set. The demo city: `govex init --data DIR --demo`.
    """
    from exchange.provision import production_identity, staged_directory, validate_issuer
    from schemas.identifiers import validate_uscc
    from signing.suites import suite_named

    target = require_data(data)
    suite = suite_named(crypto)
    if demo:
        base = validate_issuer(issuer) if issuer is not None else None
        with staged_directory(target) as stage:
            summary = _create_demo(Settings(data=stage), base, suite.name)
        console.print(f"demo exchange created in {target} ({suite.label}): {summary}", markup=False)
        return
    if uscc is not None:
        validate_uscc(uscc)  # a given value that is wrong is named before missing ones
    if issuer is not None:
        validate_issuer(issuer)
    if issuer is None or uscc is None or name is None:
        missing = [
            o for o, v in (("--issuer", issuer), ("--uscc", uscc), ("--name", name)) if not v
        ]
        raise InvalidRequest(
            f"a real exchange needs {', '.join(missing)} (or use --demo for the demo city)",
            code=ErrorCode.INVALID_OPTION,
        )
    identity = production_identity(name, uscc, issuer, region, crypto=suite.name)
    try:
        Settings(data=target).passphrase(demo=False)  # refused before anything is made
    except ValueError as exc:
        raise InvalidRequest(str(exc), code=ErrorCode.CREDENTIAL_REQUIRED) from exc
    from exchange.service import Exchange

    with staged_directory(target) as stage:
        Exchange.init(Settings(data=stage), identity).close()
    console.print(
        f"exchange {identity.name} created in {target}, issuer {identity.issuer}, "
        f"suite {suite.label}; "
        "register departments, then `govex serve`",
        markup=False,
    )


def _create_demo(settings: Settings, issuer: str | None, crypto: str) -> str:
    from exchange.cli.connector import sample_results
    from exchange.demo.setup import create_demo, publish_city

    with create_demo(settings, issuer=issuer, crypto=crypto) as exchange:
        results = publish_city(exchange, connectors=sample_results)
        total = sum(r.accepted for r in results.values())
        return (
            f"{len(exchange.registry.departments())} departments, "
            f"{len(exchange.catalog.resources())} catalog resources, "
            f"{total} records published"
        )
