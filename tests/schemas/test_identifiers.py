"""Citizen ID numbers, USCCs, region codes and certificate ids: check characters and messages."""

from __future__ import annotations

import json
import random
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from schemas.errors import ErrorCode, IdentifierError
from schemas.identifiers import (
    CERTIFICATE_ID_PREFIX,
    PROVINCE_CODES,
    USCC_ALPHABET,
    CertificateId,
    IdNumber,
    RegionCode,
    Uscc,
    format_checkers,
    id_check_char,
    make_certificate_id,
    make_id_number,
    make_uscc,
    mask_id_number,
    mod37_36_check_char,
    organization_code_check_char,
    parse_certificate_id,
    uscc_check_char,
    validate_certificate_id,
    validate_id_number,
    validate_region_code,
    validate_uscc,
)
from schemas.regions import (
    PROVINCES,
    region_known,
    region_predecessors,
    region_valid_in,
    region_years,
)

VECTORS = Path(__file__).resolve().parents[2].parent / "shared" / "vectors"
ALNUM36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
ISSUER = make_uscc("1", "1", "411500", 1)

regions = st.sampled_from(sorted(PROVINCE_CODES)).flatmap(
    lambda p: st.integers(0, 9999).map(lambda n: f"{p}{n:04d}")
)
births = st.dates(min_value=date(1900, 1, 1), max_value=date(2024, 12, 31))


@st.composite
def id_numbers(draw: st.DrawFn) -> str:
    female = draw(st.booleans())
    sequence = draw(st.integers(0, 499)) * 2 + (0 if female else 1)
    return make_id_number(draw(regions), draw(births), sequence, female=female)


@st.composite
def usccs(draw: st.DrawFn) -> str:
    authority, kind = draw(st.sampled_from([("1", "1"), ("1", "2"), ("5", "1"), ("9", "1")]))
    region = draw(st.one_of(regions, st.just("100000")))
    return make_uscc(authority, kind, region, draw(st.integers(0, 99_999_999)))


# ----------------------------------------------------------------------- vectors


def _vector_entries() -> list[dict[str, Any]]:
    data = json.loads((VECTORS / "ids" / "cn_ids.json").read_text("utf-8"))
    entries: list[dict[str, Any]] = data["entries"]
    return entries


def test_published_id_and_uscc_vectors_give_their_expected_result() -> None:
    validators = {"cn_ric": validate_id_number, "cn_uscc": validate_uscc}
    unexpected = []
    entries = _vector_entries()
    for entry in entries:
        try:
            validators[entry["type"]](entry["value"])
            valid = True
        except IdentifierError:
            valid = False
        if valid != entry["valid"]:
            unexpected.append(entry["value"])
    print(f"ids vectors: {len(entries)} checked, unexpected {len(unexpected)}")
    assert {e["type"] for e in entries} == {"cn_ric", "cn_uscc"}
    assert any(not e["valid"] for e in entries)
    assert unexpected == []


def test_valid_uscc_vectors_carry_a_valid_gb_11714_organization_code() -> None:
    for entry in _vector_entries():
        if entry["type"] == "cn_uscc" and entry["valid"]:
            value = entry["value"]
            assert organization_code_check_char(value[8:16]) == value[16], value


# -------------------------------------------------------------------- ID numbers


def test_id_number_standard_example_is_rebuilt_by_make_id_number() -> None:
    assert make_id_number("110105", date(1949, 12, 31), 2, female=True) == "11010519491231002X"
    assert id_check_char("11010519491231002") == "X"


def test_id_number_lower_case_x_is_normalised() -> None:
    assert validate_id_number("44011320141005001x") == "44011320141005001X"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("110105194912310021", "ID number 110105194912310021: check character should be X, not 1"),
        ("11010519491231002", "must be 18 characters, got 17"),
        ("11010519491231002XX", "must be 18 characters, got 19"),
        ("1101051949123100AX", "character 17 ('A') is not a digit"),
        ("11010519491231002Y", "check character 'Y' must be a digit or X"),
        ("110105194902300025", "birth date 19490230 (characters 7-14) is not a real date"),
        ("110105179912310025", "before 1800"),
    ],
)
def test_invalid_id_numbers_say_what_is_wrong(value: str, message: str) -> None:
    with pytest.raises(
        IdentifierError, match=message.replace("(", r"\(").replace(")", r"\)")
    ) as info:
        validate_id_number(value)
    assert info.value.code is ErrorCode.INVALID_IDENTIFIER


