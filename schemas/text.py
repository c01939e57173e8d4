"""Text at the boundary: strings that are valid Unicode, of a bounded length.

A lone surrogate (``"\\ud800"``) is a legal JSON escape but not Unicode: it cannot be
encoded as UTF-8, so DuckDB, pyarrow and the signing code would fail on it far from
the request. Every wire model refuses it where it enters (code ``schema.invalid_text``).

* :func:`is_unicode` / :func:`clean_text` — one string;
* :func:`find_non_unicode` — the first non-Unicode string in a nested JSON value;
* :func:`unicode_json` — a pydantic validator for nested JSON values;
* :data:`UNICODE` — pydantic field metadata refusing lone surrogates, and bounded
  string types built with it: :data:`Code` (64), :data:`Line` (200),
  :data:`Paragraph` (2,000 characters).
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from schemas.errors import ErrorCode, SchemaError

__all__ = [
    "INVALID_TEXT_TYPE",
    "UNICODE",
    "Code",
    "Line",
    "Paragraph",
    "clean_text",
    "find_non_unicode",
    "is_unicode",
    "unicode_json",
]

# the pydantic error type of a string that is not valid Unicode (mapped to schema.invalid_text)
INVALID_TEXT_TYPE = "invalid_text"


def is_unicode(value: str) -> bool:
    """Whether ``value`` encodes as UTF-8 (it holds no lone surrogate)."""
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def clean_text(value: str, where: str) -> str:
    """``value`` if it is valid Unicode; raises :class:`SchemaError` (invalid_text)."""
    if not is_unicode(value):
        raise SchemaError(
            f"{where} holds a lone surrogate: text must be valid Unicode",
            code=ErrorCode.INVALID_TEXT,
        )
    return value


def find_non_unicode(value: Any, where: str = "") -> str | None:
    """The location (dotted) of the first key or string in ``value`` that is not valid
    Unicode, or None when all are."""
    stack: list[tuple[Any, str]] = [(value, where)]
    while stack:
        item, at = stack.pop()
        if isinstance(item, str):
            if not is_unicode(item):
                return at or "value"
        elif isinstance(item, dict):
            for k, v in item.items():
                if isinstance(k, str) and not is_unicode(k):
                    return f"{at}.<key>".lstrip(".")
                stack.append((v, f"{at}.{k}".lstrip(".")))
        elif isinstance(item, list | tuple):
            stack.extend((v, f"{at}.{i}".lstrip(".")) for i, v in enumerate(item))
    return None


def _unicode(value: str) -> str:
    if not is_unicode(value):
        raise PydanticCustomError(
            INVALID_TEXT_TYPE, "text must be valid Unicode (it holds a lone surrogate)"
        )
    return value


# a pydantic field metadata item that refuses strings that are not valid Unicode
UNICODE = AfterValidator(_unicode)

# bounded Unicode strings for wire models: an identifier or code, a line, a paragraph
Code = Annotated[str, Field(max_length=64), UNICODE]
Line = Annotated[str, Field(max_length=200), UNICODE]
Paragraph = Annotated[str, Field(max_length=2000), UNICODE]


def unicode_json(value: Any) -> Any:
    """A pydantic after-validator for strings and JSON values: refuses lone surrogates."""
    try:
        orjson.dumps(value)  # C speed; refuses a lone surrogate (and types it cannot write)
    except orjson.JSONEncodeError:
        pass
    else:
        return value
    found = find_non_unicode(value)
    if found is not None:
        raise PydanticCustomError(
            INVALID_TEXT_TYPE,
            "text at {where} must be valid Unicode (it holds a lone surrogate)",
            {"where": found},
        )
    return value
