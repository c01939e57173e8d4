"""Matters (一件事一次办) and their materials: references, and the seeds' 8 → 2."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from schemas.catalog import SharingType, load_resources
from schemas.certificates import load_certificate_types
from schemas.errors import ErrorCode, SchemaError
from schemas.matters import (
    ApplicantSource,
    CertificateSource,
    CheckSource,
    Lookup,
    Matter,
    ResourceSource,
    load_matters,
    matter,
    verify_references,
)

REAL_ESTATE = "budongchan.new_commercial_housing_transfer"


def _minimal(source: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "code": "test.matter",
        "name": "测试事项",
        "name_en": "Test matter",
        "department": "budongchan",
        "materials": [{"code": "m", "name": "材料", "for_role": "buyer", "source": source}],
        **extra,
    }


def test_expected_matters_load() -> None:
    matters = load_matters()
    assert set(matters) >= {REAL_ESTATE, "shichang.business_opening", "weijian.newborn_birth"}
    for code, found in matters.items():
        assert found.code == code
        assert found.department == code.split(".")[0]
        assert found.services, code


def test_every_reference_exists_and_is_shared() -> None:
    resources = load_resources()
    types = load_certificate_types()
    for found in load_matters().values():
        for service in found.services:
            assert service.resource in resources, (found.code, service.name)
        for material in found.materials:
            source = material.source
            if isinstance(source, CertificateSource):
                assert source.certificate_type in types, (found.code, material.code)
            elif isinstance(source, ResourceSource | CheckSource):
                definition = resources[source.resource]
                assert definition.sharing_type is not SharingType.NOT_SHARED
                if isinstance(source, ResourceSource):
                    assert set(source.fields) <= set(definition.field_names)
                    if source.lookup is Lookup.SUBJECT:
                        assert definition.subject_fields
            else:
                assert isinstance(source, ApplicantSource)
                assert source.why


def test_real_estate_transfer_needs_eight_materials_of_which_two_are_brought() -> None:
    found = matter(REAL_ESTATE)
    assert len(found.materials) == 8
    assert [m.code for m in found.materials_to_bring] == ["application_form", "household_register"]
    assert found.materials_removed == 6


def test_real_estate_transfer_obtains_what_the_seeds_list() -> None:
    """身份证, 契税发票, 购房全额发票, 结婚证, 商品房买卖合同, 房屋交易备案证明."""
    sources = {m.code: m.source for m in matter(REAL_ESTATE).materials}
    assert sources["buyer_identity"] == CertificateSource(certificate_type="resident_id_card")
    assert sources["deed_tax_certificate"] == CertificateSource(
        certificate_type="deed_tax_certificate"
    )
    assert sources["filing_certificate"] == CertificateSource(
        certificate_type="sales_contract_filing_certificate"
    )
    resources = {
        code: source.resource
        for code, source in sources.items()
        if isinstance(source, ResourceSource)
    }
    assert resources == {
        "marital_status": "minzheng.marriage_registration",
        "purchase_invoice": "shuiwu.house_sale_invoice",
        "sales_contract": "zhujian.sales_contract_filing",
    }


def test_business_opening_and_newborn_bundle_their_services() -> None:
    opening = {s.resource for s in matter("shichang.business_opening").services}
    assert opening == {
        "shichang.business_licence",
        "gongan.seal_engraving_filing",
        "shuiwu.taxpayer_registration",
        "renshe.social_security_registration",
    }
    newborn = matter("weijian.newborn_birth")
    assert {s.resource for s in newborn.services} == {
        "weijian.birth_medical_certificate",
        "gongan.household_register",
        "yibao.medical_insurance",
        "renshe.social_security_registration",
    }
    assert any(isinstance(m.source, CheckSource) for m in newborn.materials)


@pytest.mark.parametrize(
    ("source", "message", "code"),
    [
        (
            {"kind": "certificate", "certificate_type": "passport"},
            "unknown certificate type 'passport'",
            ErrorCode.UNKNOWN_CERTIFICATE_TYPE,
        ),
        (
            {"kind": "resource", "resource": "x.y", "fields": ["a"], "lookup": "key"},
            "unknown resource 'x.y'",
            ErrorCode.UNKNOWN_RESOURCE,
        ),
        (
            {"kind": "check", "resource": "shuiwu.tax_audit_case", "question": "有案件吗?"},
            "shuiwu.tax_audit_case is not shared",
            ErrorCode.INVALID_REQUEST,
        ),
        (
            {
                "kind": "resource",
                "resource": "budongchan.property_title",
                "fields": ["address", "price"],
                "lookup": "subject",
            },
            r"has no fields \['price'\]",
            ErrorCode.INVALID_REQUEST,
        ),
    ],
)
def test_dangling_references_are_refused(source: dict[str, Any], message: str, code: str) -> None:
    found = Matter.model_validate(_minimal(source))
    with pytest.raises(SchemaError, match=message) as info:
        verify_references(found)
    assert info.value.code == code


def test_service_naming_an_unknown_resource_is_refused() -> None:
    found = Matter.model_validate(
        _minimal(
            {"kind": "applicant", "why": "签名"},
            services=[{"name": "登记", "name_en": "Reg", "department": "x", "resource": "x.y"}],
        )
    )
    with pytest.raises(SchemaError, match="service 登记 names unknown resource"):
        verify_references(found)


def test_malformed_matters_are_refused() -> None:
    with pytest.raises(ValidationError, match="does not match any of the expected tags"):
        Matter.model_validate(_minimal({"kind": "paper"}))
    with pytest.raises(ValidationError, match="why"):
        Matter.model_validate(_minimal({"kind": "applicant"}))
    with pytest.raises(ValidationError, match="lookup"):
        Matter.model_validate(
            _minimal({"kind": "resource", "resource": "a.b", "fields": ["x"], "lookup": "name"})
        )
    doubled = _minimal({"kind": "applicant", "why": "签名"})
    doubled["materials"] *= 2
    with pytest.raises(ValidationError, match=r"duplicate material codes \['m'\]"):
        Matter.model_validate(doubled)


def test_unknown_matter_is_refused_with_its_code() -> None:
    with pytest.raises(SchemaError, match=r"unknown matter 'x\.y'") as info:
        matter("x.y")
    assert info.value.code is ErrorCode.UNKNOWN_MATTER
