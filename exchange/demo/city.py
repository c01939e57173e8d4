"""Synthetic, realistic registers for the demo city (信阳市, region 411500).

Everything is generated from a fixed seed: people with valid ID numbers (GB 11643),
companies with valid credit codes (GB 32100), couples, households, new flats with
their sales contracts, invoices, deed tax and titles. No real person is in here.

An ID number keeps the region code its holder was first registered under. 信阳市 and
its districts (4115xx) exist from 1998; before, the area was 信阳地区 (4130xx, see
:mod:`schemas.regions`). So people born before 1998 carry the code their district had
in their birth year (:func:`id_region`), while :attr:`Person.region` is where they live
now.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from schemas.identifiers import make_id_number, make_uscc
from schemas.regions import region_predecessors, region_valid_in

__all__ = ["City", "Company", "Flat", "Person", "generate_city", "id_region"]

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蔡蒋余于杜叶程"
)
GIVEN = [
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "秀英",
    "霞",
    "平",
    "刚",
    "桂英",
    "文",
    "辉",
    "建华",
    "晓东",
    "雪梅",
    "志强",
    "海燕",
    "子涵",
    "欣怡",
    "浩然",
    "一诺",
    "梓轩",
    "雨桐",
]
DISTRICTS = [
    ("411502", "信阳市浉河区"),
    ("411503", "信阳市平桥区"),
    ("411521", "罗山县"),
    ("411522", "光山县"),
    ("411525", "固始县"),
]
# the police office that issues the ID cards of each district's residents
ID_CARD_OFFICES = {
    "411502": "信阳市公安局浉河分局",
    "411503": "信阳市公安局平桥分局",
    "411521": "罗山县公安局",
    "411522": "光山县公安局",
    "411525": "固始县公安局",
}
STREETS = [
    "新华路",
    "民权路",
    "东方红大道",
    "新七大道",
    "南京路",
    "北京大街",
    "申城大道",
    "羊山新区新五路",
]


@dataclass
class Person:
    id_number: str
    name: str
    sex: str  # 1 male, 2 female (GB/T 2261.1)
    birth_date: date
    region: str
    address: str
    household_number: str = ""
    relationship: str = "01"
    spouse: Person | None = field(default=None, repr=False)


@dataclass
class Company:
    uscc: str
    name: str
    legal_representative: str
    established: date
    address: str
    entity_type: str = "有限责任公司(自然人投资或控股)"


@dataclass
class Flat:
    unit_number: str
    address: str
    area: str
    price: str
    buyers: list[Person]
    developer: Company
    contract_number: str
    filing_number: str
    invoice_number: str
    voucher_number: str
    title_number: str
    signed: date


@dataclass
class City:
    people: list[Person]
    couples: list[tuple[Person, Person]]
    companies: list[Company]
    developers: list[Company]
    flats: list[Flat]

    # -- registers, as each department's system would export them -------------------------------
    def resident_id_cards(self) -> list[dict[str, Any]]:
        return [
            {
                "id_number": p.id_number,
                "name": p.name,
                "sex": p.sex,
                "ethnicity": "01",
                "birth_date": p.birth_date.isoformat(),
                "address": p.address,
                "issuing_authority": ID_CARD_OFFICES[p.region],
                "valid_from": (p.birth_date + timedelta(days=365 * 26)).isoformat(),
                "valid_until": "长期",
            }
            for p in self.people
        ]

    def household_register(self) -> list[dict[str, Any]]:
        out = []
        for p in self.people:
            head = p if p.relationship == "01" or p.spouse is None else p.spouse
            out.append(
                {
                    "id_number": p.id_number,
                    "name": p.name,
                    "sex": p.sex,
                    "ethnicity": "01",
                    "birth_date": p.birth_date.isoformat(),
                    "household_number": p.household_number,
                    "household_type": "family",
                    "head_of_household_name": head.name,
                    "relationship_to_head": p.relationship,
                    "address": p.address,
                    "region": p.region,
                    "registration_authority": "信阳市公安局户政管理支队",
                    "registered_date": p.birth_date.isoformat(),
                }
            )
        return out

    def marriages(self) -> list[dict[str, Any]]:
        out = []
        for i, (m, f) in enumerate(self.couples):
            when = max(m.birth_date, f.birth_date) + timedelta(days=365 * 25 + i)
            # before 1998 浉河区 did not exist: the county-level 信阳市 registered marriages
            office, authority = (
                ("411502", "信阳市浉河区民政局婚姻登记处")
                if region_valid_in("411502", when.year)
                else ("413001", "信阳市民政局婚姻登记处")
            )
            out.append(
                {
                    "registration_number": f"J{office}-{when.year}-{i + 1:06d}",
                    "kind": "marriage",
                    "registration_date": when.isoformat(),
                    "male_party_name": m.name,
                    "male_party_id_number": m.id_number,
                    "female_party_name": f.name,
                    "female_party_id_number": f.id_number,
                    "registration_authority": authority,
                }
            )
        return out

    def business_licences(self) -> list[dict[str, Any]]:
        return [
            {
                "uscc": c.uscc,
                "name": c.name,
                "entity_type": c.entity_type,
                "legal_representative_name": c.legal_representative,
                "registered_capital": "10000000.00",
                "established_date": c.established.isoformat(),
                "business_term_until": "长期",
                "address": c.address,
                "business_scope": "房地产开发经营; 物业管理"
                if "置业" in c.name
                else "技术服务; 软件开发",
                "status": "active",
                "registration_authority": "信阳市市场监督管理局",
            }
            for c in self.companies + self.developers
        ]

    def sales_contracts(self) -> list[dict[str, Any]]:
        return [
            {
                "contract_number": f.contract_number,
                "filing_number": f.filing_number,
                "filing_date": (f.signed + timedelta(days=3)).isoformat(),
                "signed_date": f.signed.isoformat(),
                "buyer_names": [b.name for b in f.buyers],
                "buyer_id_numbers": [b.id_number for b in f.buyers],
                "seller_uscc": f.developer.uscc,
                "seller_name": f.developer.name,
                "project_name": f.address.split("号")[0] + "号项目",
                "unit_number": f.unit_number,
                "property_address": f.address,
                "building_area": f.area,
                "total_price": f.price,
            }
            for f in self.flats
        ]

    def invoices(self) -> list[dict[str, Any]]:
        out = []
        for f in self.flats:
            total = float(f.price)
            tax = round(total / 1.09 * 0.09, 2)
            out.append(
                {
                    "invoice_number": f.invoice_number,
                    "issue_date": (f.signed + timedelta(days=5)).isoformat(),
                    "seller_uscc": f.developer.uscc,
                    "seller_name": f.developer.name,
                    "buyer_names": [b.name for b in f.buyers],
                    "buyer_id_numbers": [b.id_number for b in f.buyers],
                    "property_address": f.address,
                    "unit_number": f.unit_number,
                    "amount_excluding_tax": f"{total - tax:.2f}",
                    "tax_amount": f"{tax:.2f}",
                    "total_amount": f"{total:.2f}",
                }
            )
        return out

    def deed_taxes(self) -> list[dict[str, Any]]:
        return [
            {
                "tax_voucher_number": f.voucher_number,
                "taxpayer_id_number": f.buyers[0].id_number,
                "taxpayer_name": f.buyers[0].name,
                "property_address": f.address,
                "unit_number": f.unit_number,
                "taxable_amount": f.price,
                "tax_rate": "0.015",
                "tax_amount": f"{float(f.price) * 0.015:.2f}",
                "paid_date": (f.signed + timedelta(days=10)).isoformat(),
                "tax_authority": "国家税务总局信阳市浉河区税务局",
            }
            for f in self.flats
        ]

    def tax_audit_cases(self) -> list[dict[str, Any]]:
        c = self.companies[0]
        return [
            {
                "case_number": "XYSW-JC-2026-0007",
                "taxpayer_uscc": c.uscc,
                "taxpayer_name": c.name,
                "opened_date": "2026-03-02",
                "status": "open",
                "findings": "发票开具与申报收入不符, 核查中",
            }
        ]

    def titles(self) -> list[dict[str, Any]]:
        """Titles already registered (the older half of the flats: resale stock)."""
        out = []
        for f in self.flats[len(self.flats) // 2 :]:
            out.append(
                {
                    "certificate_number": f.title_number,
                    "unit_number": f.unit_number,
                    "owner_names": [b.name for b in f.buyers],
                    "owner_id_numbers": [b.id_number for b in f.buyers],
                    "co_ownership": "joint" if len(f.buyers) > 1 else "sole",
                    "address": f.address,
                    "right_type": "国有建设用地使用权/房屋所有权",
                    "right_nature": "出让/市场化商品房",
                    "use": "城镇住宅用地/住宅",
                    "area": f.area,
                    "registration_date": (f.signed + timedelta(days=40)).isoformat(),
                    "registration_authority": "信阳市不动产登记中心",
                }
            )
        return out


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN)


def id_region(district: str, birth: date, n: int = 0) -> str:
    """The region code of an ID number for someone of ``district`` born on ``birth``.

    The district's own code if it was in use in the birth year, else the code its area
    had then (浉河区 411502 was made of parts of the county-level 信阳市 413001 and of
    信阳县 413023; ``n`` picks one of them).
    """
    if region_valid_in(district, birth.year):
        return district
    earlier = [c for c in region_predecessors(district) if region_valid_in(c, birth.year)]
    if not earlier:
        raise ValueError(f"no region code of {district} known for {birth.year}")
    return earlier[n % len(earlier)]


def generate_city(people: int = 400, *, seed: int = 716) -> City:
    """A deterministic synthetic city: ``people`` residents, couples, companies, flats."""
    rng = random.Random(seed)
    persons: list[Person] = []
    used: set[str] = set()
    while len(persons) < people:
        region, district = rng.choice(DISTRICTS)
        female = len(persons) % 2 == 1
        birth = date(1960, 1, 1) + timedelta(days=rng.randrange(0, 365 * 40))
        seq = rng.randrange(0, 999)
        if (seq % 2 == 0) != female:
            seq = (seq + 1) % 1000 if seq < 999 else 998
        id_region_code = id_region(region, birth, birth.toordinal())
        id_number = make_id_number(id_region_code, birth, seq, female=female)
        if id_number in used:
            continue
        used.add(id_number)
        address = f"{district}{rng.choice(STREETS)}{rng.randrange(1, 300)}号"
        persons.append(
            Person(id_number, _name(rng), "2" if female else "1", birth, region, address)
        )
    couples: list[tuple[Person, Person]] = []
    for i in range(0, len(persons) - 1, 2):
        if i % 8 == 6:  # one person in four stays single
            continue
        m, f = persons[i], persons[i + 1]
        m.spouse, f.spouse = f, m
        f.address = m.address
        f.region = m.region
        couples.append((m, f))
    for n, p in enumerate(persons):
        head = p if p.spouse is None or p.sex == "1" else p.spouse
        p.household_number = f"{411500 + (n % 9):06d}{persons.index(head):04d}"
        p.relationship = "01" if head is p else "10"
    companies = [
        Company(
            make_uscc("9", "1", "411502", 10_000 + i),
            f"信阳{rng.choice(GIVEN)}{rng.choice(GIVEN)}科技有限公司",
            _name(rng),
            date(2015, 1, 1) + timedelta(days=rng.randrange(0, 3000)),
            f"信阳市浉河区{rng.choice(STREETS)}{rng.randrange(1, 99)}号",
        )
        for i in range(12)
    ]
    developers = [
        Company(
            make_uscc("9", "1", "411503", 20_000 + i),
            f"信阳{name}置业有限公司",
            _name(rng),
            date(2012, 5, 1),
            f"信阳市平桥区{rng.choice(STREETS)}{10 + i}号",
            "有限责任公司(法人独资)",
        )
        for i, name in enumerate(["申城", "茶都", "南湾"])
    ]
    flats: list[Flat] = []
    for i, (m, f) in enumerate(couples):
        dev = developers[i % len(developers)]
        signed = date(2026, 1, 5) + timedelta(days=i)
        building, room = 1 + i // 40, 101 + (i % 40)
        unit = f"411502{6000 + i // 100:06d}GB{i % 100:05d}F{building:04d}{room:04d}"
        area = f"{rng.randrange(89, 144)}.{rng.randrange(0, 99):02d}"
        price = f"{rng.randrange(45, 160) * 10000}.00"
        flats.append(
            Flat(
                unit_number=unit,
                address=f"信阳市平桥区新七大道{88 + i % 3}号{dev.name[2:4]}府"
                f"{building}号楼{room}室",
                area=area,
                price=price,
                buyers=[m, f],
                developer=dev,
                contract_number=f"XYHT-2026-{i + 1:06d}",
                filing_number=f"XYBA-2026-{i + 1:06d}",
                invoice_number=f"2641100000{i + 1:08d}",
                voucher_number=f"341150026{i + 1:09d}",
                title_number=f"豫(2026)信阳市不动产权第{i + 1:07d}号",
                signed=signed,
            )
        )
    return City(persons, couples, companies, developers, flats)
