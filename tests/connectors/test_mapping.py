from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from connectors.base import RowProblem, SourceRecord
from connectors.errors import ConfigError
from connectors.mapping import FieldSpec, MappedRecord, Mapper, MappingSpec, VersionSpec
from connectors.validator import RecordValidator
from schemas.catalog import ResourceDefinition, load_resources

ID_CARD = "gongan.resident_id_card"
CONTRACT = "zhujian.sales_contract_filing"
GOOD_ID = "41150219880301059X"


def definition(code: str) -> ResourceDefinition:
    return load_resources()[code]


def id_card_spec(**overrides: Any) -> MappingSpec:
    fields: dict[str, FieldSpec | str] = {
        "id_number": FieldSpec(column="身份证号", case="upper"),
        "name": "姓名",
        "sex": FieldSpec(column="性别", code_table="sex"),
        "ethnicity": FieldSpec(column="民族", code_table="民族"),
        "birth_date": FieldSpec(column="出生日期", date_format=["%Y年%m月%d日", "%Y-%m-%d"]),
        "address": "住址",
        "issuing_authority": FieldSpec(column="签发机关", value=None),
        "valid_from": FieldSpec(column="起始", date_format="%Y.%m.%d"),
        "valid_until": FieldSpec(column="截止", date_format="%Y.%m.%d", keep=["长期"]),
    }
    return MappingSpec(fields=fields, **overrides)


def id_card_row(**changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "身份证号": " 41150219880301059x ",
        "姓名": " 样例 ",
        "性别": "男",
        "民族": "回族",
        "出生日期": "1988年03月01日",
        "住址": "信阳市浉河区新华路1号",
        "签发机关": "信阳市公安局浉河分局",
        "起始": "2014.03.01",
        "截止": "长期",
        "更新时间": "2026-01-05 09:00:00",
    }
    row.update(changes)
    return row


def mapped(mapper: Mapper, row: dict[str, Any], line: int = 2) -> MappedRecord:
    out = mapper.map(SourceRecord(line, row))
    assert isinstance(out, MappedRecord), out
    return out


def refused(mapper: Mapper, row: dict[str, Any], line: int = 2) -> RowProblem:
    out = mapper.map(SourceRecord(line, row))
    assert isinstance(out, RowProblem), out
    return out


def test_a_department_row_becomes_a_valid_catalog_record() -> None:
    mapper = Mapper(id_card_spec(), definition(ID_CARD))
    record = mapped(mapper, id_card_row())
    assert record.key == GOOD_ID
    assert record.version == 1
    assert record.data == {
        "id_number": GOOD_ID,
        "name": "样例",
        "sex": "1",
        "ethnicity": "03",
        "birth_date": "1988-03-01",
        "address": "信阳市浉河区新华路1号",
        "issuing_authority": "信阳市公安局浉河分局",
        "valid_from": "2014-03-01",
        "valid_until": "长期",
    }
    assert RecordValidator(definition(ID_CARD)).check(record.data) is None


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("性别", "X", "性别 → sex (性别 (GB/T 2261.1)): unknown code 'X'"),
        ("民族", "火星族", "unknown code '火星族'"),
        ("出生日期", "1988年13月01日", "does not match the date format %Y年%m月%d日 or %Y-%m-%d"),
        ("截止", "永久", "'永久' does not match the date format %Y.%m.%d"),
    ],
)
def test_a_value_that_cannot_be_mapped_refuses_the_row_naming_column_and_value(
    column: str, value: str, reason: str
) -> None:
    problem = refused(Mapper(id_card_spec(), definition(ID_CARD)), id_card_row(**{column: value}))
    assert reason in problem.reason
    assert problem.line == 2
    assert problem.key == GOOD_ID


def test_an_empty_required_column_says_which_one() -> None:
    problem = refused(Mapper(id_card_spec(), definition(ID_CARD)), id_card_row(姓名="  "), line=9)
    assert str(problem) == (
        f"line 9 (key {GOOD_ID}): column 姓名 is empty; name (姓名) is required"
    )


def test_codes_already_in_the_table_pass_and_every_ethnicity_is_known() -> None:
    mapper = Mapper(id_card_spec(), definition(ID_CARD))
    assert mapped(mapper, id_card_row(性别="2", 民族="01")).data["sex"] == "2"
    for name, code in (("汉", "01"), ("基诺族", "56"), ("56", "56"), ("1", "01")):
        assert mapped(mapper, id_card_row(民族=name)).data["ethnicity"] == code


