"""The secured 3-node Kafka cluster P2-secure runs on, started with scripts/kafka.sh.

``scripts/kafka.sh start --nodes 3 --secure`` (SASL_SSL with SCRAM-SHA-512, a test CA,
the StandardAuthorizer, replication factor 3 and ``min.insync.replicas`` 2 by default),
then the ACLs an operator grants: the department's connector writes only its resource's
topic, the exchange node reads with its own principal. Every client of the run — the
exchange, the connector, the raw kafka-python peer — speaks SASL/SCRAM over TLS.
"""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["BenchBus", "plain_bus", "secured_cluster"]

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "kafka.sh"
CONNECTOR = "gongan"
NODE = "node-bench"


@dataclass
class BenchBus:
    """How each party of a P2 run speaks to the bus."""

    bootstrap: str
    label: str = "one broker, PLAINTEXT"
    options: dict[str, Any] = field(default_factory=dict)  # the run's own clients (admin)
    exchange_env: dict[str, str] = field(default_factory=dict)  # GOVEX_KAFKA__* of the node
    connector: Any = None  # the connector's KafkaSecurity (None: plaintext)

    @property
    def servers(self) -> list[str]:
        return self.bootstrap.split(",")


def plain_bus(bootstrap: str) -> BenchBus:
    return BenchBus(bootstrap)


def _ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@contextmanager
def secured_cluster(resource: str, prefix: str, log: Any) -> Iterator[BenchBus]:
    """A secured 3-node cluster for this run, its ACLs granted; stopped and removed after."""
    from exchange.bus.kafka_security import KafkaSecurity

    ports = _ports(6)
    folder = Path(tempfile.mkdtemp(prefix="govex-bench-kafka-secure-"))
    passwords = {CONNECTOR: secrets.token_urlsafe(12), NODE: secrets.token_urlsafe(12)}
    args = [
        "--nodes", "3", "--secure", "--dir", str(folder),
        "--port", ",".join(map(str, ports[:3])),
        "--controller-port", ",".join(map(str, ports[3:])),
    ]  # fmt: skip
    for user, password in passwords.items():
        args += ["--user", f"{user}={password}"]

    def script(*command: str) -> None:
        subprocess.run(
            ["bash", str(SCRIPT), *command, *args],
            check=True, capture_output=True, timeout=300, stdin=subprocess.DEVNULL,
        )  # fmt: skip

    log(f"P2-secure: starting a secured 3-node Kafka cluster on 127.0.0.1:{ports[0]}…")
    try:
        script("start")
        script("grant-connector", "--principal", CONNECTOR, "--resource", resource,
               "--topic-prefix", prefix)  # fmt: skip
        script("grant-exchange", "--principal", NODE)
        cafile = folder / "tls" / "ca.pem"
        admin = (folder / "admin.password").read_text(encoding="utf-8").strip()

        def security(user: str, password: str) -> KafkaSecurity:
            return KafkaSecurity.model_validate(
                {"protocol": "SASL_SSL", "username": user, "password": password,
                 "ssl_cafile": cafile}
            )  # fmt: skip

        yield BenchBus(
            ",".join(f"127.0.0.1:{p}" for p in ports[:3]),
            label="3 brokers, SASL_SSL SCRAM-SHA-512, ACLs, replication 3, min.insync 2",
            options=security("admin", admin).client_options(),
            exchange_env={
                "GOVEX_KAFKA__PROTOCOL": "SASL_SSL",
                "GOVEX_KAFKA__USERNAME": NODE,
                "GOVEX_KAFKA__PASSWORD": passwords[NODE],
                "GOVEX_KAFKA__SSL_CAFILE": str(cafile),
            },
            connector=security(CONNECTOR, passwords[CONNECTOR]),
        )
    finally:
        subprocess.run(
            ["bash", str(SCRIPT), "stop", "--nodes", "3", "--dir", str(folder)],
            capture_output=True, timeout=300, check=False,
        )  # fmt: skip
        shutil.rmtree(folder, ignore_errors=True)
