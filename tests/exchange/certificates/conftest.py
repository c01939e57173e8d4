"""One issued credential of every certificate type (:func:`issue_every_type`)."""

from __future__ import annotations

from typing import Any

import pytest

from exchange.service import Exchange
from tests.support.certificates import issue_every_type


@pytest.fixture(scope="module")
def every_type(exchange: Exchange) -> dict[str, dict[str, Any]]:
    return issue_every_type(exchange)
