"""Bulk issuance signed by a pool of signer processes: the same certificates, bytes for
bytes, as signed in process; an interrupted run resumed without a gap."""

from __future__ import annotations

import gc
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from exchange import moment
from exchange.certificates.models import BulkItem, BulkResult
from exchange.config import Settings
from exchange.demo.city import City
from exchange.demo.setup import create_demo
from exchange.service import Exchange
from tests.support.certificates import id_card_subject

AT = datetime(2026, 5, 1, 8, 30, tzinfo=UTC)
SEED = b"bulk issuance, fixed seed.......!"


def _items(city: City) -> list[BulkItem]:
    """40 people, one refused by its schema, one by its validity, one holder twice."""
    items = [BulkItem(line, id_card_subject(p)) for line, p in enumerate(city.people[:40], start=2)]
    items[3] = BulkItem(5, id_card_subject(city.people[3], sex="X"))
    items[7] = BulkItem(9, id_card_subject(city.people[7]), date(2030, 1, 1), date(2020, 1, 1))
    items[20] = BulkItem(22, id_card_subject(city.people[11]))
    items[30] = BulkItem(32, id_card_subject(city.people[30]), date(2026, 6, 1), date(2036, 5, 31))
    return items


def _issue(data: Path, items: list[BulkItem], workers: int) -> tuple[BulkResult, list[Any]]:
    with Exchange.open(Settings(data=data)) as exchange:
        gongan = exchange.registry.by_code("gongan").uscc
        credentials: list[tuple[int, str, dict[str, Any]]] = []
        with moment.fixed(AT, SEED):
            result = exchange.certificates.issue_many(
                gongan,
                "resident_id_card",
                items,
                chunk_size=7,
                workers=workers,
                sink=lambda line, cid, vc: credentials.append((line, cid, vc)),
            )
        rows = exchange.store.fetchall("SELECT * FROM certificates ORDER BY id")
        verifier = exchange.certificates.verifier
        assert all(verifier.check(vc).valid for _, _, vc in credentials)
        return result, [*rows, *credentials]


def test_signer_processes_issue_the_same_bytes_as_signing_in_process(
    twins: tuple[Path, Path], city: City
) -> None:
    items = _items(city)
    alone, stored_alone = _issue(twins[0], items, workers=0)
    pooled, stored_pooled = _issue(twins[1], items, workers=2)
    assert alone.issued == 37
    assert [line for line, _ in alone.refused] == [5, 9]
    assert [line for line, _ in alone.skipped] == [22]
    assert pooled == alone
    assert stored_pooled == stored_alone


def test_an_interrupted_bulk_run_resumes_without_a_gap(tmp_path: Path, city: City) -> None:
    items = _items(city)
    with create_demo(Settings(data=tmp_path / "data")) as exchange:
        gongan = exchange.registry.by_code("gongan").uscc
        service = exchange.certificates
        count = "SELECT count(*), min(serial), max(serial) FROM certificates WHERE issuer = ?"
        before = exchange.store.fetchone(count, [gongan])
        assert before is not None

        def interrupt(done: int) -> None:
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            service.issue_many(
                gongan, "resident_id_card", items, chunk_size=7, workers=1, progress=interrupt
            )
        written = exchange.store.fetchone(count, [gongan])
        assert written is not None
        assert before[0] < written[0] < before[0] + 37
        again = service.issue_many(gongan, "resident_id_card", items, chunk_size=7, workers=1)
        assert again.issued == before[0] + 37 - written[0]
        after = exchange.store.fetchone(count, [gongan])
        assert after is not None
        assert after[0] == before[0] + 37
        assert after[2] - after[1] + 1 == after[0]  # serials without a gap


@pytest.mark.parametrize("enabled", [True, False])
def test_bulk_issuance_pauses_the_cyclic_collector_and_leaves_it_as_it_found_it(
    tmp_path: Path, city: City, enabled: bool
) -> None:
    seen: list[bool] = []
    with create_demo(Settings(data=tmp_path / "data")) as exchange:
        gongan = exchange.registry.by_code("gongan").uscc
        (gc.enable if enabled else gc.disable)()
        try:
            result = exchange.certificates.issue_many(
                gongan,
                "resident_id_card",
                _items(city),
                chunk_size=7,
                workers=0,
                sink=lambda line, cid, vc: seen.append(gc.isenabled()),
                progress=lambda done: seen.append(gc.isenabled()),
            )
            assert gc.isenabled() is enabled
        finally:
            gc.enable()
    assert result.issued == 37
    assert seen
    assert not any(seen)  # off while the chunks were drafted, signed and written
