"""Provincial socialized-management unit -> city community service agencies (JSON, polling)."""
from __future__ import annotations

from typing import Any

from adapters.base import CityConnector, Unit


def _connector(options: dict[str, Any]) -> CityConnector:
    from adapters.community.connector import CommunityConnector

    return CommunityConnector(options)


UNIT = Unit(name="community", item="socialized_management", handler="省社会化管理联办单位",
            connector=_connector)
