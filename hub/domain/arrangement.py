"""A year's working calendar as an operator types it from the State Council's notice.

The notice (国务院办公厅关于 YYYY 年部分节假日安排的通知) lists, for each festival, the days off
as a range and the weekend days worked instead (调休上班). The document mirrors that:

    {"year": 2027, "notice": "国办发明电〔2026〕N号",
     "holidays": [{"name": "元旦", "from": "2027-01-01", "to": "2027-01-03"}, ...],
     "workdays": ["2027-01-04", ...]}

Everything wrong is reported at once, each problem with its JSON path.
"""
from __future__ import annotations

import datetime
from typing import Any

from hub.domain.errors import DomainError, Problem
from hub.domain.workdays import Arrangement

MAX_HOLIDAYS = 40          # festivals in a notice (seven today)
MAX_RANGE_DAYS = 15        # the longest break so far is 9 days
MAX_WORKDAYS = 20          # make-up working days in a notice (six or fewer today)
KEYS = {"year", "notice", "title", "published", "holidays", "workdays", "comment"}
HOLIDAY_KEYS = {"name", "from", "to"}


def _printable(text: str) -> bool:
    """No control characters or lone surrogates (PostgreSQL's JSON refuses \\u0000)."""
    return all(ch >= " " and not "\ud800" <= ch <= "\udfff" for ch in text)


def _p(code: str, path: str, en: str, zh: str) -> Problem:
    return Problem(code, path, en, zh)


def _date(raw: Any, path: str, problems: list[Problem]) -> datetime.date | None:
    if not isinstance(raw, str) or len(raw) != 10:
        problems.append(_p("calendar_date_invalid", path, "expected a date YYYY-MM-DD",
                           "应为 YYYY-MM-DD 格式的日期"))
        return None
    try:
        return datetime.date.fromisoformat(raw)
    except ValueError:
        problems.append(_p("calendar_date_invalid", path, f"{raw} is not a calendar date",
                           f"{raw} 不是有效日期"))
        return None


def _text(doc: dict[str, Any], key: str, problems: list[Problem], *, required: bool,
          limit: int = 200) -> str | None:
    raw = doc.get(key)
    if raw is None and not required:
        return None
    if (not isinstance(raw, str) or not raw.strip() or len(raw) > limit
            or not _printable(raw.replace("\n", " "))):
        problems.append(_p("calendar_field_invalid", f"$.{key}",
                           f"{key}: expected a non-empty string of at most {limit} characters",
                           f"{key} 应为不超过 {limit} 个字符的非空文本"))
        return None
    return raw.strip()


