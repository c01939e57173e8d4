"""Record validation: a whole batch checked column by column gives the record-by-record answers."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.catalog import ResourceDefinition, load_resources
from schemas.identifiers import make_id_number
from schemas.validation import RecordValidator


def _resource(code: str) -> ResourceDefinition:
    found = load_resources()
    definitions = found.values() if isinstance(found, dict) else found
    return next(d for d in definitions if d.code == code)


def _id_card(i: int) -> dict[str, Any]:
    born = date(1950, 1, 1) + timedelta(days=i * 37)
    female = i % 2 == 1
    return {
        "id_number": make_id_number("411502", born, 2 * (i % 400) + 1 - female, female=female),
        "name": f"居民{i}",
        "sex": "2" if female else "1",
        "ethnicity": "01",
        "birth_date": born.isoformat(),
        "address": f"信阳市浉河区新华路{i % 300 + 1}号",
        "issuing_authority": "信阳市公安局浉河分局",
        "valid_from": "2016-01-01",
        "valid_until": "长期",
    }


_BREAKS: list[tuple[str, Any]] = [
    ("name", ""),  # minLength
    ("name", "名" * 65),  # maxLength
    ("name", 7),  # type
    ("sex", "3"),  # enum
    ("ethnicity", "01\n"),  # pattern: $ is the end of the text, not of a line
    ("ethnicity", "1"),
    ("birth_date", "2023-02-30"),  # format date
    ("id_number", "411502195001010012"),  # format cn-id: check character
    ("valid_until", "长期 "),
    ("surprise", "not in the schema"),  # additionalProperties
    ("address", None),  # type
]


@settings(max_examples=60)
@given(
    st.integers(min_value=1, max_value=40),
    st.lists(st.tuples(st.integers(min_value=0), st.sampled_from([*_BREAKS, ("-", "name")]))),
)
def test_a_batch_gets_the_record_by_record_answers(size: int, breaks: list[Any]) -> None:
    validator = RecordValidator(_resource("gongan.resident_id_card"))
    records = [_id_card(i) for i in range(size)]
    for where, (field, value) in breaks:
        record = records[where % size]
        if field == "-":
            record.pop(value, None)  # a required field missing
        else:
            record[field] = value
    assert validator.check_many(records) == [validator.check(r) for r in records]


def test_a_valid_batch_passes_as_columns() -> None:
    validator = RecordValidator(_resource("gongan.resident_id_card"))
    records = [_id_card(i) for i in range(500)]
    assert validator._passes(records)
    assert validator.check_many(records) == [None] * 500


@pytest.mark.parametrize(("field", "value"), _BREAKS)
def test_one_bad_value_fails_the_column_check(field: str, value: Any) -> None:
    validator = RecordValidator(_resource("gongan.resident_id_card"))
    records = [_id_card(i) for i in range(20)]
    records[7][field] = value
    assert not validator._passes(records)
    reasons = validator.check_many(records)
    assert reasons[7] is not None
    assert reasons[:7] + reasons[8:] == [None] * 19


def test_every_catalog_resource_agrees_on_empty_and_odd_batches() -> None:
    found = load_resources()
    for definition in found.values() if isinstance(found, dict) else found:
        validator = RecordValidator(definition)
        odd: list[Any] = [{}, {"x": 1}, [], "text"]
        assert validator.check_many(odd) == [validator.check(r) for r in odd]
        assert validator.check_many([]) == []
