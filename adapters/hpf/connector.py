"""The centre's HTTP transport: apply, then the result by callback (or by query as a fallback)."""
from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import requests

from adapters.base import Answer, CityConnector, CityProblem, CityUnavailable, Forwarded
from adapters.hpf import convert
from adapters.issues import ConversionError
from adapters.routing import Route
from adapters.state import Request


class HpfConnector(CityConnector):
    needs = ("url",)

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        self.http = requests.Session()
        self.timeout = float(options.get("timeout", 10.0))
        # fall back to the query when no callback came (e.g. the adapter was down meanwhile)
        self.query_after_s = float(options.get("query_after_s", 5.0))
        self._first_seen: dict[str, float] = {}
        self._last_query: dict[str, float] = {}

    def _headers(self, route: Route, event_id: str | None = None) -> dict[str, str]:
        h = {"Content-Type": "application/json"}
        if event_id:
            h["X-Hub-Event-Id"] = event_id
        if route.get("token"):
            h["X-GJJ-Token"] = str(route.get("token"))
        return h

    def forward(self, route: Route, request: Request) -> Forwarded:
        body = convert.to_city(request.payload or {}, request.case_id,
                               route.get("callback_url") or self.options.get("callback_url"))
        try:
            resp = self.http.post(str(route.require("url")).rstrip("/") + convert.APPLY_PATH,
                                  data=json.dumps(body, ensure_ascii=False).encode("utf-8"),
                                  headers=self._headers(route, request.event_id),
                                  timeout=self.timeout)
        except requests.RequestException as exc:
            raise CityUnavailable(str(exc)) from exc
        try:
            return convert.from_apply_answer(resp.status_code, resp.text)
        except ConversionError as exc:  # 2xx that does not fit: the centre has it
            return Forwarded(None, [CityProblem(exc.issue())])

    def collect(self, route: Route, open_requests: Sequence[Request]) -> list[Answer]:
        now = time.monotonic()
        out: list[Answer] = []
        for r in open_requests:
            first = self._first_seen.setdefault(r.event_id, now)
            if not r.city_reference or now - first < self.query_after_s:
                continue
            if now - self._last_query.get(r.event_id, 0.0) < self.query_after_s:
                continue
            self._last_query[r.event_id] = now
            try:
                resp = self.http.get(str(route.require("url")).rstrip("/") + convert.QUERY_PATH,
                                     params={"slbh": r.city_reference},
                                     headers=self._headers(route), timeout=self.timeout)
            except requests.RequestException as exc:
                raise CityUnavailable(str(exc)) from exc
            if resp.status_code != 200:
                continue
            try:
                cp = convert.from_callback(resp.json())
            except (ConversionError, ValueError) as exc:
                detail = exc.detail if isinstance(exc, ConversionError) else str(exc)
                out.append(CityProblem(ConversionError(detail).issue(),
                                       request_event_id=r.event_id, key="query|" + detail))
                continue
            if cp.data["status"] != "in_progress":
                out.append(cp)
        return out

    def close(self) -> None:
        self.http.close()
