"""The audit log's free-space floor (exchange/audit/space.py, RELIABILITY D6)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from exchange.audit.log import AuditEvent, AuditLog
from exchange.config import Settings
from exchange.errors import AuditDiskFull


def test_the_floor_is_a_setting_with_a_default_of_256_mib(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings().audit.min_free_bytes == 256 * 2**20
    monkeypatch.setenv("GOVEX_AUDIT__MIN_FREE_BYTES", str(2**40))
    assert Settings().audit.min_free_bytes == 2**40


def test_below_the_floor_the_log_refuses_and_stays_open(log: AuditLog, tmp_path: Path) -> None:
    event = AuditEvent(actor="a", action="query", outcome="ok")
    log.append(event)
    free = shutil.disk_usage(tmp_path).free
    log.space.min_free_bytes = free + 2**40  # a floor above the free space
    log.space.refresh()
    size = log.size
    with pytest.raises(AuditDiskFull) as refused:
        log.append(AuditEvent(actor="a", action="query", outcome="ok"))
    assert refused.value.status == 503
    assert refused.value.code.value == "exchange.audit_disk_full"
    assert log.size == size
    assert log.healthy  # refused, not closed: nothing was half written
    log.space.min_free_bytes = 256 * 2**20
    log.space.refresh()
    seq, _ = log.append(AuditEvent(actor="a", action="query", outcome="ok"))
    assert seq == size


def test_a_floor_of_zero_is_no_floor(log: AuditLog) -> None:
    log.space.min_free_bytes = log.space.refresh() + 2**40
    assert log.space.ok is False
    log.space.min_free_bytes = 0
    assert log.space.ok is True  # a floor of 0 is no floor
