"""Provincial health commission unit -> city health commissions (CSV batch files)."""
from __future__ import annotations

from typing import Any

from adapters.base import CityConnector, Unit


def _connector(options: dict[str, Any]) -> CityConnector:
    from adapters.health.connector import HealthConnector

    return HealthConnector(options)


UNIT = Unit(name="health", item="only_child_certificate", handler="省卫健联办单位",
            connector=_connector)
