"""Console latency at volume: the overview and case search over 10^5 cases on PostgreSQL.

    python -m bench.console [--cases 100000] [--runs 5]

A fresh schema is filled in SQL (generate_series): the cases, seven linked items each
(700,000 rows) and their state history (about 1.5 million rows), spread over 120 days, about a
third completed, some past their promised or statutory dates. Then each query the console runs
for the overview (per department, per city, the 12-week trend) and for case search is timed:
median and worst of `--runs` runs, after one warm-up.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from hub.console import levels as L
from hub.console import queries, stats
from hub.domain.workdays import WorkingCalendar
from hub.store import migrate

PG_URL = os.environ.get("HUB_BENCH_POSTGRES_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/test")
ITEMS = [("retirement_approval", "hrss"), ("pension_verification", "hrss"),
         ("retirement_certificate", "hrss"), ("socialized_management", "community"),
         ("hpf_withdrawal", "hpf"), ("medical_transfer", "medical"),
         ("only_child_certificate", "health")]
CITIES = [f"3201{0:02d}"] + [f"32{n:02d}00" for n in range(2, 14)]


def fill(engine: Any, n: int) -> float:
    started = time.monotonic()
    values = ", ".join(f"({i}, '{c}', '{m}')" for i, (c, m) in enumerate(ITEMS))
    cities = "ARRAY[" + ", ".join(f"'{c}'" for c in CITIES) + "]"
    with engine.begin() as c:
        c.execute(text(f"""
            INSERT INTO cases (id, city_code, state, document, created_at, updated_at, version)
            SELECT 'RT' || lpad(i::text, 9, '0'), ({cities})[1 + i % {len(CITIES)}],
                   CASE WHEN i % 3 = 0 THEN 'closed' ELSE 'open' END, '{{}}'::json,
                   now() - (i % 120) * interval '1 day', now(), 1
            FROM generate_series(1, :n) AS i"""), {"n": n})
        c.execute(text(f"""
            INSERT INTO case_items (case_id, code, member_id, state, promised_by, statutory_by,
                                    updated_at)
            SELECT c.id, it.code, it.member,
                   CASE WHEN c.state = 'closed' THEN 'completed'
                        ELSE (ARRAY['dispatched','received','in_progress','completed',
                                    'waiting'])[1 + (hashtext(c.id || it.code) & 4)] END,
                   (c.created_at AT TIME ZONE 'Asia/Shanghai')::date + 7,
                   (c.created_at AT TIME ZONE 'Asia/Shanghai')::date + 28,
                   c.created_at + ((hashtext(it.code || c.id) & 15)) * interval '1 day'
            FROM cases c CROSS JOIN (VALUES {values}) AS it(ord, code, member)"""))
        c.execute(text("""
            INSERT INTO case_item_history (case_id, code, from_state, to_state, at, by)
            SELECT case_id, code, NULL, 'waiting', updated_at - interval '20 days', 'hrss'
            FROM case_items
            UNION ALL
            SELECT case_id, code, 'waiting', 'dispatched', updated_at - interval '19 days',
                   'hrss' FROM case_items WHERE state <> 'waiting'
            UNION ALL
            SELECT case_id, code, 'in_progress', 'completed', updated_at, member_id
            FROM case_items WHERE state = 'completed'"""))
        c.execute(text("ANALYZE"))
    return time.monotonic() - started


def timed(fn: Callable[[], Any], runs: int) -> dict[str, float]:
    fn()  # warm-up
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return {"median_ms": round(statistics.median(samples), 1), "max_ms": round(max(samples), 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.console")
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args(argv)
    schema = "bench_console_" + uuid.uuid4().hex[:8]
    admin = create_engine(PG_URL)
    with admin.begin() as c:
        c.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = create_engine(f"{PG_URL}?options=-csearch_path%3D{schema}")
    try:
        migrate.upgrade(engine)
        load_s = fill(engine, a.cases)
        with engine.connect() as c:
            counts = {t: c.execute(text(f"SELECT count(*) FROM {t}")).scalar()
                      for t in ("cases", "case_items", "case_item_history")}
        print(f"filled in {load_s:.1f}s: {counts}")
        now = datetime.now(UTC)
        today = L.beijing_date(now)
        soon = L.due_soon_limit(today, WorkingCalendar())
        with Session(engine) as s:
            cached = stats.recent_spans(s, now)
            checks = {
                "overview: counts (department x city)": lambda: queries.overview_counts(
                    s, today, soon),
                "overview: completion spans, 12 weeks": lambda: queries.completion_spans(
                    s, now - timedelta(weeks=12), now),
                "overview: page (counts, medians, 12-week trend)": lambda: stats.overview_page(
                    s, now, WorkingCalendar()),
                "overview: page, completions cached (5 min)": lambda: stats.overview_page(
                    s, now, WorkingCalendar(), cached),
                "search: exact case id": lambda: queries.search_cases(
                    s, case_id="RT000054321"),
                "search: city + overdue, first page": lambda: queries.search_cases(
                    s, city="320500", level="overdue", today=today, soon=soon, limit=100),
                "search: department + state, first page": lambda: queries.search_cases(
                    s, member="hpf", state="in_progress", limit=100),
                "case page": lambda: queries.case_detail(s, "RT000054321"),
            }
            for name, fn in checks.items():
                print(f"{name:<46} {timed(fn, a.runs)}")
    finally:
        engine.dispose()
        with admin.begin() as c:
            c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
