"""Pages of list answers, bounded by bytes as well as by items.

A page holds at most ``limit`` items (a query parameter) and at most
``api.max_page_bytes`` of JSON (a setting): large items (long audit details, long
quarantine reasons) cannot make one answer megabytes long. A page cut short by bytes
says where to go on (``next_offset``), like a page cut by items.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from pydantic import BaseModel

__all__ = ["within_bytes"]

Item = TypeVar("Item", bound=BaseModel)


def within_bytes(items: Sequence[Item], max_bytes: int) -> list[Item]:
    """The longest prefix of ``items`` whose JSON fits in ``max_bytes`` (at least one item,
    so a page always moves on)."""
    out: list[Item] = []
    used = 0
    for item in items:
        size = len(item.__pydantic_serializer__.to_json(item)) + 1  # the comma between items
        if out and used + size > max_bytes:
            break
        out.append(item)
        used += size
    return out