@pytest.mark.parametrize(
    ("value", "province"), [("990105194912310023", "99"), ("010105194912310026", "01")]
)
def test_id_number_of_an_unknown_province_is_refused_naming_it(value: str, province: str) -> None:
    body = value[:17]
    assert id_check_char(body) == value[17]  # only the province is wrong
    with pytest.raises(IdentifierError) as info:
        validate_id_number(value)
    assert info.value.message == (
        f"ID number {value}: region {value[:6]} (characters 1-6): {province} is not a "
        "province-level division (GB/T 2260)"
    )
    assert info.value.code is ErrorCode.UNKNOWN_PROVINCE
    assert format_checkers()["cn-id"](value) is False
    with pytest.raises(IdentifierError):
        make_id_number(value[:6], date(1949, 12, 31), 2, female=True)


def test_every_province_of_gb_t_2260_is_accepted_in_an_id_number() -> None:
    spans = [(11, 15), (21, 23), (31, 37), (41, 46), (50, 54), (61, 65), (71, 71), (81, 82)]
    expected = {str(n) for low, high in spans for n in range(low, high + 1)}
    assert set(PROVINCES) == expected == PROVINCE_CODES
    for province in PROVINCES:
        value = make_id_number(f"{province}0101", date(1980, 1, 1), 11, female=False)
        assert validate_id_number(value) == value
    for province in sorted({f"{n:02d}" for n in range(10, 100)} - expected):
        body = f"{province}010119800101011"
        with pytest.raises(IdentifierError, match=f"{province} is not a province-level"):
            validate_id_number(body + id_check_char(body))


def test_id_number_born_in_the_future_is_refused() -> None:
    value = make_id_number("110105", date(2020, 6, 1), 11, female=False)
    assert validate_id_number(value, today=date(2020, 6, 1)) == value
    with pytest.raises(IdentifierError, match="birth date 2020-06-01 is in the future"):
        validate_id_number(value, today=date(2020, 5, 31))


def test_make_id_number_refuses_an_order_code_of_the_wrong_sex() -> None:
    with pytest.raises(IdentifierError, match="must be odd for a man"):
        make_id_number("110105", date(1990, 1, 1), 2, female=False)
    with pytest.raises(IdentifierError, match="must be even for a woman"):
        make_id_number("110105", date(1990, 1, 1), 3, female=True)
    with pytest.raises(IdentifierError, match="between 0 and 999"):
        make_id_number("110105", date(1990, 1, 1), 1001, female=False)


@given(id_numbers())
def test_made_id_numbers_validate_and_encode_sex(value: str) -> None:
    assert validate_id_number(value) == value
    assert len(value) == 18


@given(id_numbers(), st.integers(0, 17), st.sampled_from("0123456789X"))
def test_any_single_character_change_of_an_id_number_is_caught(
    value: str, pos: int, char: str
) -> None:
    if value[pos] == char:
        char = "0" if char != "0" else "1"
    mutated = value[:pos] + char + value[pos + 1 :]
    with pytest.raises(IdentifierError):
        validate_id_number(mutated)


def test_mask_id_number_keeps_only_the_region() -> None:
    assert mask_id_number("11010519491231002X") == "110105************"
    assert mask_id_number("1234567890") == "**********"


# -------------------------------------------------------------------------- USCC


def test_make_uscc_builds_government_and_company_codes() -> None:
    organ = make_uscc("1", "1", "411500", 1)
    company = make_uscc("9", "1", "411502", 12345)
    assert organ.startswith("11411500")
    assert company.startswith("91411502")
    assert validate_uscc(organ) == organ
    assert validate_uscc(company) == company
    assert validate_uscc(make_uscc("1", "1", "100000", 13127)).startswith("11100000")


@given(usccs())
def test_made_usccs_validate(value: str) -> None:
    assert validate_uscc(value) == value
    assert uscc_check_char(value[:17]) == value[17]


@given(usccs(), st.integers(0, 17), st.sampled_from(USCC_ALPHABET))
def test_any_single_character_change_of_a_uscc_is_caught(value: str, pos: int, char: str) -> None:
    if value[pos] == char:
        char = "0" if char != "0" else "1"
    mutated = value[:pos] + char + value[pos + 1 :]
    with pytest.raises(IdentifierError):
        validate_uscc(mutated)


