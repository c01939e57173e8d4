"""The working-day calendar of grant answer deadlines (工作日, with 法定节假日 and 调休).

A grant's answer is due within :data:`ANSWER_WORKING_DAYS` working days of its request.
Working days follow the State Council's yearly holiday notice (国务院办公厅关于部分节假日
安排的通知) as the maintained ``chinese-calendar`` package records it: a statutory holiday
(法定节假日) on a weekday is not a working day, a make-up Saturday or Sunday (调休上班) is.

The notice for a year is published late in the year before; for a year the installed
package does not know yet, Monday to Friday are working days (:func:`calendar_known`
says which case applies), and a newer ``chinese-calendar`` release brings the year.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import chinese_calendar

__all__ = [
    "ANSWER_WORKING_DAYS",
    "BEIJING",
    "add_working_days",
    "answer_due",
    "beijing_date",
    "calendar_known",
    "is_working_day",
]

ANSWER_WORKING_DAYS = 10
BEIJING = timezone(timedelta(hours=8), "CST")  # the calendar's days are Beijing days


def beijing_date(moment: datetime) -> date:
    """The calendar day in Beijing of an aware ``moment``."""
    return moment.astimezone(BEIJING).date()


def calendar_known(day: date) -> bool:
    """Whether the installed calendar holds the holiday notice of ``day``'s year."""
    try:
        chinese_calendar.is_workday(day)
    except NotImplementedError:
        return False
    return True


def is_working_day(day: date) -> bool:
    """A working day: not a 法定节假日, and a weekday or a 调休 weekend day."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:  # the notice of that year is not in this release yet
        return day.weekday() < 5


def add_working_days(start: date, days: int) -> date:
    """The ``days``-th working day after ``start`` (``start`` itself not counted)."""
    current = start
    added = 0
    while added < days:
        current += timedelta(days=1)
        if is_working_day(current):
            added += 1
    return current


def answer_due(requested_at: datetime) -> date:
    """The last day of the owner's answer to a request made at ``requested_at``."""
    return add_working_days(beijing_date(requested_at), ANSWER_WORKING_DAYS)
