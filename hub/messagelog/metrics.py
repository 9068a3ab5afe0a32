"""Prometheus gauges for the message log, read from the database at scrape time."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily

from hub.bootstrap import Hub
from hub.messagelog import checkpoints, verify


class LogCollector:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def collect(self) -> Iterator[Any]:
        st = checkpoints.status(self.hub)
        last = verify.last_run(self.hub)
        yield GaugeMetricFamily("hub_log_size", "Leaves in the message log", value=st["size"])
        yield GaugeMetricFamily("hub_log_checkpoint_size", "Tree size of the latest checkpoint",
                                value=st["checkpoint_size"])
        if st["checkpoint_age_s"] is not None:
            yield GaugeMetricFamily("hub_log_checkpoint_age_seconds",
                                    "Age of the latest signed checkpoint",
                                    value=st["checkpoint_age_s"])
        yield GaugeMetricFamily("hub_log_unsigned_seconds",
                                "How long the oldest leaf not yet in a checkpoint has waited",
                                value=st["unsigned_for_s"])
        if last is not None:
            yield GaugeMetricFamily("hub_log_last_verification_timestamp_seconds",
                                    "When the whole log was last verified",
                                    value=last.at.timestamp())
            yield GaugeMetricFamily("hub_log_last_verification_ok",
                                    "1 if the last whole-log verification found nothing",
                                    value=1 if last.ok else 0)
