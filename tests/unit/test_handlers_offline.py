"""Publish, react and ack as handlers on the in-memory unit of work: no database, no key file."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

import contracts
from hub.client import make_event
from hub.domain import case as C
from hub.domain import states as S
from hub.domain.delivery import DELIVERED, PENDING
from hub.domain.errors import DomainError
from hub.services.ack import Ack
from hub.services.publish import publish, publish_with_warnings
from hub.services.react import react
from hub.services.receipts import ApplyReceipts
from tests.unit.offline_hub import HUB, OfflineHub

REQUEST = {d["code"]: d["request_type"] for d in contracts.items()}
STATUS = contracts.event_type("case_status_changed")


def _apply(hub: OfflineHub, cid: str = "RT320400-20261125-0001") -> str:
    publish(hub, "hrss", make_event("hrss", "application_submitted", cid,
                                    contracts.example("application")), batch=False)
    return cid


def test_an_application_opens_the_case_and_owes_its_requests_and_status() -> None:
    hub = OfflineHub()
    cid = _apply(hub)
    case = hub.store.cases[cid]
    assert case.items["socialized_management"].state == S.DISPATCHED
    assert hub.owed("community") == [REQUEST["socialized_management"]]
    assert hub.owed("health") == [REQUEST["only_child_certificate"]]
    assert hub.owed("hpf") == [] and hub.owed("medical") == []
    assert hub.owed("hrss") == [STATUS]
    sent = next(d for d in hub.store.deliveries if d.member_id == "community")
    assert sent.event.source == HUB and sent.state == PENDING
    assert set(sent.event.data) <= set(contracts.schema("socialized-management-request")
                                       ["properties"])
    assert hub.store.commits == 1 and hub.wakes == 1  # one commit, and it woke the workers


def test_a_refused_event_stores_nothing_and_wakes_nobody() -> None:
    hub = OfflineHub()
    bad = make_event("hrss", "application_submitted", "RT-X", {"city_code": "nope"})
    with pytest.raises(DomainError) as exc:
        publish(hub, "hrss", bad, batch=False)
    assert exc.value.status == 422 and exc.value.problems
    assert all(p.path.startswith("$.data") for p in exc.value.problems)
    assert hub.store.events == [] and hub.store.commits == 0 and hub.wakes == 0


def test_a_member_may_only_publish_its_own_types() -> None:
    hub = OfflineHub()
    ev = make_event("health", "application_submitted", "RT-Y", contracts.example("application"))
    with pytest.raises(DomainError) as exc:
        publish(hub, "health", ev, batch=False)
    assert exc.value.code == "forbidden" and exc.value.status == 403
    assert hub.store.events == []


def test_a_batch_is_all_or_nothing() -> None:
    hub = OfflineHub()
    good = make_event("hrss", "application_submitted", "RT320400-20261125-0002",
                      contracts.example("application"))
    dup_case = make_event("hrss", "application_submitted", "RT320400-20261125-0002",
                          contracts.example("application"))
    with pytest.raises(DomainError) as exc:
        publish(hub, "hrss", [good, dup_case], batch=True)
    assert exc.value.code == "case_exists" and exc.value.status == 409
    assert [p.path for p in exc.value.problems] == ["$[1].subject"]
    assert hub.store.cases == {} and hub.store.events == [] and hub.store.deliveries == []


def test_the_same_event_twice_is_a_duplicate_and_other_content_a_conflict() -> None:
    hub = OfflineHub()
    ev = make_event("hrss", "application_submitted", "RT320400-20261125-0003",
                    contracts.example("application"))
    first = publish(hub, "hrss", ev, batch=False)[0]
    again = publish(hub, "hrss", ev, batch=False)[0]
    assert not first.duplicate and again.duplicate and again.sequence == first.sequence
    assert len(hub.store.events) == len({e.seq for e in hub.store.events})
    changed = {**ev, "subject": "RT320400-20261125-0004"}
    with pytest.raises(DomainError) as exc:
        publish(hub, "hrss", changed, batch=False)
    assert exc.value.code == "event_id_conflict" and exc.value.status == 409


def test_application_warnings_come_back_with_the_receipt() -> None:
    hub = OfflineHub()
    out = publish_with_warnings(hub, "hrss", make_event(
        "hrss", "application_submitted", "RT320400-20261125-0005",
        contracts.example("application")), batch=False)
    assert len(out.receipts) == 1 and out.receipts[0].to_dict()["status"] == "accepted"


def test_progress_from_the_responsible_member_moves_the_item_and_tells_hrss() -> None:
    hub = OfflineHub()
    cid = _apply(hub)
    publish(hub, "community", make_event("community", "item_progressed", cid, {
        "item": "socialized_management", "status": "in_progress",
        "occurred_at": "2026-09-02T10:00:00+08:00"}), batch=False)
    assert hub.store.cases[cid].items["socialized_management"].state == S.IN_PROGRESS
    assert hub.owed("hrss") == [STATUS, STATUS]
    with pytest.raises(DomainError) as exc:
        publish(hub, "hpf", make_event("hpf", "item_progressed", cid, {
            "item": "hpf_withdrawal", "status": "received",
            "occurred_at": "2026-09-02T10:00:00+08:00"}), batch=False)
    assert exc.value.code == "item_not_dispatched" and exc.value.status == 409  # phase 2
    assert [p.path for p in exc.value.problems] == ["$.data.status"]
    assert hub.store.cases[cid].items["hpf_withdrawal"].state == S.WAITING
    assert hub.owed("hrss") == [STATUS, STATUS]  # the refused event owed nothing
    with pytest.raises(DomainError) as exc:
        publish(hub, "hpf", make_event("hpf", "item_progressed", "RT-UNKNOWN", {
            "item": "hpf_withdrawal", "status": "received",
            "occurred_at": "2026-09-02T10:00:00+08:00"}), batch=False)
    assert exc.value.code == "case_not_found" and exc.value.status == 404


def test_react_turns_a_refusal_into_withdrawals_and_one_status() -> None:
    hub = OfflineHub()
    cid = _apply(hub)
    deps = hub.deps
    with hub.uow() as uow:
        case = uow.cases.get(cid)
        assert case is not None
        case.apply_approval(contracts.example("approval-result-refused"), deps.snap().definitions,
                            now=datetime.now(UTC), by="hrss", event_id="r",
                            deadline=deps.snap().calendar.deadline)
        uow.cases.save(case)
        react(uow, deps, case)
        assert case.raised == []
        uow.commit()
    cancelled = contracts.event_type("item_cancelled")
    assert hub.owed("community")[-1] == cancelled and hub.owed("health")[-1] == cancelled
    assert hub.owed("hpf") == []  # never sent, so nothing to withdraw
    assert hub.owed("hrss") == [STATUS, STATUS]
    assert hub.store.cases[cid].state == "closed"


def test_react_fails_an_item_whose_payload_breaks_its_contract() -> None:
    hub = OfflineHub()
    deps = hub.deps
    app = contracts.example("application")
    case = C.Case.open("RT-BROKEN", app, deps.snap().definitions, now=datetime.now(UTC),
                       by="hrss", event_id="e", deadline=deps.snap().calendar.deadline)
    case.document["application"]["applicant"]["name"] = 12345  # projected into requests
    with hub.uow() as uow:
        uow.cases.add(case, "hrss")
        react(uow, deps, case)
        uow.commit()
    failed = {c for c, it in hub.store.cases["RT-BROKEN"].items.items() if it.state == S.FAILED}
    assert failed and all(hub.store.cases["RT-BROKEN"].items[c].reason["code"]  # type: ignore[index]
                          == "payload_invalid" for c in failed)
    assert not any(REQUEST[c] in hub.owed(m) for c in failed for m in ("community", "health"))


def test_a_unit_of_work_left_without_commit_stores_nothing() -> None:
    hub = OfflineHub()
    deps = hub.deps
    case = C.Case.open("RT-NOPE", contracts.example("application"), deps.snap().definitions,
                       now=datetime.now(UTC), by="hrss", event_id="e",
                       deadline=deps.snap().calendar.deadline)
    with hub.uow() as uow:
        uow.cases.add(case, "hrss")
        react(uow, deps, case)
    assert hub.store.cases == {} and hub.store.deliveries == [] and hub.wakes == 0


def test_ack_marks_delivered_up_to_the_cursor_and_never_past_the_feed() -> None:
    hub = OfflineHub()
    _apply(hub, "RT320400-20261125-0010")
    _apply(hub, "RT320400-20261125-0011")
    mine = [d for d in hub.store.deliveries if d.member_id == "community"]
    assert len(mine) == 2
    assert hub.handle(Ack("community", mine[0].id)) == 1
    assert [d.state for d in mine] == [DELIVERED, PENDING]
    assert mine[0].receipt_pending  # an item request: its case moves when receipts apply
    assert hub.handle(Ack("community", mine[0].id)) == 0  # again: nothing new
    with pytest.raises(DomainError) as exc:
        hub.handle(Ack("community", max(d.id for d in hub.store.deliveries) + 1))
    assert exc.value.code == "cursor_ahead" and exc.value.status == 409
    assert hub.handle(Ack("community", mine[1].id)) == 1
    assert [d.state for d in mine] == [DELIVERED, DELIVERED]
    status = [d for d in hub.store.deliveries if d.member_id == "hrss"]
    assert hub.handle(Ack("hrss", status[-1].id)) == 2
    assert not any(d.receipt_pending for d in status)  # status pushes change no case


def test_applied_receipts_move_items_to_delivered_and_tell_hrss_once() -> None:
    hub = OfflineHub()
    cid = _apply(hub, "RT320400-20261125-0020")
    community = next(d for d in hub.store.deliveries if d.member_id == "community")
    health = next(d for d in hub.store.deliveries if d.member_id == "health")
    hub.handle(Ack("community", community.id))
    hub.handle(Ack("health", health.id))
    assert hub.handle(ApplyReceipts(member="community")) == 1
    case = hub.store.cases[cid]
    assert case.items["socialized_management"].state == S.DELIVERED
    assert case.items["only_child_certificate"].state == S.DISPATCHED  # not applied yet
    assert hub.owed("hrss") == [STATUS, STATUS]
    assert hub.handle(ApplyReceipts()) == 1
    assert hub.store.cases[cid].items["only_child_certificate"].state == S.DELIVERED
    assert hub.owed("hrss") == [STATUS, STATUS, STATUS]
    assert hub.handle(ApplyReceipts()) == 0  # each receipt applies once
    assert not any(d.receipt_pending for d in hub.store.deliveries)
