"""Third-party errors translated to ours at the boundary: one table.

DuckDB, the OS, PyJWT, cryptography and Kafka raise their own exceptions. Code that
knows the context translates them where they happen (``raise ... from exc``) with a
precise message; whatever escapes that reaches the CLI's entry point, the store's
opening or the API's last-resort handler and is translated here, by
:data:`THIRD_PARTY_ERRORS` (first match wins, like httpx's ``HTTPCORE_EXC_MAP``), into
one clear line with a stable code instead of a traceback or a bare 500.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import duckdb
import jwt
from cryptography.exceptions import InvalidKey, InvalidSignature, UnsupportedAlgorithm

from exchange.errors import AuthError, Conflict, ExchangeError, StoreLocked, StoreUnavailable
from schemas.errors import ErrorCode, SchemaError
from signing.errors import KeyLoadError, SigningError, VerificationError

__all__ = ["THIRD_PARTY_ERRORS", "translate", "translated"]

Ours = ExchangeError | SigningError | SchemaError


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _duckdb_io(exc: BaseException) -> Ours:
    line = _first_line(exc)
    if "lock" in line.lower():
        return StoreLocked(
            f"the database is in use by another process: {line}; stop it first, "
            "or use another --data directory"
        )
    return StoreUnavailable(
        f"the database file cannot be read or written: {line}; if it is damaged, "
        "restore a backup into a new directory (govex restore)"
    )


def _duckdb(exc: BaseException) -> Ours | None:
    if type(exc) is not duckdb.Error:
        return None  # a query DuckDB refused (input, conversion, binder…): a defect of ours
    # DuckDB raises its base class for a damaged file (e.g. a block checksum mismatch)
    return StoreUnavailable(
        f"the database failed: {_first_line(exc)}; if the file is corrupt, restore a backup "
        "into a new directory (govex restore)"
    )


def _duckdb_fatal(exc: BaseException) -> Ours:
    return StoreUnavailable(
        f"the database can no longer be used: {_first_line(exc)}; restart govex serve"
    )


def _duckdb_conflict(exc: BaseException) -> Ours:
    return Conflict(f"a concurrent change conflicted with this one; retry: {_first_line(exc)}")


def _os(exc: BaseException) -> Ours:
    assert isinstance(exc, OSError)
    where = exc.filename if exc.filename is not None else "a file"
    what = exc.strerror or _first_line(exc)
    return StoreUnavailable(f"cannot use {where}: {what}; check the path and its permissions")


def _jwt(exc: BaseException) -> Ours:
    return AuthError(f"token refused: {_first_line(exc)}", code=ErrorCode.INVALID_TOKEN)


def _signature(exc: BaseException) -> Ours:
    return VerificationError("the signature does not verify")


def _key(exc: BaseException) -> Ours:
    return KeyLoadError(f"the key cannot be used: {_first_line(exc)}")


def _kafka(exc: BaseException) -> Ours:
    return ExchangeError(
        f"the Kafka bus failed: {_first_line(exc)}", code=ErrorCode.BUS_UNAVAILABLE
    )


# (third-party exception, its translation); the first entry that matches applies
THIRD_PARTY_ERRORS: tuple[
    tuple[type[BaseException], Callable[[BaseException], Ours | None]], ...
] = (
    (duckdb.IOException, _duckdb_io),
    (duckdb.FatalException, _duckdb_fatal),
    (duckdb.TransactionException, _duckdb_conflict),
    (duckdb.Error, _duckdb),
    (jwt.PyJWTError, _jwt),
    (InvalidSignature, _signature),
    (InvalidKey, _key),
    (UnsupportedAlgorithm, _key),
    (OSError, _os),
)


def _is_kafka_error(exc: BaseException) -> bool:
    # kafka-python is imported only by a Kafka bus; its errors are matched by module
    return any(c.__module__ == "kafka.errors" for c in type(exc).__mro__)


def translate(exc: BaseException) -> Ours | None:
    """Our error for a third-party ``exc`` (to raise ``from exc``), or None if it is not
    one the table knows (a defect: let it surface)."""
    if isinstance(exc, ExchangeError | SigningError | SchemaError):
        return exc
    for kind, make in THIRD_PARTY_ERRORS:
        if isinstance(exc, kind):
            return make(exc)  # None: the table knows the kind but not this one
    if _is_kafka_error(exc):
        return _kafka(exc)
    return None


@contextmanager
def translated() -> Iterator[None]:
    """Run a block; a third-party error it raises leaves as ours (``from`` the original)."""
    try:
        yield
    except Exception as exc:
        ours = translate(exc)
        if ours is None or ours is exc:
            raise
        raise ours from exc
