"""How every ``govex`` command prints: a table, JSON, or plain rows that survive a pipe.

- :data:`console`, :data:`err` — stdout and stderr consoles that never wrap a line in the
  middle of a token (``soft_wrap``), never read values as rich markup and never highlight;
- :func:`say` / :func:`warn` — one line of text as it is, to stdout / stderr;
- :func:`emit_json` — one JSON document on stdout (``--json``);
- :func:`show` — rows of a listing or report: JSON with ``--json``, a rich table on a
  terminal, and on anything else (a pipe, a file) one tab-separated row per line with
  every value whole (as ``gh`` does); no truncation, no wrapping, no markup either way.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

__all__ = ["console", "emit_json", "err", "is_terminal", "say", "show", "warn"]

console = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)


def is_terminal() -> bool:
    """Whether stdout is a terminal a person reads (else: a pipe or a file a program reads)."""
    return sys.stdout.isatty()


def say(text: str) -> None:
    """Print ``text`` to stdout as it is (no markup, no highlighting, no wrapping)."""
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def warn(text: str) -> None:
    """Print ``text`` to stderr as it is."""
    err.print(text, markup=False, highlight=False, soft_wrap=True)


def emit_json(value: Any) -> None:
    """``value`` as one JSON document on stdout (UTF-8, Chinese kept as written)."""
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2, default=str) + "\n")
    sys.stdout.flush()


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def _plain(value: str) -> str:
    """One cell of a plain row: tabs and line breaks would split it, so they become spaces."""
    return value.replace("\t", " ").replace("\r", " ").replace("\n", " ")


def show(
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    as_json: bool = False,
    records: Any = None,
    title: str | None = None,
) -> None:
    """Print ``rows`` (one value per column) as the caller asked and the output allows.

    ``records`` is what ``--json`` prints (default: each row as an object keyed by the
    column names). On a terminal the rows form a table whose cells fold instead of being cut;
    elsewhere each row is one line of tab-separated values with no header.
    """
    materialised = [[_cell(v) for v in row] for row in rows]
    if as_json:
        emit_json(
            records
            if records is not None
            else [dict(zip(columns, row, strict=True)) for row in materialised]
        )
        return
    if not is_terminal():
        out = sys.stdout
        for row in materialised:
            out.write("\t".join(_plain(v) for v in row) + "\n")
        out.flush()
        return
    table = Table(*columns, title=title)
    for column in table.columns:
        column.overflow = "fold"
    for row in materialised:
        table.add_row(*(Text(v) for v in row))
    console.print(table)
