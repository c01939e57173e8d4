"""Sample department data from the demo city: ``python -m exchange.demo.samples.generate``.

Deterministic: the same city (fixed seed) gives the same files, so a test can check
the shipped samples are what this module makes. Each file holds every record of its
register in the demo city plus a few bad rows, listed in :data:`BAD_ROWS` with the
line they land on and why they must be refused.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from exchange.demo.city import City, generate_city, id_region
from schemas.identifiers import make_id_number, make_uscc

__all__ = [
    "BAD_ROWS",
    "CSV_FILE",
    "JSONL_FILE",
    "SQLITE_FILE",
    "csv_bytes",
    "deed_tax_rows",
    "jsonl_bytes",
    "write_samples",
]

HERE = Path(__file__).resolve().parent
CSV_FILE = "gongan_resident_id_cards.csv"
JSONL_FILE = "zhujian_sales_contract_filings.jsonl"
SQLITE_FILE = "shuiwu_deed_tax.sqlite"

CSV_HEADER = [
    "公民身份号码",
    "姓名",
    "性别",
    "民族",
    "出生日期",
    "住址",
    "签发机关",
    "有效期起始日期",
    "有效期截止日期",
    "更新时间",
]

# file → line (1-based, the CSV header is line 1) → why the row must be refused
BAD_ROWS: dict[str, dict[int, str]] = {
    CSV_FILE: {
        9: "wrong ID check digit",
        17: "missing required field (姓名 empty)",
        26: "unknown code (性别 X)",
        34: "bad date (出生日期 1988年13月01日)",
        43: "wrong encoding (a UTF-8 line in a GBK file)",
    },
    JSONL_FILE: {
        5: "not JSON",
        12: "wrong USCC check character",
        20: "missing required field (不动产单元号)",
    },
    SQLITE_FILE: {
        7: "wrong ID check digit",
        15: "unknown tax rate form (1.5%)",
    },
}

_BASE_TIME = datetime(2026, 1, 5, 9, 0, 0)


def _stamp(i: int) -> str:
    return (_BASE_TIME + timedelta(minutes=i)).strftime("%Y-%m-%d %H:%M:%S")


def _cn_date(iso: str) -> str:
    d = date.fromisoformat(iso)
    return f"{d.year}年{d.month:02d}月{d.day:02d}日"


def _flip_check(id_number: str) -> str:
    last = id_number[-1]
    return id_number[:-1] + ("1" if last != "1" else "2")


def _csv_line(values: Sequence[str]) -> str:
    return ",".join(f'"{v}"' if "," in v or '"' in v else v for v in values) + "\r\n"


def _id_card_row(card: dict[str, Any], stamp: str, ethnicity: str = "汉族") -> list[str]:
    valid_from = date.fromisoformat(card["valid_from"])
    return [
        card["id_number"],
        card["name"],
        "男" if card["sex"] == "1" else "女",
        ethnicity,
        _cn_date(card["birth_date"]),
        card["address"],
        card["issuing_authority"],
        f"{valid_from.year}.{valid_from.month:02d}.{valid_from.day:02d}",
        "长期",
        stamp,
    ]


def csv_bytes(city: City) -> bytes:
    """公安局's export: GBK, Chinese headers, 男/女, 汉族, 1985年03月12日 — and bad rows."""
    bad = BAD_ROWS[CSV_FILE]
    cards = city.resident_id_cards()
    lines: list[bytes] = [_csv_line(CSV_HEADER).encode("gbk")]
    extra = 0
    for i, card in enumerate(cards):
        while len(lines) + 1 in bad:
            lines.append(_bad_csv_line(len(lines) + 1, extra))
            extra += 1
        ethnicity = "回族" if i % 50 == 7 else "汉族"
        lines.append(_csv_line(_id_card_row(card, _stamp(len(lines)), ethnicity)).encode("gbk"))
    return b"".join(lines)


def _bad_csv_line(line: int, n: int) -> bytes:
    why = BAD_ROWS[CSV_FILE][line]
    born = date(1988, 3, 1) + timedelta(days=n * 97)
    id_number = make_id_number(id_region("411502", born, n), born, 501 + n * 2, female=False)
    card = {
        "id_number": id_number,
        "name": f"样例{n + 1}号",
        "sex": "1",
        "birth_date": born.isoformat(),
        "address": "信阳市浉河区新华路1号",
        "issuing_authority": "信阳市公安局浉河分局",
        "valid_from": "2014-03-01",
    }
    row = _id_card_row(card, _stamp(line - 1))
    if why.startswith("wrong ID"):
        row[0] = _flip_check(id_number)
    elif why.startswith("missing"):
        row[1] = ""
    elif why.startswith("unknown code"):
        row[2] = "X"
    elif why.startswith("bad date"):
        row[4] = "1988年13月01日"
    elif why.startswith("wrong encoding"):
        encoded = _csv_line(row).encode("utf-8")
        try:
            encoded.decode("gbk")
        except UnicodeDecodeError:
            return encoded
        raise AssertionError("the wrong-encoding sample row decodes as GBK; pick other text")
    return _csv_line(row).encode("gbk")


