"""A batch whose records all pass is checked at once; any doubt sends it record by record."""

from __future__ import annotations

from typing import Any

import pytest

from bench.workload import id_card_rows
from exchange.records.validation import (
    MAX_RECORD_BYTES,
    RecordValidator,
    data_text,
    texts_if_all_pass,
)
from schemas.catalog import ResourceDefinition, load_resources

RESOURCE = "gongan.resident_id_card"


def _definition() -> ResourceDefinition:
    found = load_resources()
    resources = found if isinstance(found, dict) else {d.code: d for d in found}
    return resources[RESOURCE]


def _records(count: int) -> list[dict[str, Any]]:
    return [
        {"key": row["id_number"], "version": 1, "data": dict(row)} for row in id_card_rows(count)
    ]


def test_a_batch_that_passes_gets_each_record_s_stored_text() -> None:
    definition = _definition()
    records = _records(200)
    compiled = RecordValidator().compiled(definition)
    texts = texts_if_all_pass(compiled, definition.key_field, records)
    assert texts == [data_text(r["data"]) for r in records]


@pytest.mark.parametrize(
    "spoil",
    [
        lambda r: r.update(key=r["key"][:-1] + "0"),  # the key is not its key field
        lambda r: r["data"].update(name="居" * (MAX_RECORD_BYTES // 2)),  # near the limit
        lambda r: r["data"].update(sex="男"),  # the schema refuses it
        lambda r: r["data"].update(name="\ud800"),  # a lone surrogate orjson cannot write
        lambda r: r["data"].pop("name"),  # a required field missing
    ],
)
def test_one_doubtful_record_sends_the_batch_record_by_record(spoil: Any) -> None:
    definition = _definition()
    records = _records(100)
    spoil(records[37])
    compiled = RecordValidator().compiled(definition)
    assert texts_if_all_pass(compiled, definition.key_field, records) is None
