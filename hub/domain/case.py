"""The case aggregate: one retirement application and the linked items it set in motion.

The aggregate never calls out. It changes its own state and records what happened in
``raised`` (items to dispatch, items cancelled at a department, status changed); the service
layer turns those into events and deliveries inside the same transaction.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from hub.domain import states as S
from hub.domain.clock import beijing_date, beijing_time
from hub.domain.errors import DomainError, Problem
from hub.domain.items import UNORDERED, ItemDefinition
from hub.domain.projection import project

Definitions = Sequence[ItemDefinition]


@dataclass
class ItemStatus:
    code: str
    member: str
    state: str = S.WAITING
    reason: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    promised_by: date | None = None
    statutory_by: date | None = None
    deadline_note: str | None = None
    updated_at: datetime | None = None
    clock_started_on: date | None = None  # Beijing date of the event that started the clock
    promised_fixed: bool = False  # the department reported its own promised date


@dataclass(frozen=True)
class HistoryEntry:
    code: str
    from_state: str | None
    to_state: str
    at: datetime
    by: str
    event_id: str | None = None
    reason: dict[str, Any] | None = None
    note: str | None = None


@dataclass(frozen=True)
class ItemDispatched:
    """An item reached its trigger and goes to its department now."""

    code: str


@dataclass(frozen=True)
class ItemWithdrawn:
    """An item the department already had was cancelled; the department must be told."""

    code: str
    reason: dict[str, Any]


@dataclass(frozen=True)
class CaseChanged:
    """Some item moved: the merged status goes back to the entrance platform."""


# (Beijing date the clock started, working days) -> deadline; raises DomainError for a year the
# working calendar does not know. See hub.domain.workdays for the counting rule.
DeadlineFn = Callable[[date, int], date]


@dataclass
class Case:
    id: str
    city_code: str
    document: dict[str, Any]
    items: dict[str, ItemStatus]
    state: str = "open"
    created_at: datetime | None = None
    updated_at: datetime | None = None
    closed_at: datetime | None = None
    version: int = 0
    new_history: list[HistoryEntry] = field(default_factory=list)
    raised: list[Any] = field(default_factory=list)

    # ----- creation ------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        case_id: str,
        application: dict[str, Any],
        definitions: Definitions,
        *,
        now: datetime,
        by: str,
        event_id: str | None,
        deadline: DeadlineFn,
    ) -> Case:
        chosen = set(application.get("linked_items", []))
        items = {
            d.code: ItemStatus(code=d.code, member=d.member, updated_at=now)
            for d in definitions
            if d.chosen == "always" or d.code in chosen
        }
        case = cls(
            id=case_id,
            city_code=application["city_code"],
            document={"case_id": case_id, "city_code": application["city_code"],
                      "application": application},
            items=items,
            created_at=now,
            updated_at=now,
        )
        for code in items:
            case.new_history.append(HistoryEntry(code, None, S.WAITING, now, by, event_id))
        case._trigger("accepted", definitions, now=now, by=by, event_id=event_id, deadline=deadline)
        case.raised.append(CaseChanged())
        return case

    # ----- commands ------------------------------------------------------------------
    def apply_approval(
        self,
        approval: dict[str, Any],
        definitions: Definitions,
        *,
        now: datetime,
        by: str,
        event_id: str | None,
        deadline: DeadlineFn,
    ) -> None:
        if "approval" in self.document:
            raise _error(
                "approval_already_decided",
                f"case {self.id} already has an approval result",
                f"办件 {self.id} 已有审批结果，不能重复提交",
                status=409,
            )
        self._require_open()
        self.document = {**self.document, "approval": approval}
        defs = {d.code: d for d in definitions}
        if approval["decision"] == "approved":
            self._trigger("approved", definitions, now=now, by=by, event_id=event_id,
                          deadline=deadline)
            for code, item in self.items.items():
                d = defs.get(code)
                if d and d.settled_by == "approval" and not S.is_final(item.state):
                    item.result = project(self.document, dict(d.projection)) or None
                    self._move(item, S.COMPLETED, now=now, by=by, event_id=event_id)
        else:
            refusal = approval.get("refusal_reason") or {
                "code": "refused", "message_zh": "不予批准"}
            why_en = refusal.get("message_en", refusal.get("code", ""))
            reason = {
                "code": "approval_refused",
                "message_zh": f"退休审批未通过：{refusal.get('message_zh', '')}",
                "message_en": f"retirement approval refused: {why_en}",
            }
            for code, item in self.items.items():
                d = defs.get(code)
                if S.is_final(item.state):
                    continue
                if d and d.settled_by == "approval" and not d.cancel_on_refusal:
                    item.result = {"decision": "refused"}
                    self._move(item, S.COMPLETED, now=now, by=by, event_id=event_id, reason=refusal)
                elif d is None or d.cancel_on_refusal:  # an item no longer defined goes too
                    was_out = item.state != S.WAITING and d is not None and d.dispatched
                    self._move(item, S.CANCELLED, now=now, by=by, event_id=event_id, reason=reason)
                    if was_out:
                        self.raised.append(ItemWithdrawn(code, reason))
        self._after_change(now)

    def apply_progress(
        self,
        member: str,
        progress: dict[str, Any],
        definitions: Definitions,
        *,
        now: datetime,
        event_id: str | None,
    ) -> None:
        code = progress["item"]
        item = self.items.get(code)
        if item is None:
            raise _error(
                "item_not_in_case",
                f"item {code} is not part of case {self.id}",
                f"办件 {self.id} 未申请关联事项 {code}",
                status=404,
                path="$.data.item",
            )
        if item.member != member:
            raise _error(
                "not_responsible",
                f"member {member} is not responsible for item {code}",
                f"成员 {member} 不负责事项 {code}",
                status=403,
                path="$.data.item",
            )
        d = next((x for x in definitions if x.code == code), None)
        if item.state == S.WAITING:
            raise _error(
                "item_not_dispatched",
                f"item {code} has not been sent to its department yet",
                f"事项 {code} 尚未推送给办理部门，不能报告进度",
                status=409,
                path="$.data.status",
            )
        status = progress["status"]
        target = {
            S.REPORTED_RECEIVED: S.RECEIVED,
            S.REPORTED_IN_PROGRESS: S.IN_PROGRESS,
            S.REPORTED_COMPLETED: S.COMPLETED,
            S.REPORTED_FAILED: S.FAILED,
            S.REPORTED_NOT_ELIGIBLE: (S.STANDALONE if d and d.not_eligible == "standalone"
                                      else S.FAILED),
        }[status]
        if not S.move_allowed(item.state, target):
            raise _error(
                "illegal_transition",
                f"item {code} cannot move from {item.state} to {target}",
                f"事项 {code} 不能从“{S.label(item.state)}”变为“{S.label(target)}”",
                status=409,
                path="$.data.status",
            )
        if progress.get("result"):
            item.result = {**(item.result or {}), **progress["result"]}
        if progress.get("promised_date"):
            item.promised_by = date.fromisoformat(progress["promised_date"])
            item.promised_fixed = True
        self._move(item, target, now=now, by=member, event_id=event_id,
                   reason=progress.get("reason"), note=progress.get("handler"))
        self._after_change(now)

    def mark_delivered(self, code: str, *, now: datetime, by: str) -> bool:
        """The department has the item's request (push answered 2xx or feed acknowledged)."""
        item = self.items.get(code)
        if item is None or item.state != S.DISPATCHED:
            return False
        self._move(item, S.DELIVERED, now=now, by=by)
        self._after_change(now)
        return True

    def recompute_deadlines(self, definitions: Definitions, deadline: DeadlineFn, *,
                            year: int | None, calendar: str, now: datetime, by: str) -> list[str]:
        """Count open items' deadlines again after the working calendar for `year` changed.

        An item is recounted when its deadline is missing (the calendar did not know a year) or
        when its count ran through `year` (None: only missing ones). Every item whose dates
        change gets a history entry naming the calendar version. Returns the changed codes.
        """
        defs = {d.code: d for d in definitions}
        changed: list[str] = []
        for code, item in self.items.items():
            d = defs.get(code)
            if (d is None or item.clock_started_on is None or S.is_final(item.state)
                    or not d.has_deadlines):
                continue
            dates = [x for x in (item.promised_by, item.statutory_by) if x]
            touches = item.deadline_note is not None or (
                year is not None and dates and item.clock_started_on.year <= year
                <= max(x.year for x in dates))
            if not touches:
                continue
            before = (item.promised_by, item.statutory_by, item.deadline_note)
            fixed = item.promised_by if item.promised_fixed else None
            item.deadline_note = item.promised_by = item.statutory_by = None
            self._set_deadlines(item, d, item.clock_started_on, deadline)
            if fixed is not None:
                item.promised_by = fixed
            if (item.promised_by, item.statutory_by, item.deadline_note) == before:
                continue
            changed.append(code)
            reason: dict[str, Any] = {
                "code": "deadlines_recomputed", "calendar": calendar,
                "message_zh": f"工作日历（{calendar}）已更新，重新计算办理时限",
                "message_en": f"deadlines recomputed with the working calendar {calendar}"}
            for key, value in (("promised", item.promised_by), ("statutory", item.statutory_by)):
                if value:
                    reason[key] = value.isoformat()
            if item.deadline_note:
                reason["deadline_note"] = item.deadline_note
            self.new_history.append(HistoryEntry(code, item.state, item.state, now, by,
                                                 reason=reason, note=reason["message_en"]))
        if changed:
            self.updated_at = now
            self.raised.append(CaseChanged())
        return changed

    def fail_item(self, code: str, reason: dict[str, Any], *, now: datetime, by: str) -> None:
        item = self.items[code]
        if not S.is_final(item.state):
            self._move(item, S.FAILED, now=now, by=by, reason=reason)
            self._after_change(now)

    # ----- views ---------------------------------------------------------------------
    def status_document(self, definitions: Definitions) -> dict[str, Any]:
        """The merged status, shaped by the case-status contract."""
        names = {d.code: d for d in definitions}
        items = []
        for code, it in sorted(self.items.items(), key=lambda kv: (
                names[kv[0]].order if kv[0] in names else UNORDERED)):
            entry: dict[str, Any] = {
                "code": code,
                "name_zh": names[code].name_zh if code in names else code,
                "state": it.state,
                "state_zh": S.label(it.state),
                "updated_at": _iso(it.updated_at or self.updated_at),
            }
            if it.reason:
                entry["reason"] = it.reason
            deadlines = {k: v.isoformat() for k, v in
                         (("promised", it.promised_by), ("statutory", it.statutory_by)) if v}
            if deadlines:
                entry["deadlines"] = deadlines
            if it.result:
                entry["result"] = it.result
            items.append(entry)
        return {
            "case_id": self.id,
            "city_code": self.city_code,
            "state": self.state,
            "updated_at": _iso(self.updated_at),
            "items": items,
        }

    @property
    def members(self) -> set[str]:
        return {it.member for it in self.items.values()}

    # ----- internals -----------------------------------------------------------------
    def _trigger(self, phase: str, definitions: Definitions, *, now: datetime, by: str,
                 event_id: str | None, deadline: DeadlineFn) -> None:
        for d in definitions:
            item = self.items.get(d.code)
            if item is None or item.state != S.WAITING or d.trigger != phase:
                continue
            item.clock_started_on = beijing_date(now)
            self._set_deadlines(item, d, item.clock_started_on, deadline)
            if not d.dispatched:
                self._move(item, S.IN_PROGRESS, now=now, by=by, event_id=event_id,
                           note="handled by the entrance platform")
            else:
                self._move(item, S.DISPATCHED, now=now, by=by, event_id=event_id)
                self.raised.append(ItemDispatched(d.code))

    @staticmethod
    def _set_deadlines(item: ItemStatus, d: ItemDefinition, start: date,
                       deadline: DeadlineFn) -> None:
        try:
            if d.promised_working_days:
                item.promised_by = deadline(start, d.promised_working_days)
            if d.statutory_working_days:
                item.statutory_by = deadline(start, d.statutory_working_days)
        except DomainError as exc:  # a year the holiday calendar does not know yet
            item.deadline_note = exc.code

    def _move(self, item: ItemStatus, target: str, *, now: datetime, by: str,
              event_id: str | None = None, reason: dict[str, Any] | None = None,
              note: str | None = None) -> None:
        before = item.state
        item.state = target
        item.updated_at = now
        if reason is not None:
            item.reason = reason
        self.new_history.append(HistoryEntry(item.code, before, target, now, by, event_id,
                                             reason, note))

    def _after_change(self, now: datetime) -> None:
        self.updated_at = now
        if self.state == "open" and all(S.is_final(i.state) for i in self.items.values()):
            self.state = "closed"
            self.closed_at = now
        self.raised.append(CaseChanged())

    def _require_open(self) -> None:
        if self.state != "open":
            raise _error("case_closed", f"case {self.id} is closed",
                              f"办件 {self.id} 已办结", status=409)


def _iso(dt: datetime | None) -> str:
    """Times in the status people see: Beijing time with its offset (full precision, so the
    entrance platform can still order two updates within a second)."""
    if dt is None:
        return "0001-01-01T00:00:00"  # sorts before every real time
    return beijing_time(dt).isoformat()


def _error(code: str, message: str, message_zh: str, *, status: int,
           path: str | None = None) -> DomainError:
    problems = [Problem(code, path, message, message_zh)] if path else []
    return DomainError(code, message, message_zh, status=status, problems=problems)
