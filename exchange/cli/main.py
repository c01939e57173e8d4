"""The ``govex`` command: the composition root (the only module that may import connectors).

Every command explains itself with ``--help``. Bad input prints one line saying what is
wrong and what to do, and exits non-zero; never a traceback.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any, NoReturn

import pydantic
import typer

from exchange.cli.backup import backup, restore
from exchange.cli.help import tidy
from exchange.cli.init import init
from exchange.cli.options import DataOpt, Target, require_data
from exchange.cli.output import console, err, say, show, warn
from exchange.config import Settings, unknown_settings
from exchange.errors import ExchangeError, InvalidRequest
from schemas.errors import ErrorCode, SchemaError
from signing.errors import SigningError

__all__ = ["app", "main"]

app = typer.Typer(
    name="govex",
    help="govex — government data-sharing and e-certificate (电子证照) exchange.\n\n"
    "Start with `govex demo` (a whole story on a fresh directory), or "
    "`govex init --data DIR --demo` then `govex serve --data DIR`.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            print(f"govex {version('govex')}")
        except PackageNotFoundError:  # run from a source tree without installing
            print("govex (not installed)")
        raise typer.Exit()


@app.callback()
def _target(
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            envvar="GOVEX_URL",
            help="run operator commands on the exchange at URL (with --uscc and --key)",
        ),
    ] = None,
    uscc: Annotated[
        str | None,
        typer.Option("--uscc", envvar="GOVEX_USCC", help="with --url: the operator department"),
    ] = None,
    key: Annotated[
        Path | None,
        typer.Option(
            "--key",
            envvar="GOVEX_KEY",
            help="with --url: the operator department's auth key (PEM; passphrase in "
            "GOVEX_KEY_PASSPHRASE)",
        ),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="say which way a command reached the exchange")
    ] = False,
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="print govex's version and exit"
        ),
    ] = False,
) -> None:
    Target(url, uscc, key, verbose).use()


def _settings(data: Path | None) -> Settings:
    return Settings(data=require_data(data))


def _open(data: Path | None) -> Any:
    from exchange.service import Exchange

    return Exchange.open(_settings(data))


app.command()(init)


@app.command()
def serve(
    data: DataOpt = None,
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    bus: Annotated[
        str | None,
        typer.Option(
            help="also ingest from Kafka: kafka://HOST:PORT or kafkas://HOST:PORT (TLS); "
            "SASL from GOVEX_KAFKA__* (default: embedded bus)"
        ),
    ] = None,
    node_id: Annotated[
        str | None,
        typer.Option(
            "--node-id",
            help="join a cluster as this node (needs --bus): grants, certificates and client "
            "assertions go through the control topic every node applies",
        ),
    ] = None,
    allow_demo_exposure: Annotated[
        bool,
        typer.Option(
            "--allow-demo-exposure",
            help="serve a demo exchange beyond loopback (its department picker stays off)",
        ),
    ] = False,
    cluster: Annotated[
        bool,
        typer.Option(
            "--cluster",
            help="serve as one node of a cluster: the audit log is the cluster's, on the "
            "audit topic of --bus (GOVEX_KAFKA__AUDIT_TOPIC, default govex.audit)",
        ),
    ] = False,
    unsafe_pause_at: Annotated[str | None, typer.Option(hidden=True)] = None,
) -> None:
    """Run the exchange's HTTP API (and its console) until interrupted.

    A port outside 1–65535 or already in use is refused before anything starts."""
    from exchange.bus import parse_bus_url
    from exchange.bus.kafka import parse_pause_point
    from exchange.server import demo_exposed
    from exchange.server import serve as serve_app

    _check_port(host, port)
    address = parse_bus_url(bus) if bus else None
    settings = _settings(data)
    for line in unknown_settings(os.environ):  # a typo would otherwise pass unseen
        warn(f"warning: {line}")
    if (cluster or node_id is not None) and (address is None or address.bootstrap is None):
        raise InvalidRequest(
            "--node-id and --cluster join a cluster on Kafka: give --bus kafka://HOST:PORT "
            "as well (the cluster's control and audit topics are there)",
            code=ErrorCode.INVALID_OPTION,
        )
    if (cluster or node_id is not None) and address is not None and address.bootstrap:
        kafka = settings.kafka
        kafka.cluster, kafka.bootstrap = True, address.bootstrap
        kafka.protocol = kafka.resolved_protocol(tls=address.tls)
        if node_id is not None:
            kafka.node_id = node_id
    from exchange.service import Exchange

    exchange = Exchange.open(settings)
    try:
        if demo_exposed(exchange, host) and not allow_demo_exposure:
            err.print(
                f"error: {data} holds a demo exchange (demo keys, a sign-in picker); it is "
                f"served on loopback only. Use --host 127.0.0.1, or --allow-demo-exposure to "
                f"serve it on {host} anyway (without the picker)",
                markup=False,
                highlight=False,
            )
            raise typer.Exit(2)
        if exchange.identity.demo:
            warn(
                "警告 WARNING: 演示交换平台 (demo exchange) — its keys and passphrase are public "
                "and its registers are invented; never use it for real data"
            )
        if address is not None and address.bootstrap is not None:
            pause = parse_pause_point(unsafe_pause_at) if unsafe_pause_at else None
            plane = None
            if node_id is not None:
                from exchange.bus.node import keep_node_identity
                from exchange.cluster.plane import claim_node

                keep_node_identity(exchange.settings.data, node_id)
                exchange.check_bus(address.bootstrap, tls=address.tls)
                # a node id a live node holds is refused before this node consumes anything
                plane = claim_node(exchange, address.bootstrap, tls=address.tls)
            exchange.start_consumer(address.bootstrap, tls=address.tls, unsafe_pause_at=pause)
            console.print(f"consuming govex.records.* from {address}", markup=False)
            if plane is not None:
                plane.start()
                console.print(
                    f"cluster node {plane.node}: applied {plane.applied + 1} control event(s) "
                    f"of {plane.topics.control}",
                    markup=False,
                )
        console.print(
            f"govex serving {exchange.identity.name} on http://{host}:{port}  "
            f"(API docs: http://{host}:{port}/docs)"
        )
        console.print(f"console: http://{host}:{port}/console/", markup=False, highlight=False)
        serve_app(exchange, host=host, port=port, allow_demo_exposure=allow_demo_exposure)
    finally:
        exchange.close()


def _check_port(host: str, port: int) -> None:
    """Refuse a port that cannot be a port, or one something else listens on."""
    import socket

    if not 0 <= port <= 65535:
        raise InvalidRequest(
            f"--port {port} is not a TCP port: give a number from 1 to 65535 (0: any free one)",
            code=ErrorCode.INVALID_OPTION,
        )
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise InvalidRequest(
            f"--host {host!r} is not an address of this machine ({exc})",
            code=ErrorCode.INVALID_OPTION,
        ) from exc
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise InvalidRequest(
                f"cannot listen on {host}:{port}: {exc.strerror or exc} (another program "
                "holds it?): stop it or choose another --port",
                code=ErrorCode.INVALID_OPTION,
            ) from exc


@app.command()
def demo(
    data: Annotated[
        Path | None,
        typer.Option(
            "--data", "-d", help="a new directory for the demo exchange (default: a temporary one)"
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the story as JSON")] = False,
    crypto: Annotated[
        str, typer.Option("--crypto", help="ed25519 (default) or sm2 (国密 SM2/SM3/SM4)")
    ] = "ed25519",
) -> None:
    """Run the whole story on a fresh exchange and print it."""
    from exchange.demo.setup import create_demo
    from exchange.demo.story import dumps, run_story

    started = time.perf_counter()
    target = data or Path(tempfile.mkdtemp(prefix="govex-demo-")) / "data"
    exchange = create_demo(_settings(target), crypto=crypto)
    with exchange:
        tell = (lambda s: None) if as_json else _say
        if not as_json:
            console.rule(f"[bold]{exchange.identity.name}[/bold] — govex demo")
            console.print(f"cryptographic suite: {exchange.identity.suite.label}", markup=False)
            console.print(f"data directory: {target}\n")
        from exchange.cli.connector import sample_results

        story = run_story(exchange, tell, connectors=sample_results)
    if as_json:
        print(dumps(story))
        return
    console.rule("audit trail of the case (审计)")
    show(
        ("seq", "time", "dept", "action", "outcome", "target", "code"),
        (
            (
                str(e["seq"]),
                str(e["ts"])[11:19],
                e["actor_code"],
                e["action"],
                e["outcome"],
                e["target"] or "",
                (e["code"] or "").split(".")[-1],
            )
            for e in story.audit
        ),
    )
    console.print(
        f"\nfinished in {time.perf_counter() - started:.1f}s; explore it with "
        f"`govex serve --data {target}`"
    )


def _plain(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _say(step: Any) -> None:
    colour = "green" if step.status < 400 else "yellow"
    console.print(
        f"[bold]▸ {step.title}[/bold]\n  {step.actor}: {step.request}\n"
        f"  [{colour}]{step.status} — {step.outcome}[/{colour}]"
    )
    for key, value in step.detail.items():  # whole values: ids and reasons are never cut
        if value in (None, [], {}):
            continue
        if isinstance(value, list):
            say(f"    {key}:")
            for item in value:
                say(f"      - {_plain(item)}")
        else:
            say(f"    {key}: {_plain(value)}")
    console.print()


@app.command()
def bench(
    quick: Annotated[bool, typer.Option("--quick", help="reduced sizes (CI)")] = False,
    full: Annotated[
        bool, typer.Option("--full", help="full sizes; writes the README table")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON list of figures")] = False,
    only: Annotated[
        list[str] | None, typer.Option("--only", help="run only these, e.g. --only p3 --only p4")
    ] = None,
    readme: Annotated[
        Path | None,
        typer.Option(
            help="write the table into this README's bench block (default with --full: ./README.md)"
        ),
    ] = None,
) -> None:
    """Measure the performance targets (README.md, Performance) next to their peers, same run.

    Each figure is printed beside its peer or limit measured in the same run, with the
    ratio and whether the target was met. --quick (the default) uses reduced sizes and
    extrapolates where the table says so; --full uses the full sizes and writes README.md's table.
    """
    from bench.runner import SUITE, run

    known = [name for _, name in SUITE]
    unknown = sorted({o.lower() for o in only or ()} - set(known))
    if unknown:
        raise InvalidRequest(
            f"--only {', '.join(unknown)}: no such figure; the figures are {', '.join(known)}",
            code=ErrorCode.INVALID_OPTION,
        )
    if full and quick:
        err.print("error: choose one of --quick and --full")
        raise typer.Exit(2)
    target = readme if readme is not None else (Path("README.md") if full and not only else None)
    if target is not None and not target.is_file():
        err.print(
            f"error: {target} does not exist: run from the repository root or give --readme PATH"
        )
        raise typer.Exit(2)
    figures = run(
        quick=quick or not full,
        progress=None if as_json else err,
        only={o.lower() for o in only} if only else None,
    )
    if target is not None:
        from bench.readme import write

        try:
            write(target, figures, mode="full" if full else "quick")
        except ValueError as exc:
            err.print(f"error: {exc}")
            raise typer.Exit(2) from exc
        err.print(f"wrote the Performance table into {target}")
    if as_json:
        print(json.dumps([f.to_json() for f in figures], ensure_ascii=False, indent=2))
        return
    show(
        ("id", "figure", "value", "peer", "peer value", "ratio", "target", "met"),
        (
            (
                f.id,
                f.name,
                f"{f.value:,.1f} {f.unit}",
                f.peer,
                f"{f.peer_value:,.1f} {f.unit}" if f.peer_value is not None else "—",
                f"{f.ratio:.2f}" if f.ratio is not None else "—",
                f.target,
                "yes" if f.met else "no",
            )
            for f in figures
        ),
    )


app.command()(backup)
app.command()(restore)


from exchange.cli.case import case_app  # noqa: E402 - sub-commands register after the app exists

app.add_typer(case_app, name="case")


from exchange.cli.connector import connector_app  # noqa: E402 - registers after the app exists

app.add_typer(connector_app, name="connector")


from exchange.cli.cert import cert_app, trust_app  # noqa: E402 - sub-commands register after the app exists

app.add_typer(cert_app, name="cert")
app.add_typer(trust_app, name="trust")

from exchange.cli.audit import audit_app  # noqa: E402 - sub-commands register after the app exists

app.add_typer(audit_app, name="audit")

from exchange.cli.staff import staff_app  # noqa: E402 - sub-commands register after the app exists

app.add_typer(staff_app, name="staff")

from exchange.cli.catalog import catalog_app  # noqa: E402 - sub-commands register after the app exists

app.add_typer(catalog_app, name="catalog")

from exchange.cli.witness import witness_app  # noqa: E402 - sub-commands register after the app exists

app.add_typer(witness_app, name="witness")

from exchange.cli.grant import grant_app  # noqa: E402 - sub-commands register after the app exists

app.add_typer(grant_app, name="grant")

from exchange.cli.cluster import cluster_app  # noqa: E402 - sub-commands register after the app exists

app.add_typer(cluster_app, name="cluster")


from exchange.cli.department import department_app, departments  # noqa: E402 - registers after the app exists
from exchange.cli.keys import keys_app, token  # noqa: E402 - registers after the app exists

app.command("departments")(departments)
app.add_typer(department_app, name="department")
app.add_typer(keys_app, name="keys")
app.command("token")(token)


def _fail(exc: ExchangeError | SchemaError | SigningError) -> NoReturn:
    err.print(f"error [{exc.code}]: {exc}", markup=False, highlight=False, soft_wrap=True)
    sys.exit(1)


def _one_line(exc: ValueError) -> str:
    """``exc`` in one line; a setting pydantic refused (``GOVEX_…``) is named as it is set."""
    if not (isinstance(exc, pydantic.ValidationError) and exc.title == "Settings"):
        return str(exc)
    said = [
        f"GOVEX_{'__'.join(str(p).upper() for p in e['loc'])}={e.get('input')!r}: {e['msg']}"
        for e in exc.errors()
    ]
    return "; ".join(said) + " (fix the setting: README, Configuration)"


def main() -> None:
    """Entry point: run the app and turn known errors into one clear line."""
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    try:
        tidy(typer.main.get_command(app))(prog_name="govex")
    except (ExchangeError, SchemaError, SigningError) as exc:
        _fail(exc)
    except ValueError as exc:
        err.print(f"error: {_one_line(exc)}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(1)
    except Exception as exc:  # what no command translated: the boundary table, or a defect
        from exchange.boundary import translate

        ours = translate(exc)
        if ours is None:
            raise
        _fail(ours)
    except KeyboardInterrupt:
        sys.exit(130)
