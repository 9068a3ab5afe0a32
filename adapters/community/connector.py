"""The agency's HTTP transport: enrol (202 "received"), then poll the ticket until final.

Every call has an overall deadline and a size cap (`adapters.cityhttp`). Polling is per ticket:
a ticket whose poll fails, times out or answers garbage is recorded (a problem, or retried on the
next round) and the other tickets are still polled; the answer is bound to the request polled
(its ticket and business serial are checked by the engine).
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import requests

from adapters import cityhttp
from adapters.base import Answer, CityConnector, CityProblem, CityUnavailable, Forwarded
from adapters.community import convert
from adapters.issues import ConversionError
from adapters.routing import Route
from adapters.state import Request

log = logging.getLogger("adapter.community")


class CommunityConnector(CityConnector):
    needs = ("url",)

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        self.http = requests.Session()
        self.poll_every_s = float(options.get("poll_every_s", 0.3))
        self._last_poll: dict[str, float] = {}
        self._failures: dict[str, int] = {}  # a failing ticket is polled less often

    def _due(self, r: Request, now: float) -> bool:
        wait = self.poll_every_s * min(2 ** self._failures.get(r.event_id, 0), 200)
        return bool(now - self._last_poll.get(r.event_id, 0) >= wait)

    def forward(self, route: Route, request: Request) -> Forwarded:
        body = convert.to_city(request.payload or {}, request.case_id)
        deadline, cap = cityhttp.limits(route, self.options)
        try:
            resp = cityhttp.call(self.http, "POST",
                                 str(route.require("url")).rstrip("/") + convert.ENROL_PATH,
                                 data=json.dumps(body, ensure_ascii=False).encode("utf-8"),
                                 headers={"Content-Type": "application/json",
                                          "Idempotency-Key": request.event_id},
                                 deadline_s=deadline, max_bytes=cap)
            return convert.from_enrol_answer(resp.status_code, resp.text)
        except ConversionError as exc:
            return Forwarded(None, [CityProblem(exc.issue())])

    def collect(self, route: Route, open_requests: Sequence[Request]) -> list[Answer]:
        now = time.monotonic()
        out: list[Answer] = []
        for r in open_requests:
            if not r.city_reference or not self._due(r, now):
                continue
            self._last_poll[r.event_id] = now
            answer = self._poll(route, r)
            if answer is not None:
                out.append(answer)
        return out

    def _poll(self, route: Route, r: Request) -> Answer | None:
        """One ticket's poll; whatever goes wrong concerns this ticket only."""
        assert r.city_reference is not None
        url = (f"{str(route.require('url')).rstrip('/')}{convert.ENROL_PATH}/"
               f"{quote(r.city_reference, safe='')}")
        deadline, cap = cityhttp.limits(route, self.options)
        try:
            resp = cityhttp.call(self.http, "GET", url, deadline_s=deadline, max_bytes=cap)
            if resp.status_code >= 500:
                raise CityUnavailable(f"HTTP {resp.status_code}")
            if resp.status_code != 200:
                raise ConversionError(f"poll {r.city_reference}: HTTP {resp.status_code} "
                                      f"{resp.text[:200]}")
            cp = convert.from_poll(resp.json())
        except CityUnavailable as exc:
            self._failures[r.event_id] = self._failures.get(r.event_id, 0) + 1
            log.info("community: poll of case %s at %s failed: %s", r.case_id, route.name, exc)
            return None
        except (ConversionError, ValueError) as exc:
            self._failures[r.event_id] = self._failures.get(r.event_id, 0) + 1
            detail = exc.detail if isinstance(exc, ConversionError) else f"not JSON: {exc}"
            return CityProblem(ConversionError(detail).issue(), request_event_id=r.event_id,
                               key="poll|" + detail)
        self._failures.pop(r.event_id, None)
        return replace(cp, request_event_id=r.event_id)

    def close(self) -> None:
        self.http.close()
