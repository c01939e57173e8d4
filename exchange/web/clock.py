"""Times for people: Beijing time (北京时间, UTC+8) everywhere on the console.

The log, the bundles and the API keep UTC (``…Z``); every page shows a moment through
:func:`beijing` (also the template filter ``beijing``), so one page never says UTC while
another says 北京时间.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from exchange.certificates.vocabulary import CHINA_TIME

__all__ = ["beijing", "now_beijing"]


def beijing(value: datetime | date | str | None, *, seconds: bool = True) -> str:
    """``value`` (a datetime, UTC when naive, or an ISO text) in Beijing time, e.g.
    ``2026-01-31 09:00:00``; a date stays a date; unreadable text is shown as it is."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        value = parsed
    if not isinstance(value, datetime):
        return value.isoformat()
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(CHINA_TIME).strftime(
        "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    )


def now_beijing(*, seconds: bool = False) -> str:
    """The present moment in Beijing time."""
    return beijing(datetime.now(UTC), seconds=seconds)
