"""The retry decision now lives with the delivery lifecycle (``hub.domain.delivery``); these
names stay importable from here."""
from __future__ import annotations

from hub.domain.delivery import (
    DEFAULT_SCHEDULE,
    RETRYABLE_4XX,
    Outcome,
    RetryPolicy,
    decide,
    parse_retry_after,
)

__all__ = ["DEFAULT_SCHEDULE", "RETRYABLE_4XX", "Outcome", "RetryPolicy", "decide",
           "parse_retry_after"]
