"""Slowing down password guessing: failed sign-ins counted per account and per address.

:class:`SignInThrottle` keeps, in memory, the times of recent failed sign-ins for each
staff id and each client address. While an account or an address has had its limit of
failures within the window, further attempts are refused at once
(``exchange.rate_limited``, 429) — without checking the password, so guessing costs
the guesser the whole window. A successful sign-in clears the account's count.
Callers audit every attempt, refused or not.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from exchange.errors import RateLimited

__all__ = ["SignInThrottle"]

_MAX_KEYS = 100_000  # bounded memory: the oldest keys go first


class SignInThrottle:
    """Failed sign-ins per account and per address within a sliding window."""

    def __init__(self, *, window_s: float, per_account: int, per_address: int) -> None:
        self.window_s = window_s
        self.per_account = per_account
        self.per_address = per_address
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, account: str, address: str) -> None:
        """Raise :class:`RateLimited` while the account or the address is over its limit."""
        now = time.monotonic()
        with self._lock:
            for key, limit in (
                (f"a:{account}", self.per_account),
                (f"ip:{address}", self.per_address),
            ):
                if self._recent(key, now) >= limit:
                    raise RateLimited(
                        "too many failed sign-ins for this account or from this address; "
                        f"wait up to {int(self.window_s // 60) or 1} minutes and try again"
                    )

    def failed(self, account: str, address: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in (f"a:{account}", f"ip:{address}"):
                self._failures.setdefault(key, deque()).append(now)
            while len(self._failures) > _MAX_KEYS:
                del self._failures[next(iter(self._failures))]

    def succeeded(self, account: str) -> None:
        with self._lock:
            self._failures.pop(f"a:{account}", None)

    def _recent(self, key: str, now: float) -> int:
        times = self._failures.get(key)
        if times is None:
            return 0
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._failures[key]
            return 0
        return len(times)
