"""Prometheus: open items at each warning level now, and warnings raised so far."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from sqlalchemy import func, select

from hub.bootstrap import Hub
from hub.console import levels as L
from hub.console import queries
from hub.console.models import ItemWarning


class WarningCollector:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def collect(self) -> Iterator[Any]:
        today = L.beijing_date(datetime.now(UTC))
        soon = L.due_soon_limit(today, self.hub.snap().calendar)
        at_level = GaugeMetricFamily("hub_items_at_warning_level",
                                     "Open linked items at each 督办 level now, per department",
                                     labels=["level", "member"])
        raised = CounterMetricFamily("hub_supervision_warnings_raised",
                                     "督办 warnings raised (each level once per item)",
                                     labels=["level", "member"])
        with self.hub.transaction() as s:
            for row in queries.overview(s, today, soon, by="member"):
                for level in L.LEVELS:
                    at_level.add_metric([level, row["key"]], row[level])
            for level, member, n in s.execute(
                    select(ItemWarning.level, ItemWarning.member_id, func.count())
                    .group_by(ItemWarning.level, ItemWarning.member_id)):
                raised.add_metric([level, member], n)
        yield at_level
        yield raised
