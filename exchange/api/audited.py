"""One audit entry for a route's own work, with the outcome the work had.

A route that reads the log about the log (a proof, a checkpoint, an entry bundle)
appends its entry when the work is done: ``ok`` when it answers, ``refused``,
``not_found`` or (a 5xx) ``error`` with the error's code when a package error leaves it
(that error is then
answered as problem+json, and the audit middleware adds no second entry). The entry is
durable before the answer is sent either way. A block that writes checks first that
the log is open (``exchange.audit.ensure_open()``), so nothing is stored that no entry
records.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from exchange.audit.log import AuditEvent
from exchange.departments.auth import Principal
from exchange.errors import ExchangeError, NotFound
from exchange.service import Exchange
from schemas.errors import SchemaError

__all__ = ["audited"]


@contextmanager
def audited(
    exchange: Exchange, principal: Principal, action: str, **fields: Any
) -> Iterator[AuditEvent]:
    """Run the block, then append ``action``'s entry with the block's outcome; the block
    may add to the event (its detail) as it goes."""
    event = AuditEvent(actor=principal.uscc, action=action, outcome="ok", **fields)
    try:
        yield event
    except (ExchangeError, SchemaError) as exc:
        status = getattr(exc, "status", 400)
        event.outcome = (
            "not_found" if isinstance(exc, NotFound) else "error" if status >= 500 else "refused"
        )
        event.code = exc.code.value
        exchange.audit.append(event)
        raise
    exchange.audit.append(event)
