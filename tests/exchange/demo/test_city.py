"""The demo city's identities are realistic: every ID number carries a region code in
use in its holder's birth year (信阳地区's 4130xx before 1998, 信阳市's 4115xx from
then), every credit code a region code in use when credit codes were given."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from exchange.cli.connector import SAMPLES
from exchange.demo.city import DISTRICTS, City, generate_city, id_region
from exchange.demo.samples.generate import CSV_FILE
from exchange.demo.setup import demo_departments
from schemas.identifiers import id_check_char, validate_id_number, validate_uscc
from schemas.regions import region_known, region_predecessors, region_valid_in, region_years

USCC_FROM = 2015  # GB 32100-2015: credit codes were given from then on


@pytest.fixture(scope="module")
def city() -> City:
    return generate_city()


def _born(id_number: str) -> date:
    return date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))


def _id_numbers(records: list[dict[str, Any]]) -> set[str]:
    out: set[str] = set()
    for record in records:
        for field, value in record.items():
            if field.endswith("id_number"):
                out.add(value)
            elif field.endswith("id_numbers"):
                out.update(value)
    return out


def test_every_id_number_has_a_region_in_use_in_its_birth_year(city: City) -> None:
    wrong = [
        p.id_number
        for p in city.people
        if not (
            region_known(p.id_number[:6]) and region_valid_in(p.id_number[:6], p.birth_date.year)
        )
    ]
    assert wrong == [], f"{len(wrong)} of {len(city.people)} ID numbers: region not in use at birth"
    for p in city.people:
        assert validate_id_number(p.id_number, region_history=True) == p.id_number
        assert _born(p.id_number) == p.birth_date


def test_people_born_before_1998_carry_the_codes_of_xinyang_prefecture(city: City) -> None:
    early = [p for p in city.people if p.birth_date.year < 1998]
    late = [p for p in city.people if p.birth_date.year >= 1998]
    assert early
    assert late
    for p in early:
        assert p.id_number.startswith("4130"), p
        years = region_years(p.id_number[:6])
        assert years is not None
        assert years.last_year == 1998
    for p in late:
        assert p.id_number.startswith("4115"), p


def test_an_id_number_keeps_the_code_of_the_area_its_holder_registered_in(city: City) -> None:
    # a person's register region is where they live now; a wife moves to her husband's
    # address and keeps her number
    singles = [p for p in city.people if p.spouse is None or p.sex == "1"]
    for p in singles:
        assert p.id_number[:6] in {p.region, *region_predecessors(p.region)}, p
    districts = {code for code, _ in DISTRICTS}
    assert {p.region for p in city.people} <= districts


def test_id_region_gives_the_code_in_use_in_the_birth_year() -> None:
    assert id_region("411502", date(1980, 12, 14), 0) == "413001"
    assert id_region("411502", date(1980, 12, 14), 1) == "413023"
    assert id_region("411502", date(1998, 7, 1)) == "411502"
    assert id_region("411521", date(1965, 1, 1)) == "413028"
    with pytest.raises(ValueError, match="no region code of 110105 known for 1980"):
        id_region("110105", date(1980, 1, 1))


def test_every_register_names_only_the_city_s_people(city: City) -> None:
    people = {p.id_number for p in city.people}
    registers = [
        city.resident_id_cards(),
        city.household_register(),
        city.marriages(),
        city.sales_contracts(),
        city.invoices(),
        city.deed_taxes(),
        city.titles(),
    ]
    for register in registers:
        numbers = _id_numbers(register)
        assert numbers
        assert numbers <= people


def test_marriages_before_1998_were_registered_by_the_county_level_city(city: City) -> None:
    for record in city.marriages():
        year = int(record["registration_date"][:4])
        office = record["registration_number"][1:7]
        assert region_valid_in(office, year), record
        assert (office == "411502") == (year >= 1998)


def test_every_uscc_has_a_region_in_use_since_credit_codes_were_given(city: City) -> None:
    usccs = [c.uscc for c in city.companies + city.developers]
    usccs += [d.uscc for d in demo_departments()]
    for uscc in usccs:
        assert validate_uscc(uscc) == uscc
        region = uscc[2:8]
        assert region_known(region), uscc
        for year in range(USCC_FROM, date.today().year + 1):
            assert region_valid_in(region, year), (uscc, year)


def test_the_shipped_id_card_sample_has_regions_in_use_at_birth() -> None:
    lines = (SAMPLES / CSV_FILE).read_bytes().splitlines()[1:]
    checked = 0
    for raw in lines:
        number = raw.split(b",", 1)[0].decode("ascii")
        if id_check_char(number[:17]) != number[17]:
            continue  # the row with a wrong check digit on purpose
        assert region_valid_in(number[:6], _born(number).year), number
        checked += 1
    assert checked >= 400
