"""One issued credential of every certificate type (:func:`issue_every_type`); two data
directories holding the same exchange (``twins``)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from exchange.config import Settings
from exchange.demo.setup import create_demo
from exchange.service import Exchange
from tests.support.certificates import issue_every_type


@pytest.fixture(scope="module")
def every_type(exchange: Exchange) -> dict[str, dict[str, Any]]:
    return issue_every_type(exchange)


@pytest.fixture
def twins(tmp_path: Path) -> tuple[Path, Path]:
    """Two data directories holding the same exchange (the same keys)."""
    create_demo(Settings(data=tmp_path / "a")).close()
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    return tmp_path / "a", tmp_path / "b"
