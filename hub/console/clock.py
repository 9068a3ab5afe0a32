"""The console's clock: real time unless a test (or a demo) sets it."""
from __future__ import annotations

from datetime import UTC, datetime


class Clock:
    def __init__(self, fixed: datetime | None = None) -> None:
        self._fixed = fixed

    def now(self) -> datetime:
        return self._fixed or datetime.now(UTC)

    def set(self, when: datetime | None) -> None:
        if when is not None and when.tzinfo is None:
            raise ValueError("an aware datetime, please")
        self._fixed = when
