"""A pull member acknowledges its feed up to a cursor."""
from __future__ import annotations

from dataclasses import dataclass

from hub.domain.errors import Problem, conflict
from hub.services.context import Deps
from hub.services.outbox import utcnow
from hub.store.uow import UnitOfWork


@dataclass(frozen=True)
class Ack:
    member_id: str
    cursor: int


def handle_ack(cmd: Ack, uow: UnitOfWork, deps: Deps) -> int:
    """Mark delivered everything the member was served up to the cursor, in one bulk move;
    the number of deliveries marked. What that means for the cases (items delivered, the
    merged status to HRSS) is applied afterwards by ``apply_receipts``."""
    types = [d["request_type"] for d in deps.snap().items if d.get("request_type")]
    with uow:
        acked = uow.deliveries.ack_up_to(cmd.member_id, cmd.cursor, utcnow(), types)
        if acked is None:
            raise conflict(
                "cursor_ahead", f"cursor {cmd.cursor} is beyond what this feed has served",
                f"确认位置 {cmd.cursor} 超出本成员订阅流已提供的位置",
                [Problem("cursor_ahead", "$.cursor", "beyond the feed", "超出订阅流")])
        if acked:
            uow.owes_push()  # the workers apply the receipts of a bulk acknowledgement
        uow.commit()
    return acked
