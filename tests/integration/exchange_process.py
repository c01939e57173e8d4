"""Real processes for the Kafka tests: an exchange (`govex serve --bus`) and a connector
(`govex connector run`), started as subprocesses and broken by pid.

- :class:`ExchangeProcess` — one exchange on its own data directory and port, consuming
  the record topics under its own topic prefix; ``kill()`` is SIGKILL, ``stop()`` SIGTERM.
- :func:`start_connector` — a connector run as a subprocess (its pid can be killed).
- :func:`wait_consumed` — until the exchange's consumer group committed every offset.
- :func:`stored` — what the data directory holds (opened once the exchange stopped).
- :func:`id_card_csv` — N valid ID-card rows (distinct ID numbers) and their config.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from bench.workload import RESOURCE, connector_config, id_card_rows, write_csv
from exchange.bus.node import keep_node_identity
from exchange.config import DEMO_PASSPHRASE, Settings
from exchange.demo.setup import create_demo
from exchange.store import Store
from tests.support import LOOPBACK, free_port

GOVEX = [sys.executable, "-c", "from exchange.cli.main import main; main()"]

BOUND_S = 120.0


def demo_data_dir(root: Path, node: str = "a") -> Path:
    """A fresh demo exchange (departments, keys, catalog) in ``root/data-<node>``."""
    data = root / f"data-{node}"
    create_demo(Settings(data=data)).close()
    return data


def clone_data_dir(data: Path, node: str) -> Path:
    """A second node provisioned from the same (still empty) exchange: same keys, own DB."""
    copy = data.parent / f"data-{node}"
    shutil.copytree(data, copy)
    return copy


def set_node(data: Path, node: str) -> None:
    """Name the node (its Kafka consumer group is ``govex-exchange.<node>``)."""
    keep_node_identity(data, node)


def group_of(node: str) -> str:
    return f"govex-exchange.{node}"


class ExchangeProcess:
    """`govex serve --data DIR --bus kafka://…` as a subprocess."""

    def __init__(
        self,
        data: Path,
        bootstrap: str,
        topic_prefix: str,
        *,
        pause_at: str | None = None,
        env: dict[str, str] | None = None,
        args: list[str] | None = None,
        scheme: str = "kafka",
    ) -> None:
        self.data = data
        self.scheme = scheme  # kafkas: TLS to the brokers
        self.extra_args = args or []
        self.bootstrap = bootstrap
        self.topic_prefix = topic_prefix
        self.pause_at = pause_at
        self.port = free_port()
        self.extra_env = env or {}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> Self:
        args = [
            *GOVEX, "serve", "--data", str(self.data), "--port", str(self.port),
            "--bus", f"{self.scheme}://{self.bootstrap}",
        ]  # fmt: skip
        if self.pause_at:
            args += ["--unsafe-pause-at", self.pause_at]
        args += self.extra_args
        env = {
            **os.environ,
            "GOVEX_KAFKA__TOPIC_PREFIX": self.topic_prefix,
            "PYTHONWARNINGS": "ignore::DeprecationWarning",
            **self.extra_env,
        }
        with (self.data.parent / f"{self.data.name}.log").open("ab") as out:
            self.process = subprocess.Popen(
                args, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        deadline = time.monotonic() + BOUND_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"exchange exited with {self.process.returncode}\n{self.log()}")
            if self.paused:
                return self
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"exchange did not answer within {BOUND_S:g}s\n{self.log()}")

    @property
    def paused(self) -> bool:
        """True when the process stopped itself at its pause point (state T)."""
        if self.process is None or self.process.poll() is not None:
            return False
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text(encoding="ascii")
        except OSError:
            return False
        return stat.rsplit(")", 1)[1].split()[0] in ("T", "t")

    def wait_paused(self, timeout_s: float = BOUND_S) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.paused:
            if time.monotonic() > deadline:
                raise RuntimeError(f"exchange never reached {self.pause_at}\n{self.log()}")
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"exchange exited before {self.pause_at}\n{self.log()}")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL by pid, as a crash would; the data directory stays."""
        assert self.process is not None
        os.kill(self.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM (SIGCONT first if paused); SIGKILL if it takes too long."""
        if self.process is None or self.process.poll() is not None:
            return
        os.kill(self.pid, signal.SIGCONT)
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)

    def log(self) -> str:
        path = self.data.parent / f"{self.data.name}.log"
        text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-40:])

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# -- the connector -------------------------------------------------------------


def connector_env(data: Path) -> dict[str, str]:
    return {
        **os.environ,
        "GOVEX_DATA": str(data),
        "GOVEX_CONNECTOR_KEY_PASSPHRASE": DEMO_PASSPHRASE,
        "PYTHONWARNINGS": "ignore::DeprecationWarning",
    }


def start_connector(
    config: Path,
    bootstrap: str,
    data: Path,
    outbox: Path,
    log: Path,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """`govex connector run CONFIG --bus kafka://… --json` as a subprocess."""
    with log.open("wb") as out:  # the child keeps its own descriptor
        return subprocess.Popen(
            [
                *GOVEX,
                "connector",
                "run",
                str(config),
                "--bus",
                f"kafka://{bootstrap}",
                "--outbox",
                str(outbox),
                "--json",
            ],
            env={**connector_env(data), **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def finish_connector(process: subprocess.Popen[bytes], log: Path) -> dict[str, Any]:
    """Wait for a connector run; return its JSON summary."""
    code = process.wait(timeout=600)
    text = log.read_text(encoding="utf-8", errors="replace")
    start = text.find("{")
    if code not in (0, 3) or start < 0:
        raise RuntimeError(f"connector exited with {code}:\n{text[-3000:]}")
    summary: dict[str, Any] = json.loads(text[start:])
    return summary


# -- Kafka offsets -------------------------------------------------------------


def topic_offsets(
    bootstrap: str, topic: str, options: dict[str, Any] | None = None
) -> dict[int, int]:
    """End offset of each partition of ``topic`` (empty if it does not exist yet).

    ``options``: the kafka-python security options of a secured bus (its super user).
    """
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap.split(","), request_timeout_ms=10_000, **(options or {})
    )
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        ends = consumer.end_offsets(tps) if tps else {}
        return {tp.partition: int(offset) for tp, offset in ends.items()}
    finally:
        consumer.close()


def wait_for_messages(
    bootstrap: str, topic: str, at_least: int = 1, options: dict[str, Any] | None = None
) -> None:
    deadline = time.monotonic() + BOUND_S
    while sum(topic_offsets(bootstrap, topic, options).values()) < at_least:
        if time.monotonic() > deadline:
            raise RuntimeError(f"no message reached {topic} within {BOUND_S:g}s")
        time.sleep(0.05)


def wait_consumed(
    bootstrap: str,
    topic: str,
    group: str,
    timeout_s: float = BOUND_S,
    options: dict[str, Any] | None = None,
) -> None:
    """Until ``group`` committed, on every partition of ``topic``, the end offset.

    Every read is bounded: kafka-python's ``committed()`` waits for ever by default while
    the group's coordinator cannot be found (after a whole cluster was killed and
    restarted, E2 on the secured cluster hung there). A read that fails or times out is
    retried with a fresh reader until ``timeout_s``, then reported with its error.
    """
    from kafka import KafkaConsumer, TopicPartition
    from kafka.errors import KafkaError

    deadline = time.monotonic() + timeout_s
    ends: dict[int, int] = {}
    committed: dict[int, int | None] = {}
    last: Exception | None = None
    reader: Any = None
    try:
        while True:
            try:
                if reader is None:  # a consumer of the group that never subscribes
                    reader = KafkaConsumer(
                        bootstrap_servers=bootstrap.split(","), group_id=group,
                        enable_auto_commit=False, request_timeout_ms=10_000, **(options or {}),
                    )  # fmt: skip
                ends = topic_offsets(bootstrap, topic, options)
                committed = {
                    p: reader.committed(TopicPartition(topic, p), timeout_ms=10_000) for p in ends
                }
                if ends and all((committed[p] or 0) >= end for p, end in ends.items()):
                    return
            except KafkaError as exc:
                last = exc
                if reader is not None:
                    reader.close()
                reader = None
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{group} did not consume {topic}: ends {ends}, at {committed}"
                    + (f" (last error: {last!r})" if last else "")
                )
            time.sleep(0.2)
    finally:
        if reader is not None:
            reader.close()


# -- what was stored -------------------------------------------------------------


@dataclass(frozen=True)
class Stored:
    rows: int
    keys: frozenset[str]
    batches_accepted: int
    quarantined: int

    def figure(self, name: str, sent: set[str]) -> str:
        lost = len(sent - self.keys)
        duplicated = self.rows - len(self.keys) + (self.batches_accepted - self.rows)
        return (
            f"{name} {len(sent)} sent, {len(self.keys)} stored, {lost} lost, "
            f"{duplicated} duplicated"
        )


def stored(data: Path, resource: str = RESOURCE) -> Stored:
    """What the (stopped) exchange stored for ``resource``."""
    with Store(data, read_only=True) as store:
        keys = {str(r[0]) for r in store.fetchall(
            "SELECT key FROM record_history WHERE resource = ?", [resource]
        )}  # fmt: skip
        rows = store.fetchone("SELECT count(*) FROM record_history WHERE resource = ?", [resource])
        accepted = store.fetchone(
            "SELECT coalesce(sum(accepted), 0) FROM batches WHERE resource = ?", [resource]
        )
        quarantined = store.fetchone("SELECT count(*) FROM quarantine")
    return Stored(
        int(rows[0]) if rows else 0,
        frozenset(keys),
        int(accepted[0]) if accepted else 0,
        int(quarantined[0]) if quarantined else 0,
    )


# -- data ------------------------------------------------------------------------


def id_card_csv(
    folder: Path,
    count: int,
    *,
    uscc: str,
    prefix: str,
    batch_size: int = 500,
    deadline_s: float = 180,
    name: str = "ids",
    kafka_auth: str = "",
) -> tuple[Path, set[str]]:
    """A CSV of ``count`` ID cards and its connector config; returns (config, keys)."""
    csv_path = folder / f"{name}.csv"
    keys = write_csv(csv_path, id_card_rows(count))
    config = folder / f"{name}.toml"
    config.write_text(
        connector_config(
            name=name,
            uscc=uscc,
            csv=csv_path,
            prefix=prefix,
            batch_size=batch_size,
            retry_deadline_s=deadline_s,
            kafka_auth=kafka_auth,
        ),
        encoding="utf-8",
    )
    return config, keys
