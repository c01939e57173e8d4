"""Fixtures shared by the whole suite.

``oidc_provider`` (one per session) starts the real OpenID Connect provider of the
citizen sign-in (scripts/oidc.sh); a test that uses it is marked ``oidc`` (slow).

``kafka_broker`` (one per session) and ``fresh_kafka_broker`` (one per test,
for tests that pause, kill or restart it) start a real broker; ``kafka_cluster`` and
``fresh_kafka_cluster`` a real secured 3-node cluster (tests/support/kafka_cluster.py). A test that uses
either is marked ``kafka`` automatically. When Kafka cannot run here the test
is skipped on a developer's machine and fails in CI (env ``CI`` set): kafka
tests must never be skipped silently in CI.

kafka-python (3.0.x) loads its protocol schemas at import time with
``importlib.resources.read_text``, which Python 3.11 and 3.12 flag as
deprecated; with warnings as errors no module could import ``kafka``. The two
filters below silence exactly that and are added before collection. This module
imports ``kafka`` only inside the fixtures, because conftest files are imported
before ``pytest_configure`` runs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.support.kafka import KafkaBroker
    from tests.support.kafka_cluster import KafkaCluster
    from tests.support.oidc import OidcProvider

_KAFKA_FIXTURES = frozenset(
    {"kafka_broker", "fresh_kafka_broker", "kafka_cluster", "fresh_kafka_cluster"}
)
_THIRD_PARTY_WARNINGS = (
    "ignore:read_text is deprecated:DeprecationWarning:kafka.protocol.schemas.load_json",
    "ignore:open_text is deprecated:DeprecationWarning:importlib.resources._legacy",
)


def pytest_configure(config: pytest.Config) -> None:
    """Let kafka-python import under ``filterwarnings = error`` (see the module doc)."""
    for line in _THIRD_PARTY_WARNINGS:
        config.addinivalue_line("filterwarnings", line)


# Tests that take more than a few seconds, by file (whole modules) — besides every test
# marked kafka, browser or postgres, which start a broker, a browser or a database server.
# ``python -m pytest -m "not slow"`` is the developers' fast loop.
_SLOW_MODULES = frozenset(
    {
        "test_schemathesis.py",
        "test_h1_mixed_load.py",
        "test_cert.py",
        "test_cli.py",
        "test_connector.py",
        "test_redteam.py",
        "test_slow_clients.py",
        "test_tour.py",
    }
)
_SLOW_MARKERS = ("kafka", "browser", "postgres", "oidc")
_OIDC_FIXTURES = frozenset({"oidc_provider"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests that ask for a broker with ``kafka``, and long tests with ``slow``."""
    for item in items:
        if _KAFKA_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.kafka)
        if _OIDC_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.oidc)
        slow_file = item.path.name in _SLOW_MODULES or "integration" in item.path.parts
        if slow_file or any(item.get_closest_marker(m) for m in _SLOW_MARKERS):
            item.add_marker(pytest.mark.slow)


def _started_broker() -> KafkaBroker:
    from tests.support.kafka import KafkaBroker, KafkaUnavailable

    broker = KafkaBroker()
    try:
        return broker.__enter__()
    except KafkaUnavailable as exc:
        reason = f"Kafka broker unavailable: {exc}"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (kafka tests must run in CI; see scripts/kafka.sh fetch)")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[KafkaBroker]:
    """A started broker shared by the session; do not pause or kill it."""
    broker = _started_broker()
    try:
        yield broker
    finally:
        broker.close()


@pytest.fixture
def fresh_kafka_broker() -> Iterator[KafkaBroker]:
    """A started broker of this test alone: pause, kill and restart it at will."""
    broker = _started_broker()
    try:
        yield broker
    finally:
        broker.close()


# the principals of the secured cluster: departments' connectors, exchange nodes, and a
# user with no ACL at all
CLUSTER_USERS = ["gongan", "minzheng", "node-a", "node-b", "node-c", "nobody"]


def _started_cluster() -> KafkaCluster:
    from tests.support.kafka import KafkaUnavailable
    from tests.support.kafka_cluster import KafkaCluster

    cluster = KafkaCluster(users=CLUSTER_USERS)
    try:
        cluster.__enter__()
    except KafkaUnavailable as exc:
        reason = f"Kafka cluster unavailable: {exc}"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (kafka tests must run in CI; see scripts/kafka.sh fetch)")
        pytest.skip(reason)
    try:
        for node in ("node-a", "node-b", "node-c"):
            cluster.grant_exchange(node)
    except BaseException:
        cluster.close()
        raise
    return cluster


@pytest.fixture(scope="session")
def kafka_cluster() -> Iterator[KafkaCluster]:
    """Three secured KRaft nodes shared by the session (SASL/SCRAM, TLS, ACLs); do not break."""
    cluster = _started_cluster()
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def fresh_kafka_cluster() -> Iterator[KafkaCluster]:
    """A secured 3-node cluster of this test alone: pause, kill and restart it at will."""
    cluster = _started_cluster()
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[OidcProvider]:
    """The real OpenID Connect provider, its client sending browsers back to the TestClient."""
    from tests.support.oidc import TESTCLIENT_CALLBACK, started_oidc_provider

    provider = started_oidc_provider([TESTCLIENT_CALLBACK])
    try:
        yield provider
    finally:
        provider.close()
