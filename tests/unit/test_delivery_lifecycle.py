"""The delivery lifecycle: its states, the allowed moves and the retry policy object."""
from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from hub.domain import delivery
from hub.domain.delivery import DEAD, DELIVERED, PENDING, RetryPolicy, can_move

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


@pytest.mark.parametrize("current,to,allowed", [
    (PENDING, DELIVERED, True), (PENDING, DEAD, True), (PENDING, PENDING, True),
    (DELIVERED, PENDING, True), (DEAD, PENDING, True),
    (DELIVERED, DEAD, False), (DEAD, DELIVERED, False), (DELIVERED, DELIVERED, False),
    (DEAD, DEAD, False),
])
def test_moves(current: str, to: str, allowed: bool) -> None:
    assert can_move(current, to) is allowed


def test_unknown_state_is_refused() -> None:
    with pytest.raises(ValueError):
        can_move("lost", PENDING)


def test_states_are_the_stored_strings() -> None:
    assert delivery.STATES == ("pending", "delivered", "dead")
    assert set(delivery.REPLAYABLE) == set(delivery.STATES)


def test_policy_applies_its_schedule_and_jitter() -> None:
    policy = RetryPolicy(schedule=(0, 7, 11), jitter=0)
    assert policy.decide(503, 1, NOW).next_attempt_at == NOW + timedelta(seconds=7)
    assert policy.decide(503, 2, NOW).next_attempt_at == NOW + timedelta(seconds=11)
    out = policy.decide(503, 3, NOW)
    assert out.state == DEAD and out.next_attempt_at is None


def test_policy_jitter_stays_within_bounds() -> None:
    policy = RetryPolicy(schedule=(0, 100), jitter=0.1)
    for seed in range(20):
        at = policy.decide(None, 1, NOW, rng=random.Random(seed)).next_attempt_at
        assert at is not None
        assert NOW + timedelta(seconds=90) <= at <= NOW + timedelta(seconds=110)


def test_every_outcome_is_a_move_from_pending() -> None:
    policy = RetryPolicy(jitter=0)
    for status in (200, 204, 410, 404, 429, 500, None):
        assert can_move(PENDING, policy.decide(status, 1, NOW).state)
