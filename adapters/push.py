"""Push mode: a small Flask receiver for the hub's signed pushes, verified with the hub's JWKS key.

It only records the event (durably, in the adapter's state) and wakes the loop; a `2xx` tells the
hub the event is delivered, so it is answered only after the record is committed.
"""
from __future__ import annotations

import json
import logging
from typing import Any

from flask import Flask, Response, request

from adapters.engine import Adapter
from hub.security.jwks import HubKeys  # noqa: F401  (re-exported: the one JWKS fetcher)
from hub.security.signing import NonceCache, SignatureError, verify_flask_request

log = logging.getLogger("adapter.push")


def _json(body: dict[str, Any], status: int) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status,
                    mimetype="application/problem+json" if status >= 400 else "application/json")


def create_push_app(adapter: Adapter, hub_keys: Any, path: str = "/hub/events") -> Flask:
    app = Flask("adapter-push")
    # bounded before the signature is checked: the body is read whole to verify its digest
    app.config["MAX_CONTENT_LENGTH"] = 1 << 20
    nonces = NonceCache()
    app.extensions["adapter"] = adapter

    @app.post(path)
    def receive() -> Response:
        try:
            verify_flask_request(request, hub_keys, nonces)
        except SignatureError as exc:
            log.warning("push refused: %s", exc.code)
            return _json({"code": exc.code, "detail": exc.message}, exc.status)
        try:
            ev = json.loads(request.get_data())
            if not isinstance(ev, dict) or "id" not in ev:
                raise ValueError("not one CloudEvent")
        except ValueError as exc:
            return _json({"code": "invalid_event", "detail": str(exc)}, 400)
        adapter.intake(ev)  # committed before the 2xx
        adapter.wake()
        return Response(status=204)

    @app.get("/healthz")
    def healthz() -> Response:
        return _json({"status": "ok", "member": adapter.member}, 200)

    return app
