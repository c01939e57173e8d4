"""An audit log on a real DuckDB file of its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from exchange.audit.log import AuditLog
from exchange.config import AuditSettings
from exchange.store import Store


@pytest.fixture
def log(tmp_path: Path) -> Iterator[AuditLog]:
    store = Store(tmp_path / "data", create=True)
    audit = AuditLog(store, b"k" * 32, AuditSettings())
    yield audit
    audit.close()
    store.close()
