"""Accept events from a member: check everything first, then store and react in one unit of work."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hub.domain import case as C
from hub.domain import idnumber
from hub.domain.errors import DomainError, Problem, conflict, domain_error
from hub.domain.rules import application_warnings
from hub.services.context import Deps, Runtime
from hub.services.envelope import IncomingEvent, check_envelope, digest, rule_problems
from hub.services.outbox import iso, utcnow
from hub.services.react import react, route_to_subscribers
from hub.store.uow import StoredEvent, UnitOfWork


@dataclass(frozen=True)
class Publish:
    """A member publishes one event, or a batch (a JSON array) that is taken whole or not at all."""

    member_id: str
    payload: Any
    batch: bool
    keyid: str | None = None  # the key that signed the request, for the message log


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
    return domain_error(code, status, en, zh, problems)


def publish(hub: Runtime, member_id: str, payload: Any, *, batch: bool) -> list[Receipt]:
    return publish_with_warnings(hub, member_id, payload, batch=batch).receipts


def publish_with_warnings(hub: Runtime, member_id: str, payload: Any, *, batch: bool,
                          keyid: str | None = None) -> Published:
    result: Published = hub.handle(Publish(member_id, payload, batch, keyid))
    return result


def handle_publish(cmd: Publish, uow: UnitOfWork, deps: Deps) -> Published:
    """Validate every event, then store and route them all or none."""
    member_id, payload, batch = cmd.member_id, cmd.payload, cmd.batch
    events = payload if batch else [payload]
    if batch and (not isinstance(payload, list) or not payload):
        raise invalid("batch_not_array", "a batch must be a non-empty JSON array",
                      "批量事件必须是非空 JSON 数组", [Problem("batch_not_array", "$",
                      "expected a non-empty array", "应为非空数组")], 400)
    snap = deps.snap()
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
            problems += rule_problems(ev, idx, deps.rules, snap)
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
                             for p in application_warnings(ev.envelope["data"], deps.rules))
             for ev in incoming if ev.envelope.get("type") == application}
    rows: list[tuple[StoredEvent, bool]] = []
    with uow:
        uow.note_signer(member_id, cmd.keyid)
        for ev in incoming:
            try:
                rows.append(_accept(uow, deps, member_id, ev))
            except DomainError as exc:
                exc.problems = [Problem(p.code, prefix(ev.index) + p.path[1:], p.message,
                                        p.message_zh) for p in exc.problems] or [
                    Problem(exc.code, prefix(ev.index), exc.message, exc.message_zh)]
                raise
        uow.events.flush()  # one batch of INSERTs for every event and delivery; sequences known
        receipts = [_receipt(row, duplicate=dup, warnings=notes.get(i, ()))
                    for i, (row, dup) in enumerate(rows)]
        uow.commit()  # wakes the workers for the deliveries it created
    return Published(receipts, sorted(set(warnings)))


def _accept(uow: UnitOfWork, deps: Deps, member_id: str, ev: IncomingEvent
            ) -> tuple[StoredEvent, bool]:
    existing = uow.events.find(member_id, ev.id)
    if existing is not None:
        if existing.digest != ev.digest:
            raise conflict(
                "event_id_conflict",
                f"event {ev.id} was already accepted with different content",
                f"事件 {ev.id} 已以不同内容提交过",
                [Problem("event_id_conflict", "$.id", "same id, different content",
                         "同一事件编号内容不同")])
        return existing, True
    now = utcnow()
    env = dict(ev.envelope)
    snap = deps.snap()
    spec = snap.event_by_type(ev.type)
    assert spec is not None  # check_envelope refused unknown types
    env.setdefault("dataschema", spec["dataschema"])
    row = uow.events.add(env, received_at=now, digest=ev.digest)
    handler = HANDLERS.get(spec["key"])
    if handler is not None:
        handler(uow, deps, member_id, row)
    route_to_subscribers(uow, deps, row, now)
    return row, False


def _receipt(row: StoredEvent, *, duplicate: bool, warnings: tuple[Problem, ...] = ()
             ) -> Receipt:
    return Receipt(row.event_id, row.source, row.seq, iso(row.received_at), duplicate,
                   warnings)



# ----- reactions: one function per event kind the hub reacts to ---------------------------

def on_application(uow: UnitOfWork, deps: Deps, member_id: str, ev: StoredEvent) -> None:
    if uow.cases.get(ev.subject or "") is not None:
        raise conflict("case_exists", f"case {ev.subject} already exists",
                       f"办件 {ev.subject} 已存在",
                       [Problem("case_exists", "$.subject", "case id already used",
                                "办件编号已被使用")])
    snap = deps.snap()
    case = C.Case.open(ev.subject or "", ev.data, snap.definitions, now=ev.received_at,
                       by=member_id, event_id=ev.event_id, deadline=snap.calendar.deadline)
    uow.cases.add(case, member_id)
    react(uow, deps, case)


def on_approval(uow: UnitOfWork, deps: Deps, member_id: str, ev: StoredEvent) -> None:
    case = _case_for(uow, ev, member_id)
    snap = deps.snap()
    case.apply_approval(ev.data, snap.definitions, now=ev.received_at, by=member_id,
                        event_id=ev.event_id, deadline=snap.calendar.deadline)
    uow.cases.save(case)
    react(uow, deps, case)


def on_progress(uow: UnitOfWork, deps: Deps, member_id: str, ev: StoredEvent) -> None:
    case = _case_for(uow, ev, member_id)
    case.apply_progress(member_id, ev.data, deps.snap().definitions, now=ev.received_at,
                        event_id=ev.event_id)
    uow.cases.save(case)
    react(uow, deps, case)


def on_issue(uow: UnitOfWork, deps: Deps, member_id: str, ev: StoredEvent) -> None:
    case = _case_for(uow, ev, member_id)
    uow.cases.add_issue(case.id, member_id, ev.data, ev.event_id, ev.received_at)


HANDLERS: dict[str, Callable[[UnitOfWork, Deps, str, StoredEvent], None]] = {
    "application_submitted": on_application,
    "approval_decided": on_approval,
    "item_progressed": on_progress,
    "issue_reported": on_issue,
}


def _case_for(uow: UnitOfWork, ev: StoredEvent, member_id: str) -> C.Case:
    case = uow.cases.get(ev.subject or "", for_update=True)
    if case is None or not uow.cases.takes_part(case.id, member_id):
        raise domain_error("case_not_found", 404, f"case {ev.subject} not found",
                           f"未找到办件 {ev.subject}",
                           [Problem("case_not_found", "$.subject", "no such case",
                                    "办件不存在")])
    return case
