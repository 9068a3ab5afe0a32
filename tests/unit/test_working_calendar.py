"""The working calendar as data: Beijing dates, the clock-start rule, typed notice documents."""
from __future__ import annotations

import copy
import datetime
import json
from pathlib import Path

import chinese_calendar
import pytest

import contracts
from hub.domain import arrangement
from hub.domain.case import Case
from hub.domain.clock import beijing_date, beijing_iso
from hub.domain.errors import DomainError
from hub.domain.items import ItemDefinition
from hub.domain.workdays import (
    UnknownHolidayYear,
    WorkingCalendar,
    library_arrangement,
)

D = datetime.date
UTC = datetime.UTC
TEST_2027 = json.loads((Path(__file__).parents[1] / "data" / "calendar-2027-TEST-ONLY.json")
                       .read_text("utf-8"))


def with_2027() -> WorkingCalendar:
    _, arr = arrangement.parse(TEST_2027, 2027)
    return WorkingCalendar({2027: arr})


# ----- the shipped calendars agree with the library, day by day ----------------------------

@pytest.mark.parametrize("year", [2025, 2026])
def test_shipped_calendar_matches_chinese_calendar(year):
    doc = contracts.calendars()[year]
    _, arr = arrangement.parse(doc, year)
    lib = library_arrangement(year)
    assert lib is not None
    assert arr.holidays == lib.holidays and arr.workdays == lib.workdays
    day = D(year, 1, 1)
    while day.year == year:
        assert arr.is_working_day(day) == chinese_calendar.is_workday(day), day
        day += datetime.timedelta(days=1)
    assert doc["notice"].startswith("国办发明电")


def test_the_2026_adjusted_working_days_count():
    cal = WorkingCalendar()
    for d in ("2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10"):
        day = D.fromisoformat(d)
        assert day.weekday() >= 5 and cal.is_working_day(day)
    # Friday 2026-02-13 + 1 working day: Saturday 2026-02-14 is worked (调休)
    assert cal.add_working_days(D(2026, 2, 13), 1) == D(2026, 2, 14)
    # then the Spring Festival break 02-15..02-23: the next is Tuesday 02-24
    assert cal.add_working_days(D(2026, 2, 13), 2) == D(2026, 2, 24)


# ----- Beijing dates and the clock-start rule -------------------------------------------------

def test_beijing_date_around_midnight():
    assert beijing_date(datetime.datetime(2026, 12, 6, 15, 59, 59, tzinfo=UTC)) == D(2026, 12, 6)
    assert beijing_date(datetime.datetime(2026, 12, 6, 16, 0, tzinfo=UTC)) == D(2026, 12, 7)
    assert beijing_iso(datetime.datetime(2026, 12, 6, 17, 30, tzinfo=UTC)) == \
        "2026-12-07T01:30:00+08:00"


def test_clock_started_on_a_non_working_day_starts_on_the_next_working_day():
    cal = WorkingCalendar()
    assert cal.clock_start(D(2026, 12, 5)) == D(2026, 12, 7)   # Saturday -> Monday
    assert cal.clock_start(D(2026, 12, 7)) == D(2026, 12, 7)   # Monday stays
    assert cal.deadline(D(2026, 12, 5), 5) == D(2026, 12, 14)  # counted from Monday
    assert cal.deadline(D(2026, 12, 7), 5) == D(2026, 12, 14)
    # National Day 2026: a clock started on 10-03 starts on Thursday 10-08
    assert cal.clock_start(D(2026, 10, 3)) == D(2026, 10, 8)
    assert cal.deadline(D(2026, 10, 3), 2) == D(2026, 10, 10)  # Saturday 10-10 is worked
    assert cal.deadline(D(2026, 10, 3), 0) == D(2026, 10, 8)


def _definitions() -> list[ItemDefinition]:
    return [ItemDefinition.parse(d) for d in contracts.items()]


def _open(at: datetime.datetime, cal: WorkingCalendar) -> Case:
    return Case.open("RT-1", contracts.example("application"), _definitions(), now=at, by="hrss",
                     event_id="e1", deadline=cal.deadline)


def test_case_received_1_30_monday_beijing_counts_from_monday():
    # 2026-12-06T17:30Z is Monday 2026-12-07 01:30 in Beijing (Sunday in UTC)
    case = _open(datetime.datetime(2026, 12, 6, 17, 30, tzinfo=UTC), WorkingCalendar())
    item = case.items["socialized_management"]
    assert item.clock_started_on == D(2026, 12, 7)
    assert item.promised_by == D(2026, 12, 14)   # Mon + 5 working days; not Fri 12-11
    # 20 working days from Monday 12-07 run into 2027, which the library does not know
    assert item.statutory_by is None and item.deadline_note == "holiday_calendar_unknown_year"
    assert with_2027().deadline(item.clock_started_on, 20) == D(2027, 1, 5)


def test_case_received_just_before_beijing_midnight_counts_from_that_day():
    case = _open(datetime.datetime(2026, 12, 7, 15, 59, tzinfo=UTC), WorkingCalendar())
    assert case.items["socialized_management"].promised_by == D(2026, 12, 14)
    case = _open(datetime.datetime(2026, 12, 7, 16, 0, tzinfo=UTC), WorkingCalendar())
    assert case.items["socialized_management"].promised_by == D(2026, 12, 15)


