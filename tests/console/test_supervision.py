"""督办: the deadline check raises each level once per item, as a notice and a delivered event."""
from __future__ import annotations

import json
from datetime import UTC, date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

import contracts
from hub.console import levels as L
from hub.console.models import ItemWarning
from hub.console.supervision import check_deadlines
from hub.domain.arrangement import parse
from hub.domain.states import is_final
from hub.domain.workdays import WorkingCalendar
from hub.http.metrics import render
from hub.store.models import CaseItemRow, Delivery, Event, Notice
from tests.console.helpers import beijing_morning, open_case, promised

WARNED = "cn.gov.js.retirement.item.supervision-warned.v1"


# ----- pure classification (no database) -----------------------------------------------

def test_levels_are_the_contract_codes() -> None:
    assert L.missing_from_contracts() == set()
    assert contracts.event_type("supervision_warned") == WARNED


@pytest.mark.parametrize(("today", "level"), [
    (date(2026, 12, 1), None),
    (date(2026, 12, 2), "due_soon"),
    (date(2026, 12, 4), "due_soon"),
    (date(2026, 12, 7), "overdue"),
    (date(2026, 12, 18), "overdue"),
    (date(2026, 12, 21), "seriously_overdue"),
])
def test_classify_against_promised_and_statutory_dates(today: date, level: str | None) -> None:
    promised_by, statutory_by = date(2026, 12, 4), date(2026, 12, 18)
    soon = L.due_soon_limit(today, WorkingCalendar(), 2)
    assert L.classify(today, promised_by, statutory_by, soon) == level


def test_due_soon_counts_working_days_across_a_weekend() -> None:
    # Thursday 3 Dec 2026: two working days on is Monday 7 Dec, not Saturday 5 Dec
    assert L.due_soon_limit(date(2026, 12, 3), WorkingCalendar(), 2) == date(2026, 12, 7)
    assert L.classify(date(2026, 12, 3), date(2026, 12, 7), None,
                      L.due_soon_limit(date(2026, 12, 3), WorkingCalendar(), 2)) == "due_soon"


def test_the_beijing_date_decides() -> None:
    from datetime import datetime
    # 17:00 UTC on the 4th is 01:00 on the 5th in Beijing
    assert L.beijing_date(datetime(2026, 12, 4, 17, 0, tzinfo=UTC)) == date(2026, 12, 5)


# ----- the job on a real database --------------------------------------------------------

def _open_with(hub, cid, promised_by):
    with hub.transaction() as s:
        return len([r for r in s.scalars(select(CaseItemRow).where(CaseItemRow.case_id == cid))
                    if r.promised_by == promised_by and not is_final(r.state)])


def _warning_events(hub, member):
    with hub.transaction() as s:
        return [(e.subject, e.data) for e, in s.execute(
            select(Event).join(Delivery, Delivery.event_seq == Event.seq)
            .where(Event.type == WARNED, Delivery.member_id == member).order_by(Event.seq))]


def test_each_level_is_raised_once_with_a_notice_and_an_event(hub, members):
    cid = open_case(hub)
    code = "socialized_management"  # dispatched to the community unit on acceptance
    promised_by, statutory_by = promised(hub, cid, code)
    assert statutory_by is not None and statutory_by > promised_by

    # well before: nothing
    assert check_deadlines(hub, beijing_morning(promised_by - timedelta(days=10))) == {
        "due_soon": 0, "overdue": 0, "seriously_overdue": 0}
    # on the promised day: yellow, once, however often the job runs
    on_day = beijing_morning(promised_by)
    n = _open_with(hub, cid, promised_by)  # items promised on the same day
    assert check_deadlines(hub, on_day)["due_soon"] == n >= 1
    assert check_deadlines(hub, on_day)["due_soon"] == 0
    # the day after: red
    assert check_deadlines(hub, beijing_morning(promised_by + timedelta(days=1)))["overdue"] == n
    assert check_deadlines(hub, beijing_morning(promised_by + timedelta(days=2)))["overdue"] == 0
    # past the statutory date: serious
    late = beijing_morning(statutory_by + timedelta(days=1))
    assert check_deadlines(hub, late)["seriously_overdue"] >= 1
    assert check_deadlines(hub, late)["seriously_overdue"] == 0

    with hub.transaction() as s:
        levels = [w.level for w in s.scalars(select(ItemWarning)
                  .where(ItemWarning.case_id == cid, ItemWarning.code == code)
                  .order_by(ItemWarning.at))]
        kinds = [n.kind for n in s.scalars(select(Notice).where(Notice.kind.like("item_%"))
                 .order_by(Notice.id)) if n.detail["item"] == code]
    assert levels == ["due_soon", "overdue", "seriously_overdue"]
    assert kinds == ["item_due_soon", "item_overdue", "item_seriously_overdue"]

    sent = _warning_events(hub, "community")
    assert [d["level"] for _, d in sent] == ["due_soon", "overdue", "seriously_overdue"]
    assert {subj for subj, _ in sent} == {cid}
    validator = contracts.validator("supervision-notice")
    for _, data in sent:
        assert list(validator.iter_errors(data)) == []
        assert data["item"] == code and data["promised_by"] == promised_by.isoformat()
    # each department hears about its own items only
    assert {d["item"] for _, d in _warning_events(hub, "health")} == {"only_child_certificate"}
    assert _warning_events(hub, "hpf") == []  # its item is still waiting: no deadline yet


def test_an_item_found_late_jumps_to_its_level_and_finished_items_are_left_alone(hub, members):
    cid = open_case(hub)
    promised_by, statutory_by = promised(hub, cid, "socialized_management")
    day = statutory_by + timedelta(days=3)
    with hub.transaction() as s:
        expected = len([r for r in s.scalars(select(CaseItemRow).where(CaseItemRow.case_id == cid))
                        if r.statutory_by and r.statutory_by < day and not is_final(r.state)])
    raised = check_deadlines(hub, beijing_morning(day))
    assert raised["seriously_overdue"] == expected >= 2
    assert raised["due_soon"] == raised["overdue"] == 0
    # a lower level afterwards is not raised again
    assert sum(check_deadlines(hub, beijing_morning(promised_by)).values()) == 0


def test_metrics_report_levels_and_raised_warnings(hub, members):
    cid = open_case(hub)
    promised_by, _ = promised(hub, cid, "socialized_management")
    check_deadlines(hub, beijing_morning(promised_by + timedelta(days=1)))
    text = render(hub).decode()
    assert 'hub_supervision_warnings_raised_total{level="overdue",member="community"} 1.0' in text
    assert "hub_items_at_warning_level" in text


def test_due_soon_counts_a_registered_years_adjusted_working_days() -> None:
    # Friday 8 Jan 2027 (test arrangement): Saturday 9 Jan is a make-up working day, so two
    # working days on is Monday 11 Jan; without the year registered it falls back to days.
    doc = json.loads((Path(__file__).parents[1] / "data" / "calendar-2027-TEST-ONLY.json")
                     .read_text("utf-8"))
    _, arrangement = parse(doc, 2027)
    registered = WorkingCalendar({2027: arrangement})
    assert L.due_soon_limit(date(2027, 1, 8), registered, 1) == date(2027, 1, 9)
    assert L.due_soon_limit(date(2027, 1, 8), registered, 2) == date(2027, 1, 11)
    assert L.working_days_between(date(2027, 1, 8), date(2027, 1, 11), registered) == 2
    assert L.working_days_between(date(2027, 1, 8), date(2027, 1, 11), WorkingCalendar()) is None
