"""Accept events from a member: check everything first, then store and react in one transaction."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.bootstrap import Hub
from hub.domain import case as C
from hub.domain import idnumber
from hub.domain.errors import DomainError, Problem
from hub.domain.projection import project
from hub.domain.rules import application_warnings
from hub.messagelog import appender as message_log
from hub.services import outbox
from hub.services.envelope import (
    IncomingEvent,
    check_envelope,
    digest,
    rule_problems,
    schema_problems,
)
from hub.store import cases as case_store
from hub.store.models import CaseIssueRow, Event


@dataclass(frozen=True)
class Published:
    receipts: list[Receipt]
    warnings: list[str]


@dataclass(frozen=True)
class Receipt:
    id: str
    source: str
    sequence: int
    received_at: str
    duplicate: bool
    warnings: tuple[Problem, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "source": self.source, "sequence": self.sequence,
                               "received_at": self.received_at,
                               "status": "duplicate" if self.duplicate else "accepted"}
        if self.warnings:
            out["warnings"] = [p.to_dict() for p in self.warnings]
        return out


def invalid(code: str, en: str, zh: str, problems: list[Problem], status: int) -> DomainError:
    return DomainError(code, en, zh, status=status, problems=problems)


def publish(hub: Hub, member_id: str, payload: Any, *, batch: bool) -> list[Receipt]:
    return publish_with_warnings(hub, member_id, payload, batch=batch).receipts


def publish_with_warnings(hub: Hub, member_id: str, payload: Any, *, batch: bool,
                          keyid: str | None = None) -> Published:
    """Validate every event, then store and route them all or none."""
    events = payload if batch else [payload]
    if batch and (not isinstance(payload, list) or not payload):
        raise invalid("batch_not_array", "a batch must be a non-empty JSON array",
                      "批量事件必须是非空 JSON 数组", [Problem("batch_not_array", "$",
                      "expected a non-empty array", "应为非空数组")], 400)
    snap = hub.snap()
    info = snap.members.get(member_id)
    allowed = list(info.publish) if info else []
    denied: list[Problem] = []
    problems: list[Problem] = []
    warnings: list[str] = []
    for i, ev in enumerate(events):
        idx = i if batch else None
        d, p = check_envelope(ev, idx, member_id, allowed, snap, warnings)
        denied += d
        problems += p
        if not d and not p:
            problems += rule_problems(ev, idx, hub.rules, snap)
    if denied:
        raise invalid("forbidden", "the member may not publish these events",
                      "该成员无权发布这些事件", denied, 403)
    if problems:
        raise invalid("invalid_event", "the events do not satisfy their contracts",
                      "事件不符合数据合同或业务规则", problems, 422)
    # ID numbers in stored form (upper-case X) before anything is stored, routed or projected
    events = [{**ev, "data": idnumber.normalise_in(ev["data"])} if "data" in ev else ev
              for ev in events]
    incoming = [IncomingEvent(i, ev, digest(ev)) for i, ev in enumerate(events)]
    def prefix(i: int) -> str:
        return f"$[{i}]" if batch else "$"

    application = snap.event_type("application_submitted")
    notes = {ev.index: tuple(Problem(p.code, prefix(ev.index) + ".data" + p.path[1:], p.message,
                                     p.message_zh)
                             for p in application_warnings(ev.envelope["data"], hub.rules))
             for ev in incoming if ev.envelope.get("type") == application}
    rows: list[tuple[Event, bool]] = []
    with hub.transaction() as s:
        message_log.note_signer(s, member_id, keyid)
        for ev in incoming:
            try:
                rows.append(_accept(hub, s, member_id, ev, snap))
            except DomainError as exc:
                exc.problems = [Problem(p.code, prefix(ev.index) + p.path[1:], p.message,
                                        p.message_zh) for p in exc.problems] or [
                    Problem(exc.code, prefix(ev.index), exc.message, exc.message_zh)]
                raise
        s.flush()  # one batch of INSERTs for every event and delivery; the sequences are known
        receipts = [_receipt(row, duplicate=dup, warnings=notes.get(i, ()))
                    for i, (row, dup) in enumerate(rows)]
    hub.wake()
    return Published(receipts, sorted(set(warnings)))


def _accept(hub: Hub, s: Session, member_id: str, ev: IncomingEvent, snap: Any
            ) -> tuple[Event, bool]:
    existing = s.scalars(select(Event).where(Event.source == member_id,
                                             Event.event_id == ev.id)).one_or_none()
    if existing is not None:
        if existing.digest != ev.digest:
            raise DomainError(
                "event_id_conflict",
                f"event {ev.id} was already accepted with different content",
                f"事件 {ev.id} 已以不同内容提交过",
                status=409, problems=[Problem("event_id_conflict", "$.id",
                                              "same id, different content",
                                              "同一事件编号内容不同")])
        return existing, True
    now = outbox.utcnow()
    env = dict(ev.envelope)
    spec = snap.event_by_type(ev.type)
    env.setdefault("dataschema", spec["dataschema"])
    row = outbox.store_event(s, env, received_at=now, fingerprint=ev.digest)
    handler = HANDLERS.get(spec["key"])
    if handler is not None:
        handler(hub, s, member_id, row)
    outbox.route_to_subscribers(s, row, now, snap.members)
    return row, False


def _receipt(row: Event, *, duplicate: bool, warnings: tuple[Problem, ...] = ()) -> Receipt:
    return Receipt(row.event_id, row.source, row.seq, outbox.iso(row.received_at), duplicate,
                   warnings)



# ----- handlers: one function per event kind the hub reacts to -----------------------------

def on_application(hub: Hub, s: Session, member_id: str, ev: Event) -> None:
    if case_store.get(s, ev.subject or "") is not None:
        raise DomainError("case_exists", f"case {ev.subject} already exists",
                          f"办件 {ev.subject} 已存在", status=409,
                          problems=[Problem("case_exists", "$.subject", "case id already used",
                                            "办件编号已被使用")])
    case = C.Case.open(ev.subject or "", ev.data, hub.definitions(), now=ev.received_at,
                       by=member_id, event_id=ev.event_id, deadline=hub.snap().calendar.deadline)
    case_store.add(s, case, member_id)
    react(hub, s, case)


def on_approval(hub: Hub, s: Session, member_id: str, ev: Event) -> None:
    case = _case_for(s, ev, member_id)
    case.apply_approval(ev.data, hub.definitions(), now=ev.received_at, by=member_id,
                        event_id=ev.event_id, deadline=hub.snap().calendar.deadline)
    case_store.save(s, case)
    react(hub, s, case)


def on_progress(hub: Hub, s: Session, member_id: str, ev: Event) -> None:
    case = _case_for(s, ev, member_id)
    case.apply_progress(member_id, ev.data, hub.definitions(), now=ev.received_at,
                        event_id=ev.event_id)
    case_store.save(s, case)
    react(hub, s, case)


def on_issue(hub: Hub, s: Session, member_id: str, ev: Event) -> None:
    case = _case_for(s, ev, member_id)
    d = ev.data
    s.add(CaseIssueRow(
        case_id=case.id, member_id=member_id, item=d.get("item"), code=d["code"],
        message_zh=d["message_zh"], message_en=d.get("message_en"), detail=d.get("detail"),
        city_code=d.get("city_code"), occurred_at=d["occurred_at"], event_id=ev.event_id,
        received_at=ev.received_at,
    ))


HANDLERS: dict[str, Callable[[Hub, Session, str, Event], None]] = {
    "application_submitted": on_application,
    "approval_decided": on_approval,
    "item_progressed": on_progress,
    "issue_reported": on_issue,
}


def _case_for(s: Session, ev: Event, member_id: str) -> C.Case:
    case = case_store.get(s, ev.subject or "", for_update=True)
    if case is None or not case_store.takes_part(s, case.id, member_id):
        raise DomainError("case_not_found", f"case {ev.subject} not found",
                          f"未找到办件 {ev.subject}", status=404,
                          problems=[Problem("case_not_found", "$.subject", "no such case",
                                            "办件不存在")])
    return case


def react(hub: Hub, s: Session, case: C.Case) -> None:
    """Turn what the aggregate raised into events and deliveries, in this transaction."""
    snap = hub.snap()
    defs = {d["code"]: d for d in snap.items}
    now = outbox.utcnow()
    status_changed = False
    while case.raised:
        raised = case.raised.pop(0)
        if isinstance(raised, C.ItemDispatched):
            d = defs[raised.code]
            payload = project(case.document, d.get("projection", {}))
            problems = schema_problems(snap, d["payload_contract"], payload, "$")
            if problems:
                case.fail_item(raised.code, {
                    "code": "payload_invalid",
                    "message_zh": "根据办件数据生成的推送内容不符合数据合同",
                    "message_en": "; ".join(f"{p.path}: {p.message}" for p in problems)[:500],
                }, now=now, by=hub.config.hub_member_id)
                case_store.save(s, case)
                continue
            outbox.emit(s, hub.config.hub_member_id, d["request_type"], case.id, payload,
                        [d["member"]], now, dataschema=d["payload_contract"], known=snap.members)
        elif isinstance(raised, C.ItemWithdrawn):
            data = {"item": raised.code, "reason": raised.reason, "cancelled_at": outbox.iso(now)}
            outbox.emit(s, hub.config.hub_member_id, snap.event_type("item_cancelled"), case.id,
                        data, [defs[raised.code]["member"]], now,
                        dataschema=snap.current_schema("item_cancelled"), known=snap.members)
        elif isinstance(raised, C.CaseChanged):
            status_changed = True
    if status_changed:
        outbox.emit(s, hub.config.hub_member_id, snap.event_type("case_status_changed"), case.id,
                    case.status_document(snap.definitions), [hub.config.hrss_member_id], now,
                    dataschema=snap.current_schema("case_status_changed"), known=snap.members)
