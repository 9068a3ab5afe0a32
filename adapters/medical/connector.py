"""The bureau's HTTP transport: one synchronous SOAP-like call per request, deadline and cap."""
from __future__ import annotations

from typing import Any

import requests

from adapters import cityhttp
from adapters.base import CityConnector, CityProblem, Forwarded
from adapters.issues import ConversionError
from adapters.medical import convert
from adapters.routing import Route
from adapters.state import Request


class MedicalConnector(CityConnector):
    needs = ("url",)

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        self.http = requests.Session()

    def forward(self, route: Route, request: Request) -> Forwarded:
        body = convert.to_city(request.payload or {}, request.case_id, request.event_id)
        deadline, cap = cityhttp.limits(route, self.options)
        try:
            resp = cityhttp.call(self.http, "POST",
                                 str(route.require("url")).rstrip("/") + convert.PATH, data=body,
                                 headers={"Content-Type": "text/xml; charset=utf-8"},
                                 deadline_s=deadline, max_bytes=cap)
            return convert.from_answer(resp.status_code, resp.content, request.event_id)
        except ConversionError as exc:  # a 2xx that does not fit: the bureau has it
            return Forwarded(None, [CityProblem(exc.issue())])

    def close(self) -> None:
        self.http.close()
