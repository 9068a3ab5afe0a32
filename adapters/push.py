"""Push mode: a small Flask receiver for the hub's signed pushes, verified with the hub's JWKS key.

It only records the event (durably, in the adapter's state) and wakes the loop; a `2xx` tells the
hub the event is delivered, so it is answered only after the record is committed.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from flask import Flask, Response, request

from adapters.engine import Adapter
from hub.security import keys
from hub.security.signing import NonceCache, SignatureError, verify_flask_request

log = logging.getLogger("adapter.push")


class HubKeys:
    """The hub's public keys from its JWKS; an unknown keyid refetches (key rotation)."""

    def __init__(self, hub_url: str, *, timeout: float = 5.0, min_refresh_s: float = 30.0) -> None:
        self.url = hub_url.rstrip("/") + "/.well-known/jwks.json"
        self.timeout = timeout
        self.min_refresh_s = min_refresh_s
        self._keys: dict[str, Ed25519PublicKey] = {}
        self._fetched_at: float | None = None
        self._lock = threading.Lock()

    def __call__(self, keyid: str) -> Ed25519PublicKey | None:
        with self._lock:
            if keyid not in self._keys and (
                    self._fetched_at is None
                    or time.monotonic() - self._fetched_at >= self.min_refresh_s):
                try:
                    resp = requests.get(self.url, timeout=self.timeout)
                    resp.raise_for_status()
                    found = {}
                    for jwk in resp.json().get("keys", []):
                        try:
                            found[jwk["kid"]] = keys.public_from_jwk(jwk)
                        except (KeyError, ValueError):
                            continue
                    self._keys = found
                    self._fetched_at = time.monotonic()
                except (requests.RequestException, ValueError) as exc:
                    log.warning("hub keys unavailable: %s", exc)
                    return None
            return self._keys.get(keyid)


def _json(body: dict[str, Any], status: int) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status,
                    mimetype="application/problem+json" if status >= 400 else "application/json")


def create_push_app(adapter: Adapter, hub_keys: Any, path: str = "/hub/events") -> Flask:
    app = Flask("adapter-push")
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