def test_year_end_case_waits_for_2027_then_counts_its_adjusted_days():
    at = datetime.datetime(2026, 12, 20, 2, 0, tzinfo=UTC)  # Sunday in Beijing too
    case = _open(at, WorkingCalendar())
    item = case.items["socialized_management"]
    assert item.promised_by == D(2026, 12, 28)
    assert item.statutory_by is None and item.deadline_note == "holiday_calendar_unknown_year"

    case.new_history.clear()
    case.raised.clear()
    now = datetime.datetime(2026, 12, 21, 1, 0, tzinfo=UTC)
    changed = case.recompute_deadlines(_definitions(), with_2027().deadline, year=2027,
                                       calendar="registry 2027 v1", now=now, by="console")
    assert "socialized_management" in changed
    # day 0 Monday 12-21; 8 working days to 12-31; 2027-01-01..03 off; Saturday 01-09 worked
    assert item.statutory_by == D(2027, 1, 18) and item.deadline_note is None
    entry = next(h for h in case.new_history if h.code == "socialized_management")
    assert entry.from_state == entry.to_state == item.state
    assert entry.reason and entry.reason["calendar"] == "registry 2027 v1"
    assert entry.reason["statutory"] == "2027-01-18"
    assert case.raised  # the merged status goes out again


def test_recompute_keeps_a_promised_date_the_department_reported():
    case = _open(datetime.datetime(2026, 12, 20, 2, 0, tzinfo=UTC), WorkingCalendar())
    item = case.items["socialized_management"]
    case.apply_progress("community", {"item": "socialized_management", "status": "received",
                                      "promised_date": "2026-12-24"}, _definitions(),
                        now=datetime.datetime(2026, 12, 21, tzinfo=UTC), event_id="e2")
    case.recompute_deadlines(_definitions(), with_2027().deadline, year=2027, calendar="x",
                             now=datetime.datetime(2026, 12, 22, tzinfo=UTC), by="console")
    assert item.promised_by == D(2026, 12, 24) and item.statutory_by == D(2027, 1, 18)


def test_recompute_leaves_items_that_do_not_touch_the_year():
    case = _open(datetime.datetime(2026, 6, 1, 2, 0, tzinfo=UTC), WorkingCalendar())
    before = case.items["socialized_management"].statutory_by
    changed = case.recompute_deadlines(_definitions(), with_2027().deadline, year=2027,
                                       calendar="x", now=datetime.datetime(2026, 6, 2, tzinfo=UTC),
                                       by="console")
    assert changed == [] and case.items["socialized_management"].statutory_by == before


def test_unknown_year_names_the_command_to_fix_it():
    with pytest.raises(UnknownHolidayYear) as info:
        WorkingCalendar().deadline(D(2026, 12, 20), 20)
    assert info.value.year == 2027 and "hub calendar import 2027" in info.value.message


def test_registered_document_wins_over_the_library():
    doc = copy.deepcopy(contracts.calendars()[2026])
    doc["workdays"].remove("2026-10-10")
    _, arr = arrangement.parse(doc, 2026)
    cal = WorkingCalendar({2026: arr})
    assert not cal.is_working_day(D(2026, 10, 10))
    assert WorkingCalendar().is_working_day(D(2026, 10, 10))


# ----- validation of the operator's document ---------------------------------------------------

def _problems(doc, year=2027):
    with pytest.raises(DomainError) as info:
        arrangement.parse(doc, year)
    assert info.value.code == "invalid_calendar" and info.value.status == 422
    return {(p.code, p.path) for p in info.value.problems}


def test_every_problem_is_reported_with_its_path():
    doc = copy.deepcopy(TEST_2027)
    doc["holidays"][1]["to"] = "2028-01-02"                  # outside the year / too long
    doc["workdays"] = ["2027-01-02", "2027-01-05", "2026-12-26", "2027-02-30"]
    doc["extra"] = 1
    got = _problems(doc)
    assert ("calendar_field_unknown", "$.extra") in got
    assert ("calendar_range_invalid", "$.holidays[1].to") in got
    assert ("calendar_day_both", "$.workdays[0]") in got          # 01-02 is a holiday
    assert ("calendar_workday_not_weekend", "$.workdays[1]") in got  # a Tuesday
    assert ("calendar_date_outside_year", "$.workdays[2]") in got
    assert ("calendar_date_invalid", "$.workdays[3]") in got


def test_holidays_must_not_be_empty_and_year_must_match():
    doc = copy.deepcopy(TEST_2027)
    doc["holidays"] = []
    assert ("calendar_holidays_invalid", "$.holidays") in _problems(doc)
    assert ("calendar_year_mismatch", "$.year") in _problems(copy.deepcopy(TEST_2027), 2028)
    no_notice = {k: v for k, v in TEST_2027.items() if k != "notice"}
    assert ("calendar_field_invalid", "$.notice") in _problems(no_notice)
    assert ("calendar_not_object", "$") in _problems([])


def test_overlapping_holiday_ranges_are_refused():
    doc = copy.deepcopy(TEST_2027)
    doc["holidays"].append({"name": "again", "from": "2027-01-03", "to": "2027-01-03"})
    assert ("calendar_holiday_overlap", "$.holidays[2]") in _problems(doc)


def test_control_characters_in_text_are_refused():
    doc = copy.deepcopy(TEST_2027)
    doc["notice"] = "国办发明电\x00"
    doc["holidays"][0]["name"] = "元旦\ud800"
    got = _problems(doc)
    assert ("calendar_field_invalid", "$.notice") in got
    assert ("calendar_field_invalid", "$.holidays[0].name") in got