def jsonl_bytes(city: City) -> bytes:
    """住建局's export: one JSON object per line, its own field names — and bad rows."""
    bad = BAD_ROWS[JSONL_FILE]
    lines: list[bytes] = []
    for contract in city.sales_contracts():
        while len(lines) + 1 in bad:
            lines.append(_bad_jsonl_line(len(lines) + 1, contract))
        lines.append(_jsonl_line(_contract_row(contract, len(lines))))
    return b"".join(lines)


def _contract_row(c: dict[str, Any], i: int) -> dict[str, Any]:
    return {
        "合同编号": c["contract_number"],
        "备案编号": c["filing_number"],
        "备案日期": c["filing_date"].replace("-", "/"),
        "签订日期": c["signed_date"].replace("-", "/"),
        "买受人": ";".join(c["buyer_names"]),
        "买受人证件号码": list(c["buyer_id_numbers"]),
        "出卖人统一社会信用代码": c["seller_uscc"],
        "出卖人": c["seller_name"],
        "项目名称": c["project_name"],
        "不动产单元号": c["unit_number"],
        "房屋坐落": c["property_address"],
        "建筑面积": float(c["building_area"]),
        "成交总价": float(c["total_price"]),
        "更新时间": _stamp(i),
    }


def _jsonl_line(row: dict[str, Any]) -> bytes:
    return json.dumps(row, ensure_ascii=False).encode("utf-8") + b"\n"


def _bad_jsonl_line(line: int, template: dict[str, Any]) -> bytes:
    why = BAD_ROWS[JSONL_FILE][line]
    if why == "not JSON":
        return '{"合同编号": "XYHT-2026-900001", "备案编号": "XYBA-2026-900001",\n'.encode()
    row = _contract_row(template, line - 1)
    row["合同编号"] = f"XYHT-2026-9{line:05d}"
    row["备案编号"] = f"XYBA-2026-9{line:05d}"
    if why.startswith("wrong USCC"):
        uscc = make_uscc("9", "1", "411503", 29_000 + line)
        row["出卖人统一社会信用代码"] = uscc[:-1] + ("0" if uscc[-1] != "0" else "1")
    else:
        del row["不动产单元号"]
    return _jsonl_line(row)


def deed_tax_rows(city: City) -> list[tuple[Any, ...]]:
    """税务局's table ``qs_jsxx`` (契税缴税信息), rows in insertion order — and bad rows."""
    bad = BAD_ROWS[SQLITE_FILE]
    rows: list[tuple[Any, ...]] = []
    for tax in city.deed_taxes():
        while len(rows) + 1 in bad:
            rows.append(_bad_tax_row(len(rows) + 1, tax))
        rows.append(_tax_row(tax, _stamp(len(rows))))
    return rows


def _tax_row(t: dict[str, Any], stamp: str) -> tuple[Any, ...]:
    return (
        t["tax_voucher_number"],
        t["taxpayer_id_number"],
        t["taxpayer_name"],
        t["property_address"],
        t["unit_number"],
        float(t["taxable_amount"]),
        t["tax_rate"],
        float(t["tax_amount"]),
        t["paid_date"],
        t["tax_authority"],
        stamp,
    )


def _bad_tax_row(line: int, template: dict[str, Any]) -> tuple[Any, ...]:
    why = BAD_ROWS[SQLITE_FILE][line]
    t = dict(template, tax_voucher_number=f"34115002699{line:07d}")
    if why.startswith("wrong ID"):
        t["taxpayer_id_number"] = _flip_check(t["taxpayer_id_number"])
    else:
        t["tax_rate"] = "1.5%"
    return _tax_row(t, _stamp(line - 1))


_TAX_TABLE = """CREATE TABLE qs_jsxx (
  pzxh TEXT PRIMARY KEY,  -- 完税凭证号
  nsrsfzh TEXT NOT NULL,  -- 纳税人身份证号
  nsrxm TEXT NOT NULL,    -- 纳税人姓名
  fwzl TEXT NOT NULL,     -- 房屋坐落
  bdcdyh TEXT NOT NULL,   -- 不动产单元号
  jsyj REAL NOT NULL,     -- 计税依据
  sl TEXT NOT NULL,       -- 税率
  ynse REAL NOT NULL,     -- 应纳税额
  jkrq TEXT NOT NULL,     -- 缴款日期
  swjg TEXT NOT NULL,     -- 税务机关
  gxsj TEXT NOT NULL      -- 更新时间
)"""


def write_samples(folder: Path = HERE, city: City | None = None) -> list[Path]:
    """Write the three sample files into ``folder``; return their paths."""
    city = city or generate_city()
    csv_path = folder / CSV_FILE
    csv_path.write_bytes(csv_bytes(city))
    jsonl_path = folder / JSONL_FILE
    jsonl_path.write_bytes(jsonl_bytes(city))
    db_path = folder / SQLITE_FILE
    db_path.unlink(missing_ok=True)
    db = sqlite3.connect(db_path)
    try:
        db.execute(_TAX_TABLE)
        db.executemany(
            "INSERT INTO qs_jsxx VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", deed_tax_rows(city)
        )
        db.commit()
        db.execute("VACUUM")
    finally:
        db.close()
    return [csv_path, jsonl_path, db_path]


if __name__ == "__main__":
    for written in write_samples(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE):
        print(written)
