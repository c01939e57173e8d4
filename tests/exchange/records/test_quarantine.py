"""The quarantine shows keys and identifiers masked to everyone but the publisher."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from exchange.config import Settings
from exchange.demo.city import City
from exchange.demo.setup import DemoDepartment, create_demo
from exchange.service import Exchange

Auth = Callable[[str], dict[str, str]]
RESOURCE = "gongan.resident_id_card"


def _wrong_check(id_number: str) -> str:
    return id_number[:17] + ("0" if id_number[17] != "0" else "1")


def _bad_card(exchange: Exchange, city: City, person: int) -> tuple[str, Any]:
    card = dict(city.resident_id_cards()[person])
    card["id_number"] = _wrong_check(card["id_number"])
    batch = DemoDepartment.load(exchange, "gongan").seal(RESOURCE, [card], "id_number", 7)
    return card["id_number"], batch


def test_operator_sees_quarantined_identifiers_masked_the_publisher_in_clear(
    exchange: Exchange, client: TestClient, auth: Auth, city: City
) -> None:
    wrong, batch = _bad_card(exchange, city, 5)
    r = client.post("/v1/records", headers=auth("gongan"), json=batch.model_dump(mode="json"))
    assert r.status_code == 200, r.text
    assert r.json()["quarantined"], r.text
    batch_id = r.json()["batch_id"]
    correct = city.people[5].id_number
    operator = client.get("/v1/quarantine", headers=auth("dashuju")).json()["data"]
    (row,) = [q for q in operator if q["batch_id"] == batch_id]
    shown = str(row)
    assert wrong[6:] not in shown, shown
    assert correct[6:] not in shown, shown
    assert row["key"] == wrong[:6] + "*" * 12
    assert "check character" in row["reason"]
    publisher = client.get("/v1/quarantine", headers=auth("gongan")).json()["data"]
    (own,) = [q for q in publisher if q["batch_id"] == batch_id]
    assert own["key"] == wrong
    assert wrong in own["reason"]


def test_cli_quarantine_masks_identifiers(tmp_path: Path, city: City) -> None:
    data = tmp_path / "data"
    with create_demo(Settings(data=data)) as exchange:
        wrong, batch = _bad_card(exchange, city, 6)
        result = exchange.ingestor.ingest(batch, exchange.registry.by_code("gongan").uscc)
        assert result.quarantined
    out = subprocess.run(
        [sys.executable, "-m", "exchange", "connector", "quarantine", "--data", str(data)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env={**os.environ, "COLUMNS": "250"},
    )
    assert out.returncode == 0, out.stderr
    assert "1 quarantined row(s)" in out.stdout
    assert wrong[:6] + "*" * 12 in out.stdout
    assert wrong[6:] not in out.stdout
    assert city.people[6].id_number[6:] not in out.stdout