def test_a_source_problem_becomes_a_row_problem_with_its_line() -> None:
    mapper = Mapper(id_card_spec(), definition(ID_CARD))
    problem = mapper.map(SourceRecord(7, {}, "not valid GBK: bytes b7 at byte 29"))
    assert problem == RowProblem(
        7, "not valid GBK: bytes b7 at byte 29", code="connector.source_unreadable"
    )


def test_sql_values_dates_and_decimals_become_the_texts_the_schema_wants() -> None:
    spec = MappingSpec(
        fields={
            "contract_number": "no",
            "filing_number": "filing",
            "filing_date": "filed",
            "signed_date": FieldSpec(column="signed", date_format="%Y/%m/%d"),
            "buyer_names": FieldSpec(column="buyers", split="；"),
            "buyer_id_numbers": FieldSpec(column="ids", case="upper"),
            "seller_uscc": "seller",
            "seller_name": "seller_name",
            "project_name": "project",
            "unit_number": "unit",
            "property_address": "address",
            "building_area": FieldSpec(column="area", decimals=2),
            "total_price": FieldSpec(column="price", decimals=2),
        }
    )
    mapper = Mapper(spec, definition(CONTRACT))
    record = mapped(
        mapper,
        {
            "no": "XYHT-1",
            "filing": "XYBA-1",
            "filed": date(2026, 1, 8),
            "signed": datetime(2026, 1, 5, 10, 30),
            "buyers": "张伟； 李芳；",
            "ids": ["41150219880301059x"],
            "seller": "91411503000200002F",
            "seller_name": "信阳申城置业有限公司",
            "project": "p",
            "unit": "411502006000GB00000F00010101",
            "address": "a",
            "area": Decimal("142.1"),
            "price": 840000,
        },
    )
    assert record.data["filing_date"] == "2026-01-08"
    assert record.data["signed_date"] == "2026-01-05"
    assert record.data["buyer_names"] == ["张伟", "李芳"]
    assert record.data["buyer_id_numbers"] == ["41150219880301059X"]
    assert (record.data["building_area"], record.data["total_price"]) == ("142.10", "840000.00")
    bad = refused(mapper, {"no": "XYHT-1", "area": "12,x"})
    assert "'12,x' is not a number" in bad.reason


def test_boolean_and_integer_fields_are_coerced_or_refused() -> None:
    spec = MappingSpec(
        fields={
            "taxpayer_uscc": "uscc",
            "taxpayer_name": "name",
            "taxpayer_kind": FieldSpec(value="general"),
            "tax_authority": FieldSpec(value="信阳市税务局"),
            "confirmed_date": FieldSpec(value="2020-01-01"),
            "invoice_approved": "approved",
            "status": FieldSpec(value="normal"),
        }
    )
    mapper = Mapper(spec, definition("shuiwu.taxpayer_registration"))
    row = {"uscc": "91411503000200002F", "name": "n"}
    assert mapped(mapper, {**row, "approved": "是"}).data["invoice_approved"] is True
    assert mapped(mapper, {**row, "approved": 0}).data["invoice_approved"] is False
    assert "is not yes/no" in refused(mapper, {**row, "approved": "maybe"}).reason
    births = Mapper(
        MappingSpec(
            fields={
                "certificate_number": "n",
                "child_name": "c",
                "child_sex": FieldSpec(column="s", code_table="sex"),
                "birth_datetime": FieldSpec(column="t", date_format="%Y%m%d%H%M"),
                "birth_region": FieldSpec(value="411502"),
                "birth_place": FieldSpec(value="p"),
                "gestational_weeks": "w",
                "birth_weight_g": "g",
                "institution_name": FieldSpec(value="i"),
                "mother_name": FieldSpec(value="m"),
                "mother_id_number": FieldSpec(value=GOOD_ID),
                "issue_date": FieldSpec(value="2026-01-01"),
            }
        ),
        definition("weijian.birth_medical_certificate"),
    )
    row = {"n": "A000000001", "c": "c", "s": "女", "t": "202601010830", "w": " 39 ", "g": 3200}
    record = mapped(births, row)
    assert (record.data["gestational_weeks"], record.data["birth_weight_g"]) == (39, 3200)
    assert record.data["birth_datetime"] == "2026-01-01T08:30:00"
    assert "'x' is not an integer" in refused(births, {**row, "w": "x"}).reason


