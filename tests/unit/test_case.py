"""The ``Case`` aggregate alone: every move, refusal, cancellation and standalone conversion."""
from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

import contracts
from hub.domain import case as C
from hub.domain import states as S
from hub.domain.errors import DomainError
from hub.domain.items import ItemDefinition

NOW = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)
DEFS = tuple(ItemDefinition.parse(d) for d in contracts.items())
HRSS = "hrss"


def _deadline(start: date, days: int) -> date:
    return date.fromordinal(start.toordinal() + days)  # calendar days stand in for working days


def _open(linked: list[str] | None = None) -> C.Case:
    app = contracts.example("application")
    if linked is not None:
        app["linked_items"] = linked
    return C.Case.open("RT-1", app, DEFS, now=NOW, by=HRSS, event_id="e1", deadline=_deadline)


def _states(case: C.Case) -> dict[str, str]:
    return {code: it.state for code, it in case.items.items()}


def _raised(case: C.Case, kind: type) -> list[Any]:
    return [r for r in case.raised if isinstance(r, kind)]


def _progress(case: C.Case, member: str, code: str, status: str, **extra: Any) -> None:
    case.apply_progress(member, {"item": code, "status": status, **extra}, DEFS, now=NOW,
                        event_id="p")


def test_opening_dispatches_the_accepted_phase_and_waits_for_the_approval() -> None:
    case = _open()
    st = _states(case)
    assert st["retirement_approval"] == S.IN_PROGRESS          # settled by the approval
    assert st["socialized_management"] == S.DISPATCHED          # chosen, triggered on accept
    assert st["only_child_certificate"] == S.DISPATCHED         # always
    assert st["hpf_withdrawal"] == st["medical_transfer"] == S.WAITING
    assert {r.code for r in _raised(case, C.ItemDispatched)} == {
        "socialized_management", "only_child_certificate"}
    assert len(_raised(case, C.CaseChanged)) == 1
    assert case.items["socialized_management"].promised_by is not None
    assert case.items["socialized_management"].clock_started_on == date(2026, 9, 1)


def test_items_not_chosen_are_not_part_of_the_case() -> None:
    case = _open(linked=[])
    assert "hpf_withdrawal" not in case.items and "socialized_management" not in case.items
    assert "only_child_certificate" in case.items


def test_approval_dispatches_the_second_phase_and_settles_its_own_items() -> None:
    case = _open()
    case.raised.clear()
    case.apply_approval(contracts.example("approval-result"), DEFS, now=NOW, by=HRSS,
                        event_id="a", deadline=_deadline)
    st = _states(case)
    assert st["hpf_withdrawal"] == st["medical_transfer"] == S.DISPATCHED
    assert st["retirement_approval"] == st["retirement_certificate"] == S.COMPLETED
    assert case.items["retirement_certificate"].result  # projected from the approval
    assert {r.code for r in _raised(case, C.ItemDispatched)} == {"hpf_withdrawal",
                                                                   "medical_transfer"}


def test_a_second_approval_is_refused() -> None:
    case = _open()
    case.apply_approval(contracts.example("approval-result"), DEFS, now=NOW, by=HRSS,
                        event_id="a", deadline=_deadline)
    with pytest.raises(DomainError) as exc:
        case.apply_approval(contracts.example("approval-result"), DEFS, now=NOW, by=HRSS,
                            event_id="a2", deadline=_deadline)
    assert exc.value.code == "approval_already_decided" and exc.value.status == 409


def test_refusal_cancels_and_withdraws_what_went_out_and_keeps_what_must_stay() -> None:
    case = _open()
    case.raised.clear()
    case.apply_approval(contracts.example("approval-result-refused"), DEFS, now=NOW, by=HRSS,
                        event_id="r", deadline=_deadline)
    st = _states(case)
    # cancel_on_refusal false: the approval item records the refusal as its result
    assert st["retirement_approval"] == S.COMPLETED
    assert case.items["retirement_approval"].result == {"decision": "refused"}
    for code in ("socialized_management", "only_child_certificate", "hpf_withdrawal",
                 "medical_transfer", "retirement_certificate"):
        assert st[code] == S.CANCELLED, code
    # only items already sent to a department are withdrawn from it
    assert {r.code for r in _raised(case, C.ItemWithdrawn)} == {"socialized_management",
                                                                  "only_child_certificate"}
    assert case.items["hpf_withdrawal"].reason["code"] == "approval_refused"  # type: ignore[index]
    assert case.state == "closed" and case.closed_at == NOW


