"""The merged status of one case, with each item's history, for members and for the CLI."""
from __future__ import annotations

from typing import Any

from hub.bootstrap import Hub
from hub.domain.errors import DomainError
from hub.domain.workdays import beijing_time
from hub.store import cases as case_store


def _when(at: Any) -> str:
    """What people read: Beijing time with its offset."""
    return beijing_time(at).isoformat() if at is not None else ""


def show(hub: Hub, case_id: str, member_id: str | None) -> dict[str, Any]:
    """``member_id`` None means an operator at the console, who may see every case."""
    with hub.transaction() as s:
        case = case_store.get(s, case_id)
        if case is None or (member_id is not None and not case_store.takes_part(s, case_id,
                                                                                 member_id)):
            raise DomainError("case_not_found", f"case {case_id} not found",
                              f"未找到办件 {case_id}", status=404)
        hist = case_store.history(s, case_id)
        problems = case_store.issues(s, case_id)
    doc = case.status_document(hub.definitions())
    by_item: dict[str, list[dict[str, Any]]] = {}
    for h in hist:
        entry: dict[str, Any] = {"from": h.from_state, "to": h.to_state, "at": _when(h.at),
                                 "by": h.by}
        if h.reason:
            entry["reason"] = h.reason
        if h.note:
            entry["note"] = h.note
        by_item.setdefault(h.code, []).append(entry)
    for item in doc["items"]:
        item["history"] = by_item.get(item["code"], [])
        note = case.items[item["code"]].deadline_note
        if note:
            item["deadline_note"] = note
    doc["issues"] = problems
    doc["created_at"] = _when(case.created_at)
    if case.closed_at:
        doc["closed_at"] = _when(case.closed_at)
    return doc

