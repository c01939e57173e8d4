"""A real 3-node Kafka cluster (KRaft), secured as a province would run it, owned by a test.

``scripts/kafka.sh prepare --nodes 3 --secure`` writes each node's config (SASL/SCRAM-SHA-512
over TLS for clients, a test CA, the StandardAuthorizer, SCRAM users made at format time)
and formats the storage; each node then runs as ``scripts/kafka.sh run --node I``, which
execs the JVM, so the pid is the broker's own and a test can kill one node, wipe its disk
and start it again, or freeze (``pause``), kill and restart the whole cluster. ACLs are granted through ``kafka.sh grant-connector`` and
``grant-exchange``, as an operator would.

    with KafkaCluster(users=["gongan", "node-a"]) as cluster:
        security = cluster.security("gongan")   # a KafkaSecurity for that principal
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from exchange.bus.kafka_security import KafkaSecurity
from tests.support import LOOPBACK, free_ports
from tests.support.kafka import KAFKA_SCRIPT, KafkaBrokerError, fetch_jars

__all__ = ["KafkaCluster"]

_LOG = logging.getLogger(__name__)
_STOP_TIMEOUT_S = 30.0


class KafkaCluster:
    """Three combined KRaft nodes on loopback with SASL/SCRAM, TLS and ACLs."""

    def __init__(self, *, users: list[str], start_timeout_s: float = 120.0) -> None:
        ports = free_ports(6)
        self.ports, self.controller_ports = ports[:3], ports[3:]
        self.passwords = {user: secrets.token_urlsafe(12) for user in users}
        self.start_timeout_s = start_timeout_s
        self.directory = Path(tempfile.mkdtemp(prefix="govex-kafka-cluster-"))
        self._processes: dict[int, subprocess.Popen[bytes]] = {}
        self._logs: dict[int, IO[bytes]] = {}

    # -- facts ------------------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        return ",".join(f"{LOOPBACK}:{p}" for p in self.ports)

    @property
    def cafile(self) -> Path:
        return self.directory / "tls" / "ca.pem"

    @property
    def admin_password(self) -> str:
        return (self.directory / "admin.password").read_text().strip()

    def security(self, user: str, password: str | None = None) -> KafkaSecurity:
        """How ``user`` speaks to the cluster (SASL_SSL, SCRAM-SHA-512, the test CA)."""
        secret = password
        if secret is None:
            secret = self.admin_password if user == "admin" else self.passwords[user]
        return KafkaSecurity.model_validate(
            {
                "protocol": "SASL_SSL",
                "username": user,
                "password": secret,
                "ssl_cafile": self.cafile,
            }
        )

    def live_bootstrap(self) -> list[str]:
        """The nodes that accept TCP now (kafka-python 3.0.x leaks a refused socket)."""
        live = []
        for port in self.ports:
            try:
                with socket.create_connection((LOOPBACK, port), timeout=1.0):
                    live.append(f"{LOOPBACK}:{port}")
            except OSError:
                continue
        if not live:
            raise KafkaError("no node accepts connections")
        return live

    def admin(self) -> Any:
        """A kafka-python admin client as the super user; close it after use."""
        return KafkaAdminClient(
            bootstrap_servers=self.live_bootstrap(),
            request_timeout_ms=10_000,
            **self.security("admin").client_options(),
        )

    def node_dir(self, node: int) -> Path:
        return self.directory / f"node-{node}"

    # -- life cycle -------------------------------------------------------------

    def _args(self) -> list[str]:
        args = [
            "--nodes",
            "3",
            "--secure",
            "--dir",
            str(self.directory),
            "--port",
            ",".join(map(str, self.ports)),
            "--controller-port",
            ",".join(map(str, self.controller_ports)),
        ]
        for user, password in self.passwords.items():
            args += ["--user", f"{user}={password}"]
        return args

    def _script(self, *args: str) -> str:
        done = subprocess.run(
            ["bash", str(KAFKA_SCRIPT), *args],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        if done.returncode != 0:
            raise KafkaBrokerError(f"kafka.sh {args[0]} failed: {done.stderr.strip()}")
        return done.stdout

    def start(self) -> Self:
        fetch_jars()
        self._script("prepare", *self._args())
        for node in (1, 2, 3):
            self.start_node(node, wait=False)
        self.wait_ready(brokers=3)
        return self

    def start_node(self, node: int, *, wait: bool = True) -> None:
        log = self._logs.get(node)
        if log is None:
            log = self._logs[node] = open(self.node_dir(node) / "broker.log", "ab")  # noqa: SIM115
        self._processes[node] = subprocess.Popen(
            ["bash", str(KAFKA_SCRIPT), "run", "--node", str(node), *self._args()],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if wait:
            self.wait_ready(brokers=3)

    def kill_node(self, node: int) -> None:
        """SIGKILL one node, as a crash would; its data stays unless wiped."""
        process = self._processes.pop(node, None)
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=_STOP_TIMEOUT_S)

    def pause(self) -> None:
        """Freeze every node (SIGSTOP): the whole cluster stops answering, connections stay."""
        for process in self._processes.values():
            os.kill(process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """Let every frozen node go on (SIGCONT)."""
        for process in self._processes.values():
            os.kill(process.pid, signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL every node at once, as a power cut would; the data stays."""
        for node in list(self._processes):
            self.kill_node(node)

    def restart(self) -> None:
        """Start every node that is not running, on the same ports and data; wait for all."""
        for node in (1, 2, 3):
            if node not in self._processes:
                self.start_node(node, wait=False)
        self.wait_ready(brokers=3)

    def wipe_topic(self, node: int, topic: str) -> int:
        """Remove a (killed) node's partition folders of ``topic``: a lost disk."""
        removed = 0
        for folder in (self.node_dir(node) / "logs").glob(f"{topic}-*"):
            shutil.rmtree(folder)
            removed += 1
        return removed

    def wait_ready(self, *, brokers: int) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        last: Exception | None = None
        while time.monotonic() < deadline:
            for node, process in self._processes.items():
                if process.poll() is not None:
                    raise KafkaBrokerError(f"node {node} exited with {process.returncode}")
            try:
                if len(self.live_bootstrap()) < brokers:
                    raise KafkaError("not every node accepts connections yet")
                admin = self.admin()
                try:
                    if len(admin.describe_cluster()["brokers"]) >= brokers:
                        return
                finally:
                    admin.close()
            except KafkaError as exc:
                last = exc
            time.sleep(0.3)
        raise KafkaBrokerError(f"cluster not ready within {self.start_timeout_s:g}s: {last!r}")

    def grant_connector(self, user: str, resource: str, prefix: str = "govex.records.") -> None:
        self._script(
            "grant-connector",
            *self._args(),
            "--principal",
            user,
            "--resource",
            resource,
            "--topic-prefix",
            prefix,
        )

    def grant_exchange(self, user: str, group: str = "govex-exchange") -> None:
        self._script("grant-exchange", *self._args(), "--principal", user, "--group", group)

    def close(self) -> None:
        # SIGTERM to every node first: a node left alone waits for a quorum to shut down
        processes = [p for p in self._processes.values() if p.poll() is None]
        self._processes.clear()
        for process in processes:
            os.kill(process.pid, signal.SIGCONT)  # a frozen node would not see SIGTERM
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=_STOP_TIMEOUT_S)
        for log in self._logs.values():
            log.close()
        self._logs.clear()
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
