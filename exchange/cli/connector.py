"""``govex connector …``: check a connector config, run a connector, list the quarantine.

Part of the composition root (with ``exchange/cli/main.py``): the only modules of
``exchange`` that import ``connectors``.

Exit codes of ``run``: 0 all rows published; 3 the run completed but some rows were
refused (by the connector) or quarantined (by the exchange) — each is listed with its
source line number and reason; 1 an error (one line says what and what to do).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from connectors.config import (
    CsvSourceConfig,
    JsonlSourceConfig,
    LoadedConfig,
    SqlSourceConfig,
    build_source,
    kafka_security,
    load_config,
    load_credentials,
)
from connectors.csv import CsvSource
from connectors.errors import ConnectorError
from connectors.jsonl import JsonlSource
from connectors.mapping import Mapper
from connectors.outbox import Outbox
from connectors.publishers import (
    EmbeddedPublisher,
    HttpPublisher,
    KafkaPublisher,
    Publisher,
    Retry,
)
from connectors.runner import RichProgress, Runner, RunSummary, render_summary
from connectors.sealer import Sealer
from connectors.sql import SqlSource
from exchange.bus import parse_bus_url
from exchange.bus.models import IngestResult, QuarantinedRecord
from exchange.cli.options import DataOpt, Target, operate
from exchange.cli.output import console, err, is_terminal, show, warn
from exchange.config import DEMO_PASSPHRASE
from schemas.errors import ErrorCode

if TYPE_CHECKING:
    from exchange.service import Exchange

__all__ = [
    "SAMPLES",
    "connector_app",
    "publish_samples",
    "run_connector",
    "sample_configs",
    "sample_results",
]

SAMPLES = Path(__file__).resolve().parents[1] / "demo" / "samples"

connector_app = typer.Typer(
    help="Department connectors: read a register, map it onto a catalog resource, publish "
    "sealed batches (HTTP or Kafka) through a durable outbox.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

ConfigArg = Annotated[
    Path, typer.Argument(help="connector config file (TOML)", exists=False, dir_okay=False)
]


def _fail(message: str, code: str | None = None) -> typer.Exit:
    prefix = f"error [{code}]: " if code else "error: "
    err.print(prefix + message, markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(1)


# -- check ------------------------------------------------------------------


def check_config(loaded: LoadedConfig) -> list[str]:
    """Everything wrong with a loaded config, in plain words (empty when it is fine)."""
    config = loaded.config
    problems = Mapper.problems(config.mapping, loaded.definition)
    source = config.source
    columns: list[str] | None = None
    try:
        built = build_source(loaded)
        if isinstance(source, CsvSourceConfig | JsonlSourceConfig):
            path = loaded.resolve(source.path, "source.path")
            if not path.is_file():
                problems.append(f"source.path: {path} does not exist")
            elif isinstance(built, CsvSource):
                columns = built.header()
            elif isinstance(built, JsonlSource):
                first = next(iter(built.read()), None)
                columns = list(first.fields) if first is not None and not first.problem else None
        elif isinstance(source, SqlSourceConfig) and isinstance(built, SqlSource):
            columns = built.columns()
    except ConnectorError as exc:
        problems.append(exc.message)
    if columns is not None and not problems:
        mapper = Mapper(config.mapping, loaded.definition)
        for column in mapper.source_columns():
            if column not in columns and "." not in column:
                problems.append(
                    f"column {column!r} is not in the source (it has: {', '.join(columns)})"
                )
    dept = config.department
    if dept.passphrase_env in loaded.env:
        try:
            load_credentials(loaded, need_auth=dept.auth_key is not None)
        except ConnectorError as exc:
            problems.append(exc.message)
    return problems


def check_ownership(loaded: LoadedConfig, rows: list[dict[str, Any]]) -> list[str]:
    """What the exchange's departments (``departments.list`` rows) say against ``loaded``:
    its department must own the resource and hold an active seal key (the configured one
    when the key could be read)."""
    uscc = loaded.config.department.uscc
    owner = loaded.definition.owner
    mine = [r for r in rows if r["uscc"] == uscc]
    if not mine:
        return [f"department.uscc {uscc} is not a department of this exchange"]
    problems = []
    if mine[0]["code"] != owner:
        owners = [r["uscc"] for r in rows if r["code"] == owner]
        problems.append(
            f"{loaded.definition.code} belongs to {owner} ({owners[0] if owners else '?'}), "
            f"not to {mine[0]['code']} ({uscc}): only its owner publishes it"
        )
    seals = [r["kid"] for r in mine if r["purpose"] == "seal" and r["state"] == "active"]
    if not seals:
        problems.append(f"{mine[0]['code']} ({uscc}) holds no active seal key")
    elif loaded.config.department.passphrase_env in loaded.env:
        try:
            kid = load_credentials(loaded, need_auth=False).seal_kid
        except ConnectorError:
            return problems  # said by check_config
        if kid not in seals:
            problems.append(
                f"the seal key {kid} of department.seal_key is not {mine[0]['code']}'s active "
                f"seal key ({', '.join(seals)}): rotate it in (govex department key rotate)"
            )
    return problems


@connector_app.command("check")
def check(
    config: ConfigArg,
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            "-d",
            metavar="DIR",
            help="also check against this exchange (or the running one, or --url): the "
            "department owns the resource and holds the key",
        ),
    ] = None,
) -> None:
    """Validate CONFIG against the catalog and the source; print what is wrong in plain words.

    With --data (or govex --url) it also checks that the config's department owns the
    resource and holds the configured seal key."""
    try:
        loaded = load_config(config, os.environ)
    except ConnectorError as exc:
        raise _fail(exc.message, exc.code.value) from None
    problems = check_config(loaded)
    remote = data is not None or Target.current().url is not None
    if remote:
        problems += check_ownership(loaded, operate(data, "departments.list"))
    if problems:
        err.print(f"{config}: {len(problems)} problem(s)", markup=False)
        for problem in problems:
            err.print(f"  - {problem}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    definition = loaded.definition
    console.print(
        f"{config}: OK — {loaded.name} maps {len(loaded.config.mapping.fields)} field(s) onto "
        f"{definition.code} ({definition.name}), key {definition.key_field}",
        markup=False,
    )
    if loaded.config.department.passphrase_env not in loaded.env:
        console.print(
            f"  (keys not checked: {loaded.config.department.passphrase_env} is not set)",
            markup=False,
        )
    if not remote:
        console.print(
            "  (ownership not checked: give --data DIR or govex --url to check that the "
            "department owns the resource and holds the key)",
            markup=False,
        )


# -- run --------------------------------------------------------------------


def default_outbox(loaded: LoadedConfig) -> Path:
    """The outbox file: ``connector.outbox`` (relative to the config) or
    ``.govex/outbox/<name>.sqlite`` in the working directory."""
    configured = loaded.config.connector.outbox
    if configured is not None:
        return loaded.resolve(configured, "connector.outbox")
    return Path.cwd() / ".govex" / "outbox" / f"{loaded.name}.sqlite"


def make_publisher(loaded: LoadedConfig, *, exchange_url: str | None, bus: str | None) -> Publisher:
    """The publisher for ``--exchange URL`` or ``--bus kafka://HOST:PORT``."""
    publish = loaded.config.publish
    retry = Retry(deadline_s=publish.retry_deadline_s, notice=warn)
    if exchange_url is not None:
        credentials = load_credentials(loaded, need_auth=True)
        assert credentials.auth_key is not None
        assert credentials.auth_kid is not None
        return HttpPublisher(
            exchange_url,
            uscc=credentials.uscc,
            auth_key=credentials.auth_key,
            auth_kid=credentials.auth_kid,
            retry=retry,
        )
    assert bus is not None
    address = parse_bus_url(bus)
    if address.kind != "kafka" or address.bootstrap is None:
        raise ConnectorError(
            "the embedded bus lives inside an exchange process; use --exchange URL or "
            "--bus kafka://HOST:PORT"
        )
    return KafkaPublisher(
        address.bootstrap,
        loaded.definition.code,
        topic_prefix=publish.topic_prefix,
        partitions=publish.partitions,
        replication_factor=publish.replication_factor,
        max_message_bytes=max(loaded.config.connector.max_batch_bytes + 64 * 1024, 1_000_000),
        retry=retry,
        client_id=f"govex-connector-{loaded.name}",
        security=kafka_security(loaded),
        tls=address.tls,
        tuning=publish.producer.tuning(),
    )


