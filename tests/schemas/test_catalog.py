"""The packaged resource catalog: metadata, strict JSON Schemas, sample records."""

from __future__ import annotations

import copy
import importlib
import re
from collections.abc import Callable
from datetime import date
from typing import Any

import fastjsonschema
import pytest

import schemas
from schemas.catalog import ResourceDefinition, SharingType, load_resources
from schemas.identifiers import format_checkers, make_id_number, make_uscc

DEPARTMENTS = {
    "gongan",
    "minzheng",
    "shuiwu",
    "zhujian",
    "budongchan",
    "shichang",
    "weijian",
    "renshe",
    "yibao",
}
EXPECTED = {
    "gongan.resident_id_card",
    "gongan.household_register",
    "gongan.seal_engraving_filing",
    "minzheng.marriage_registration",
    "shuiwu.deed_tax_payment",
    "shuiwu.tax_audit_case",
    "shuiwu.taxpayer_registration",
    "shuiwu.house_sale_invoice",
    "zhujian.sales_contract_filing",
    "budongchan.property_title",
    "shichang.business_licence",
    "weijian.birth_medical_certificate",
    "renshe.social_security_registration",
    "yibao.medical_insurance",
}
IDENTIFIER_FORMATS = {"cn-id", "uscc"}
MONEY_OR_MEASURE = re.compile(r"amount|price|capital|area$")

HUSBAND = make_id_number("411502", date(1990, 3, 14), 31, female=False)
WIFE = make_id_number("411503", date(1992, 8, 2), 42, female=True)
BABY_FATHER = make_id_number("411502", date(1991, 5, 5), 13, female=False)
DEVELOPER = make_uscc("9", "1", "411502", 20_180_001)
COMPANY = make_uscc("9", "1", "411502", 20_240_777)
ENGRAVER = make_uscc("9", "1", "411502", 19_990_123)
UNIT = "411502001001GB00001F00010001"

