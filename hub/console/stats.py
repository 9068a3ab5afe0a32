"""Figures for the overview and the monthly timeliness report, and the report's files."""
from __future__ import annotations

import csv
import io
from datetime import date, datetime, time, timedelta
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from sqlalchemy.orm import Session

from hub.console import levels as L
from hub.console import queries
from hub.domain.workdays import WorkingCalendar


def _beijing_midnight(d: date) -> datetime:
    return datetime.combine(d, time(0), L.BEIJING)


Span = tuple[str, str, date, date, bool, int]


def spans_by_key(spans: list[Span], by: str, calendar: WorkingCalendar
                 ) -> dict[str, dict[str, Any]]:
    """Per key: working days from dispatch to completion (median, p90) and in-time counts."""
    out: dict[str, dict[str, Any]] = {}
    for member, city, sent, done, in_time, n in spans:
        agg = out.setdefault(member if by == "member" else city,
                             {"days": [], "on_time": 0, "late": 0})
        days = L.working_days_between(sent, done, calendar)
        if days is not None:
            agg["days"].append((days, n))
        agg["on_time" if in_time else "late"] += n
    for agg in out.values():
        agg["median"] = L.weighted_quantile(agg["days"], 0.5)
        agg["p90"] = L.weighted_quantile(agg["days"], 0.9)
        done_n = agg["on_time"] + agg["late"]
        agg["completed"] = done_n
        agg["on_time_pct"] = round(100.0 * agg["on_time"] / done_n, 1) if done_n else None
    return out


def trend_start(now: datetime) -> date:
    """The Monday (Beijing) that starts the twelve weeks shown."""
    today = L.beijing_date(now)
    return today - timedelta(days=today.weekday()) - timedelta(weeks=11)


def recent_spans(s: Session, now: datetime) -> list[Span]:
    """Completions over the trend's twelve weeks: the medians and the trend both use them."""
    return queries.completion_spans(s, _beijing_midnight(trend_start(now)),
                                    now + timedelta(days=1))


def overview_page(s: Session, now: datetime, calendar: WorkingCalendar,
                  spans: list[Span] | None = None) -> dict[str, Any]:
    """Counts per department and city (all time), working-day medians over the trend's
    twelve weeks, and the trend: two grouped queries for the items, one for the warnings.
    `spans` may come from a cache: completions move slowly, the counts are always read."""
    today = L.beijing_date(now)
    counts = queries.overview_counts(s, today, L.due_soon_limit(today, calendar))
    first = trend_start(now)
    spans = recent_spans(s, now) if spans is None else spans
    out: dict[str, Any] = {}
    for by in ("member", "city"):
        rows = queries.rollup(counts, by)
        medians = spans_by_key(spans, by, calendar)
        for r in rows:
            m = medians.get(r["key"], {})
            r["median_days"], r["p90_days"] = m.get("median"), m.get("p90")
        out[f"by_{by}"] = rows
    out["weeks"] = _weeks(s, first, spans)
    return out


def overview(s: Session, now: datetime, by: str, calendar: WorkingCalendar
             ) -> list[dict[str, Any]]:
    return overview_page(s, now, calendar)[f"by_{by}"]  # type: ignore[no-any-return]


def trend(s: Session, now: datetime, calendar: WorkingCalendar) -> list[dict[str, Any]]:
    return overview_page(s, now, calendar)["weeks"]  # type: ignore[no-any-return]


def _weeks(s: Session, first: date, spans: list[Span]) -> list[dict[str, Any]]:
    """Twelve weeks (Monday to Sunday, Beijing), oldest first."""
    weeks: list[dict[str, Any]] = [
        {"start": first + timedelta(weeks=i), "on_time": 0, "late": 0, "overdue": 0}
             for i in range(12)]
    for wk in weeks:
        wk["label"] = wk["start"].strftime("%m-%d")
    for _, _, _, completed, in_time, n in spans:
        i = (completed - first).days // 7
        if 0 <= i < 12:
            weeks[i]["on_time" if in_time else "late"] += n
    for day, level, n in queries.warnings_raised_since(s, _beijing_midnight(first)):
        i = (day - first).days // 7
        if 0 <= i < 12 and level != L.DUE_SOON:
            weeks[i]["overdue"] += n
    return weeks


def month_bounds(month: str) -> tuple[datetime, datetime]:
    y, m = (int(p) for p in month.split("-"))
    start = date(y, m, 1)
    end = date(y + (m == 12), m % 12 + 1, 1)
    return _beijing_midnight(start), _beijing_midnight(end)


def monthly_report(s: Session, month: str, calendar: WorkingCalendar) -> dict[str, Any]:
    since, until = month_bounds(month)
    report: dict[str, Any] = {"month": month}
    spans = queries.completion_spans(s, since, until)
    for by in ("member", "city"):
        per_key = spans_by_key(spans, by, calendar)
        report[by] = [{"key": k, "completed": v["completed"], "on_time": v["on_time"],
                       "late": v["late"], "on_time_pct": v["on_time_pct"],
                       "median_days": v["median"], "p90_days": v["p90"]}
                      for k, v in sorted(per_key.items())]
    report["overdue"] = queries.overdue_list(s, since, until)
    return report


HEAD_KEY = {"member": "部门", "city": "设区市"}
HEAD = ["办结件数", "按期办结", "超期办结", "按期办结率(%)", "办理时长中位数(工作日)",
        "办理时长P90(工作日)"]
OVERDUE_HEAD = ["办件编号", "事项", "部门", "设区市", "督办等级", "督办时间", "当前状态",
                "承诺办结日期", "法定办结日期", "原因"]


def _row(r: dict[str, Any]) -> list[Any]:
    return [r["key"], r["completed"], r["on_time"], r["late"], r["on_time_pct"],
            r["median_days"], r["p90_days"]]


def _overdue_row(o: dict[str, Any]) -> list[Any]:
    return [o["case_id"], o["code"], o["member"], o["city"], L.label(o["level"]),
            o["at"].astimezone(L.BEIJING).isoformat(timespec="minutes"), o["state"],
            o["promised_by"].isoformat() if o["promised_by"] else "",
            o["statutory_by"].isoformat() if o["statutory_by"] else "", o["reason"] or ""]


def xlsx(report: dict[str, Any]) -> bytes:
    wb = Workbook()
    sheets = (("按部门", "member"), ("按设区市", "city"))
    for n, (title, by) in enumerate(sheets):
        ws = wb.active if n == 0 else wb.create_sheet()
        ws.title = title
        ws.append([f"{report['month']} 退休“一件事”办理时效月报（{title}）"])
        ws.append([HEAD_KEY[by]] + HEAD)
        for c in ws[2]:
            c.font = Font(bold=True)
        for r in report[by]:
            ws.append(_row(r))
    ws = wb.create_sheet("超期清单")
    ws.append(OVERDUE_HEAD)
    for o in report["overdue"]:
        ws.append(_overdue_row(o))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def csv_bytes(report: dict[str, Any]) -> bytes:
    """UTF-8 with a byte-order mark, so spreadsheet software reads the Chinese right."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["维度", "名称"] + HEAD)
    for by in ("member", "city"):
        for r in report[by]:
            w.writerow([HEAD_KEY[by]] + _row(r))
    w.writerow([])
    w.writerow(OVERDUE_HEAD)
    for o in report["overdue"]:
        w.writerow(_overdue_row(o))
    return buf.getvalue().encode("utf-8-sig")
