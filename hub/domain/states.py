"""The linked-item state machine: forward-only moves, four final states."""
from __future__ import annotations

import contracts

WAITING, DISPATCHED, DELIVERED, RECEIVED, IN_PROGRESS = (
    "waiting", "dispatched", "delivered", "received", "in_progress",
)
COMPLETED, STANDALONE, CANCELLED, FAILED = "completed", "standalone", "cancelled", "failed"
PROGRESSION = (WAITING, DISPATCHED, DELIVERED, RECEIVED, IN_PROGRESS)
FINAL = frozenset({COMPLETED, STANDALONE, CANCELLED, FAILED})


def missing_from_contracts() -> set[str]:
    """The contracts own the state codes; this module only orders them. Empty when in step."""
    return (set(PROGRESSION) | FINAL) - set(contracts.codes("item_state"))


def is_final(state: str) -> bool:
    return state in FINAL


def move_allowed(current: str, target: str) -> bool:
    """Final states are terminal; otherwise a move goes forward, and may skip steps."""
    if current in FINAL:
        return False
    if target in FINAL:
        return True
    return PROGRESSION.index(target) >= PROGRESSION.index(current)


def label(state: str, lang: str = "zh") -> str:
    return contracts.labels("item_state").get(state, {}).get(lang, state)