def test_progress_moves_forward_and_closes_the_case_when_all_are_final() -> None:
    case = _open()
    case.apply_approval(contracts.example("approval-result"), DEFS, now=NOW, by=HRSS,
                        event_id="a", deadline=_deadline)
    for code, member in (("socialized_management", "community"), ("hpf_withdrawal", "hpf"),
                         ("medical_transfer", "medical"), ("only_child_certificate", "health")):
        assert case.mark_delivered(code, now=NOW, by=member)
        _progress(case, member, code, "received")
        _progress(case, member, code, "in_progress", promised_date="2026-09-30")
        assert case.items[code].promised_by == date(2026, 9, 30)
        assert case.state == "open" or code == "only_child_certificate"
        _progress(case, member, code, "completed", result={"ref": code})
    assert set(_states(case).values()) == {S.COMPLETED}
    assert case.state == "closed"
    assert case.items["hpf_withdrawal"].result == {"ref": "hpf_withdrawal"}


def test_delivered_only_from_dispatched() -> None:
    case = _open()
    assert not case.mark_delivered("hpf_withdrawal", now=NOW, by="hpf")  # still waiting
    assert case.mark_delivered("socialized_management", now=NOW, by="community")
    assert not case.mark_delivered("socialized_management", now=NOW, by="community")
    assert not case.mark_delivered("no_such_item", now=NOW, by="community")


@pytest.mark.parametrize("member,code,error,path", [
    ("hpf", "hpf_withdrawal", "item_not_dispatched", "$.data.status"),   # still waiting
    ("hpf", "socialized_management", "not_responsible", "$.data.item"),
    ("community", "nothing_like_it", "item_not_in_case", "$.data.item"),
])
def test_progress_refusals(member: str, code: str, error: str, path: str) -> None:
    case = _open()
    before = _states(case)
    with pytest.raises(DomainError) as exc:
        _progress(case, member, code, "received")
    assert exc.value.code == error
    assert [p.path for p in exc.value.problems] == [path]
    assert _states(case) == before


def test_no_move_backwards_or_out_of_a_final_state() -> None:
    case = _open()
    _progress(case, "community", "socialized_management", "in_progress")
    with pytest.raises(DomainError) as exc:
        _progress(case, "community", "socialized_management", "received")
    assert exc.value.code == "illegal_transition" and exc.value.status == 409
    _progress(case, "community", "socialized_management", "failed",
              reason={"code": "x", "message_zh": "失败"})
    with pytest.raises(DomainError):
        _progress(case, "community", "socialized_management", "completed")


def test_not_eligible_becomes_standalone_or_failed_as_the_item_says() -> None:
    case = _open()
    _progress(case, "community", "socialized_management", "not_eligible")
    _progress(case, "health", "only_child_certificate", "not_eligible")
    st = _states(case)
    assert st["socialized_management"] == S.STANDALONE   # handled on its own from now on
    assert st["only_child_certificate"] == S.FAILED


def test_a_closed_case_takes_no_approval() -> None:
    case = _open()
    case.apply_approval(contracts.example("approval-result-refused"), DEFS, now=NOW, by=HRSS,
                        event_id="r", deadline=_deadline)
    case.document.pop("approval")
    with pytest.raises(DomainError) as exc:
        case.apply_approval(contracts.example("approval-result"), DEFS, now=NOW, by=HRSS,
                            event_id="a", deadline=_deadline)
    assert exc.value.code == "case_closed"


def test_every_move_is_recorded_in_the_history() -> None:
    case = _open()
    moves = [(h.code, h.from_state, h.to_state) for h in case.new_history]
    assert ("socialized_management", None, S.WAITING) in moves
    assert ("socialized_management", S.WAITING, S.DISPATCHED) in moves
    assert ("retirement_approval", S.WAITING, S.IN_PROGRESS) in moves


def test_fail_item_leaves_a_final_item_alone() -> None:
    case = _open()
    case.fail_item("socialized_management", {"code": "payload_invalid", "message_zh": "x"},
                   now=NOW, by="hub")
    assert case.items["socialized_management"].state == S.FAILED
    _progress(case, "health", "only_child_certificate", "completed")
    case.fail_item("only_child_certificate", {"code": "late"}, now=NOW, by="hub")
    assert case.items["only_child_certificate"].state == S.COMPLETED


def test_status_document_lists_every_item_in_order() -> None:
    doc = _open().status_document(DEFS)
    assert [i["code"] for i in doc["items"]] == [d.code for d in DEFS if d.code in
                                                 _open().items]
