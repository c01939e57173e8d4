"""One measured figure, printed next to its peer or limit measured in the same run."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from exchange.audit.latency import percentile as _nearest_rank

__all__ = ["Figure", "percentile"]


def percentile(values: Iterable[float], p: float) -> float:
    """The ``p``-th percentile (0 … 100) of ``values``: the value at index
    ``int(p / 100 × n)`` of the ordered values (the last for p99 of 100 or fewer), as
    the exchange's own latency figures take it (:func:`exchange.audit.latency.percentile`);
    NaN when there are none (a table shows "—")."""
    ordered = sorted(values)
    return _nearest_rank(ordered, p / 100) if ordered else float("nan")


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