def test_the_version_comes_from_an_integer_or_a_timestamp_column() -> None:
    by_int = Mapper(id_card_spec(version=VersionSpec(column="v")), definition(ID_CARD))
    assert mapped(by_int, id_card_row(v="7")).version == 7
    assert "'x' in column v is not an integer" in refused(by_int, id_card_row(v="x")).reason
    assert "column v is empty" in refused(by_int, id_card_row(v="")).reason
    by_time = Mapper(
        id_card_spec(
            version=VersionSpec(column="更新时间", kind="timestamp"), watermark="更新时间"
        ),
        definition(ID_CARD),
    )
    record = mapped(by_time, id_card_row())
    moment = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    assert record.version == int(moment.timestamp()) * 1_000_000
    assert record.watermark == "2026-01-05 09:00:00"
    later = mapped(by_time, id_card_row(更新时间=datetime(2026, 1, 5, 9, 0, 1)))
    assert later.version == record.version + 1_000_000
    assert "not an ISO timestamp" in refused(by_time, id_card_row(更新时间="soon")).reason
    assert by_time.source_columns()[-1] == "更新时间"


def test_nested_json_fields_are_reached_with_dotted_names() -> None:
    spec = id_card_spec()
    spec.fields["name"] = FieldSpec(column="person.name")
    row = id_card_row()
    row["person"] = {"name": "嵌套"}
    assert mapped(Mapper(spec, definition(ID_CARD)), row).data["name"] == "嵌套"


def test_config_problems_are_all_listed_in_plain_words() -> None:
    spec = MappingSpec(
        fields={
            "id_number": FieldSpec(column="a", split=","),
            "nickname": "b",
            "sex": FieldSpec(column="c", code_table="gender"),
            "birth_date": FieldSpec(column="d", date_format="YYYY-MM-DD"),
            "address": FieldSpec(column="e", value="x"),
        },
        version=-1,
    )
    problems = Mapper.problems(spec, definition(ID_CARD))
    text = "\n".join(problems)
    assert "field 'nickname' is not in gongan.resident_id_card" in text
    assert "code table 'gender'" in text
    assert "date format 'YYYY-MM-DD' has no % directive" in text
    assert "split applies only to list fields" in text
    assert "field 'address' needs exactly one of column or value" in text
    assert "required field 'name' (姓名) is not mapped" in text
    assert "version must be an integer" in text
    with pytest.raises(ConfigError, match="nickname"):
        Mapper(spec, definition(ID_CARD))
    spec_without_key = id_card_spec()
    del spec_without_key.fields["id_number"]
    assert "the key field 'id_number' is not mapped" in Mapper.problems(
        spec_without_key, definition(ID_CARD)
    )


def test_a_config_code_table_maps_department_words_onto_catalog_codes() -> None:
    spec = MappingSpec(
        fields={
            "certificate_number": "证号",
            "unit_number": FieldSpec(value="411502006000GB00000F00010101"),
            "owner_names": FieldSpec(column="权利人", split="、"),
            "owner_id_numbers": FieldSpec(column="证件号", split="、"),
            "co_ownership": FieldSpec(column="共有情况", code_table="co_ownership"),
            "address": FieldSpec(value="a"),
            "right_type": FieldSpec(value="r"),
            "right_nature": FieldSpec(value="n"),
            "use": FieldSpec(value="u"),
            "area": FieldSpec(value="1.00"),
            "registration_date": FieldSpec(value="2026-01-01"),
            "registration_authority": FieldSpec(value="信阳市不动产登记中心"),
        },
        code_tables={"co_ownership": {"单独所有": "sole", "共同共有": "joint"}},
    )
    mapper = Mapper(spec, definition("budongchan.property_title"))
    row = {"证号": "豫(2026)信阳市不动产权第0000001号", "权利人": "甲、乙", "证件号": GOOD_ID}
    record = mapped(mapper, {**row, "共有情况": "共同共有"})
    assert (record.data["co_ownership"], record.data["owner_names"]) == ("joint", ["甲", "乙"])
    assert "unknown code '按份'" in refused(mapper, {**row, "共有情况": "按份"}).reason
