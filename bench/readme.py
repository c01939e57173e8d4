"""The README's Performance table, written from one run's figures.

``govex bench --full`` replaces what lies between the two markers below in README.md
with the table of this run (and each figure's note beneath it), so the README never
shows a figure that no run produced. Text outside the markers is left as it is.
"""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from pathlib import Path

from .figures import Figure

__all__ = ["BEGIN", "END", "render", "write"]

BEGIN = "<!-- govex bench: begin (written by `govex bench --full`; edits here are replaced) -->"
END = "<!-- govex bench: end -->"


def _number(value: float) -> str:
    if value != value:  # NaN: nothing was measured
        return "—"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:,.1f}"
    return f"{value:,.2f}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(figures: list[Figure], *, mode: str, when: datetime | None = None) -> str:
    """The Markdown table of ``figures`` with the notes beneath, between the markers."""
    when = when or datetime.now(UTC)
    cores = os.cpu_count() or 0
    lines = [
        BEGIN,
        "",
        f"`govex bench --{mode}`, {when:%Y-%m-%d}, {cores} cores, Python "
        f"{platform.python_version()}; every peer measured in the same run.",
        "",
        "| id | figure | value | peer (same run) | ratio | target | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in figures:
        peer = f.peer if f.peer_value is None else f"{f.peer}: {_number(f.peer_value)} {f.unit}"
        lines.append(
            "| "
            + " | ".join(
                _cell(x)
                for x in (
                    f.id,
                    f.name,
                    f"{_number(f.value)} {f.unit}",
                    peer,
                    _number(f.ratio) if f.ratio is not None else "—",
                    f.target,
                    "yes" if f.met else "**no**",
                )
            )
            + " |"
        )
    notes = [f for f in figures if f.note]
    if notes:
        lines.append("")
        lines.extend(f"- **{f.id}** — {_cell(f.note)}" for f in notes)
    lines += ["", END]
    return "\n".join(lines)


def write(readme: Path, figures: list[Figure], *, mode: str) -> None:
    """Replace the marked block of ``readme`` with this run's table.

    Raises ValueError when the markers are missing or out of order, rather than guess
    where the table goes."""
    text = readme.read_text("utf-8")
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(
            f"{readme} has no bench block: put the lines {BEGIN!r} and {END!r} where the "
            "Performance table belongs"
        )
    block = render(figures, mode=mode)
    readme.write_text(text[:start] + block + text[end + len(END) :], "utf-8")
