"""The retry policy, decided in one place: a table of status codes and schedule positions."""
from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from hub.services.retry import DEFAULT_SCHEDULE, decide, parse_retry_after

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize("status,attempts,state,disable", [
    (200, 1, "delivered", False),
    (204, 5, "delivered", False),
    (410, 1, "dead", True),
    (400, 1, "dead", False),
    (404, 1, "dead", False),
    (422, 1, "dead", False),
    (408, 1, "pending", False),
    (429, 1, "pending", False),
    (500, 1, "pending", False),
    (503, 1, "pending", False),
    (None, 1, "pending", False),
    (500, len(DEFAULT_SCHEDULE), "dead", False),
    (None, len(DEFAULT_SCHEDULE), "dead", False),
])
def test_decision_table(status, attempts, state, disable):
    out = decide(status, attempts, NOW, jitter=0)
    assert out.state == state and out.disable_endpoint is disable
    assert (out.next_attempt_at is not None) == (state == "pending")


def test_default_schedule_covers_24_hours_hourly_at_the_end():
    assert DEFAULT_SCHEDULE[:7] == (0, 5, 30, 120, 600, 1800, 3600)
    assert set(DEFAULT_SCHEDULE[7:]) == {3600}
    assert 23 * 3600 <= sum(DEFAULT_SCHEDULE) <= 25 * 3600


def test_schedule_position_and_jitter_bounds():
    assert decide(500, 1, NOW, jitter=0).next_attempt_at == NOW + timedelta(seconds=5)
    assert decide(500, 3, NOW, jitter=0).next_attempt_at == NOW + timedelta(seconds=120)
    rng = random.Random(7)
    waits = [(decide(500, 2, NOW, jitter=0.1, rng=rng).next_attempt_at - NOW).total_seconds()
             for _ in range(200)]
    assert min(waits) >= 27 and max(waits) <= 33 and len(set(waits)) > 100


def test_retry_after_is_honoured_when_longer():
    out = decide(503, 1, NOW, jitter=0, retry_after=90)
    assert out.next_attempt_at == NOW + timedelta(seconds=90)
    out = decide(429, 1, NOW, jitter=0, retry_after=1)
    assert out.next_attempt_at == NOW + timedelta(seconds=5)


def test_parse_retry_after():
    assert parse_retry_after("120", NOW) == 120
    assert parse_retry_after("Wed, 25 Nov 2026 08:02:00 GMT", NOW) == 120
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after(None, NOW) is None
