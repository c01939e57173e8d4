"""SVG charts drawn by govex itself: no charting library, no CDN, no script.

Each function returns an inline ``<svg>`` (as :class:`markupsafe.Markup`) that scales
to its container (``viewBox``, no fixed size), is announced to screen readers as one
image with a title and a description, and uses presentation attributes only (the
console's Content-Security-Policy forbids inline styles). Every text is escaped.
The pages put the numbers in a table beside each chart as well.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from itertools import count

from markupsafe import Markup

__all__ = ["PALETTE", "Series", "bars", "nice_ceiling", "stacked_columns"]

PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#393b79",
    "#ad494a",
)
_INK = "#1c2430"
_MUTED = "#5b6675"
_GRID = "#d6dbe3"
_FONT = 'font-family="system-ui, Noto Sans CJK SC, sans-serif"'
_ids = count(1)


@dataclass(frozen=True)
class Series:
    """One named series of values, one value per category."""

    name: str
    values: Sequence[float]
    colour: str | None = None


def nice_ceiling(value: float, ticks: int = 4) -> float:
    """The top of an axis of ``ticks`` equal steps of 1, 2 or 5 × 10^k (at least 1 each).

    ``nice_ceiling(33)`` is 40 (steps of 10), ``nice_ceiling(3)`` is 4 (steps of 1).
    """
    raw = max(value, 0.0) / ticks
    if raw <= 1:
        return float(ticks)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    return float(step * ticks)


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _open(width: int, height: int, title: str, desc: str) -> tuple[str, str]:
    n = next(_ids)
    head = (
        f'<svg viewBox="0 0 {width} {height}" role="img" aria-labelledby="chart-t{n} '
        f'chart-d{n}" xmlns="http://www.w3.org/2000/svg" {_FONT}>'
        f'<title id="chart-t{n}">{escape(title)}</title><desc id="chart-d{n}">{escape(desc)}</desc>'
    )
    return head, "</svg>"


def _empty(width: int, height: int, title: str, message: str) -> Markup:
    head, tail = _open(width, height, title, message)
    body = (
        f'<rect x="0.5" y="0.5" width="{width - 1}" height="{height - 1}" fill="none" '
        f'stroke="{_GRID}"/><text x="{width / 2}" y="{height / 2}" text-anchor="middle" '
        f'font-size="14" fill="{_MUTED}">{escape(message)}</text>'
    )
    return Markup(head + body + tail)  # noqa: S704 - every text above is escaped


def stacked_columns(
    title: str,
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    width: int = 640,
    height: int = 320,
    font: int = 11,
    legend_columns: int = 3,
    empty: str = "no data",
) -> Markup:
    """Columns per category (e.g. per day), each stacked from the series (e.g. departments).

    ``font`` is in the chart's own units: a chart drawn narrow and shown wide needs less.
    """
    totals = [sum(s.values[i] for s in series) for i in range(len(categories))]
    if not categories or not any(totals):
        return _empty(width, height, title, empty)
    line = font + 7
    legend_rows = math.ceil(len(series) / legend_columns)
    left, right, top = font * 4, 12, 12
    bottom = font * 2 + 12 + legend_rows * line
    plot_w, plot_h = width - left - right, height - top - bottom
    ceiling = nice_ceiling(max(totals))
    head, tail = _open(
        width,
        height,
        title,
        "; ".join(f"{c}: {_number(t)}" for c, t in zip(categories, totals, strict=True)),
    )
    parts = [head]
    for k in range(5):
        value = ceiling * k / 4
        y = top + plot_h - plot_h * k / 4
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{_GRID}"/>'
            f'<text x="{left - 6}" y="{y + font / 3:.1f}" text-anchor="end" font-size="{font}" '
            f'fill="{_MUTED}">{_number(value)}</text>'
        )
    slot = plot_w / len(categories)
    bar = max(2.0, min(48.0, slot * 0.7))
    label_every = max(1, math.ceil(font * 3.4 / slot))
    for i, category in enumerate(categories):
        x = left + slot * i + (slot - bar) / 2
        y = top + plot_h
        for j, s in enumerate(series):
            value = s.values[i]
            if value <= 0:
                continue
            h = plot_h * value / ceiling
            y -= h
            colour = s.colour or PALETTE[j % len(PALETTE)]
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{colour}"><title>{escape(category)} · {escape(s.name)}: '
                f"{_number(value)}</title></rect>"
            )
        if (len(categories) - 1 - i) % label_every == 0:  # the latest day always labelled
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{top + plot_h + font + 5}" '
                f'text-anchor="middle" font-size="{font}" fill="{_INK}">{escape(category)}</text>'
            )
    legend_y = top + plot_h + font * 2 + 12 + font
    column_w = (width - left) / legend_columns
    for j, s in enumerate(series):
        lx = left + column_w * (j % legend_columns)
        ly = legend_y + line * (j // legend_columns)
        colour = s.colour or PALETTE[j % len(PALETTE)]
        parts.append(
            f'<rect x="{lx:.1f}" y="{ly - font + 1}" width="{font - 1}" height="{font - 1}" '
            f'fill="{colour}"/><text x="{lx + font + 3:.1f}" y="{ly}" font-size="{font}" '
            f'fill="{_INK}">{escape(s.name)}</text>'
        )
    parts.append(tail)
    return Markup("".join(parts))  # noqa: S704 - every text above is escaped


def bars(
    title: str,
    items: Sequence[tuple[str, float]],
    *,
    width: int = 400,
    colour: str = PALETTE[0],
    unit: str = "",
    empty: str = "no data",
    ceiling: float | None = None,
) -> Markup:
    """Horizontal bars, each labelled above its bar (reads on a narrow screen too)."""
    if not items or not any(v for _, v in items):
        return _empty(width, 120, title, empty)
    font = 14
    row = 46
    height = 8 + row * len(items)
    top_value = ceiling or nice_ceiling(max(v for _, v in items), ticks=1)
    head, tail = _open(
        width, height, title, "; ".join(f"{label}: {_number(v)}{unit}" for label, v in items)
    )
    parts = [head]
    usable = width - 70
    for i, (label, value) in enumerate(items):
        y = 4 + row * i
        w = max(1.0, usable * value / top_value) if value > 0 else 0.0
        parts.append(
            f'<text x="0" y="{y + font}" font-size="{font}" fill="{_INK}">{escape(label)}</text>'
            f'<rect x="0" y="{y + 20}" width="{usable}" height="16" fill="#eef1f5"/>'
            f'<rect x="0" y="{y + 20}" width="{w:.1f}" height="16" fill="{colour}"/>'
            f'<text x="{min(w, usable) + 6:.1f}" y="{y + 33}" font-size="{font}" '
            f'fill="{_INK}">{_number(value)}{escape(unit)}</text>'
        )
    parts.append(tail)
    return Markup("".join(parts))  # noqa: S704 - every text above is escaped
