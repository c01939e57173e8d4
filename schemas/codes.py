"""National code tables: 性别 (GB/T 2261.1) and 民族 (GB/T 3304), code → Chinese name.

The catalog stores codes (``1``, ``01``); people read names (男, 汉族). Connectors
translate names to codes (:mod:`connectors.codes`); the console decodes codes to names
with :func:`decode`. One table for both directions.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

__all__ = ["CODE_TABLES", "ETHNICITY_NAMES", "ETHNIC_NAMES", "SEX_NAMES", "decode"]

# GB/T 2261.1-2003 人的性别代码
SEX_NAMES: Final = MappingProxyType({"0": "未知的性别", "1": "男", "2": "女", "9": "未说明的性别"})

# GB/T 3304-1991 中国各民族名称的罗马字母拼写法和代码 (numeric codes)
ETHNIC_NAMES: tuple[str, ...] = (
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


def _ethnicity_names() -> dict[str, str]:
    table = {f"{n:02d}": name + "族" for n, name in enumerate(ETHNIC_NAMES, start=1) if name}
    table.update({"97": "其他", "98": "外国血统中国籍人士"})
    return table


ETHNICITY_NAMES: Final = MappingProxyType(_ethnicity_names())

# the field names whose values are codes of a table, across catalog resources and types
CODE_TABLES: Final = MappingProxyType({"sex": SEX_NAMES, "ethnicity": ETHNICITY_NAMES})


def decode(field: str, value: object) -> str | None:
    """The name of ``value`` when ``field`` holds codes of a table (性别 1 → 男), else None."""
    table = CODE_TABLES.get(field)
    if table is None or not isinstance(value, str):
        return None
    return table.get(value)
