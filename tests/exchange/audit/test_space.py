"""The audit log's free-space floor (exchange/audit/space.py, RELIABILITY D6)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from exchange.api.app import create_app
from exchange.audit.log import AuditEvent, AuditLog
from exchange.config import AuditSettings, Settings
from exchange.demo.city import generate_city
from exchange.demo.setup import create_demo, publish_city
from exchange.errors import AuditDiskFull
from exchange.service import Exchange
from tests.support.tokens import access_token


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


@pytest.mark.slow
def test_a_flood_on_a_small_volume_ends_in_503s_and_loses_nothing(tmp_path: Path) -> None:
    """D6 on a real 48 MiB volume (tmpfs): reads flood the exchange while a filler leaves
    little room above the floor; the exchange answers 503 before the disk is full, stays
    open, answers reads again once space is back, and every answered read is in the log."""
    volume = tmp_path / "volume"
    volume.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(volume)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"a tmpfs volume cannot be mounted: {mounted.stderr!r}")
        pytest.skip("mounting a tmpfs volume needs privileges this machine does not give")
    try:
        _flood(volume)
    finally:
        subprocess.run(["umount", str(volume)], check=False)


def _flood(volume: Path) -> None:
    floor = 8 * 2**20
    settings = Settings(data=volume / "data", audit=AuditSettings(min_free_bytes=floor))
    exchange = create_demo(settings)
    city = generate_city()
    publish_city(exchange, city)
    path = f"/v1/resources/gongan.resident_id_card/records/{city.people[0].id_number}"
    params = {"purpose": "核验", "case": "D6-FLOOD"}
    filler = volume / "filler"
    answered = refused = 0
    with TestClient(create_app(exchange), raise_server_exceptions=False) as client:
        token = access_token(exchange, client, "gongan")
        headers = {"Authorization": f"Bearer {token}"}
        room = shutil.disk_usage(volume).free - floor - 2**20  # 1 MiB above the floor
        filler.write_bytes(b"\0" * room)
        exchange.audit.space.refresh()
        for _ in range(50_000):
            r = client.get(path, params=params, headers=headers)
            if r.status_code == 200:
                answered += 1
                continue
            assert r.status_code == 503, r.text
            assert r.json()["code"] == "exchange.audit_disk_full"
            refused += 1
            if refused == 20:
                break
        assert refused == 20
        assert answered > 0
        assert shutil.disk_usage(volume).free > floor // 2  # refused well before the disk filled
        assert client.get("/healthz").status_code == 503
        assert exchange.audit.healthy
        filler.unlink()  # the flood stops, space is back
        exchange.audit.space.refresh()
        r = client.get(path, params=params, headers=headers)
        assert r.status_code == 200, r.text
        answered += 1
    size = exchange.audit.size
    exchange.close()
    with Exchange.open(settings) as reopened:
        assert reopened.audit.healthy
        assert reopened.audit.size == size
        row = reopened.store.fetchone(
            "SELECT count(*) FROM audit_entries WHERE case_no = ?", ["D6-FLOOD"]
        )
        assert row == (answered,)  # every answered read is in the log, none twice
