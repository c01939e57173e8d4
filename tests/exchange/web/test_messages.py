"""The console's one table of messages: every stable code and every check has its Chinese."""

from __future__ import annotations

import pytest

from exchange.certificates.vocabulary import CHECKS
from exchange.web.licence import CHECK_LABELS
from exchange.web.messages import (
    case_reason,
    display_value,
    field_title,
    humanise,
    message_for,
    resource_name,
)
from schemas.errors import ErrorCode


@pytest.mark.parametrize("code", list(ErrorCode))
def test_every_stable_code_has_its_own_chinese_message(code: ErrorCode) -> None:
    said = message_for(code)
    assert said is not message_for("no.such_code")  # not the generic fallback
    assert any("\u4e00" <= ch <= "\u9fff" for ch in said.zh)
    assert said.en
    assert "/v1/" not in said.zh + said.en


def test_every_check_of_a_verdict_has_a_chinese_name() -> None:
    assert [c for c in CHECKS if c not in CHECK_LABELS] == []


def test_a_missing_grant_names_the_department_to_ask() -> None:
    said = case_reason("no_grant", "国家税务总局信阳市税务局")
    assert said.zh == "未获授权：请向国家税务总局信阳市税务局申请共享授权。"
    assert said.action is not None
    assert said.action.href == "/console/grants"


def test_details_lose_api_paths_and_codes_and_name_fields_by_their_titles() -> None:
    text = humanise(
        "minzheng.marriage_registration is conditional (有条件共享) and you hold no approved "
        "grant for purpose 'x'; request one with POST /v1/grants; male_party_id_number"
    )
    assert "/v1/" not in text
    assert "婚姻登记信息" in text
    assert "男方公民身份号码" in text
    assert "male_party_id_number" not in text
    assert humanise("exchange.grant_missing: no") == "no"


def test_fields_by_title_and_coded_values_by_name() -> None:
    assert field_title("sex") == "性别"
    assert display_value("sex", "1") == "男"
    assert display_value("ethnicity", "01") == "汉族"
    assert display_value("ethnicity", "03") == "回族"
    assert display_value("name", "1") is None
    assert resource_name("budongchan.new_commercial_housing_transfer").startswith("新建商品房")
