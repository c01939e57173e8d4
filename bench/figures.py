"""One measured figure, printed next to its peer or limit measured in the same run."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Figure"]


@dataclass
class Figure:
    """``value`` (and ``peer_value``) in ``unit``; ``ratio`` = value / peer_value when higher is
    better, or as the figure's note says; ``target`` is its target in README.md's Performance
    table, in words; ``met`` is whether this run met it."""

    id: str
    name: str
    value: float
    unit: str
    peer: str
    peer_value: float | None
    ratio: float | None
    target: str
    met: bool
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