def test_uscc_with_a_wrong_organization_code_check_character_is_refused() -> None:
    valid = "91110000600037341L"
    body = valid[:16] + "2"  # GB 11714 expects 1
    forged = body + uscc_check_char(body)  # the GB 32100 check character is recomputed
    with pytest.raises(IdentifierError, match=r"organization code 600037342 .* should be 1, not 2"):
        validate_uscc(forged)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("91110000600037341", "must be 18 characters"),
        ("9111000060003IOZSV", r"character 14 \('I'\) is not allowed"),
        ("B1110000600037341L", r"registration authority 'B' \(character 1\) is unknown"),
        ("94110000600037341L", r"organisation kind '4' \(character 2\) is not registered"),
        ("91990000600037341L", "characters 3-8: region code 990000: 99 is not a province"),
        ("91110000600037341N", "check character should be L, not N"),
    ],
)
def test_invalid_usccs_say_what_is_wrong(value: str, message: str) -> None:
    with pytest.raises(IdentifierError, match=message):
        validate_uscc(value)


# ------------------------------------------------------------------------ regions


def test_region_codes_need_a_province_prefix() -> None:
    assert len(PROVINCE_CODES) == 34
    assert validate_region_code("411502") == "411502"
    with pytest.raises(IdentifierError, match="must be 6 digits"):
        validate_region_code("41150")
    with pytest.raises(IdentifierError, match="99 is not a province-level division"):
        validate_region_code("990000")


def test_uscc_of_an_unknown_province_is_refused_naming_it() -> None:
    body = "9199000060003734"  # 91110000600037341L with its province made 99
    value = body + organization_code_check_char(body[8:16])
    value += uscc_check_char(value)
    with pytest.raises(IdentifierError) as info:
        validate_uscc(value)
    assert info.value.message == (
        f"USCC {value}: characters 3-8: region code 990000: 99 is not a province-level "
        "division (GB/T 2260)"
    )
    assert info.value.code is ErrorCode.UNKNOWN_PROVINCE
    assert format_checkers()["uscc"](value) is False
    assert validate_uscc("91110000600037341L") == "91110000600037341L"
    with pytest.raises(IdentifierError) as info:
        validate_region_code("990000")
    assert info.value.code is ErrorCode.UNKNOWN_PROVINCE


def test_region_valid_only_from_1998_is_flagged_for_a_1980_birth() -> None:
    # 浉河区 and 平桥区 were set up in 1998 (国函〔1998〕44号); before, the area was the
    # county-level 信阳市 (413001) and 信阳县 (413023) of 信阳地区 (413000)
    for new in ("411500", "411502", "411503", "411521", "411528"):
        assert region_known(new)
        assert not region_valid_in(new, 1980)
        assert not region_valid_in(new, 1997)
        assert region_valid_in(new, 1998)
        assert region_valid_in(new, 2026)
    for old in ("413000", "413001", "413023", "413028"):
        assert region_valid_in(old, 1960)
        assert region_valid_in(old, 1980)
        assert region_valid_in(old, 1998)
        assert not region_valid_in(old, 1999)
    assert region_predecessors("411502") == ("413001", "413023")
    assert region_predecessors("411521") == ("413028",)
    years = region_years("413026")
    assert years is not None
    assert (years.name, years.successors) == ("固始县", ("411525",))


def test_region_valid_in_knows_only_the_codes_of_its_table() -> None:
    assert not region_known("110105")
    assert not region_valid_in("110105", 1980)  # strict: an unlisted code is not "valid"
    assert region_years("110105") is None
    assert region_predecessors("110105") == ()


def test_id_number_region_history_is_checked_only_when_asked_and_only_for_known_codes() -> None:
    early = make_id_number("411502", date(1980, 12, 14), 759, female=False)
    assert validate_id_number(early) == early  # a number may be given years after the birth
    with pytest.raises(IdentifierError) as info:
        validate_id_number(early, region_history=True)
    assert info.value.message == (
        f"ID number {early}: region 411502 was not in use in 1980, the birth year"
    )
    assert info.value.code is ErrorCode.REGION_NOT_IN_USE
    for good in (
        make_id_number("413001", date(1980, 12, 14), 759, female=False),
        make_id_number("411502", date(1998, 7, 1), 759, female=False),
        make_id_number("413001", date(1998, 3, 1), 759, female=False),
        make_id_number("110105", date(1949, 12, 31), 2, female=True),  # not in the table
    ):
        assert validate_id_number(good, region_history=True) == good
    late = make_id_number("413001", date(2005, 1, 1), 759, female=False)
    with pytest.raises(IdentifierError, match="region 413001 was not in use in 2005"):
        validate_id_number(late, region_history=True)


