"""The buses the process tests run on: each test on one plain broker and on the secured
3-node cluster (``bus`` shared by the session, ``fresh_bus`` a test's own to break)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # kafka is imported once the suite's warning filters are in place
    from tests.integration.buses import Bus

BUSES = ["broker", "secured"]


@pytest.fixture(params=BUSES)
def bus(request: pytest.FixtureRequest) -> Bus:
    from tests.integration.buses import Bus

    name = "kafka_broker" if request.param == "broker" else "kafka_cluster"
    return Bus(request.getfixturevalue(name))


@pytest.fixture(params=BUSES)
def fresh_bus(request: pytest.FixtureRequest) -> Bus:
    from tests.integration.buses import Bus

    name = "fresh_kafka_broker" if request.param == "broker" else "fresh_kafka_cluster"
    return Bus(request.getfixturevalue(name))
