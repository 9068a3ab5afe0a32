"""A department endpoint for push tests: verifies the hub's signature, can be told to fail."""
from __future__ import annotations

import json
import threading
import time
from typing import Any

from flask import Flask, request

from hub.security.signing import NonceCache, verify_request
from tests.support.servers import LiveServer


class Receiver:
    """A department endpoint that verifies the hub's signature and can be told to fail."""

    def __init__(self, hub_public: Any) -> None:
        self.received: list[dict[str, Any]] = []
        self.fail_next = 0
        self.answer: tuple[int, dict[str, str]] | None = None  # (status, headers) for every call
        self.lock = threading.Lock()
        self.calls = 0
        self.nonces = NonceCache()
        app = Flask("receiver")

        @app.post("/events")
        def events() -> Any:
            verify_request(request.method, request.url, request.headers, request.get_data(),
                           lambda kid: hub_public, self.nonces)
            with self.lock:
                self.calls += 1
                if self.answer is not None:
                    return {"error": "as told"}, self.answer[0], self.answer[1]
                if self.fail_next:
                    self.fail_next -= 1
                    return {"error": "temporarily broken"}, 500
                self.received.append(json.loads(request.get_data()))
            return "", 204

        self.server = LiveServer(app)

    def wait_for(self, n: int, timeout: float = 10) -> list[dict[str, Any]]:
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if len(self.received) >= n:
                    return list(self.received)
            time.sleep(0.05)
        raise AssertionError(f"only {len(self.received)} of {n} pushes arrived")