def run_connector(
    loaded: LoadedConfig,
    publisher: Publisher | None,
    *,
    outbox_path: Path | None,
    dry_run: bool,
    console_out: Console | None = None,
    since: Any = None,
    reset_watermark: bool = False,
) -> RunSummary:
    """Build a runner for ``loaded`` and run it (``publisher`` None only for a dry run)."""
    config = loaded.config
    mapper = Mapper(config.mapping, loaded.definition)
    sealer = None
    if not dry_run:
        credentials = load_credentials(loaded, need_auth=False)
        sealer = Sealer(
            loaded.definition.code, credentials.uscc, credentials.seal_key, credentials.seal_kid
        )
    progress = None
    if console_out is not None:
        progress = RichProgress(console_out, f"{loaded.name} → {loaded.definition.code}")
    outbox = (
        None if dry_run else Outbox(outbox_path or default_outbox(loaded), loaded.definition.code)
    )
    try:
        if reset_watermark and outbox is not None:
            outbox.reset_watermark()
        runner = Runner(
            name=loaded.name,
            source=build_source(loaded),
            mapper=mapper,
            sealer=sealer,
            outbox=outbox,
            publisher=publisher,
            batch_size=config.connector.batch_size,
            max_batch_bytes=config.connector.max_batch_bytes,
            progress=progress,
            since=since,
        )
        return runner.run(dry_run=dry_run)
    finally:
        if outbox is not None:
            outbox.close()


