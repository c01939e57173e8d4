"""National code tables a mapping can name: 性别 (GB/T 2261.1) and 民族 (GB/T 3304).

Department systems write 男/女 or 汉族/汉 where the catalog wants ``1``/``2`` and
``01``; these tables translate. Each maps *every* accepted spelling to the code, and
a value that already is a code passes unchanged.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

from schemas.codes import ETHNIC_NAMES

__all__ = ["BUILTIN_TABLES", "ETHNICITY", "SEX"]

_SEX: dict[str, str] = {
    "0": "0",
    "未知": "0",
    "未知的性别": "0",
    "1": "1",
    "男": "1",
    "男性": "1",
    "M": "1",
    "male": "1",
    "2": "2",
    "女": "2",
    "女性": "2",
    "F": "2",
    "female": "2",
    "9": "9",
    "未说明": "9",
    "未说明的性别": "9",
}


def _ethnicity() -> dict[str, str]:
    table: dict[str, str] = {}
    for number, name in enumerate(ETHNIC_NAMES, start=1):
        code = f"{number:02d}"
        table[name + "族"] = code
        table[name] = code
        table[code] = code
        table[str(number)] = code
    table.update({"97": "97", "其他": "97", "98": "98", "外国血统中国籍人士": "98"})
    return table


SEX: Final = MappingProxyType(_SEX)
ETHNICITY: Final = MappingProxyType(_ethnicity())

BUILTIN_TABLES: Final = MappingProxyType(
    {"sex": SEX, "性别": SEX, "ethnicity": ETHNICITY, "民族": ETHNICITY}
)
