"""The checkpoint schedule: a failed signing is logged and counted, never silent."""

from __future__ import annotations

import logging
import time

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from exchange.audit.checkpoints import Checkpointer
from exchange.audit.log import AuditEvent, AuditLog


def test_a_scheduled_checkpoint_that_fails_to_sign_is_logged_and_counted(
    log: AuditLog, caplog: pytest.LogCaptureFixture
) -> None:
    log.append(AuditEvent(actor="a", action="query", outcome="ok"))
    log.store.execute("ALTER TABLE checkpoints RENAME TO checkpoints_elsewhere")
    checkpoints = Checkpointer.for_key(
        log, ed25519.Ed25519PrivateKey.generate(), "govex.example/test", interval_s=0.02
    )
    caplog.set_level(logging.WARNING, logger="govex.audit")
    checkpoints.start()
    try:
        deadline = time.monotonic() + 10
        while checkpoints.failures < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        checkpoints.stop()
    assert checkpoints.failures >= 2  # the schedule goes on after a failure
    assert checkpoints.last_failure is not None
    assert "checkpoints" in checkpoints.last_failure
    failed = [r for r in caplog.records if "signing the audit checkpoint" in r.getMessage()]
    assert len(failed) == checkpoints.failures
    assert all(r.exc_info is not None for r in failed)