@connector_app.command("run")
def run(
    config: ConfigArg,
    exchange_url: Annotated[
        str | None,
        typer.Option(
            "--exchange", help="publish over HTTP to this exchange, e.g. http://host:8000"
        ),
    ] = None,
    bus: Annotated[
        str | None,
        typer.Option("--bus", help="publish to Kafka: kafka://HOST:PORT[,HOST:PORT]"),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="read, map and validate only; publish nothing")
    ] = False,
    outbox: Annotated[
        Path | None,
        typer.Option("--outbox", help="outbox file (default: connector.outbox or .govex/outbox/)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="VALUE",
            help="start after this watermark value (a number, or a date/time as the column "
            "holds it) instead of the stored one",
        ),
    ] = None,
    reset_watermark: Annotated[
        bool,
        typer.Option(
            "--reset-watermark",
            help="forget the stored watermark and read the whole source again (rows already "
            "published are not sent twice)",
        ),
    ] = False,
) -> None:
    """Read CONFIG's source, map and validate every row, store it in the outbox, publish sealed
    batches; print a summary with every refused row's line number and reason.

    Rows refused by a run are retried by the next one (also when older than the watermark)
    and reported until they publish or leave the source.

    Exit code 0: everything published; 3: some rows refused (listed); 1: an error."""
    if since is not None and reset_watermark:
        raise _fail("give --since or --reset-watermark, not both")
    if not dry_run and (exchange_url is None) == (bus is None):
        raise _fail("give exactly one of --exchange URL or --bus kafka://HOST:PORT (or --dry-run)")
    since_value = _watermark_value(since)
    publisher: Publisher | None = None
    try:
        loaded = load_config(config, os.environ)
        if not dry_run:
            publisher = make_publisher(loaded, exchange_url=exchange_url, bus=bus)
        summary = run_connector(
            loaded,
            publisher,
            outbox_path=outbox,
            dry_run=dry_run,
            console_out=None if as_json or not is_terminal() else console,  # no bar in a pipe
            since=since_value,
            reset_watermark=reset_watermark,
        )
    except ConnectorError as exc:
        raise _fail(exc.message, exc.code.value) from None
    finally:
        if publisher is not None:
            publisher.close()
    if as_json:
        print(json.dumps(summary_json(summary), ensure_ascii=False, indent=2))
    else:
        render_summary(summary, console)
    if summary.exit_code:
        raise typer.Exit(summary.exit_code)