# ------------------------------------------------------------------ certificate id


def test_mod37_36_matches_the_iso_7064_example() -> None:
    assert mod37_36_check_char("A12425GABC1234002") == "M"


def test_certificate_id_round_trips_through_parse() -> None:
    cid = make_certificate_id("100001", ISSUER, "A123", version=2)
    assert cid.startswith(f"{CERTIFICATE_ID_PREFIX}.100001.{ISSUER}.A123.002.")
    parts = parse_certificate_id(cid)
    assert parts == ("100001", ISSUER, "A123", 2)
    assert parts.issuer == ISSUER
    assert parts.version == 2
    assert cid[-1] == mod37_36_check_char(cid[:-2].replace(".", ""))


@given(
    st.from_regex(r"[0-9]{4,12}", fullmatch=True),
    usccs(),
    st.one_of(st.integers(0, 10**12), st.from_regex(r"[0-9A-Z]{1,32}", fullmatch=True)),
    st.integers(1, 999),
)
def test_made_certificate_ids_parse_back(
    type_code: str, issuer: str, serial: int | str, version: int
) -> None:
    cid = make_certificate_id(type_code, issuer, serial, version)
    assert parse_certificate_id(cid) == (type_code, issuer, str(serial), version)


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda c: c.replace("1.2.156.3005.2", "1.2.156.3005.3"), "must start with 1.2.156.3005.2"),
        (lambda c: c + ".1", "must be 1.2.156.3005.2.<type code>"),
        (lambda c: c.replace(".100001.", ".10A1."), "type code '10A1' must be 4-12 digits"),
        (lambda c: c.replace(".A123.", ".a123."), "serial 'a123' must be 1-32 of 0-9A-Z"),
        (lambda c: c.replace(".001.", ".000."), "version '000' must be 001-999"),
        (lambda c: c.replace(ISSUER, ISSUER[:-1] + "0"), "issuer: USCC"),
        (lambda c: c[:-1] + ("0" if c[-1] != "0" else "1"), "check character should be"),
    ],
)
def test_malformed_certificate_ids_are_refused_with_the_reason(mangle: Any, message: str) -> None:
    cid = make_certificate_id("100001", ISSUER, "A123")
    with pytest.raises(IdentifierError, match=message.replace(".", r"\.")):
        parse_certificate_id(mangle(cid))
    # the same once the type code and issuer of this identifier were found good
    assert parse_certificate_id(cid).serial == "A123"
    with pytest.raises(IdentifierError, match=message.replace(".", r"\.")):
        parse_certificate_id(mangle(cid))


def test_a_remembered_type_and_issuer_do_not_vouch_for_another_split_of_them() -> None:
    parse_certificate_id(make_certificate_id("100001", ISSUER, "A123"))
    body = f"{CERTIFICATE_ID_PREFIX}.10000.1{ISSUER}.A123.001"
    cid = f"{body}.{mod37_36_check_char(body.replace('.', ''))}"
    with pytest.raises(IdentifierError, match="issuer: USCC"):
        parse_certificate_id(cid)


def _sample_bodies(count: int) -> list[str]:
    rng = random.Random(20240701)
    return ["".join(rng.choice(ALNUM36) for _ in range(rng.randint(2, 40))) for _ in range(count)]


def test_mod37_36_detects_every_single_substitution_over_a_sample() -> None:
    checked = 0
    for body in _sample_bodies(300):
        check = mod37_36_check_char(body)
        for pos, original in enumerate(body):
            for char in ALNUM36:
                if char != original:
                    mutated = body[:pos] + char + body[pos + 1 :]
                    assert mod37_36_check_char(mutated) != check, (body, pos, char)
                    checked += 1
    assert checked > 100_000


