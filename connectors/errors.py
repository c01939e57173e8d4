"""Errors of the connectors.

Exception tree (each carries a stable ``code``)::

    ConnectorError              connector.*
    ├── ConfigError             the connector config is wrong (says which setting, and why)
    ├── SourceError             the department system cannot be read at all
    ├── OutboxError             the local outbox cannot be opened or written
    └── PublishError            a batch could not be published
        ├── Unreachable         the exchange or the broker did not answer within the retry
        │                       deadline; the batches stay in the outbox, nothing is lost
        └── Refused             the exchange answered and refused the batch (will not retry)

A bad *row* is not an exception: it is reported with its line number and reason
(:class:`connectors.base.RowProblem`) and the run goes on.
"""

from __future__ import annotations

from schemas.errors import ErrorCode

__all__ = [
    "ConfigError",
    "ConnectorError",
    "OutboxError",
    "PublishError",
    "Refused",
    "SourceError",
    "Unreachable",
]


class ConnectorError(Exception):
    """Root of the errors raised by ``connectors``."""

    code: ErrorCode = ErrorCode.PUBLISH_FAILED

    def __init__(self, message: str, *, code: ErrorCode | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0])


class ConfigError(ConnectorError):
    code = ErrorCode.CONNECTOR_CONFIG


class SourceError(ConnectorError):
    code = ErrorCode.SOURCE_UNREADABLE


class OutboxError(ConnectorError):
    code = ErrorCode.PUBLISH_FAILED


class PublishError(ConnectorError):
    code = ErrorCode.PUBLISH_FAILED


class Unreachable(PublishError):
    code = ErrorCode.BUS_UNAVAILABLE


class Refused(PublishError):
    code = ErrorCode.PUBLISH_FAILED
