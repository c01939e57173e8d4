"""Masking holds: no combination of granted fields gives a masked identifier back.

An attacker's best case is a grant on every field but the masked one, over a record
whose other fields agree with the identifier (birth date, sex, region). Two records
that differ only in what the mask must hide (the serial and check of an ID number,
the organisation code of a USCC) must then read the same: if they read the same,
nothing in the answer tells them apart, so nothing rebuilds the identifier.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange.catalog.masking import AccessDecision, apply_mask, mask_identifier
from exchange.demo.city import generate_city
from schemas.catalog import ResourceDefinition, load_resources
from schemas.identifiers import make_id_number, make_uscc

RESOURCES = load_resources()
REGIONS = ["411503", "411502", "110105", "440305"]


def _format(definition: ResourceDefinition, field: str) -> str | None:
    spec = definition.json_schema["properties"][field]
    fmt = spec.get("format") or (spec.get("items") or {}).get("format")
    return str(fmt) if fmt else None


IDENTIFIER_FIELDS = [
    (code, field, fmt)
    for code, definition in sorted(RESOURCES.items())
    for field in definition.field_names
    if (fmt := _format(definition, field)) in ("cn-id", "uscc")
]


def _record(
    definition: ResourceDefinition, birth: date, female: bool, region: str
) -> dict[str, Any]:
    """A record whose other fields say all they can about an ID number."""
    out: dict[str, Any] = {}
    for field in definition.field_names:
        spec = definition.json_schema["properties"][field]
        fmt = _format(definition, field)
        if fmt == "date":
            out[field] = birth.isoformat()
        elif fmt == "date-time":
            out[field] = f"{birth.isoformat()}T08:00:00+08:00"
        elif fmt == "region":
            out[field] = region
        elif field.endswith("sex"):
            out[field] = "2" if female else "1"
        elif spec.get("type") == "array":
            out[field] = ["某甲"]
        elif spec.get("type") in ("integer", "boolean"):
            out[field] = 1
        else:
            out[field] = "信阳市浉河区" + field
    return out


@pytest.mark.parametrize(("code", "field", "fmt"), IDENTIFIER_FIELDS)
@settings(max_examples=25, deadline=None)
@given(
    region=st.sampled_from(REGIONS),
    birth=st.dates(min_value=date(1930, 1, 1), max_value=date(2020, 12, 31)),
    female=st.booleans(),
    serials=st.lists(st.integers(0, 499), min_size=2, max_size=2, unique=True),
    opened=st.data(),
)
def test_no_grant_rebuilds_a_masked_identifier(
    code: str,
    field: str,
    fmt: str,
    region: str,
    birth: date,
    female: bool,
    serials: list[int],
    opened: st.DataObject,
) -> None:
    definition = RESOURCES[code]
    others = sorted(set(definition.field_names) - {field})
    granted = opened.draw(st.sets(st.sampled_from(others)) if others else st.just(set()))
    granted |= {f for f in others if opened.draw(st.booleans())} if len(granted) < 2 else set()
    decision = AccessDecision(definition, False, frozenset(granted), "grt_test")
    answers = []
    for serial in serials:
        if fmt == "cn-id":
            value = make_id_number(region, birth, 2 * serial + (0 if female else 1), female=female)
        else:
            value = make_uscc("9", "1", region, 10_000_000 + serial)
        record = _record(definition, birth, female, region)
        record[field] = [value] if isinstance(record[field], list) else value
        data, masked = apply_mask(record, decision)
        assert field in masked
        shown = json.dumps(data, ensure_ascii=False)
        assert value[8:] not in shown, f"{code}.{field}: the hidden part is in the answer"
        answers.append(data)
    # Twins that differ only in the hidden part, with the same birth date, sex and region,
    # read the same under any grant: the answer cannot tell them apart.
    assert answers[0] == answers[1], f"{code}.{field} masked differently for twins"


def test_every_resource_with_an_id_number_is_covered() -> None:
    covered = {code for code, _, _ in IDENTIFIER_FIELDS}
    assert {"gongan.resident_id_card", "budongchan.property_title", "shuiwu.tax_audit_case"} <= (
        covered
    )


def test_masked_id_number_keeps_only_its_region() -> None:
    assert mask_identifier("411503198012147596") == "411503" + "*" * 12
    assert mask_identifier("91411503MA44D1234X", "uscc") == "91411503" + "*" * 10
    assert mask_identifier("123") == "***"


@pytest.mark.parametrize("register", ["resident_id_cards", "household_register", "marriages"])
def test_demo_city_records_keep_no_masked_identifier_in_other_fields(register: str) -> None:
    """Over real-looking records: no clear field carries a masked identifier's hidden part."""
    city = generate_city(people=30)
    resource = {
        "resident_id_cards": "gongan.resident_id_card",
        "household_register": "gongan.household_register",
        "marriages": "minzheng.marriage_registration",
    }[register]
    definition = RESOURCES[resource]
    for record in getattr(city, register)():
        for field, fmt in [(f, _format(definition, f)) for f in definition.field_names]:
            if fmt not in ("cn-id", "uscc") or field not in record:
                continue
            decision = AccessDecision(
                definition, False, frozenset(definition.field_names) - {field}, "grt_test"
            )
            data, _ = apply_mask(record, decision)
            hidden = str(record[field])[6:]
            assert hidden not in json.dumps(data, ensure_ascii=False)
