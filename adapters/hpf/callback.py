"""The receiver for the centre's result callbacks (`POST /hpf/callback`)."""
from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from flask import Flask, Response, request

from adapters.base import CityProblem
from adapters.engine import Adapter
from adapters.hpf import convert
from adapters.issues import ConversionError

log = logging.getLogger("adapter.hpf.callback")


def _answer(fhm: str, fhxx: str, status: int) -> Response:
    return Response(json.dumps({"fhm": fhm, "fhxx": fhxx}, ensure_ascii=False), status,
                    mimetype="application/json")


def create_callback_app(adapter: Adapter) -> Flask:
    app = Flask("hpf-callback")
    app.extensions["adapter"] = adapter

    @app.post("/hpf/callback")
    def callback() -> Response:
        raw = request.get_data()
        try:
            doc: Any = json.loads(raw)
        except ValueError:
            doc = None
        sjid = doc.get("sjid") if isinstance(doc, dict) else None
        sjid = sjid if isinstance(sjid, str) and sjid else request.headers.get("X-Hub-Event-Id")
        req = adapter.state.request(sjid) if sjid else None
        route = adapter.routes.lookup(req.city_code if req else None)
        token = route.get("token") if route else None
        if token and not hmac.compare_digest(request.headers.get("X-GJJ-Token", ""), str(token)):
            return _answer("98", "令牌无效", 401)
        try:
            cp = convert.from_callback(doc)
        except ConversionError as exc:
            adapter.receive([CityProblem(exc.issue(), request_event_id=sjid,
                                         key="callback|" + exc.detail)])
            return _answer("99", "报文格式错误", 400)
        adapter.receive([cp])  # recorded durably before the 2xx
        adapter.wake()
        return _answer("00", "成功", 200)

    return app
