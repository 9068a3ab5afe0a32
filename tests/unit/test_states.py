"""The item state machine: forward only, final states terminal, codes owned by the contracts."""
from __future__ import annotations

import pytest

import contracts
from hub.domain import states as S


def test_every_state_is_a_contract_code_with_a_chinese_label():
    assert S.missing_from_contracts() == set()
    assert set(contracts.codes("item_state")) == set(S.PROGRESSION) | S.FINAL
    assert S.label(S.STANDALONE) == contracts.labels("item_state")["standalone"]["zh"]


@pytest.mark.parametrize("current,target,allowed", [
    (S.WAITING, S.DISPATCHED, True),
    (S.DISPATCHED, S.RECEIVED, True),          # a skipped step is fine
    (S.IN_PROGRESS, S.IN_PROGRESS, True),      # a repeated report
    (S.RECEIVED, S.DELIVERED, False),          # never backwards
    (S.IN_PROGRESS, S.WAITING, False),
    (S.WAITING, S.CANCELLED, True),
    (S.COMPLETED, S.IN_PROGRESS, False),       # final states are terminal
    (S.STANDALONE, S.COMPLETED, False),
    (S.CANCELLED, S.FAILED, False),
])
def test_moves(current, target, allowed):
    assert S.move_allowed(current, target) is allowed
