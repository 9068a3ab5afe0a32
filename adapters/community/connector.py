"""The agency's HTTP transport: enrol (202 "received"), then poll the ticket until final."""
from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import requests

from adapters.base import Answer, CityConnector, CityProblem, CityUnavailable, Forwarded
from adapters.community import convert
from adapters.issues import ConversionError
from adapters.routing import Route
from adapters.state import Request


class CommunityConnector(CityConnector):
    needs = ("url",)

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        self.http = requests.Session()
        self.timeout = float(options.get("timeout", 10.0))
        self.poll_every_s = float(options.get("poll_every_s", 0.3))
        self._last_poll: dict[str, float] = {}

    def forward(self, route: Route, request: Request) -> Forwarded:
        body = convert.to_city(request.payload or {}, request.case_id)
        try:
            resp = self.http.post(str(route.require("url")).rstrip("/") + convert.ENROL_PATH,
                                  data=json.dumps(body, ensure_ascii=False).encode("utf-8"),
                                  headers={"Content-Type": "application/json",
                                           "Idempotency-Key": request.event_id},
                                  timeout=self.timeout)
        except requests.RequestException as exc:
            raise CityUnavailable(str(exc)) from exc
        try:
            return convert.from_enrol_answer(resp.status_code, resp.text)
        except ConversionError as exc:
            return Forwarded(None, [CityProblem(exc.issue())])

    def collect(self, route: Route, open_requests: Sequence[Request]) -> list[Answer]:
        now = time.monotonic()
        out: list[Answer] = []
        for r in open_requests:
            if not r.city_reference or now - self._last_poll.get(r.event_id, 0) < self.poll_every_s:
                continue
            self._last_poll[r.event_id] = now
            url = f"{str(route.require('url')).rstrip('/')}{convert.ENROL_PATH}/{r.city_reference}"
            try:
                resp = self.http.get(url, timeout=self.timeout)
            except requests.RequestException as exc:
                raise CityUnavailable(str(exc)) from exc
            if resp.status_code >= 500:
                raise CityUnavailable(f"HTTP {resp.status_code}")
            try:
                if resp.status_code != 200:
                    raise ConversionError(f"poll {r.city_reference}: HTTP {resp.status_code} "
                                          f"{resp.text[:200]}")
                cp = convert.from_poll(resp.json())
            except (ConversionError, ValueError) as exc:
                detail = exc.detail if isinstance(exc, ConversionError) else str(exc)
                out.append(CityProblem(ConversionError(detail).issue(),
                                       request_event_id=r.event_id, key="poll|" + detail))
                continue
            out.append(cp)
        return out

    def close(self) -> None:
        self.http.close()
