"""Certificate types (GB/T 36903 metadata) and their credentialSubject schemas."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from pydantic import ValidationError

from schemas.catalog import load_resources
from schemas.certificates import (
    HOLDER_FIELDS,
    CertificateMetadata,
    CertificateType,
    HolderCodeType,
    HolderKind,
    certificate_type,
    certificate_type_by_type_code,
    load_certificate_types,
)
from schemas.errors import ErrorCode, RecordInvalid, SchemaError
from schemas.identifiers import make_id_number, make_uscc, parse_certificate_id

HOLDER = make_id_number("411502", date(1990, 3, 14), 31, female=False)
SPOUSE = make_id_number("411503", date(1992, 8, 2), 42, female=True)
COMPANY = make_uscc("9", "1", "411502", 20_240_777)
DEVELOPER = make_uscc("9", "1", "411502", 20_180_001)
ISSUER = make_uscc("1", "1", "411502", 7)
UNIT = "411502001001GB00001F00010001"
PERSON = {"holder_name": "张伟", "holder_code": HOLDER, "holder_code_type": "citizen_id"}

EXPECTED_NAMES = {
    "resident_id_card": "居民身份证",
    "household_register": "居民户口簿",
    "marriage_certificate": "结婚证",
    "business_licence": "营业执照",
    "real_estate_title": "不动产权证书",
    "deed_tax_certificate": "契税完税证明",
    "sales_contract_filing_certificate": "商品房买卖合同备案证明",
    "birth_medical_certificate": "出生医学证明",
}

SUBJECTS: dict[str, dict[str, Any]] = {
    "resident_id_card": {
        **PERSON,
        "sex": "1",
        "ethnicity": "01",
        "birth_date": "1990-03-14",
        "address": "河南省信阳市浉河区民权路12号",
        "issuing_authority": "信阳市公安局浉河分局",
    },
    "household_register": {
        **PERSON,
        "household_number": "410012345",
        "household_type": "family",
        "head_of_household_name": "张伟",
        "relationship_to_head": "02",
        "address": "河南省信阳市浉河区民权路12号",
        "registration_authority": "信阳市公安局浉河分局民权派出所",
    },
    "marriage_certificate": {
        **PERSON,
        "registration_number": "J411502-2018-000123",
        "registration_date": "2018-05-20",
        "spouse_name": "李娜",
        "spouse_id_number": SPOUSE,
        "registration_authority": "信阳市浉河区民政局",
    },
    "business_licence": {
        "holder_name": "信阳市示例科技有限公司",
        "holder_code": COMPANY,
        "holder_code_type": "uscc",
        "entity_type": "有限责任公司(自然人投资或控股)",
        "legal_representative_name": "张伟",
        "registered_capital": "100.00",
        "established_date": "2024-05-06",
        "business_term_until": "长期",
        "address": "信阳市浉河区新华路8号",
        "business_scope": "软件开发",
        "registration_authority": "信阳市浉河区市场监督管理局",
    },
    "real_estate_title": {
        **PERSON,
        "certificate_number": "豫(2024)信阳市不动产权第0012345号",
        "unit_number": UNIT,
        "co_ownership": "joint",
        "co_owner_names": ["李娜"],
        "address": "信阳市浉河区新华路8号3幢1单元601",
        "right_type": "国有建设用地使用权/房屋所有权",
        "right_nature": "出让/市场化商品房",
        "use": "城镇住宅用地/住宅",
        "area": "112.36",
        "registration_authority": "信阳市不动产登记中心",
    },
    "deed_tax_certificate": {
        **PERSON,
        "tax_voucher_number": "341156240500012345",
        "property_address": "信阳市浉河区新华路8号3幢1单元601",
        "unit_number": UNIT,
        "taxable_amount": "865000.00",
        "tax_amount": "12975.00",
        "paid_date": "2024-05-10",
        "tax_authority": "国家税务总局信阳市浉河区税务局",
    },
    "sales_contract_filing_certificate": {
        **PERSON,
        "contract_number": "XY2024-000456",
        "filing_number": "XYBA2024-000456",
        "filing_date": "2024-04-28",
        "co_buyer_names": ["李娜"],
        "seller_name": "信阳市示例置业有限公司",
        "seller_uscc": DEVELOPER,
        "project_name": "示例花园",
        "unit_number": UNIT,
        "property_address": "信阳市浉河区新华路8号3幢1单元601",
        "building_area": "112.36",
        "total_price": "865000.00",
    },
    "birth_medical_certificate": {
        "holder_name": "张小雨",
        "holder_code": "Q410123456",
        "holder_code_type": "birth_certificate_no",
        "child_sex": "2",
        "birth_datetime": "2024-06-01T08:30:00+08:00",
        "birth_place": "河南省信阳市浉河区",
        "institution_name": "信阳市中心医院",
        "mother_name": "李娜",
        "mother_id_number": SPOUSE,
    },
}

# Schema keywords that must agree between a subject field and the resource field it copies.
SHARED_KEYWORDS = ("type", "format", "pattern", "enum")
# Deliberately narrower: a 结婚证 comes only from a marriage (J), never a divorce (L).
NARROWED = {("marriage_certificate", "registration_number")}


@pytest.fixture(scope="module")
def types() -> dict[str, CertificateType]:
    return load_certificate_types()


def test_every_expected_certificate_type_loads(types: dict[str, CertificateType]) -> None:
    assert {code: t.name for code, t in types.items()} == EXPECTED_NAMES
    assert set(SUBJECTS) == set(EXPECTED_NAMES)


def test_type_codes_are_unique_numeric_and_found_back(types: dict[str, CertificateType]) -> None:
    codes = [t.type_code for t in types.values()]
    assert len(set(codes)) == len(codes)
    for ctype in types.values():
        assert ctype.type_code.isdigit()
        assert 4 <= len(ctype.type_code) <= 12
        assert certificate_type_by_type_code(ctype.type_code) is ctype
    with pytest.raises(SchemaError) as info:
        certificate_type_by_type_code("999999")
    assert info.value.code is ErrorCode.UNKNOWN_CERTIFICATE_TYPE


def test_source_resource_exists_and_is_owned_by_the_issuing_department(
    types: dict[str, CertificateType],
) -> None:
    resources = load_resources()
    for ctype in types.values():
        assert ctype.source_resource is not None
        assert resources[ctype.source_resource].owner == ctype.department, ctype.code


def test_subject_fields_agree_with_the_source_resource(
    types: dict[str, CertificateType],
) -> None:
    resources = load_resources()
    compared = 0
    for ctype in types.values():
        assert ctype.source_resource is not None
        resource_props = resources[ctype.source_resource].json_schema["properties"]
        for name, spec in ctype.json_schema["properties"].items():
            if name in resource_props and (ctype.code, name) not in NARROWED:
                for keyword in SHARED_KEYWORDS:
                    assert spec.get(keyword) == resource_props[name].get(keyword), (
                        ctype.code,
                        name,
                        keyword,
                    )
                compared += 1
    assert compared >= 30


def test_subject_schemas_start_with_the_gb_t_36903_holder_fields(
    types: dict[str, CertificateType],
) -> None:
    expected_format = {HolderCodeType.CITIZEN_ID: "cn-id", HolderCodeType.USCC: "uscc"}
    for ctype in types.values():
        schema = ctype.json_schema
        assert schema["additionalProperties"] is False
        assert tuple(ctype.subject_fields[:3]) == HOLDER_FIELDS, ctype.code
        assert set(HOLDER_FIELDS) <= set(schema["required"]), ctype.code
        props = schema["properties"]
        assert props["holder_code_type"] == {
            "const": ctype.holder_code_type.value,
            "title": "持证主体代码类型",
        }
        if ctype.holder_code_type in expected_format:
            assert props["holder_code"]["format"] == expected_format[ctype.holder_code_type]
        assert (ctype.holder_kind is HolderKind.ORGANIZATION) == (
            ctype.holder_code_type is HolderCodeType.USCC
        )


def test_subject_schemas_are_valid_draft_2020_12(types: dict[str, CertificateType]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    for ctype in types.values():
        jsonschema.Draft202012Validator.check_schema(ctype.json_schema)


@pytest.mark.parametrize("code", sorted(EXPECTED_NAMES))
def test_sample_subject_validates_and_yields_metadata(code: str) -> None:
    ctype = certificate_type(code)
    subject = SUBJECTS[code]
    assert ctype.validate_subject(subject) == subject
    meta = CertificateMetadata.from_subject(
        ctype,
        subject,
        issuer_name="信阳市示例局",
        issuer_uscc=ISSUER,
        issue_date=date(2024, 6, 3),
    )
    assert meta.type_code == ctype.type_code
    assert (meta.holder_name, meta.holder_code) == (subject["holder_name"], subject["holder_code"])
    assert meta.holder_code_type is ctype.holder_code_type
    assert meta.valid_from == date(2024, 6, 3)
    assert meta.valid_until is None


@pytest.mark.parametrize("code", sorted(EXPECTED_NAMES))
def test_subject_with_an_unknown_field_or_the_wrong_holder_code_type_is_refused(
    code: str,
) -> None:
    ctype = certificate_type(code)
    with pytest.raises(RecordInvalid, match="must not contain"):
        ctype.validate_subject({**SUBJECTS[code], "nickname": "x"})
    other = "uscc" if ctype.holder_code_type is not HolderCodeType.USCC else "citizen_id"
    with pytest.raises(RecordInvalid, match="holder_code_type"):
        ctype.validate_subject({**SUBJECTS[code], "holder_code_type": other})


def test_subject_with_a_wrong_check_character_names_the_field() -> None:
    ctype = certificate_type("marriage_certificate")
    broken = SPOUSE[:-1] + ("0" if SPOUSE[-1] != "0" else "1")
    with pytest.raises(RecordInvalid, match=r"结婚证 \(marriage_certificate\) subject: spouse_id"):
        ctype.validate_subject({**SUBJECTS["marriage_certificate"], "spouse_id_number": broken})


def test_metadata_normalises_the_holder_code_and_checks_validity() -> None:
    ctype = certificate_type("resident_id_card")
    subject = {**SUBJECTS["resident_id_card"], "holder_code": "44011320141005001x"}
    meta = CertificateMetadata.from_subject(
        ctype,
        subject,
        issuer_name="信阳市公安局",
        issuer_uscc=ISSUER,
        issue_date=date(2024, 1, 2),
        valid_until=date(2044, 1, 2),
    )
    assert meta.holder_code == "44011320141005001X"
    with pytest.raises(ValidationError, match="valid_until 2020-01-01 is before valid_from"):
        CertificateMetadata.from_subject(
            ctype,
            subject,
            issuer_name="信阳市公安局",
            issuer_uscc=ISSUER,
            issue_date=date(2024, 1, 2),
            valid_until=date(2020, 1, 1),
        )


def test_metadata_refuses_a_holder_code_of_the_wrong_kind_and_a_bad_issuer() -> None:
    base = {
        "type_code": "300001",
        "holder_name": "信阳市示例科技有限公司",
        "holder_code_type": "uscc",
        "issuer_name": "信阳市浉河区市场监督管理局",
        "issue_date": "2024-05-06",
        "valid_from": "2024-05-06",
    }
    assert CertificateMetadata(**base, holder_code=COMPANY, issuer_uscc=ISSUER).holder_code
    with pytest.raises(ValidationError, match="USCC"):
        CertificateMetadata(**base, holder_code=HOLDER, issuer_uscc=ISSUER)
    with pytest.raises(ValidationError, match="USCC"):
        CertificateMetadata(**base, holder_code=COMPANY, issuer_uscc=ISSUER[:-1] + "0")
    with pytest.raises(ValidationError, match="birth certificate number"):
        CertificateMetadata(
            **{**base, "holder_code_type": "birth_certificate_no"},
            holder_code="410123456",
            issuer_uscc=ISSUER,
        )


def test_certificate_ids_carry_the_type_code(types: dict[str, CertificateType]) -> None:
    for ctype in types.values():
        parts = parse_certificate_id(ctype.make_id(ISSUER, 42))
        assert (parts.type_code, parts.issuer, parts.serial) == (ctype.type_code, ISSUER, "42")


def test_unknown_certificate_type_is_refused_with_its_code() -> None:
    with pytest.raises(SchemaError, match="unknown certificate type 'passport'") as info:
        certificate_type("passport")
    assert info.value.code is ErrorCode.UNKNOWN_CERTIFICATE_TYPE


def test_type_whose_holder_code_does_not_fit_its_holder_kind_is_refused() -> None:
    data = load_certificate_types()["business_licence"].model_dump(by_alias=True)
    with pytest.raises(ValidationError, match="does not fit holder kind"):
        CertificateType.model_validate({**data, "holder_code_type": "citizen_id"})
