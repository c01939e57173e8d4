"""JSON Lines exports: one JSON object per line (UTF-8), with their line numbers.

A line that is not UTF-8, not JSON, or not an object becomes one reported row; the
rest of the file goes on. Blank lines are skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from .base import SourceRecord
from .errors import SourceError

__all__ = ["JsonlSource"]


class JsonlSource:
    """Rows of a JSON Lines file; ``fields`` is each line's object."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def describe(self) -> str:
        return f"JSON Lines {self.path}"

    def read(self, since: Any = None) -> Iterator[SourceRecord]:
        try:
            handle = self.path.open("rb")
        except OSError as exc:
            raise SourceError(f"cannot open {self.path}: {exc.strerror or exc}") from exc
        with handle:
            for number, raw in enumerate(handle, start=1):
                line = raw.strip()
                if not line:
                    continue
                if number == 1 and line.startswith(b"\xef\xbb\xbf"):
                    line = line[3:]
                try:
                    value = orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    yield SourceRecord(number, {}, f"not valid JSON: {exc}")
                    continue
                if not isinstance(value, dict):
                    kind = type(value).__name__
                    yield SourceRecord(number, {}, f"a JSON {kind}, not an object")
                    continue
                yield SourceRecord(number, value)
