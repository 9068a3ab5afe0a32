"""Every database read of the console, in one module: counts come from indexed aggregate
queries, lists are bounded. Functions take a session and return plain data."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session, aliased

from hub.console.levels import rank
from hub.console.models import ConsoleAudit, ConsoleUser, ItemWarning, NoticeHandling
from hub.domain import states as S
from hub.domain.delivery import PENDING
from hub.logs import redact
from hub.store.models import (
    CaseIssueRow,
    CaseItemHistoryRow,
    CaseItemRow,
    CaseRow,
    ContractVersion,
    Delivery,
    DeliveryAttempt,
    Event,
    ItemDefinitionRow,
    Member,
    Notice,
    RegistryAudit,
    WorkerHeartbeat,
)

OPEN = tuple(S.PROGRESSION)
MAX_ROWS = 500


# ----- deadlines -------------------------------------------------------------------------

def level_filter(level: str, today: date, soon: date) -> Any:
    """SQL for one warning level on `today` (the same rule as `levels.classify`)."""
    ci = CaseItemRow
    serious = and_(ci.statutory_by.is_not(None), ci.statutory_by < today)
    if level == "seriously_overdue":
        return serious
    if level == "overdue":
        return and_(ci.promised_by < today, ~serious)
    if level == "due_soon":
        return and_(ci.promised_by >= today, ci.promised_by <= soon, ~serious)
    raise ValueError(level)


def warning_candidates(s: Session, today: date, soon: date) -> list[dict[str, Any]]:
    """Open items at a level today that has not been raised for them yet (nor a higher one),
    with the highest level already raised: in steady state the job reads nothing."""
    ci = CaseItemRow

    def raised(*levels: str) -> Any:
        w = select(ItemWarning.case_id).where(ItemWarning.case_id == ci.case_id,
                                              ItemWarning.code == ci.code)
        if levels:
            w = w.where(ItemWarning.level.in_(levels))
        return w.exists()

    serious, overdue = "seriously_overdue", "overdue"
    rows = s.execute(
        select(ci.case_id, ci.code, ci.member_id, ci.state, ci.promised_by, ci.statutory_by,
               CaseRow.city_code)
        .join(CaseRow, CaseRow.id == ci.case_id)
        .where(ci.state.in_(OPEN), or_(
            and_(level_filter(serious, today, soon), ~raised(serious)),
            and_(level_filter(overdue, today, soon), ~raised(overdue, serious)),
            and_(level_filter("due_soon", today, soon), ~raised())))
        .order_by(ci.case_id, ci.code)).all()
    out: list[dict[str, Any]] = [
        dict(case_id=r[0], code=r[1], member_id=r[2], state=r[3], promised_by=r[4],
             statutory_by=r[5], city_code=r[6], highest=None) for r in rows]
    found: dict[tuple[str, str], list[str]] = {}
    ids = sorted({c["case_id"] for c in out})
    for start in range(0, len(ids), 500):
        for cid, code, level in s.execute(
                select(ItemWarning.case_id, ItemWarning.code, ItemWarning.level)
                .where(ItemWarning.case_id.in_(ids[start:start + 500]))):
            found.setdefault((cid, code), []).append(level)
    for c in out:
        levels = found.get((c["case_id"], c["code"]), [])
        c["highest"] = max(levels, key=rank) if levels else None
    return out


def beijing_day(s: Session, column: Any) -> Any:
    """The Beijing calendar date of a UTC timestamp column, in SQL."""
    if s.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone("Asia/Shanghai", column))
    return func.date(column, "+8 hours")


# ----- overview --------------------------------------------------------------------------

COUNTS = ("open", "due_soon", "overdue", "seriously_overdue", "completed", "on_time",
          "standalone", "cancelled")


def overview_counts(s: Session, today: date, soon: date) -> list[dict[str, Any]]:
    """Per (department, city): open items at each level, completed (in time), standalone and
    cancelled. One grouped query over the items; departments times cities rows come back."""
    ci = CaseItemRow
    is_open = ci.state.in_(OPEN)

    def count(cond: Any) -> Any:
        return func.sum(case((cond, 1), else_=0))

    completed_day = beijing_day(s, ci.updated_at)
    q = (select(ci.member_id, CaseRow.city_code, count(is_open),
                count(and_(is_open, level_filter("due_soon", today, soon))),
                count(and_(is_open, level_filter("overdue", today, soon))),
                count(and_(is_open, level_filter("seriously_overdue", today, soon))),
                count(ci.state == S.COMPLETED),
                count(and_(ci.state == S.COMPLETED,
                           or_(ci.promised_by.is_(None), completed_day <= ci.promised_by))),
                count(ci.state == S.STANDALONE), count(ci.state == S.CANCELLED))
         .join(CaseRow, CaseRow.id == ci.case_id)
         .group_by(ci.member_id, CaseRow.city_code))
    return [{"member": r[0], "city": r[1], **{k: int(v or 0)
                                                  for k, v in zip(COUNTS, r[2:], strict=True)}}
            for r in s.execute(q)]


def overview(s: Session, today: date, soon: date, by: str) -> list[dict[str, Any]]:
    """One row per department (`by="member"`) or city (`by="city"`)."""
    return rollup(overview_counts(s, today, soon), by)


def rollup(counts: list[dict[str, Any]], by: str) -> list[dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for c in counts:
        row = rows.setdefault(c[by], {"key": c[by], **{k: 0 for k in COUNTS}})
        for k in COUNTS:
            row[k] += c[k]
    for row in rows.values():
        done = row["completed"]
        row["on_time_pct"] = round(100.0 * row["on_time"] / done, 1) if done else None
    return [rows[k] for k in sorted(rows)]


def completion_spans(s: Session, since: datetime, until: datetime
                     ) -> list[tuple[str, str, date, date, bool, int]]:
    """(department, city, dispatched day, completed day, in time, how many) for items completed
    in the window, grouped in SQL: the rows are bounded by days in the window, not by items,
    and feed the working-day medians and the trend."""
    done = aliased(CaseItemHistoryRow)
    sent = aliased(CaseItemHistoryRow)
    d_day, c_day = beijing_day(s, sent.at), beijing_day(s, done.at)
    in_time = case((or_(CaseItemRow.promised_by.is_(None), c_day <= CaseItemRow.promised_by),
                    1), else_=0)
    q = (select(CaseItemRow.member_id, CaseRow.city_code, d_day, c_day, in_time, func.count())
         .select_from(done)
         .join(sent, and_(sent.case_id == done.case_id, sent.code == done.code,
                          sent.to_state == S.DISPATCHED))
         .join(CaseItemRow, and_(CaseItemRow.case_id == done.case_id,
                                 CaseItemRow.code == done.code))
         .join(CaseRow, CaseRow.id == done.case_id)
         .where(done.to_state == S.COMPLETED, done.at >= since, done.at < until)
         .group_by(CaseItemRow.member_id, CaseRow.city_code, d_day, c_day, in_time))
    return [(r[0], r[1], _as_date(r[2]), _as_date(r[3]), bool(r[4]), int(r[5]))
            for r in s.execute(q)]


def _as_date(v: Any) -> date:
    return v if isinstance(v, date) else date.fromisoformat(str(v))


def warnings_raised_since(s: Session, since: datetime) -> list[tuple[date, str, int]]:
    """(Beijing day, level, how many) of warnings raised since a time."""
    day = beijing_day(s, ItemWarning.at)
    return [(_as_date(r[0]), r[1], int(r[2])) for r in s.execute(
        select(day, ItemWarning.level, func.count()).where(ItemWarning.at >= since)
        .group_by(day, ItemWarning.level))]


# ----- cases -----------------------------------------------------------------------------

def search_cases(s: Session, *, case_id: str | None = None, city: str | None = None,
                 member: str | None = None, state: str | None = None, level: str | None = None,
                 since: datetime | None = None, until: datetime | None = None,
                 today: date | None = None, soon: date | None = None,
                 limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
    q = select(CaseRow.id, CaseRow.city_code, CaseRow.state, CaseRow.created_at,
               CaseRow.updated_at)
    if case_id:
        q = q.where(CaseRow.id == case_id)
    if city:
        q = q.where(CaseRow.city_code == city)
    if since:
        q = q.where(CaseRow.created_at >= since)
    if until:
        q = q.where(CaseRow.created_at < until)
    if state in ("open", "closed"):
        q = q.where(CaseRow.state == state)
    item_conds = []
    if member:
        item_conds.append(CaseItemRow.member_id == member)
    if state and state not in ("open", "closed"):
        item_conds.append(CaseItemRow.state == state)
    if level and today and soon:
        item_conds += [CaseItemRow.state.in_(OPEN), level_filter(level, today, soon)]
    if item_conds:
        q = q.where(CaseRow.id.in_(select(CaseItemRow.case_id).where(*item_conds)))
    q = q.order_by(CaseRow.created_at.desc(), CaseRow.id).limit(min(limit, MAX_ROWS)).offset(offset)
    return [{"id": r[0], "city": r[1], "state": r[2], "created_at": r[3], "updated_at": r[4]}
            for r in s.execute(q)]


def case_detail(s: Session, case_id: str) -> dict[str, Any] | None:
    row = s.get(CaseRow, case_id)
    if row is None:
        return None
    items = [{"code": r.code, "member": r.member_id, "state": r.state, "reason": r.reason,
              "promised_by": r.promised_by, "statutory_by": r.statutory_by,
              "deadline_note": r.deadline_note, "updated_at": r.updated_at}
             for r in s.scalars(select(CaseItemRow).where(CaseItemRow.case_id == case_id)
                                .order_by(CaseItemRow.code))]
    history = [{"code": h.code, "from": h.from_state, "to": h.to_state, "at": h.at, "by": h.by,
                "note": h.note, "reason": h.reason}
               for h in s.scalars(select(CaseItemHistoryRow)
                                  .where(CaseItemHistoryRow.case_id == case_id)
                                  .order_by(CaseItemHistoryRow.id))]
    issues = [{"item": i.item, "code": i.code, "message_zh": i.message_zh,
               "message_en": i.message_en, "by": i.member_id, "at": i.received_at}
              for i in s.scalars(select(CaseIssueRow).where(CaseIssueRow.case_id == case_id)
                                 .order_by(CaseIssueRow.id))]
    warnings = [{"code": w.code, "level": w.level, "at": w.at, "member": w.member_id}
                for w in s.scalars(select(ItemWarning).where(ItemWarning.case_id == case_id)
                                   .order_by(ItemWarning.at))]
    return {"id": row.id, "city": row.city_code, "state": row.state, "document": row.document,
            "created_at": row.created_at, "closed_at": row.closed_at, "items": items,
            "history": history, "issues": issues, "warnings": warnings,
            "deliveries": deliveries(s, case_id=case_id, limit=200)}


# ----- deliveries and endpoints ----------------------------------------------------------

def _delivery_query(*, member: str | None = None, state: str | None = None,
                    event_type: str | None = None, since: datetime | None = None,
                    min_attempts: int | None = None, case_id: str | None = None) -> Any:
    q = select(Delivery.id).join(Event, Event.seq == Delivery.event_seq)
    conds = []
    if member:
        conds.append(Delivery.member_id == member)
    if state:
        conds.append(Delivery.state == state)
    if event_type:
        conds.append(Event.type == event_type)
    if since:
        conds.append(Delivery.created_at >= since)
    if min_attempts:
        conds.append(Delivery.attempts >= min_attempts)
    if case_id:
        conds.append(Event.subject == case_id)
    return q.where(*conds)


def deliveries(s: Session, limit: int = 100, **filters: Any) -> list[dict[str, Any]]:
    ids = _delivery_query(**filters).order_by(Delivery.id.desc()).limit(min(limit, MAX_ROWS))
    rows = s.execute(select(Delivery, Event.event_id, Event.type, Event.subject)
                     .join(Event, Event.seq == Delivery.event_seq)
                     .where(Delivery.id.in_(ids.scalar_subquery())).order_by(Delivery.id.desc()))
    return [{"id": d.id, "member": d.member_id, "event_id": eid, "type": etype, "case_id": subj,
             "state": d.state, "attempts": d.attempts, "created_at": d.created_at,
             "delivered_at": d.delivered_at,
             "last_error": redact(d.last_error) if d.last_error else None}
            for d, eid, etype, subj in rows]


def count_deliveries(s: Session, **filters: Any) -> int:
    return int(s.scalar(select(func.count()).select_from(
        _delivery_query(**filters).subquery())) or 0)


def attempts(s: Session, delivery_ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {}
    ids = list(delivery_ids)
    if not ids:
        return out
    for a in s.scalars(select(DeliveryAttempt).where(DeliveryAttempt.delivery_id.in_(ids))
                       .order_by(DeliveryAttempt.id)):
        out.setdefault(a.delivery_id, []).append(
            {"at": a.at, "status": a.status_code, "duration_ms": a.duration_ms,
             "response": redact((a.response or a.error or "")[:200])})
    return out


def endpoint_health(s: Session, since: datetime) -> list[dict[str, Any]]:
    ok = func.sum(case((and_(DeliveryAttempt.status_code >= 200,
                             DeliveryAttempt.status_code < 300), 1), else_=0))
    stats = {mid: (int(total or 0), int(good or 0)) for mid, total, good in s.execute(
        select(Delivery.member_id, func.count(DeliveryAttempt.id), ok)
        .join(Delivery, Delivery.id == DeliveryAttempt.delivery_id)
        .where(DeliveryAttempt.at >= since).group_by(Delivery.member_id))}
    out = []
    for m in s.scalars(select(Member).order_by(Member.id)):
        total, good = stats.get(m.id, (0, 0))
        last = s.execute(select(DeliveryAttempt.at, DeliveryAttempt.status_code,
                                DeliveryAttempt.error)
                         .join(Delivery, Delivery.id == DeliveryAttempt.delivery_id)
                         .where(Delivery.member_id == m.id,
                                or_(DeliveryAttempt.status_code.is_(None),
                                    DeliveryAttempt.status_code >= 300))
                         .order_by(DeliveryAttempt.id.desc()).limit(1)).first()
        out.append({"member": m.id, "push_url": m.push_url, "disabled": m.push_disabled_at,
                    "reason": m.push_disabled_reason, "attempts": total,
                    "success_pct": round(100.0 * good / total, 1) if total else None,
                    "last_error": ({"at": last[0], "status": last[1],
                                    "error": redact(last[2]) if last[2] else None}
                                   if last else None)})
    return out


def member_ids(s: Session) -> list[str]:
    return list(s.scalars(select(Member.id).order_by(Member.id)))


def event_types(s: Session) -> list[str]:
    return list(s.scalars(select(Event.type).distinct().order_by(Event.type)))


def city_codes(s: Session) -> list[str]:
    return list(s.scalars(select(CaseRow.city_code).distinct().order_by(CaseRow.city_code)))


# ----- notices, audit, users -------------------------------------------------------------

def notices(s: Session, state: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    q = (select(Notice, NoticeHandling)
         .outerjoin(NoticeHandling, NoticeHandling.notice_id == Notice.id)
         .order_by(Notice.id.desc()))
    if state == "open":
        q = q.where(NoticeHandling.notice_id.is_(None))
    elif state:
        q = q.where(NoticeHandling.state == state)
    return [{"id": n.id, "at": n.at, "kind": n.kind, "member": n.member_id,
             "message": n.message, "message_zh": n.message_zh, "detail": n.detail,
             "state": h.state if h else "open",
             "acknowledged_by": h.acknowledged_by if h else None,
             "acknowledged_at": h.acknowledged_at if h else None,
             "resolved_by": h.resolved_by if h else None,
             "resolved_at": h.resolved_at if h else None}
            for n, h in s.execute(q.limit(min(limit, MAX_ROWS)))]


def notice_state(s: Session, notice_id: int) -> str | None:
    if s.get(Notice, notice_id) is None:
        return None
    h = s.get(NoticeHandling, notice_id)
    return h.state if h else "open"


def audit(s: Session, limit: int = 200, action: str | None = None) -> list[dict[str, Any]]:
    q = select(ConsoleAudit).order_by(ConsoleAudit.id.desc())
    if action:
        q = q.where(ConsoleAudit.action == action)
    return [{"id": a.id, "at": a.at, "actor": a.actor, "action": a.action, "target": a.target,
             "reason": a.reason, "detail": a.detail}
            for a in s.scalars(q.limit(min(limit, MAX_ROWS)))]


def registry_audit(s: Session, limit: int = 200) -> list[dict[str, Any]]:
    """Registry and member changes, written by the registry service (API and command line)."""
    return [{"id": a.id, "at": a.at, "actor": a.actor, "action": a.action, "target": a.target,
             "detail": a.detail}
            for a in s.scalars(select(RegistryAudit).order_by(RegistryAudit.id.desc())
                               .limit(min(limit, MAX_ROWS)))]


def user(s: Session, username: str) -> ConsoleUser | None:
    return s.get(ConsoleUser, username)


def users(s: Session) -> list[dict[str, Any]]:
    return [{"username": u.username, "role": u.role, "totp": bool(u.totp_secret),
             "disabled_at": u.disabled_at, "created_at": u.created_at,
             "last_login_at": u.last_login_at}
            for u in s.scalars(select(ConsoleUser).order_by(ConsoleUser.username))]


# ----- reports ---------------------------------------------------------------------------

def overdue_list(s: Session, since: datetime, until: datetime) -> list[dict[str, Any]]:
    """Items that reached overdue or worse in the window, with their state and reason now."""
    rows = s.execute(
        select(ItemWarning.case_id, ItemWarning.code, ItemWarning.member_id, ItemWarning.level,
               ItemWarning.at, CaseItemRow.state, CaseItemRow.promised_by,
               CaseItemRow.statutory_by, CaseItemRow.reason, CaseRow.city_code)
        .join(CaseItemRow, and_(CaseItemRow.case_id == ItemWarning.case_id,
                                CaseItemRow.code == ItemWarning.code))
        .join(CaseRow, CaseRow.id == ItemWarning.case_id)
        .where(ItemWarning.level != "due_soon", ItemWarning.at >= since, ItemWarning.at < until)
        .order_by(ItemWarning.at).limit(5000))
    return [{"case_id": r[0], "code": r[1], "member": r[2], "level": r[3], "at": r[4],
             "state": r[5], "promised_by": r[6], "statutory_by": r[7],
             "reason": (r[8] or {}).get("message_zh") if isinstance(r[8], dict) else None,
             "city": r[9]} for r in rows]


# ----- diagnostics and registry ----------------------------------------------------------

def diagnostics(s: Session, now: datetime) -> dict[str, Any]:
    beats = [{"worker": h.worker_id, "beat_at": h.beat_at, "pid": h.pid, "host": h.host,
              "age_s": round((now - h.beat_at).total_seconds(), 1)}
             for h in s.scalars(select(WorkerHeartbeat).order_by(WorkerHeartbeat.beat_at.desc())
                                .limit(50))]
    backlog = [{"member": mid, "pending": int(n),
                "oldest_age_s": round((now - first).total_seconds(), 1) if first else None}
               for mid, n, first in s.execute(
                   select(Delivery.member_id, func.count(), func.min(Delivery.created_at))
                   .where(Delivery.state == PENDING).group_by(Delivery.member_id)
                   .order_by(Delivery.member_id))]
    return {"workers": beats, "backlog": backlog,
            "cases": int(s.scalar(select(func.count()).select_from(CaseRow)) or 0),
            "events": int(s.scalar(select(func.max(Event.seq))) or 0)}


def registry_versions(s: Session) -> list[dict[str, Any]]:
    return [{"subject": v.subject, "version": v.version, "schema_id": v.schema_id,
             "by": v.created_by, "at": v.created_at}
            for v in s.scalars(select(ContractVersion)
                               .order_by(ContractVersion.subject, ContractVersion.version))]


def item_definition_versions(s: Session) -> list[dict[str, Any]]:
    return [{"code": d.code, "version": d.version, "state": d.state, "by": d.created_by,
             "at": d.created_at}
            for d in s.scalars(select(ItemDefinitionRow)
                               .order_by(ItemDefinitionRow.code, ItemDefinitionRow.version))]


def weeks_back(now: datetime, n: int) -> datetime:
    return now - timedelta(weeks=n)
