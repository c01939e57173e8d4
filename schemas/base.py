"""Base model for every wire model: unknown fields are refused, never stored."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["StrictModel"]


class StrictModel(BaseModel):
    """A pydantic model that refuses extra fields (RELIABILITY A3)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False, populate_by_name=True)