def parse(doc: Any, year: int | None = None) -> tuple[dict[str, Any], Arrangement]:
    """Check a document; return it normalised and the arrangement it describes."""
    problems: list[Problem] = []
    if not isinstance(doc, dict):
        raise _invalid([_p("calendar_not_object", "$", "the calendar must be a JSON object",
                           "日历必须是 JSON 对象")])
    for key in sorted(set(doc) - KEYS):
        problems.append(_p("calendar_field_unknown", f"$.{key}", f"unknown field {key}",
                           f"未知字段 {key}"))
    y = doc.get("year")
    if isinstance(y, bool) or not isinstance(y, int) or not 2000 <= y <= 2100:
        problems.append(_p("calendar_year_invalid", "$.year", "year: expected 2000-2100",
                           "year 应为 2000 至 2100 之间的年份"))
        raise _invalid(problems)
    if year is not None and y != year:
        problems.append(_p("calendar_year_mismatch", "$.year",
                           f"the document is for {y}, not {year}",
                           f"文件所列年份 {y} 与 {year} 不符"))
    notice = _text(doc, "notice", problems, required=True)
    title = _text(doc, "title", problems, required=False)
    published = doc.get("published")
    if published is not None:
        _date(published, "$.published", problems)
    _text(doc, "comment", problems, required=False, limit=2000)

    holidays: dict[datetime.date, str] = {}
    ranges: list[dict[str, str]] = []
    raw_h = doc.get("holidays")
    if not isinstance(raw_h, list) or not raw_h or len(raw_h) > MAX_HOLIDAYS:
        problems.append(_p("calendar_holidays_invalid", "$.holidays",
                           f"holidays: expected 1 to {MAX_HOLIDAYS} ranges",
                           f"holidays 应为 1 至 {MAX_HOLIDAYS} 个放假时段"))
        raw_h = []
    for i, h in enumerate(raw_h):
        path = f"$.holidays[{i}]"
        if not isinstance(h, dict):
            problems.append(_p("calendar_holiday_invalid", path,
                               "expected {name, from, to}", "应为 {name, from, to} 对象"))
            continue
        for key in sorted(set(h) - HOLIDAY_KEYS):
            problems.append(_p("calendar_field_unknown", f"{path}.{key}", f"unknown field {key}",
                               f"未知字段 {key}"))
        name = h.get("name")
        if (not isinstance(name, str) or not name.strip() or len(name) > 50
                or not _printable(name)):
            problems.append(_p("calendar_field_invalid", f"{path}.name",
                               "name: expected the festival's name", "name 应为节日名称"))
            name = "?"
        first = _date(h.get("from"), f"{path}.from", problems)
        last = _date(h.get("to", h.get("from")), f"{path}.to", problems) if "to" in h else first
        if first is None or last is None:
            continue
        if last < first or (last - first).days >= MAX_RANGE_DAYS:
            problems.append(_p("calendar_range_invalid", f"{path}.to",
                               f"to must be on or after from, at most {MAX_RANGE_DAYS} days",
                               f"to 不得早于 from，且时段不超过 {MAX_RANGE_DAYS} 天"))
            continue
        ranges.append({"name": name.strip(), "from": first.isoformat(), "to": last.isoformat()})
        day = first
        while day <= last:
            if day.year != y:
                problems.append(_p("calendar_date_outside_year", path,
                                   f"{day} is not in {y}", f"{day} 不在 {y} 年内"))
                break
            if day in holidays:
                problems.append(_p("calendar_holiday_overlap", path,
                                   f"{day} is already a holiday ({holidays[day]})",
                                   f"{day} 已列为假日（{holidays[day]}）"))
                break
            holidays[day] = name
            day += datetime.timedelta(days=1)

    workdays: list[datetime.date] = []
    raw_w = doc.get("workdays", [])
    if not isinstance(raw_w, list) or len(raw_w) > MAX_WORKDAYS:
        problems.append(_p("calendar_workdays_invalid", "$.workdays",
                           f"workdays: expected a list of at most {MAX_WORKDAYS} dates",
                           f"workdays 应为不超过 {MAX_WORKDAYS} 个日期的列表"))
        raw_w = []
    for i, raw in enumerate(raw_w):
        path = f"$.workdays[{i}]"
        swap = _date(raw, path, problems)
        if swap is None:
            continue
        if swap.year != y:
            problems.append(_p("calendar_date_outside_year", path, f"{swap} is not in {y}",
                               f"{swap} 不在 {y} 年内"))
        elif swap.weekday() < 5:
            problems.append(_p("calendar_workday_not_weekend", path,
                               f"{swap} is a weekday: an adjusted working day falls on a weekend",
                               f"{swap} 是工作日：调休上班日应为周六或周日"))
        elif swap in holidays:
            problems.append(_p("calendar_day_both", path,
                               f"{swap} is both a holiday and a working day",
                               f"{swap} 同时被列为假日和上班日"))
        elif swap in workdays:
            problems.append(_p("calendar_workday_duplicate", path, f"{swap} is listed twice",
                               f"{swap} 重复列出"))
        else:
            workdays.append(swap)
    if problems:
        raise _invalid(problems)
    normalised: dict[str, Any] = {"year": y, "notice": notice}
    if title:
        normalised["title"] = title
    if published is not None:
        normalised["published"] = published
    if doc.get("comment"):
        normalised["comment"] = doc["comment"]
    normalised["holidays"] = ranges
    normalised["workdays"] = [d.isoformat() for d in sorted(workdays)]
    arrangement = Arrangement(year=y, holidays=frozenset(holidays), workdays=frozenset(workdays),
                              source=f"registry {y} ({notice})")
    return normalised, arrangement


def _invalid(problems: list[Problem]) -> DomainError:
    return DomainError("invalid_calendar", "the working calendar cannot be registered as it is",
                       "工作日历不符合要求，未登记", status=422, problems=problems)
