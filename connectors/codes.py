"""National code tables a mapping can name: 性别 (GB/T 2261.1) and 民族 (GB/T 3304).

Department systems write 男/女 or 汉族/汉 where the catalog wants ``1``/``2`` and
``01``; these tables translate. Each maps *every* accepted spelling to the code, and
a value that already is a code passes unchanged.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

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

# GB/T 3304-1991 中国各民族名称的罗马字母拼写法和代码 (numeric codes)
_ETHNIC_NAMES: tuple[str, ...] = (
    "汉",
    "蒙古",
    "回",
    "藏",
    "维吾尔",
    "苗",
    "彝",
    "壮",
    "布依",
    "朝鲜",
    "满",
    "侗",
    "瑶",
    "白",
    "土家",
    "哈尼",
    "哈萨克",
    "傣",
    "黎",
    "傈僳",
    "佤",
    "畲",
    "高山",
    "拉祜",
    "水",
    "东乡",
    "纳西",
    "景颇",
    "柯尔克孜",
    "土",
    "达斡尔",
    "仫佬",
    "羌",
    "布朗",
    "撒拉",
    "毛南",
    "仡佬",
    "锡伯",
    "阿昌",
    "普米",
    "塔吉克",
    "怒",
    "乌孜别克",
    "俄罗斯",
    "鄂温克",
    "德昂",
    "保安",
    "裕固",
    "京",
    "塔塔尔",
    "独龙",
    "鄂伦春",
    "赫哲",
    "门巴",
    "珞巴",
    "基诺",
    "",
)


def _ethnicity() -> dict[str, str]:
    table: dict[str, str] = {}
    for number, name in enumerate(_ETHNIC_NAMES, start=1):
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
