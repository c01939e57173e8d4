"""The Kafka an integration test runs against: one plain broker, or the secured 3-node
cluster (SASL/SCRAM-SHA-512 over TLS, ACLs) a province runs — the same test on both.

:class:`Bus` says how each party speaks to it: the exchange node (its own principal,
``GOVEX_KAFKA__*``), the department's connector (its ``[publish.kafka]`` section and
password variable), the test's own clients (the super user's kafka-python options), and
where a test's topics live (under ``govex.records.`` on the cluster, where the ACLs are).
``pause``, ``resume``, ``kill`` and ``restart`` break the whole bus: the broker, or every
node of the cluster at once.
"""

from __future__ import annotations

import uuid
from typing import Any

from tests.support.kafka import KafkaBroker
from tests.support.kafka_cluster import KafkaCluster

__all__ = ["Bus"]

CONNECTOR_PASSWORD_ENV = "GOVEX_CONNECTOR_KAFKA_PASSWORD"


class Bus:
    """A plain broker or the secured cluster, as the parties of a test speak to it."""

    def __init__(self, target: KafkaBroker | KafkaCluster) -> None:
        self.target = target
        self.cluster = target if isinstance(target, KafkaCluster) else None

    @property
    def secured(self) -> bool:
        return self.cluster is not None

    @property
    def name(self) -> str:
        return "secured 3-node cluster" if self.secured else "one broker"

    @property
    def bootstrap(self) -> str:
        return self.target.bootstrap

    def prefix(self, tag: str) -> str:
        """A topic prefix of this test's own (the cluster's ACLs cover govex.records.*)."""
        unique = f"{tag}{uuid.uuid4().hex[:8]}"
        return f"govex.records.{unique}." if self.secured else f"govex.{unique}.records."

    def options(self) -> dict[str, Any]:
        """kafka-python options of the test's own clients (the cluster's super user)."""
        return self.cluster.security("admin").client_options() if self.cluster else {}

    def exchange_env(self, node: str) -> dict[str, str]:
        """``GOVEX_KAFKA__*`` of exchange node ``node`` (principal ``node-<node>``)."""
        if self.cluster is None:
            return {}
        user = f"node-{node}"
        return {
            "GOVEX_KAFKA__PROTOCOL": "SASL_SSL",
            "GOVEX_KAFKA__USERNAME": user,
            "GOVEX_KAFKA__PASSWORD": self.cluster.passwords[user],
            "GOVEX_KAFKA__SSL_CAFILE": str(self.cluster.cafile),
        }

    def connector_auth(self, prefix: str, resource: str, user: str = "gongan") -> str:
        """The ``[publish.kafka]`` section of ``user``'s connector, its topic granted."""
        if self.cluster is None:
            return ""
        self.cluster.grant_connector(user, resource, prefix)
        return (
            "\n[publish.kafka]\n"
            'protocol = "SASL_SSL"\n'
            f'username = "{user}"\n'
            f'password_env = "{CONNECTOR_PASSWORD_ENV}"\n'
            f'ssl_cafile = "{self.cluster.cafile}"\n'
        )

    def connector_env(self, user: str = "gongan") -> dict[str, str]:
        if self.cluster is None:
            return {}
        return {CONNECTOR_PASSWORD_ENV: self.cluster.passwords[user]}

    # -- breaking it -------------------------------------------------------------

    def pause(self) -> None:
        self.target.pause()

    def resume(self) -> None:
        self.target.resume()

    def kill(self) -> None:
        self.target.kill()

    def restart(self) -> None:
        self.target.restart()
