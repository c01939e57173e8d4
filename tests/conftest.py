"""Fixtures shared by the whole suite.

``kafka_broker`` (one per session) and ``fresh_kafka_broker`` (one per test,
for tests that pause, kill or restart it) start a real broker. A test that uses
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

_KAFKA_FIXTURES = frozenset({"kafka_broker", "fresh_kafka_broker"})
_THIRD_PARTY_WARNINGS = (
    "ignore:read_text is deprecated:DeprecationWarning:kafka.protocol.schemas.load_json",
    "ignore:open_text is deprecated:DeprecationWarning:importlib.resources._legacy",
)


def pytest_configure(config: pytest.Config) -> None:
    """Let kafka-python import under ``filterwarnings = error`` (see the module doc)."""
    for line in _THIRD_PARTY_WARNINGS:
        config.addinivalue_line("filterwarnings", line)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that asks for a broker with ``kafka``, so ``-m`` selects it."""
    for item in items:
        if _KAFKA_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.kafka)


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
