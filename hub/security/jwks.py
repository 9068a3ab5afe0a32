"""The one JWKS fetcher receivers use to verify the hub's pushes (adapters, stand-ins, tests).

Keys of both suites are taken (Ed25519 OKP and SM2 EC JWKs); anything else in the set is
skipped. The set is cached; an unknown keyid refetches it, at most once every `min_refresh_s`,
so a key the hub has just rotated in is found on its first use while a flood of made-up keyids
costs the hub at most one fetch a second. The answer is bounded in size and time.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import requests

from . import keys

__all__ = ["HubKeys"]

log = logging.getLogger("hub.jwks")
MAX_JWKS_BYTES = 256 * 1024
MAX_KEYS = 64


class HubKeys:
    """Callable `keyid -> public key | None`, as `verify_request` wants it."""

    def __init__(self, hub_url: str, *, timeout: float = 5.0, min_refresh_s: float = 1.0,
                 distid: bytes | str | None = None) -> None:
        self.url = hub_url.rstrip("/") + "/.well-known/jwks.json"
        self.timeout = timeout
        self.min_refresh_s = min_refresh_s
        self.distid = distid
        self._keys: dict[str, Any] = {}
        self._fetched_at: float | None = None
        self._lock = threading.Lock()
        self.fetches = 0

    def _fetch(self) -> None:
        with requests.get(self.url, timeout=self.timeout, stream=True) as resp:
            resp.raise_for_status()
            raw = resp.raw.read(MAX_JWKS_BYTES + 1, decode_content=True)
        if len(raw) > MAX_JWKS_BYTES:
            raise ValueError("JWKS larger than allowed")
        doc = json.loads(raw)
        found: dict[str, Any] = {}
        for jwk in (doc.get("keys") or [])[:MAX_KEYS] if isinstance(doc, dict) else []:
            try:
                if isinstance(jwk, dict) and isinstance(jwk.get("kid"), str):
                    found[jwk["kid"]] = keys.public_from_jwk(jwk, distid=self.distid)
            except ValueError:
                continue
        self._keys = found
        self._fetched_at = time.monotonic()
        self.fetches += 1

    def __call__(self, keyid: str) -> Any:
        with self._lock:
            if keyid in self._keys:
                return self._keys[keyid]
            if (self._fetched_at is None
                    or time.monotonic() - self._fetched_at >= self.min_refresh_s):
                try:
                    self._fetch()
                except (requests.RequestException, ValueError) as exc:
                    log.warning("hub keys unavailable: %s", type(exc).__name__)
                    return None
            return self._keys.get(keyid)