def _watermark_value(text: str | None) -> Any:
    """``--since`` as the column would hold it: a number or a date/time (text such as
    ``yesterday`` is refused: compared as text it would skip rows without a word)."""
    from datetime import date, datetime

    value = (text or "").strip()
    if text is None or value.lstrip("-").isdigit():
        return None if text is None else int(value)
    for parse in (date.fromisoformat, datetime.fromisoformat):
        with suppress(ValueError):
            return parse(value)
    why = "is neither a number nor a date/time, e.g. 12345, 2026-01-31 or 2026-01-31T09:00"
    raise _fail(f"--since {text!r} {why}", ErrorCode.INVALID_OPTION.value)


def summary_json(summary: RunSummary) -> dict[str, Any]:
    """The summary as plain JSON (``--json``)."""
    out = asdict(summary)
    out["rows_refused"] = summary.rows_refused
    out["exit_code"] = summary.exit_code
    return out


# -- quarantine ---------------------------------------------------------------


@connector_app.command("quarantine")
def quarantine(
    resource: Annotated[str | None, typer.Option(help="only this resource")] = None,
    limit: Annotated[int, typer.Option(help="at most this many rows", min=1)] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="print the rows as JSON")] = False,
    data: DataOpt = None,
) -> None:
    """List what the exchange quarantined (bad records, bad seals, poison messages) and why.

    Keys and ID numbers are shown masked (region only): the operator is not the
    publishing department. Works on the data directory, or through the running govex
    serve (or --url)."""
    rows = operate(data, "quarantine.list", {"resource": resource, "limit": limit})
    show(
        ("time", "resource", "publisher", "batch", "#", "key", "code", "reason", "via"),
        (
            (
                str(q["received_at"])[:19].replace("T", " "),
                q["resource"] or "?",
                q["publisher"] or "?",
                q["batch_id"] or "",
                "" if q["record_index"] is None else str(q["record_index"]),
                q["key"] or "",
                q["reason_code"],
                q["reason"],
                q["source"],
            )
            for q in rows
        ),
        as_json=as_json,
        records=rows,
    )
    if not as_json:
        console.print(f"{len(rows)} quarantined row(s)", markup=False)


# -- the demo's departments publish the samples ---------------------------------


def sample_configs() -> list[Path]:
    """The example connector configs shipped in ``exchange/demo/samples``."""
    return sorted(SAMPLES.glob("*.toml"))


def publish_samples(
    exchange: Exchange, env: Mapping[str, str] | None = None
) -> dict[str, RunSummary]:
    """Run every sample connector into ``exchange`` through its embedded bus (no Kafka).

    The demo departments' keys are in the data directory; outboxes go there too.
    """
    data = Path(exchange.settings.data)
    environment = {
        **(env or {}),
        "GOVEX_DATA": str(data),
        "GOVEX_CONNECTOR_KEY_PASSPHRASE": DEMO_PASSPHRASE,
    }
    bus = exchange.embedded_bus()
    out: dict[str, RunSummary] = {}
    for path in sample_configs():
        loaded = load_config(path, environment)
        summary = run_connector(
            loaded,
            EmbeddedPublisher(bus),
            outbox_path=data / "connectors" / f"{loaded.name}.sqlite",
            dry_run=False,
        )
        out[loaded.definition.code] = summary
    return out


def sample_results(exchange: Exchange) -> dict[str, IngestResult]:
    """:func:`publish_samples` as the demo's per-resource results: the rows a connector
    refused count as quarantined, each reason starting with its source line."""
    out: dict[str, IngestResult] = {}
    for resource, summary in publish_samples(exchange).items():
        problems = [*summary.refused, *summary.quarantined]
        out[resource] = IngestResult(
            batch_id=f"connector:{summary.connector}",
            resource=resource,
            received=summary.read,
            accepted=summary.accepted or 0,
            duplicates=summary.duplicates or 0,
            quarantined=[
                QuarantinedRecord(
                    index=p.line, key=p.key, reason_code=p.code, reason=f"line {p.line}: {p.reason}"
                )
                for p in problems
            ],
        )
    return out
