"""The shipped sample department data is what the generator makes, and the demo city's
departments publish it through their sample connectors, bad rows refused by line."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from exchange.cli.connector import SAMPLES, publish_samples
from exchange.config import Settings
from exchange.demo.city import City, generate_city
from exchange.demo.samples.generate import (
    BAD_ROWS,
    CSV_FILE,
    JSONL_FILE,
    SQLITE_FILE,
    csv_bytes,
    deed_tax_rows,
    jsonl_bytes,
)
from exchange.demo.setup import create_demo

FILES = {
    "gongan.resident_id_card": CSV_FILE,
    "zhujian.sales_contract_filing": JSONL_FILE,
    "shuiwu.deed_tax_payment": SQLITE_FILE,
}


@pytest.fixture(scope="module")
def city() -> City:
    return generate_city()


def test_the_shipped_files_are_what_the_generator_makes(city: City) -> None:
    assert (SAMPLES / CSV_FILE).read_bytes() == csv_bytes(city)
    assert (SAMPLES / JSONL_FILE).read_bytes() == jsonl_bytes(city)
    db = sqlite3.connect(SAMPLES / SQLITE_FILE)
    try:
        rows = db.execute("SELECT * FROM qs_jsxx ORDER BY gxsj").fetchall()
    finally:
        db.close()
    assert rows == deed_tax_rows(city)


def test_the_wrong_encoding_row_really_is_not_gbk() -> None:
    lines = (SAMPLES / CSV_FILE).read_bytes().splitlines()
    (bad_line,) = [n for n, why in BAD_ROWS[CSV_FILE].items() if "encoding" in why]
    with pytest.raises(UnicodeDecodeError):
        lines[bad_line - 1].decode("gbk")
    lines[bad_line - 2].decode("gbk")


def test_the_sample_connectors_publish_every_good_row_and_refuse_the_bad_ones_by_line(
    tmp_path: Path, city: City
) -> None:
    with create_demo(Settings(data=tmp_path / "data")) as exchange:
        summaries = publish_samples(exchange)
        assert set(summaries) == set(FILES)
        expected = {
            "gongan.resident_id_card": len(city.resident_id_cards()),
            "zhujian.sales_contract_filing": len(city.sales_contracts()),
            "shuiwu.deed_tax_payment": len(city.deed_taxes()),
        }
        for resource, summary in summaries.items():
            assert {p.line for p in summary.refused} == set(BAD_ROWS[FILES[resource]])
            assert summary.accepted == expected[resource]
            assert summary.quarantined == []
            stored = exchange.store.fetchone(
                "SELECT count(*) FROM record_latest WHERE resource = ?", [resource]
            )
            assert stored == (expected[resource],)
        # the records are the demo city's registers, field for field
        registers = {
            "gongan.resident_id_card": city.resident_id_cards(),
            "zhujian.sales_contract_filing": city.sales_contracts(),
            "shuiwu.deed_tax_payment": city.deed_taxes(),
        }
        for resource, register in registers.items():
            key_field = exchange.catalog.resource(resource).key_field
            stored_rows = {
                key: json.loads(data)
                for key, data in exchange.store.fetchall(
                    "SELECT key, data FROM record_latest WHERE resource = ?", [resource]
                )
            }
            for row in register:
                got = stored_rows[row[key_field]]
                if resource == "gongan.resident_id_card":  # the export has a few 回族
                    assert got.pop("ethnicity") in ("01", "03")
                    row = {k: v for k, v in row.items() if k != "ethnicity"}
                assert got == row
