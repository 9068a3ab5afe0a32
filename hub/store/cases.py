"""Load and save the case aggregate; the domain never sees a row."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.domain.case import Case, HistoryEntry, ItemStatus
from hub.store.models import CaseIssueRow, CaseItemHistoryRow, CaseItemRow, CaseMember, CaseRow


def get(session: Session, case_id: str, *, for_update: bool = False) -> Case | None:
    stmt = select(CaseRow).where(CaseRow.id == case_id)
    if for_update:
        stmt = stmt.with_for_update()
    row = session.scalars(stmt).one_or_none()
    if row is None:
        return None
    items = {
        r.code: ItemStatus(
            code=r.code, member=r.member_id, state=r.state, reason=r.reason, result=r.result,
            promised_by=r.promised_by, statutory_by=r.statutory_by,
            deadline_note=r.deadline_note, updated_at=r.updated_at,
            clock_started_on=r.clock_started_on, promised_fixed=bool(r.promised_fixed),
        )
        for r in session.scalars(select(CaseItemRow).where(CaseItemRow.case_id == case_id))
    }
    return Case(
        id=row.id, city_code=row.city_code, document=row.document, items=items, state=row.state,
        created_at=row.created_at, updated_at=row.updated_at, closed_at=row.closed_at,
        version=row.version,
    )


def add(session: Session, case: Case, publisher: str) -> None:
    session.add(CaseRow(
        id=case.id, city_code=case.city_code, state=case.state, document=case.document,
        created_at=case.created_at, updated_at=case.updated_at, closed_at=case.closed_at,
        version=1,
    ))
    session.flush()
    for member in case.members | {publisher}:
        session.add(CaseMember(case_id=case.id, member_id=member))
    _save_items(session, case, new=True)


def save(session: Session, case: Case) -> None:
    row = session.get(CaseRow, case.id)
    assert row is not None
    row.state = case.state
    row.document = case.document
    row.updated_at = case.updated_at or row.updated_at
    row.closed_at = case.closed_at
    row.version = row.version + 1
    _save_items(session, case, new=False)


def _save_items(session: Session, case: Case, *, new: bool) -> None:
    for it in case.items.values():
        row = None if new else session.get(CaseItemRow, (case.id, it.code))
        if row is None:
            row = CaseItemRow(case_id=case.id, code=it.code)
            session.add(row)
        row.member_id = it.member
        row.state = it.state
        row.reason = it.reason
        row.result = it.result
        row.promised_by = it.promised_by
        row.statutory_by = it.statutory_by
        row.deadline_note = it.deadline_note
        row.clock_started_on = it.clock_started_on
        row.promised_fixed = it.promised_fixed
        updated = it.updated_at or case.updated_at
        if updated is not None:
            row.updated_at = updated
    for h in case.new_history:
        session.add(CaseItemHistoryRow(
            case_id=case.id, code=h.code, from_state=h.from_state, to_state=h.to_state, at=h.at,
            by=h.by, event_id=h.event_id, reason=h.reason, note=h.note,
        ))
    case.new_history.clear()


def history(session: Session, case_id: str) -> list[HistoryEntry]:
    rows = session.scalars(
        select(CaseItemHistoryRow).where(CaseItemHistoryRow.case_id == case_id)
        .order_by(CaseItemHistoryRow.id)
    )
    return [HistoryEntry(r.code, r.from_state, r.to_state, r.at, r.by, r.event_id, r.reason, r.note)
            for r in rows]


def takes_part(session: Session, case_id: str, member_id: str) -> bool:
    return session.get(CaseMember, (case_id, member_id)) is not None


def issues(session: Session, case_id: str) -> list[dict[str, object]]:
    rows = session.scalars(select(CaseIssueRow).where(CaseIssueRow.case_id == case_id)
                           .order_by(CaseIssueRow.id))
    return [{k: v for k, v in {
        "item": r.item, "code": r.code, "message_zh": r.message_zh, "message_en": r.message_en,
        "detail": r.detail, "city_code": r.city_code, "occurred_at": r.occurred_at,
        "reported_by": r.member_id, "event_id": r.event_id}.items() if v is not None}
        for r in rows]
