"""SQL databases through any DB-API 2.0 driver (PEP 249): sqlite3, psycopg, oracledb …

The connector runs the configured ``query``; for incremental sync it wraps it as
``SELECT * FROM (<query>) AS src WHERE <watermark> > <param> ORDER BY <watermark>``
with the driver's own parameter style, so only rows newer than the last run are read.
Rows are fetched in chunks (``fetchmany``), never all at once. ``line`` is the row's
ordinal in the result.

The query comes from the connector config, written by the department's operator; the
watermark value always travels as a bound parameter, never inside the SQL text.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing
from typing import Any

from .base import SourceRecord
from .errors import ConfigError, SourceError

__all__ = ["SqlSource", "placeholder"]

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def placeholder(paramstyle: str) -> str:
    """The placeholder of one parameter named ``since`` in a DB-API ``paramstyle``."""
    styles = {
        "qmark": "?",
        "numeric": ":1",
        "named": ":since",
        "format": "%s",
        "pyformat": "%(since)s",
    }
    try:
        return styles[paramstyle]
    except KeyError:
        raise ConfigError(f"unknown DB-API paramstyle {paramstyle!r}") from None


def _parameters(paramstyle: str, value: Any) -> Any:
    return {"since": value} if paramstyle in ("named", "pyformat") else [value]


class SqlSource:
    """Rows of a query over a DB-API connection; ``fields`` maps column names to values."""

    def __init__(
        self,
        connect: Callable[[], Any],
        query: str,
        *,
        paramstyle: str,
        watermark: str | None = None,
        fetch_size: int = 5000,
        description: str = "SQL",
    ) -> None:
        if watermark is not None and not _IDENTIFIER.match(watermark):
            raise ConfigError(f"watermark column {watermark!r} is not a plain column name")
        if not query.strip():
            raise ConfigError("the SQL source needs a query")
        placeholder(paramstyle)
        self._connect = connect
        self.query = query.strip().rstrip(";")
        self.paramstyle = paramstyle
        self.watermark = watermark
        self.fetch_size = fetch_size
        self.description = description

    @classmethod
    def from_driver(
        cls,
        driver: str,
        dsn: str | Mapping[str, Any],
        query: str,
        *,
        watermark: str | None = None,
        fetch_size: int = 5000,
    ) -> SqlSource:
        """A source over ``driver`` (an importable DB-API module, e.g. ``sqlite3``, ``psycopg``).

        ``dsn`` is passed to ``driver.connect`` as its one argument, or as keywords when
        it is a mapping.
        """
        try:
            module = importlib.import_module(driver)
        except ImportError as exc:
            raise ConfigError(
                f"DB-API driver {driver!r} is not installed (pip install it beside govex)"
            ) from exc
        connect_fn = getattr(module, "connect", None)
        paramstyle = getattr(module, "paramstyle", None)
        if not callable(connect_fn) or not isinstance(paramstyle, str):
            raise ConfigError(f"{driver!r} is not a DB-API 2.0 driver (no connect/paramstyle)")

        def connect() -> Any:
            if isinstance(dsn, Mapping):
                return connect_fn(**dsn)
            return connect_fn(dsn)

        return cls(
            connect,
            query,
            paramstyle=paramstyle,
            watermark=watermark,
            fetch_size=fetch_size,
            description=f"SQL via {driver}",
        )

    def describe(self) -> str:
        return self.description

    def statement(self, since: Any) -> tuple[str, Any]:
        """The SQL text and parameters for one read (newer than ``since`` when set)."""
        if self.watermark is None:
            return self.query, None
        sql = f"SELECT * FROM ({self.query}) AS src"  # noqa: S608 - operator's query, no input
        if since is None:
            return f"{sql} ORDER BY {self.watermark}", None
        mark = placeholder(self.paramstyle)
        return (
            f"{sql} WHERE {self.watermark} > {mark} ORDER BY {self.watermark}",
            _parameters(self.paramstyle, since),
        )

    def columns(self) -> list[str]:
        """The column names the query returns (runs it with no rows wanted)."""
        sql = f"SELECT * FROM ({self.query}) AS src WHERE 1 = 0"  # noqa: S608 - see module doc
        with closing(self._open()) as conn, closing(conn.cursor()) as cur:
            try:
                cur.execute(sql)
            except Exception as exc:
                raise SourceError(f"{self.description}: the query fails: {exc}") from exc
            return [d[0] for d in cur.description or []]

    def read(self, since: Any = None) -> Iterator[SourceRecord]:
        sql, params = self.statement(since)
        with closing(self._open()) as conn, closing(conn.cursor()) as cur:
            try:
                if params is None:
                    cur.execute(sql)
                else:
                    cur.execute(sql, params)
            except Exception as exc:  # every driver has its own error classes
                raise SourceError(f"{self.description}: the query fails: {exc}") from exc
            names = [d[0] for d in cur.description or []]
            line = 0
            while True:
                try:
                    rows = cur.fetchmany(self.fetch_size)
                except Exception as exc:
                    raise SourceError(f"{self.description}: reading rows failed: {exc}") from exc
                if not rows:
                    break
                for row in rows:
                    line += 1
                    yield SourceRecord(line, dict(zip(names, row, strict=True)))

    def _open(self) -> Any:
        try:
            return self._connect()
        except Exception as exc:
            raise SourceError(f"{self.description}: cannot connect: {exc}") from exc
