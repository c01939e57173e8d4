"""行政区划代码 (GB/T 2260): the province-level table and the codes of 信阳 by year.

* :data:`PROVINCES`: the 34 province-level divisions by their two-digit code. Every
  region check of ``schemas`` asks :func:`province_name` (the ID number, the USCC, the
  region code), so an unknown province is refused the same way everywhere, with the
  code ``schema.unknown_province``.
* The county-level codes of the demo's region (信阳) with the years they were in use,
  read from ``schemas/data/regions_xinyang.json`` (values and source in its comment):
  信阳地区 (4130xx) became the prefecture-level 信阳市 (4115xx) in 1998.
  :func:`region_valid_in` says whether a code was in use in a year, :func:`region_known`
  whether the table lists it at all, :func:`region_predecessors` which codes the same
  area had before a change. Codes of other places are not listed: a check of the
  history applies only where the table knows the code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources as importlib_resources

from schemas.errors import ErrorCode, IdentifierError

__all__ = [
    "PROVINCES",
    "PROVINCE_CODES",
    "RegionYears",
    "province_name",
    "region_known",
    "region_predecessors",
    "region_valid_in",
    "region_years",
    "validate_region_code",
]

PROVINCES: dict[str, str] = {
    "11": "北京市",
    "12": "天津市",
    "13": "河北省",
    "14": "山西省",
    "15": "内蒙古自治区",
    "21": "辽宁省",
    "22": "吉林省",
    "23": "黑龙江省",
    "31": "上海市",
    "32": "江苏省",
    "33": "浙江省",
    "34": "安徽省",
    "35": "福建省",
    "36": "江西省",
    "37": "山东省",
    "41": "河南省",
    "42": "湖北省",
    "43": "湖南省",
    "44": "广东省",
    "45": "广西壮族自治区",
    "46": "海南省",
    "50": "重庆市",
    "51": "四川省",
    "52": "贵州省",
    "53": "云南省",
    "54": "西藏自治区",
    "61": "陕西省",
    "62": "甘肃省",
    "63": "青海省",
    "64": "宁夏回族自治区",
    "65": "新疆维吾尔自治区",
    "71": "台湾省",
    "81": "香港特别行政区",
    "82": "澳门特别行政区",
}
"""The 34 province-level divisions of GB/T 2260: first two digits of a region code → name."""

PROVINCE_CODES: frozenset[str] = frozenset(PROVINCES)
"""First two digits of the 34 province-level divisions (GB/T 2260)."""


def province_name(region: str) -> str:
    """The province-level division that ``region`` (a region code) starts with.

    Raises :class:`~schemas.errors.IdentifierError` with the code
    ``schema.unknown_province`` naming the two digits when they are not in
    :data:`PROVINCES`; callers put the identifier and its position in front.
    """
    name = PROVINCES.get(region[:2])
    if name is None:
        raise IdentifierError(
            f"{region[:2]} is not a province-level division (GB/T 2260)",
            code=ErrorCode.UNKNOWN_PROVINCE,
        )
    return name


def validate_region_code(value: str) -> str:
    """Return ``value`` if it is a 6-digit region code of a province-level division.

    Only the province part is checked (:func:`province_name`); the prefecture and
    county parts change every year and are not.
    """
    if len(value) != 6 or not value.isascii() or not value.isdigit():
        raise IdentifierError(f"region code {value!r}: must be 6 digits")
    try:
        province_name(value)
    except IdentifierError as exc:
        raise IdentifierError(f"region code {value}: {exc.message}", code=exc.code) from None
    return value


@dataclass(frozen=True)
class RegionYears:
    """A county- or prefecture-level code and the years (inclusive) it was in use.

    ``first_year`` None: in use since the earliest list of the source, no earlier code
    known. ``last_year`` None: still in use. ``successors``: the codes of the same area
    after the change.
    """

    code: str
    name: str
    first_year: int | None
    last_year: int | None
    successors: tuple[str, ...]

    def valid_in(self, year: int) -> bool:
        return (self.first_year is None or self.first_year <= year) and (
            self.last_year is None or year <= self.last_year
        )


@cache
def _table() -> dict[str, RegionYears]:
    path = importlib_resources.files("schemas") / "data" / "regions_xinyang.json"
    data = json.loads(path.read_text("utf-8"))
    return {
        row["code"]: RegionYears(
            row["code"],
            row["name"],
            row["first_year"],
            row["last_year"],
            tuple(row["successors"]),
        )
        for row in data["codes"]
    }


def region_years(code: str) -> RegionYears | None:
    """The years ``code`` was in use, or None when the table does not list it."""
    return _table().get(code)


def region_known(code: str) -> bool:
    """True if the table lists ``code`` with its years (today: the codes of 信阳)."""
    return code in _table()


def region_valid_in(code: str, year: int) -> bool:
    """True if the table lists ``code`` and it was in use in ``year``.

    Strict: a code the table does not list is False. A check of real data therefore
    asks :func:`region_known` first and leaves the codes the table does not know alone.
    ``region_valid_in("411502", 1980)`` is False (浉河区 exists from 1998), and
    ``region_valid_in("413001", 1980)`` is True (the county-level 信阳市 before it).
    """
    years = _table().get(code)
    return years is not None and years.valid_in(year)


def region_predecessors(code: str) -> tuple[str, ...]:
    """The codes whose area went (in part) to ``code`` at a change, in code order.

    ``region_predecessors("411502")`` is ``("413001", "413023")``: 浉河区 was made of
    parts of the county-level 信阳市 and of 信阳县.
    """
    return tuple(sorted(r.code for r in _table().values() if code in r.successors))
