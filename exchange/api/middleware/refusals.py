"""Anonymous refusals per client address and minute: a few entries, then one count.

A request without a valid token costs the caller nothing, and each used to cost the
exchange an audit entry that is kept 183 days. :class:`AnonymousRefusals` bounds that:
per client address and minute, the first :data:`FREE_PER_MINUTE` anonymous refusals get
their own entry as before; the rest are counted, and when the minute is over (at the
next request, or when the app shuts down) each address's count becomes one
``http.anonymous_refusals`` entry (``detail``: address, minute, count). Every request is
still accounted for; a flood costs one entry per address and minute. At most
:data:`MAX_ADDRESSES` addresses are told apart per minute; further ones share the
address ``"*"``.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from exchange.audit.event import cap_text
from exchange.audit.log import AuditEvent

__all__ = ["ACTION", "FREE_PER_MINUTE", "MAX_ADDRESSES", "AnonymousRefusals"]

ACTION = "http.anonymous_refusals"
FREE_PER_MINUTE = 10
MAX_ADDRESSES = 10_000


class AnonymousRefusals:
    """Counts anonymous refusals per (address, minute); see the module docstring."""

    def __init__(self, free: int = FREE_PER_MINUTE, max_addresses: int = MAX_ADDRESSES) -> None:
        self.free = free
        self.max_addresses = max_addresses
        self._lock = threading.Lock()
        self._minute = self._now()
        self._seen: dict[str, int] = {}  # address → refusals in the current minute
        self._pending: list[AuditEvent] = []  # count entries of minutes that are over

    @staticmethod
    def _now() -> int:
        return int(time.time() // 60)

    def admit(self, address: str) -> bool:
        """Count one refusal; whether it gets an entry of its own."""
        with self._lock:
            self._roll(self._now())
            if address not in self._seen and len(self._seen) >= self.max_addresses:
                address = "*"
            count = self._seen.get(address, 0) + 1
            self._seen[address] = count
            return count <= self.free

    def due(self) -> list[AuditEvent]:
        """The count entries of minutes that are over (none most of the time)."""
        if self._minute == self._now() and not self._pending:
            return []
        with self._lock:
            self._roll(self._now())
            out, self._pending = self._pending, []
        return out

    def flush(self) -> list[AuditEvent]:
        """Every count so far as entries, the current minute's included (shutdown)."""
        with self._lock:
            self._roll(self._now() + 1)
            out, self._pending = self._pending, []
        return out

    def requeue(self, events: list[AuditEvent]) -> None:
        """Keep count entries the log refused, for the next attempt."""
        with self._lock:
            self._pending = [*events, *self._pending]

    def _roll(self, minute: int) -> None:
        """Close the current minute if ``minute`` is later; queue its count entries."""
        if minute == self._minute:
            return
        stamp = datetime.fromtimestamp(self._minute * 60, UTC).strftime("%Y-%m-%dT%H:%MZ")
        counted = [
            AuditEvent(
                actor="anonymous",
                action=ACTION,
                outcome="refused",
                detail={"address": cap_text(a), "minute": stamp, "count": n - self.free},
            )
            for a, n in sorted(self._seen.items())
            if n > self.free
        ]
        self._pending = [*self._pending, *counted]
        self._seen = {}
        self._minute = minute
