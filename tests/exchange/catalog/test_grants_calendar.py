"""Answer deadlines on the real working-day calendar: 法定节假日 skipped, 调休 days worked,
counted from the day of the request in Beijing."""

from __future__ import annotations

from datetime import UTC, date, datetime

from exchange.catalog.grants_calendar import (
    add_working_days,
    answer_due,
    calendar_known,
    is_working_day,
)


def test_national_day_week_is_skipped_and_the_make_up_days_are_worked() -> None:
    # 2025: 国庆 and 中秋 are 1–8 October; Sunday 28 September and Saturday 11 October
    # are worked (调休)
    assert not is_working_day(date(2025, 10, 3))  # a Friday inside the holiday
    assert is_working_day(date(2025, 9, 28))  # 调休 Sunday
    assert is_working_day(date(2025, 10, 11))  # 调休 Saturday
    assert not is_working_day(date(2025, 10, 18))  # an ordinary Saturday
    # Friday 26 September: 28, 29, 30 Sep, then 9, 10, 11 (Saturday), 13, 14, 15, 16 Oct
    assert add_working_days(date(2025, 9, 26), 10) == date(2025, 10, 16)
    # Monday to Friday alone would have said 10 October, inside no holiday at all
    assert add_working_days(date(2025, 10, 10), 1) == date(2025, 10, 11)


def test_the_day_of_the_request_is_its_day_in_beijing() -> None:
    # 17:00 UTC on 29 September is 01:00 on 30 September in Beijing: the count starts
    # from the 30th (9 Oct is the 1st working day, 21 Oct the 10th)
    assert answer_due(datetime(2025, 9, 29, 17, 0, tzinfo=UTC)) == date(2025, 10, 21)
    assert answer_due(datetime(2025, 9, 29, 15, 0, tzinfo=UTC)) == date(2025, 10, 20)


def test_a_year_the_calendar_does_not_know_yet_counts_monday_to_friday() -> None:
    far = date(2099, 1, 2)  # a Friday
    assert not calendar_known(far)
    assert add_working_days(far, 1) == date(2099, 1, 5)
    assert calendar_known(date(2025, 1, 2))
