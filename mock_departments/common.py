"""Small helpers shared by the stand-in departments: time, keys, the hub's JWKS, safe logging."""
from __future__ import annotations

import logging
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hub.logs import install as install_log_redaction
from hub.security import keys

CST = timezone(timedelta(hours=8))  # China Standard Time: what people see on a form
# Stable namespace for deterministic event ids (a resend after a failure keeps its id).
EVENT_NS = uuid.UUID("5d0c9b5e-2f7e-4d7a-9a53-6a1f3c0e8b21")


def now_iso() -> str:
    """RFC 3339 with the +08:00 offset, to the second."""
    return datetime.now(CST).isoformat(timespec="seconds")


def event_id(*parts: str) -> str:
    return str(uuid.uuid5(EVENT_NS, "|".join(parts)))


def setup_logging(name: str, verbose: bool = False) -> logging.Logger:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format=f"%(asctime)s %(levelname)s {name} %(message)s")
    install_log_redaction()
    # werkzeug's access log would print the request line only; keep it, it holds no personal data.
    return logging.getLogger(name)


class HubKeys:
    """The hub's public keys from its JWKS, fetched once and cached.

    An unknown keyid triggers one refetch (key rotation), at most every `min_refresh_s`.
    """

    def __init__(self, hub_url: str, *, timeout: float = 5.0, min_refresh_s: float = 30.0) -> None:
        self.url = hub_url.rstrip("/") + "/.well-known/jwks.json"
        self.timeout = timeout
        self.min_refresh_s = min_refresh_s
        self._keys: dict[str, Ed25519PublicKey] = {}
        self._fetched_at: float | None = None
        self._lock = threading.Lock()
        self.fetches = 0

    def _fetch(self) -> None:
        resp = requests.get(self.url, timeout=self.timeout)
        resp.raise_for_status()
        found: dict[str, Ed25519PublicKey] = {}
        for jwk in resp.json().get("keys", []):
            try:
                found[jwk["kid"]] = keys.public_from_jwk(jwk)
            except (KeyError, ValueError):
                continue
        self._keys = found
        self._fetched_at = time.monotonic()
        self.fetches += 1

    def __call__(self, keyid: str) -> Ed25519PublicKey | None:
        with self._lock:
            if keyid in self._keys:
                return self._keys[keyid]
            stale = (self._fetched_at is None
                     or time.monotonic() - self._fetched_at >= self.min_refresh_s)
            if stale:
                try:
                    self._fetch()
                except (requests.RequestException, ValueError):
                    return None
            return self._keys.get(keyid)


def masked_id(value: Any) -> str:
    from hub.domain.idnumber import mask

    return mask(str(value)) if value else ""
