import datetime

import pytest

from hub.domain.clock import BEIJING
from hub.domain.errors import DomainError
from hub.domain.workdays import UnknownHolidayYear, add_working_days, is_working_day

D = datetime.date


def test_ordinary_week():
    # 2025-06-09 is a Monday
    assert add_working_days(D(2025, 6, 9), 1) == D(2025, 6, 10)
    assert add_working_days(D(2025, 6, 9), 5) == D(2025, 6, 16)  # skips the weekend
    assert add_working_days(D(2025, 6, 13), 1) == D(2025, 6, 16)  # Friday -> Monday


def test_zero_days_is_the_start():
    assert add_working_days(D(2025, 6, 14), 0) == D(2025, 6, 14)


def test_make_up_working_sunday():
    # 2025-09-28 was a Sunday made a working day (调休) for National Day
    assert D(2025, 9, 28).weekday() == 6
    assert is_working_day(D(2025, 9, 28))
    assert not is_working_day(D(2025, 9, 27))  # the Saturday before it was not
    assert add_working_days(D(2025, 9, 26), 1) == D(2025, 9, 28)


def test_national_day_week():
    # 2025-10-01 to 10-08 were holidays (National Day and Mid-Autumn); 10-11 Saturday was worked
    for day in range(1, 9):
        assert not is_working_day(D(2025, 10, day))
    assert add_working_days(D(2025, 9, 30), 1) == D(2025, 10, 9)
    assert add_working_days(D(2025, 9, 30), 3) == D(2025, 10, 11)  # Saturday 调休
    assert add_working_days(D(2025, 9, 30), 4) == D(2025, 10, 13)


def test_promised_and_statutory_deadlines_across_national_day():
    start = D(2025, 9, 25)  # Thursday
    # 9-26, 9-28, 9-29, 9-30, 10-9
    assert add_working_days(start, 5) == D(2025, 10, 9)
    # then 10-10, 10-11, 10-13..17 (5), 10-20..24 (5), 10-27, 10-28, 10-29 = 20
    assert add_working_days(start, 20) == D(2025, 10, 29)


def test_datetime_start_is_accepted():
    at = datetime.datetime(2025, 6, 9, 15, 30, tzinfo=BEIJING)
    assert add_working_days(at, 1) == D(2025, 6, 10)


def test_unknown_year_raises_not_guesses():
    with pytest.raises(UnknownHolidayYear) as info:
        add_working_days(D(2099, 6, 1), 1)
    assert info.value.year == 2099
    assert info.value.code == "holiday_calendar_unknown_year"
    assert isinstance(info.value, DomainError)
    assert info.value.message and info.value.message_zh


def test_counting_into_an_unknown_year_raises():
    # the last known year's end: counting past 31 December needs the next year's arrangement
    last = D(2026, 12, 31)
    with pytest.raises(UnknownHolidayYear) as info:
        add_working_days(last, 5)
    assert info.value.year == 2027


def test_start_before_the_calendar_raises():
    with pytest.raises(UnknownHolidayYear):
        add_working_days(D(1999, 6, 1), 1)


def test_negative_days_rejected():
    with pytest.raises(ValueError):
        add_working_days(D(2025, 6, 9), -1)