def test_mod37_36_detects_adjacent_transpositions_but_about_one_in_630() -> None:
    """The hybrid MOD 37,36 misses 72 of 45,360 (state, pair) cases: 1/630, not zero."""
    total = missed = 0
    for body in _sample_bodies(3000):
        full = body + mod37_36_check_char(body)
        for pos in range(len(full) - 1):
            if full[pos] == full[pos + 1]:
                continue
            swapped = full[:pos] + full[pos + 1] + full[pos] + full[pos + 2 :]
            total += 1
            missed += mod37_36_check_char(swapped[:-1]) == swapped[-1]
    assert total > 50_000
    assert missed / total < 1 / 300


# ------------------------------------------------------------ pydantic, formats


class _Holder(BaseModel):
    id_number: IdNumber
    uscc: Uscc
    region: RegionCode
    certificate: CertificateId


def test_annotated_types_validate_normalise_and_describe_their_format() -> None:
    cid = make_certificate_id("100001", ISSUER, "7")
    model = _Holder(id_number="44011320141005001x", uscc=ISSUER, region="411502", certificate=cid)
    assert model.id_number == "44011320141005001X"
    with pytest.raises(ValidationError, match="check character should be X, not 1"):
        _Holder(id_number="110105194912310021", uscc=ISSUER, region="411502", certificate=cid)
    props = _Holder.model_json_schema()["properties"]
    assert [props[name]["format"] for name in ("id_number", "uscc", "region", "certificate")] == [
        "cn-id",
        "uscc",
        "region",
        "certificate-id",
    ]


def test_format_checkers_answer_true_or_false() -> None:
    checkers = format_checkers()
    assert set(checkers) >= {"cn-id", "uscc", "region", "certificate-id", "date"}
    assert checkers["cn-id"]("11010519491231002X") is True
    assert checkers["cn-id"]("110105194912310021") is False
    assert checkers["uscc"]("91110000600037341L") is True
    assert checkers["uscc"]("91110000600037341N") is False
    assert checkers["region"]("411502") is True
    assert checkers["region"]("991502") is False
    assert checkers["certificate-id"](make_certificate_id("100001", ISSUER, "1")) is True
    assert checkers["certificate-id"]("1.2.156") is False
    assert checkers["date"]("2024-02-29") is True
    assert checkers["date"]("2023-02-29") is False
    assert checkers["date"]("20240229") is False
    assert validate_certificate_id(make_certificate_id("1000", ISSUER, "X")).startswith("1.2.")


def _accepts(validate: Any, value: str) -> bool:
    try:
        validate(value)
    except IdentifierError:
        return False
    return True


def _id_like(region: str, born: date, order: int, tail: str) -> str:
    first17 = f"{region}{born.year:04d}{born.month:02d}{born.day:02d}{order:03d}"
    return first17 + (id_check_char(first17) if tail == "check" else tail)


_ID_LIKE = st.builds(
    _id_like,
    st.sampled_from(["411502", "110101", "011502", "990000"]),
    st.dates(min_value=date(1790, 1, 1), max_value=date(2200, 12, 31)),
    st.integers(min_value=0, max_value=999),
    st.sampled_from(["check", "check", *"0123456789Xx", "", "a", "00"]),
)


@given(_ID_LIKE | st.text(alphabet="0123456789Xx-", min_size=16, max_size=19))
def test_cn_id_format_checker_agrees_with_validate_id_number(value: str) -> None:
    # the checker has its own fast path; it must accept exactly what the validator accepts
    for _ in range(2):  # again, once its cache of birth dates holds this one
        assert format_checkers()["cn-id"](value) == _accepts(validate_id_number, value)


@pytest.mark.parametrize(
    "value",
    ["411502195001010011", "411502195002300018", "411502179912310017", "41150230000101001X"],
)
def test_cn_id_format_checker_refuses_impossible_future_and_early_births(value: str) -> None:
    valid = value[:17] + id_check_char(value[:17])
    assert format_checkers()["cn-id"](valid) == _accepts(validate_id_number, valid)
    wrong = value[:17] + ("1" if valid[17] != "1" else "2")
    assert not format_checkers()["cn-id"](wrong)


@given(st.dates().map(date.isoformat) | st.text(alphabet="0123456789-", max_size=11))
def test_date_format_checker_accepts_real_dates_only(value: str) -> None:
    expected = len(value) == 10 and value[4] == "-" and value[7] == "-" and _real(value)
    for _ in range(2):
        assert format_checkers()["date"](value) == expected


def _real(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return text[:4].isdigit() and text[5:7].isdigit() and text[8:].isdigit()
