"""The one place that decides what happens after a push attempt: done, retry when, or give up."""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

# immediately, 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, then hourly until 24 h have passed
DEFAULT_SCHEDULE: tuple[float, ...] = (0, 5, 30, 120, 600, 1800, 3600) + (3600,) * 22
RETRYABLE_4XX = frozenset({408, 425, 429})


@dataclass(frozen=True)
class Outcome:
    state: str            # delivered | pending | dead
    next_attempt_at: datetime | None
    reason: str
    disable_endpoint: bool = False


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds, or an HTTP date (RFC 9110 §10.2.3); anything else is ignored."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def decide(status: int | None, attempts: int, now: datetime, *,
           schedule: tuple[float, ...] = DEFAULT_SCHEDULE, jitter: float = 0.1,
           retry_after: float | None = None, rng: random.Random | None = None) -> Outcome:
    """``attempts`` counts the attempt just made. 2xx delivers; 410 disables the endpoint;
    other 4xx (but 408/425/429) are dead-lettered rather than retried blindly; timeouts,
    connection errors and 5xx follow the schedule, then dead-letter."""
    if status is not None and 200 <= status < 300:
        return Outcome("delivered", None, "delivered")
    if status == 410:
        return Outcome("dead", None, "410 Gone: endpoint disabled", disable_endpoint=True)
    if status is not None and 400 <= status < 500 and status not in RETRYABLE_4XX:
        return Outcome("dead", None, f"HTTP {status}: refused by the receiver, not retried")
    if attempts >= len(schedule):
        return Outcome("dead", None, f"gave up after {attempts} attempts")
    wait = schedule[attempts]
    if jitter:
        wait *= 1 + (rng or random).uniform(-jitter, jitter)
    if retry_after is not None:
        wait = max(wait, retry_after)
    return Outcome("pending", now + timedelta(seconds=wait),
                   f"retry {attempts + 1} in {wait:.1f} s")
