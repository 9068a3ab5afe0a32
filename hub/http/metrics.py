"""Prometheus metrics computed from the database at scrape time, so every process agrees."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from sqlalchemy import case, func, select

from hub.bootstrap import Hub
from hub.console.metrics import WarningCollector
from hub.domain.delivery import PENDING
from hub.messagelog.metrics import LogCollector
from hub.registry import calendars
from hub.services import key_age
from hub.services.outbox import utcnow
from hub.store.models import Delivery

LATENCY_BUCKETS_MS = (10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000)


class DeliveryCollector:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def collect(self) -> Iterator[Any]:
        now = utcnow()
        by_state = GaugeMetricFamily("hub_deliveries", "Deliveries by state and member",
                                     labels=["state", "member"])
        backlog = GaugeMetricFamily("hub_backlog", "Undelivered (pending) deliveries per member",
                                    labels=["member"])
        oldest = GaugeMetricFamily("hub_oldest_undelivered_age_seconds",
                                   "Age of the oldest pending delivery per member",
                                   labels=["member"])
        with self.hub.transaction() as s:
            for state, member, n in s.execute(
                    select(Delivery.state, Delivery.member_id, func.count())
                    .group_by(Delivery.state, Delivery.member_id)):
                by_state.add_metric([state, member], n)
            for member, n, first in s.execute(
                    select(Delivery.member_id, func.count(), func.min(Delivery.created_at))
                    .where(Delivery.state == PENDING).group_by(Delivery.member_id)):
                backlog.add_metric([member], n)
                if first is not None:
                    oldest.add_metric([member], max(0.0, (now - first).total_seconds()))
            cols = [func.sum(case((Delivery.latency_ms <= b, 1), else_=0))
                    for b in LATENCY_BUCKETS_MS]
            row = s.execute(select(func.count(Delivery.latency_ms), func.sum(Delivery.latency_ms),
                                   *cols).where(Delivery.latency_ms.is_not(None))).one()
        total, total_ms = int(row[0] or 0), float(row[1] or 0)
        buckets = [(str(b / 1000), int(v or 0))
                   for b, v in zip(LATENCY_BUCKETS_MS, row[2:], strict=True)]
        buckets.append(("+Inf", total))
        hist = HistogramMetricFamily("hub_delivery_latency_seconds",
                                     "Time from an event's acceptance to its delivery",
                                     buckets=buckets, sum_value=total_ms / 1000)
        yield by_state
        yield backlog
        yield oldest
        yield hist


class KeyAgeCollector:
    """Age of every signing key in use."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def collect(self) -> Iterator[Any]:
        ages = GaugeMetricFamily("hub_key_age_seconds",
                                 "Age of each signing key in use (the hub's and members')",
                                 labels=["owner", "keyid", "suite", "state"])
        for r in key_age.key_ages(self.hub):
            ages.add_metric([r["owner"], r["keyid"], r["suite"], r["state"]], r["age_s"])
        yield ages


class CalendarCollector:
    """Whether next year's working calendar is registered, and items waiting for it."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def collect(self) -> Iterator[Any]:
        st = calendars.status(self.hub)
        known = GaugeMetricFamily("hub_calendar_year_known",
                                  "1 when the working calendar knows the year", labels=["year"])
        for year in (st["next_year"] - 1, st["next_year"]):
            known.add_metric([str(year)], 1 if self.hub.snap().calendar.knows(year) else 0)
        yield known
        yield GaugeMetricFamily("hub_calendar_next_year_unknown",
                                "1 while a needed year's working calendar is not registered "
                                "(from the configured warning date)", value=int(st["warning"]))
        yield GaugeMetricFamily("hub_items_deadline_unknown",
                                "Open items whose deadline waits for a working calendar",
                                value=calendars.unknown_deadline_items(self.hub))


def render(hub: Hub) -> bytes:
    registry = CollectorRegistry()
    registry.register(DeliveryCollector(hub))
    registry.register(KeyAgeCollector(hub))
    registry.register(CalendarCollector(hub))
    registry.register(LogCollector(hub))
    registry.register(WarningCollector(hub))
    return generate_latest(registry)
