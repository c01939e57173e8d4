"""Grant purposes: 事项 codes where a matter reads the resource, stated purposes elsewhere."""

from __future__ import annotations

import pytest

from exchange.catalog.grants import check_purposes
from exchange.errors import InvalidRequest
from schemas.matters import load_matters

MATTER = "budongchan.new_commercial_housing_transfer"


def _read_by(matter: str) -> str:
    for material in load_matters()[matter].materials:
        resource = getattr(material.source, "resource", None)
        if resource:
            return str(resource)
    raise AssertionError(f"{matter} reads no resource")


def test_a_resource_a_matter_reads_takes_matter_codes_only() -> None:
    resource = _read_by(MATTER)
    check_purposes([MATTER], resource)
    with pytest.raises(InvalidRequest) as refused:
        check_purposes([MATTER, "核验身份"], resource)
    assert refused.value.code.value == "exchange.purpose_not_a_matter"


def test_a_resource_no_matter_reads_takes_the_stated_purpose() -> None:
    # an operator-added resource (the README's 高龄津贴): no case reads it, the API does
    check_purposes(["户籍注销核查"], "minzheng.elderly_allowance")
    with pytest.raises(InvalidRequest):
        check_purposes(["户籍注销核查"])  # without a resource: matter codes only
