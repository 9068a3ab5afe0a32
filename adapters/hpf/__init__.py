"""Provincial housing provident fund unit -> city HPF centres (JSON over HTTP, callbacks)."""
from __future__ import annotations

from typing import Any

from adapters.base import CityConnector, Unit


def _connector(options: dict[str, Any]) -> CityConnector:
    from adapters.hpf.connector import HpfConnector

    return HpfConnector(options)


def _callback_app(adapter: Any) -> Any:
    from adapters.hpf.callback import create_callback_app

    return create_callback_app(adapter)


UNIT = Unit(name="hpf", item="hpf_withdrawal", handler="省公积金联办单位",
            connector=_connector, callback_app=_callback_app)
