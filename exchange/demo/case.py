"""The seeds' real-estate case for the demo: a couple buys a new flat in 信阳.

Departments issue the certificates the case needs (居民身份证 by 公安, 契税完税证明 by 税务,
商品房买卖合同备案证明 by 住建), the owners of the conditional registers grant 不动产登记中心
the fields the matter needs, and the case is resolved: 8 materials required, 2 to bring.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from exchange.catalog.grants import GrantDecision, GrantRequest
from exchange.certificates.models import CertificatePublic, CertificateRequest
from exchange.demo.city import City, Flat, Person
from exchange.service import Exchange

__all__ = [
    "GRANTS",
    "MATTER",
    "certificate_requests",
    "couple_applicants",
    "grant_real_estate",
    "issue_flat_certificates",
]

MATTER = "budongchan.new_commercial_housing_transfer"


def _id_card(p: Person) -> dict[str, Any]:
    return {
        "holder_name": p.name,
        "holder_code": p.id_number,
        "holder_code_type": "citizen_id",
        "sex": p.sex,
        "ethnicity": "01",
        "birth_date": p.birth_date.isoformat(),
        "address": p.address,
        "issuing_authority": "信阳市公安局",
    }


def certificate_requests(flat: Flat) -> list[tuple[str, CertificateRequest]]:
    """(issuing department code, request) for the certificates a flat's buyers hold."""
    buyer = flat.buyers[0]
    out = [
        ("gongan", CertificateRequest(type="resident_id_card", subject=_id_card(p)))
        for p in flat.buyers
    ]
    paid = flat.signed + timedelta(days=10)
    out.append(
        (
            "shuiwu",
            CertificateRequest(
                type="deed_tax_certificate",
                subject={
                    "holder_name": buyer.name,
                    "holder_code": buyer.id_number,
                    "holder_code_type": "citizen_id",
                    "tax_voucher_number": flat.voucher_number,
                    "property_address": flat.address,
                    "unit_number": flat.unit_number,
                    "taxable_amount": flat.price,
                    "tax_amount": f"{float(flat.price) * 0.015:.2f}",
                    "paid_date": paid.isoformat(),
                    "tax_authority": "国家税务总局信阳市浉河区税务局",
                },
            ),
        )
    )
    out.append(
        (
            "zhujian",
            CertificateRequest(
                type="sales_contract_filing_certificate",
                subject={
                    "holder_name": buyer.name,
                    "holder_code": buyer.id_number,
                    "holder_code_type": "citizen_id",
                    "contract_number": flat.contract_number,
                    "filing_number": flat.filing_number,
                    "filing_date": (flat.signed + timedelta(days=3)).isoformat(),
                    "co_buyer_names": [b.name for b in flat.buyers[1:]],
                    "seller_name": flat.developer.name,
                    "seller_uscc": flat.developer.uscc,
                    "project_name": flat.address.split("号")[0] + "号项目",
                    "unit_number": flat.unit_number,
                    "property_address": flat.address,
                    "building_area": flat.area,
                    "total_price": flat.price,
                },
            ),
        )
    )
    return out


def issue_flat_certificates(exchange: Exchange, flat: Flat) -> dict[str, CertificatePublic]:
    """Issue them in process (tests, benchmarks); keyed by certificate type."""
    issued: dict[str, CertificatePublic] = {}
    for code, request in certificate_requests(flat):
        cert = exchange.certificates.issue(exchange.registry.by_code(code).uscc, request)
        issued.setdefault(request.type, cert)
    return issued


GRANTS = {
    "minzheng.marriage_registration": [
        "registration_number",
        "kind",
        "registration_date",
        "male_party_name",
        "male_party_id_number",
        "female_party_name",
        "female_party_id_number",
        "registration_authority",
    ],
    "shuiwu.house_sale_invoice": [
        "invoice_number",
        "issue_date",
        "seller_uscc",
        "seller_name",
        "buyer_names",
        "buyer_id_numbers",
        "property_address",
        "unit_number",
        "total_amount",
    ],
    "zhujian.sales_contract_filing": [
        "contract_number",
        "signed_date",
        "buyer_names",
        "buyer_id_numbers",
        "seller_uscc",
        "seller_name",
        "project_name",
        "unit_number",
        "property_address",
        "building_area",
        "total_price",
    ],
}


def grant_real_estate(exchange: Exchange, *, skip: tuple[str, ...] = ()) -> list[str]:
    """不动产登记中心 asks for the fields the matter needs; each owner approves."""
    approver = exchange.registry.by_code("budongchan").uscc
    granted = []
    for resource, fields in GRANTS.items():
        if resource in skip:
            continue
        grant = exchange.grants.request(
            approver,
            GrantRequest(
                resource=resource,
                fields=fields,
                purposes=[MATTER],
                reason="新建商品房转移登记: 共享取得, 申请人免交纸质材料",
                expires_at=datetime.now(UTC) + timedelta(days=365),
            ),
        )
        exchange.grants.decide(
            grant.id,
            exchange.catalog.owner(resource),
            GrantDecision(approve=True, reason="依法共享, 用于不动产登记"),
        )
        granted.append(grant.id)
    return granted


def couple_applicants(city: City, index: int) -> list[dict[str, str]]:
    flat = city.flats[index]
    return [{"role": "buyer", "id": b.id_number, "name": b.name} for b in flat.buyers]
