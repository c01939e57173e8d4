"""Base model for every wire model: unknown fields are refused, never stored, and text
that is not valid Unicode (a lone surrogate) is refused where it enters."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from schemas.text import unicode_json

__all__ = ["StrictModel"]


class StrictModel(BaseModel):
    """A pydantic model that refuses extra fields (RELIABILITY A3)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False, populate_by_name=True)

    @field_validator("*", mode="after")
    @classmethod
    def _valid_unicode(cls, value: Any) -> Any:
        """Refuse lone surrogates in any field: DuckDB, pyarrow and signing cannot hold them."""
        if isinstance(value, str):
            return value if value.isascii() else unicode_json(value)
        if isinstance(value, list | dict):
            return unicode_json(value)
        return value
