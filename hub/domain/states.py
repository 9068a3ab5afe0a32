"""The linked-item state machine: forward-only moves, four final states.

The words are the contracts' (`item_state`, and `progress_status` for what a department
reports); this module only orders them, and fails at import if the contracts drop one.
"""
from __future__ import annotations

import contracts


def _state(value: str) -> str:
    return contracts.code("item_state", value)


def _progress(value: str) -> str:
    return contracts.code("progress_status", value)


WAITING, DISPATCHED, DELIVERED, RECEIVED, IN_PROGRESS = (
    _state("waiting"), _state("dispatched"), _state("delivered"), _state("received"),
    _state("in_progress"),
)
COMPLETED, STANDALONE, CANCELLED, FAILED = (
    _state("completed"), _state("standalone"), _state("cancelled"), _state("failed"))
# What a department reports (progress_status), one word per report.
REPORTED_RECEIVED, REPORTED_IN_PROGRESS, REPORTED_COMPLETED, REPORTED_NOT_ELIGIBLE, \
    REPORTED_FAILED = (_progress("received"), _progress("in_progress"), _progress("completed"),
                       _progress("not_eligible"), _progress("failed"))
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
