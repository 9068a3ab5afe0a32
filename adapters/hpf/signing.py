"""The centre's message signature, both ways: HMAC-SHA256 with a secret per city.

    X-GJJ-Xzqh: 320400                       the city whose secret signed (selects the key only)
    X-GJJ-Timestamp: 1790000000              Unix seconds; accepted within `WINDOW_S` of now
    X-GJJ-Signature: v1=<hex>                HMAC-SHA256(secret, METHOD \\n PATH[?QUERY] \\n
                                             TIMESTAMP \\n hex(SHA-256(body)))

The signature binds method, path, time and body, so a captured callback cannot be moved to
another path, replayed after the window, or given another body; the secrets are compared in
constant time. See mock_departments/cities/INTERFACES.md §1.
"""
from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

CITY_HEADER = "X-GJJ-Xzqh"
TIME_HEADER = "X-GJJ-Timestamp"
SIGNATURE_HEADER = "X-GJJ-Signature"
WINDOW_S = 300
MIN_SECRET_BYTES = 16


def _base(method: str, path: str, timestamp: str, body: bytes) -> bytes:
    return "\n".join((method.upper(), path, timestamp,
                      hashlib.sha256(body).hexdigest())).encode("utf-8")


def signature(secret: bytes, method: str, path: str, timestamp: str, body: bytes) -> str:
    return "v1=" + hmac.new(secret, _base(method, path, timestamp, body),
                            hashlib.sha256).hexdigest()


def sign(secret: bytes, city_code: str, method: str, path: str, body: bytes,
         now: float | None = None) -> dict[str, str]:
    """The three headers for one message."""
    ts = str(int(time.time() if now is None else now))
    return {CITY_HEADER: city_code, TIME_HEADER: ts,
            SIGNATURE_HEADER: signature(secret, method, path, ts, body)}


def verify(secret: bytes, method: str, path: str, headers: Any, body: bytes,
           now: float | None = None, window_s: float = WINDOW_S) -> str | None:
    """None when the message is signed by this secret within the window, else why not.

    `headers` is anything with a case-insensitive `get` (werkzeug's or requests' headers).
    """
    ts = headers.get(TIME_HEADER) or ""
    given = headers.get(SIGNATURE_HEADER) or ""
    if not ts.isascii() or not ts.isdigit() or len(ts) > 12:
        return "no valid timestamp"
    if abs((time.time() if now is None else now) - int(ts)) > window_s:
        return "timestamp outside the window"
    expected = signature(secret, method, path, ts, body)
    if not hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("ascii")):
        return "signature does not verify"
    return None


def route_secret(settings: Mapping[str, Any]) -> bytes | None:
    """A city's secret from its routing entry: `secret` (text) or `secret_file` (a path)."""
    value = settings.get("secret")
    if value in (None, "") and settings.get("secret_file"):
        try:
            value = Path(str(settings["secret_file"])).read_text("utf-8").strip()
        except OSError:
            return None
    if not isinstance(value, str) or len(value.encode("utf-8")) < MIN_SECRET_BYTES:
        return None
    return value.encode("utf-8")
