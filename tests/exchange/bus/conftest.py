"""The kafka tests' cluster: three secured KRaft nodes shared by the module's tests.

``kafka_cluster`` (marked ``kafka`` by the suite's conftest) starts
:class:`~tests.support.kafka_cluster.KafkaCluster` with the principals the tests speak as:
two departments' connectors (``gongan``, ``minzheng``), one exchange node (``node-a``)
and a user with no ACL at all (``nobody``). Skipped on a developer's machine when Kafka
cannot run, failed in CI.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.support.kafka_cluster import KafkaCluster

USERS = ["gongan", "minzheng", "node-a", "nobody"]


@pytest.fixture(scope="session")
def kafka_cluster() -> Iterator[KafkaCluster]:
    from tests.support.kafka import KafkaUnavailable
    from tests.support.kafka_cluster import KafkaCluster

    cluster = KafkaCluster(users=USERS)
    try:
        cluster.__enter__()
    except KafkaUnavailable as exc:
        reason = f"Kafka cluster unavailable: {exc}"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (kafka tests must run in CI; see scripts/kafka.sh fetch)")
        pytest.skip(reason)
    try:
        cluster.grant_exchange("node-a")
        yield cluster
    finally:
        cluster.close()
