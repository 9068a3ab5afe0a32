"""Apply delivered item requests to their cases: the item moves to delivered and the merged
status goes to HRSS."""
from __future__ import annotations

from dataclasses import dataclass

from hub.domain.case import Case
from hub.services.context import Deps
from hub.services.outbox import utcnow
from hub.services.react import react
from hub.store.uow import UnitOfWork


@dataclass(frozen=True)
class ApplyReceipts:
    limit: int = 200
    member: str | None = None  # only this member's deliveries (a small inline acknowledgement)


def handle_apply_receipts(cmd: ApplyReceipts, uow: UnitOfWork, deps: Deps) -> int:
    """How many receipts were applied. They are claimed so that workers side by side never
    take the same one, and cleared in the same unit of work as the case changes."""
    snap = deps.snap()
    now = utcnow()
    with uow:
        claimed = uow.deliveries.claim_receipts(cmd.limit, cmd.member)
        if not claimed:
            return 0
        changed: dict[str, Case] = {}
        for receipt in claimed:
            item = snap.item_for_request_type(receipt.event_type)
            if item is None or not receipt.subject:
                continue
            case = changed.get(receipt.subject) or uow.cases.get(receipt.subject,
                                                                  for_update=True)
            if case is not None and case.mark_delivered(item["code"], now=now,
                                                        by=receipt.member_id):
                changed[receipt.subject] = case
        for case in changed.values():
            uow.cases.save(case)
            react(uow, deps, case)
        uow.deliveries.clear_receipts([r.delivery_id for r in claimed])
        uow.commit()
    return len(claimed)