SAMPLES: dict[str, dict[str, Any]] = {
    "gongan.resident_id_card": {
        "id_number": HUSBAND,
        "name": "张伟",
        "sex": "1",
        "ethnicity": "01",
        "birth_date": "1990-03-14",
        "address": "河南省信阳市浉河区民权路12号",
        "issuing_authority": "信阳市公安局浉河分局",
        "valid_from": "2015-06-01",
        "valid_until": "2035-06-01",
    },
    "gongan.household_register": {
        "id_number": HUSBAND,
        "name": "张伟",
        "sex": "1",
        "ethnicity": "01",
        "birth_date": "1990-03-14",
        "household_number": "410012345",
        "household_type": "family",
        "head_of_household_name": "张伟",
        "relationship_to_head": "02",
        "address": "河南省信阳市浉河区民权路12号",
        "region": "411502",
        "registration_authority": "信阳市公安局浉河分局民权派出所",
        "registered_date": "1990-04-01",
    },
    "gongan.seal_engraving_filing": {
        "filing_number": "GA-411502-2024-0001",
        "company_uscc": COMPANY,
        "company_name": "信阳市示例科技有限公司",
        "seal_kinds": ["official", "finance", "invoice"],
        "seal_codes": ["4115020000001"],
        "engraver_uscc": ENGRAVER,
        "engraved_date": "2024-05-06",
        "filed_date": "2024-05-06",
    },
    "minzheng.marriage_registration": {
        "registration_number": "J411502-2018-000123",
        "kind": "marriage",
        "registration_date": "2018-05-20",
        "male_party_name": "张伟",
        "male_party_id_number": HUSBAND,
        "female_party_name": "李娜",
        "female_party_id_number": WIFE,
        "registration_authority": "信阳市浉河区民政局",
    },
    "shuiwu.deed_tax_payment": {
        "tax_voucher_number": "341156240500012345",
        "taxpayer_id_number": HUSBAND,
        "taxpayer_name": "张伟",
        "property_address": "信阳市浉河区新华路8号3幢1单元601",
        "unit_number": UNIT,
        "taxable_amount": "865000.00",
        "tax_rate": "0.015",
        "tax_amount": "12975.00",
        "paid_date": "2024-05-10",
        "tax_authority": "国家税务总局信阳市浉河区税务局",
    },
    "shuiwu.tax_audit_case": {
        "case_number": "XYSW-JC-2024-017",
        "taxpayer_uscc": DEVELOPER,
        "taxpayer_name": "信阳市示例置业有限公司",
        "opened_date": "2024-03-01",
        "status": "open",
        "assessed_amount": "0.00",
    },
    "shuiwu.taxpayer_registration": {
        "taxpayer_uscc": COMPANY,
        "taxpayer_name": "信阳市示例科技有限公司",
        "taxpayer_kind": "small_scale",
        "tax_authority": "国家税务总局信阳市浉河区税务局",
        "confirmed_date": "2024-05-07",
        "financial_officer_name": "李娜",
        "financial_officer_id_number": WIFE,
        "invoice_approved": True,
        "status": "normal",
    },
    "shuiwu.house_sale_invoice": {
        "invoice_number": "24412000000012345678",
        "issue_date": "2024-05-08",
        "seller_uscc": DEVELOPER,
        "seller_name": "信阳市示例置业有限公司",
        "buyer_names": ["张伟", "李娜"],
        "buyer_id_numbers": [HUSBAND, WIFE],
        "property_address": "信阳市浉河区新华路8号3幢1单元601",
        "unit_number": UNIT,
        "amount_excluding_tax": "793577.98",
        "tax_amount": "71422.02",
        "total_amount": "865000.00",
    },
    "zhujian.sales_contract_filing": {
        "contract_number": "XY2024-000456",
        "filing_number": "XYBA2024-000456",
        "filing_date": "2024-04-28",
        "signed_date": "2024-04-26",
        "buyer_names": ["张伟", "李娜"],
        "buyer_id_numbers": [HUSBAND, WIFE],
        "seller_uscc": DEVELOPER,
        "seller_name": "信阳市示例置业有限公司",
        "project_name": "示例花园",
        "unit_number": UNIT,
        "property_address": "信阳市浉河区新华路8号3幢1单元601",
        "building_area": "112.36",
        "total_price": "865000.00",
    },
    "budongchan.property_title": {
        "certificate_number": "豫(2024)信阳市不动产权第0012345号",
        "unit_number": UNIT,
        "owner_names": ["张伟", "李娜"],
        "owner_id_numbers": [HUSBAND, WIFE],
        "co_ownership": "joint",
        "address": "信阳市浉河区新华路8号3幢1单元601",
        "right_type": "国有建设用地使用权/房屋所有权",
        "right_nature": "出让/市场化商品房",
        "use": "城镇住宅用地/住宅",
        "area": "112.36",
        "land_use_term_end": "2088-12-31",
        "registration_date": "2024-05-15",
        "registration_authority": "信阳市不动产登记中心",
    },
    "shichang.business_licence": {
        "uscc": COMPANY,
        "name": "信阳市示例科技有限公司",
        "entity_type": "有限责任公司(自然人投资或控股)",
        "legal_representative_name": "张伟",
        "registered_capital": "100.00",
        "established_date": "2024-05-06",
        "business_term_until": "长期",
        "address": "信阳市浉河区新华路8号3幢1单元601",
        "business_scope": "软件开发; 信息技术咨询服务",
        "status": "active",
        "registration_authority": "信阳市浉河区市场监督管理局",
    },
    "weijian.birth_medical_certificate": {
        "certificate_number": "Q410123456",
        "child_name": "张小雨",
        "child_sex": "2",
        "birth_datetime": "2024-06-01T08:30:00+08:00",
        "birth_region": "411502",
        "birth_place": "河南省信阳市浉河区",
        "gestational_weeks": 39,
        "birth_weight_g": 3250,
        "institution_name": "信阳市中心医院",
        "mother_name": "李娜",
        "mother_id_number": WIFE,
        "father_name": "张伟",
        "father_id_number": BABY_FATHER,
        "issue_date": "2024-06-03",
    },
    "renshe.social_security_registration": {
        "registration_number": "41150220240001",
        "insured_kind": "employer",
        "name": "信阳市示例科技有限公司",
        "employer_uscc": COMPANY,
        "insurance_types": ["pension", "unemployment", "work_injury"],
        "region": "411502",
        "registered_date": "2024-05-08",
        "status": "active",
    },
    "yibao.medical_insurance": {
        "id_number": WIFE,
        "name": "李娜",
        "insurance_type": "employee",
        "region": "411502",
        "employer_uscc": COMPANY,
        "enrolled_date": "2019-01-01",
        "paid_until": "2024-05",
        "status": "active",
    },
}


@pytest.fixture(scope="module")
def resources() -> dict[str, ResourceDefinition]:
    return load_resources()


def _compile(definition: ResourceDefinition) -> Callable[[Any], Any]:
    validate: Callable[[Any], Any] = fastjsonschema.compile(
        definition.json_schema, formats=format_checkers()
    )
    return validate


def test_every_expected_resource_loads(resources: dict[str, ResourceDefinition]) -> None:
    assert set(resources) == EXPECTED
    assert set(SAMPLES) == EXPECTED


def test_every_resource_has_its_catalog_metadata(
    resources: dict[str, ResourceDefinition],
) -> None:
    numbers = [d.catalog_no for d in resources.values()]
    assert len(set(numbers)) == len(numbers)
    for code, definition in resources.items():
        assert code == definition.code
        assert definition.owner == code.split(".")[0]
        assert definition.owner in DEPARTMENTS
        assert re.fullmatch(r"[0-9]{6}-[A-Z]{2,3}-[0-9]{5}", definition.catalog_no), code
        assert definition.name
        assert definition.name_en
        assert definition.description
        assert definition.subject_fields, code


def test_all_three_sharing_types_occur(resources: dict[str, ResourceDefinition]) -> None:
    assert {d.sharing_type for d in resources.values()} == set(SharingType)
    assert resources["shichang.business_licence"].sharing_type is SharingType.UNCONDITIONAL
    assert resources["shuiwu.tax_audit_case"].sharing_type is SharingType.NOT_SHARED


