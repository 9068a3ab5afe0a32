"""The receiver for the centre's result callbacks (`POST /hpf/callback`).

Order matters: the signature is checked first, with the secret of the city the message says it
comes from, before anything in the body is read or looked up; only then is the answer matched to
a request this adapter sent to that same city, for the case it names (`Adapter.receive` with the
city's route). The centre's 受理编号 alone proves nothing: a callback must name our request
(`sjid`) and carry the reference the centre gave for it.
"""
from __future__ import annotations

import json
import logging
from typing import Any

from flask import Flask, Response, request

from adapters.base import CityProblem
from adapters.engine import Adapter
from adapters.hpf import convert, signing
from adapters.issues import ConversionError

log = logging.getLogger("adapter.hpf.callback")
MAX_BODY = 64 * 1024


def _answer(fhm: str, fhxx: str, status: int) -> Response:
    return Response(json.dumps({"fhm": fhm, "fhxx": fhxx}, ensure_ascii=False), status,
                    mimetype="application/json")


def create_callback_app(adapter: Adapter) -> Flask:
    app = Flask("hpf-callback")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    app.extensions["adapter"] = adapter

    @app.post("/hpf/callback")
    def callback() -> Response:
        city = request.headers.get(signing.CITY_HEADER, "")
        route = adapter.routes.lookup(city) if city.isascii() and city.isdigit() else None
        secret = signing.route_secret(route.settings) if route is not None else None
        raw = request.get_data(cache=False)
        why = ("unknown city" if secret is None else
               signing.verify(secret, "POST", request.path, request.headers, raw))
        if why is not None or route is None:
            log.warning("hpf: callback refused before reading it: %s (city %r)", why, city[:12])
            return _answer("98", "签名无效", 401)
        doc: Any = None
        try:
            doc = json.loads(raw)
            cp = convert.from_callback(doc)
            if not cp.request_event_id:
                raise ConversionError("callback lacks sjid (the request it answers)")
        except (ConversionError, ValueError) as exc:
            detail = exc.detail if isinstance(exc, ConversionError) else f"not JSON: {exc}"
            sjid = doc.get("sjid") if isinstance(doc, dict) else None
            adapter.receive([CityProblem(ConversionError(detail).issue(),
                                         request_event_id=sjid if isinstance(sjid, str) else None,
                                         key="callback|" + detail)], route=route)
            return _answer("99", "报文格式错误", 400)
        if adapter.receive([cp], route=route):  # recorded durably before the answer
            return _answer("93", "非本单位向贵中心提出的申请", 422)
        adapter.wake()
        return _answer("00", "成功", 200)

    return app
