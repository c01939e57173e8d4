"""What every source gives the connector: rows with their line numbers, behind one protocol.

A source reads a department system (a CSV export, JSON Lines, a SQL database, a REST
endpoint) and yields :class:`SourceRecord` items: the raw fields of one row and where
it came from (``line``: the line in a file, the row number for SQL and HTTP). A row
that cannot even be read (bytes that are not valid in the declared encoding, a line
that is not JSON) is yielded with ``problem`` set instead of raising, so one bad row
never stops a run. Adding a source is one file with one class that has ``describe()``
and ``read()``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .columns import Columns

__all__ = ["Columnar", "RowProblem", "Source", "SourceRecord"]


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One row as the department system holds it.

    ``line`` is 1-based: the file line where the row starts (a CSV header is line 1),
    or the row's ordinal for SQL and HTTP sources. ``problem`` is set when the row
    could not be read; ``fields`` is then empty.
    """

    line: int
    fields: Mapping[str, Any]
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class RowProblem:
    """A row the connector refused: where it is, its key if known, and why, in plain words."""

    line: int
    reason: str
    key: str | None = None
    code: str = "schema.invalid_record"

    def __str__(self) -> str:
        key = f" (key {self.key})" if self.key else ""
        return f"line {self.line}{key}: {self.reason}"


@runtime_checkable
class Source(Protocol):
    """A readable department system.

    ``read(since)`` yields the rows in source order. ``since`` is the watermark of the
    last run (the highest watermark-column value already in the outbox); a source that
    can filter on it (SQL, HTTP) does so at the source, the others read everything and
    the runner skips what is not newer.
    """

    def describe(self) -> str:
        """Where the rows come from, for messages (a path, a URL, a driver and query)."""
        ...

    def read(self, since: Any = None) -> Iterator[SourceRecord]:
        """The rows, in source order, with their line numbers."""
        ...


@runtime_checkable
class Columnar(Protocol):
    """A source that can also give all its rows at once as columns (a plain CSV export),
    or None when they must be read one by one (:mod:`connectors.columns`)."""

    def read_columns(self) -> Columns | None: ...