def test_key_subject_and_sensitive_fields_are_in_the_schema(
    resources: dict[str, ResourceDefinition],
) -> None:
    for code, definition in resources.items():
        props = definition.json_schema["properties"]
        assert definition.key_field in definition.json_schema["required"], code
        for name in [*definition.subject_fields, *definition.sensitive_fields]:
            assert name in props, (code, name)
        for name in definition.subject_fields:
            spec = props[name]
            item = spec["items"] if spec.get("type") == "array" else spec
            assert item.get("format") in IDENTIFIER_FORMATS, (code, name)


def test_every_identifier_field_is_a_subject_field(
    resources: dict[str, ResourceDefinition],
) -> None:
    """A person's or company's identifier in a record makes the record about them: the
    audit log records a read for every subject field, so none may be left out (D5)."""
    for code, definition in resources.items():
        for name, spec in definition.json_schema["properties"].items():
            item = spec["items"] if spec.get("type") == "array" else spec
            if item.get("format") in IDENTIFIER_FORMATS:
                assert name in definition.subject_fields, (code, name)


def test_schemas_are_strict_and_every_item_is_typed_and_titled(
    resources: dict[str, ResourceDefinition],
) -> None:
    for code, definition in resources.items():
        schema = definition.json_schema
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["type"] == "object"
        assert schema["additionalProperties"] is False, code
        assert set(schema["required"]) <= set(schema["properties"]), code
        for name, spec in schema["properties"].items():
            assert spec.get("title"), (code, name)
            assert spec.get("type") in {"string", "integer", "boolean", "array"}, (code, name)
            if spec.get("format") in IDENTIFIER_FORMATS | {"region"}:
                assert spec["type"] == "string", (code, name)


def test_amounts_and_measures_are_strings_with_a_pattern(
    resources: dict[str, ResourceDefinition],
) -> None:
    seen = 0
    for code, definition in resources.items():
        for name, spec in definition.json_schema["properties"].items():
            if MONEY_OR_MEASURE.search(name):
                seen += 1
                assert spec["type"] == "string", (code, name)
                assert re.fullmatch(spec["pattern"], "123456.78"), (code, name)
                assert not re.fullmatch(spec["pattern"], "123456.7"), (code, name)
                assert not re.fullmatch(spec["pattern"], "0123.45"), (code, name)
    assert seen >= 8


def test_schemas_are_valid_draft_2020_12() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    for definition in load_resources().values():
        jsonschema.Draft202012Validator.check_schema(definition.json_schema)


@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_sample_record_matches_its_schema(
    code: str, resources: dict[str, ResourceDefinition]
) -> None:
    validate = _compile(resources[code])
    validate(copy.deepcopy(SAMPLES[code]))


@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_schema_refuses_unknown_fields_missing_fields_and_bad_identifiers(
    code: str, resources: dict[str, ResourceDefinition]
) -> None:
    definition = resources[code]
    validate = _compile(definition)
    sample = SAMPLES[code]

    with pytest.raises(fastjsonschema.JsonSchemaValueException, match="must not contain"):
        validate({**sample, "unexpected": "x"})

    missing = dict(sample)
    del missing[definition.key_field]
    with pytest.raises(fastjsonschema.JsonSchemaValueException, match="must contain"):
        validate(missing)

    subject = next(name for name in definition.subject_fields if name in sample)
    value = sample[subject]
    first = value[0] if isinstance(value, list) else value
    broken = first[:-1] + ("0" if first[-1] != "0" else "1")
    bad = {**sample, subject: [broken, *value[1:]] if isinstance(value, list) else broken}
    with pytest.raises(fastjsonschema.JsonSchemaValueException, match=r"must be (cn-id|uscc)"):
        validate(bad)


def test_strict_date_format_refuses_impossible_dates(
    resources: dict[str, ResourceDefinition],
) -> None:
    validate = _compile(resources["minzheng.marriage_registration"])
    sample = SAMPLES["minzheng.marriage_registration"]
    with pytest.raises(fastjsonschema.JsonSchemaValueException, match="must be date"):
        validate({**sample, "registration_date": "2018-02-30"})


def test_social_security_registration_needs_the_code_of_its_kind(
    resources: dict[str, ResourceDefinition],
) -> None:
    validate = _compile(resources["renshe.social_security_registration"])
    employer = dict(SAMPLES["renshe.social_security_registration"])
    del employer["employer_uscc"]
    with pytest.raises(fastjsonschema.JsonSchemaValueException):
        validate(employer)
    person = {**employer, "insured_kind": "person", "person_id_number": WIFE}
    validate(person)


def test_public_names_of_the_package_and_its_modules_resolve() -> None:
    for name in schemas.__all__:
        assert getattr(schemas, name) is not None, name
    for module in ("catalog", "certificates", "errors", "identifiers", "matters"):
        loaded = importlib.import_module(f"schemas.{module}")
        for name in loaded.__all__:
            assert hasattr(loaded, name), (module, name)
    with pytest.raises(AttributeError):
        _ = schemas.no_such_name
