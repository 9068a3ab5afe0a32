"""Provincial medical security unit -> city medical security bureaux (SOAP-like XML)."""
from __future__ import annotations

from typing import Any

from adapters.base import CityConnector, Unit


def _connector(options: dict[str, Any]) -> CityConnector:
    from adapters.medical.connector import MedicalConnector

    return MedicalConnector(options)


UNIT = Unit(name="medical", item="medical_transfer", handler="省医保联办单位",
            connector=_connector)
