"""The centre's HTTP transport: apply, then the result by callback (or by query as a fallback).

Every message to the centre is signed with that city's secret (`adapters.hpf.signing`), and every
call has an overall deadline and a size cap (`adapters.cityhttp`). Queries are per request: one
that fails or answers garbage is recorded and the others are still asked.
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests

from adapters import cityhttp
from adapters.base import Answer, CityConnector, CityProblem, CityUnavailable, Forwarded
from adapters.hpf import convert, signing
from adapters.issues import ConversionError
from adapters.routing import Route, RoutingError, RoutingTable
from adapters.state import Request

log = logging.getLogger("adapter.hpf")


class HpfConnector(CityConnector):
    needs = ("url",)

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        self.http = requests.Session()
        # fall back to the query when no callback came (e.g. the adapter was down meanwhile)
        self.query_after_s = float(options.get("query_after_s", 5.0))
        self._first_seen: dict[str, float] = {}
        self._last_query: dict[str, float] = {}

    def validate(self, routes: RoutingTable) -> None:
        """No city without a credential: each entry needs a `secret` (or `secret_file`)."""
        super().validate(routes)
        for route in routes:
            if signing.route_secret(route.settings) is None:
                raise RoutingError(f"city {route.city_code} ({route.name}): no usable 'secret' "
                                   f"(at least {signing.MIN_SECRET_BYTES} bytes) for the "
                                   f"centre's signatures")

    def _call(self, route: Route, method: str, path: str, body: bytes = b"",
              event_id: str | None = None) -> cityhttp.CityResponse:
        secret = signing.route_secret(route.settings)
        if secret is None:
            raise CityUnavailable(f"city {route.city_code} has no secret")
        base = str(route.require("url")).rstrip("/")
        signed_path = urlsplit(base).path + path
        headers = {"Content-Type": "application/json",
                   **signing.sign(secret, route.city_code, method, signed_path, body)}
        if event_id:
            headers["X-Hub-Event-Id"] = event_id
        deadline, cap = cityhttp.limits(route, self.options)
        return cityhttp.call(self.http, method, base + path, data=body or None, headers=headers,
                             deadline_s=deadline, max_bytes=cap)

    def forward(self, route: Route, request: Request) -> Forwarded:
        body = convert.to_city(request.payload or {}, request.case_id,
                               route.get("callback_url") or self.options.get("callback_url"))
        raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
        try:
            resp = self._call(route, "POST", convert.APPLY_PATH, raw, request.event_id)
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
            answer = self._query(route, r)
            if answer is not None:
                out.append(answer)
        return out

    def _query(self, route: Route, r: Request) -> Answer | None:
        """One request's query; a failure concerns that request only."""
        assert r.city_reference is not None
        path = convert.QUERY_PATH + "?" + urlencode({"slbh": r.city_reference})
        try:
            resp = self._call(route, "GET", path)
            if resp.status_code != 200:
                if resp.status_code >= 500 or resp.status_code == 404:
                    log.info("hpf: query for case %s at %s: HTTP %s", r.case_id, route.name,
                             resp.status_code)
                    return None
                raise ConversionError(f"query {r.city_reference}: HTTP {resp.status_code} "
                                      f"{resp.text[:200]}")
            cp = convert.from_callback(resp.json())
        except CityUnavailable as exc:
            log.info("hpf: query for case %s at %s failed: %s", r.case_id, route.name, exc)
            return None
        except (ConversionError, ValueError) as exc:
            detail = exc.detail if isinstance(exc, ConversionError) else f"not JSON: {exc}"
            return CityProblem(ConversionError(detail).issue(), request_event_id=r.event_id,
                               key="query|" + detail)
        if cp.data["status"] == "in_progress":
            return None
        # the answer must be about the request asked for: its slbh (and sjid, if given) are
        # checked against this request by the engine
        return cp if cp.request_event_id else replace(cp, request_event_id=r.event_id)

    def close(self) -> None:
        self.http.close()
