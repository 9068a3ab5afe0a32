"""One bounded HTTP call to a city system: an overall deadline and a size cap on the answer.

`requests`' timeout bounds each socket read, so a city that trickles a byte at a time could hold
a call (and with it every other request of the round) for ever. Here the whole call, headers and
body, ends at `deadline_s`: the body is read in chunks against the clock, and a watchdog shuts
the socket down at the deadline so a read blocked on a silent city returns at once. An answer
larger than `max_bytes` is refused unread (a declared Content-Length) or as soon as it grows past
the cap. Redirects are not followed: a city answers where it was asked.
"""
from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import requests

from adapters.base import CityUnavailable
from adapters.issues import ConversionError

DEADLINE_S = 10.0
MAX_BYTES = 1 << 20  # 1 MiB: the largest answer of any city interface is a few kB
CHUNK = 16 << 10


class AnswerTooLarge(ConversionError):
    """The city's answer exceeds the size cap; it is not read further."""


@dataclass(frozen=True)
class CityResponse:
    status_code: int
    content: bytes
    headers: dict[str, str]

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)


def limits(route: Any, options: dict[str, Any]) -> tuple[float, int]:
    """(deadline_s, max_bytes) for a city: its routing entry, else the unit's options."""
    deadline = route.get("deadline_s") or options.get("deadline_s") or options.get("timeout")
    size = route.get("max_answer_bytes") or options.get("max_answer_bytes")
    return float(deadline or DEADLINE_S), int(size or MAX_BYTES)


def _socket_of(resp: requests.Response) -> socket.socket | None:
    """The socket the body is read from (the connection's, or the response's own once
    http.client has handed it over for a read-until-close body)."""
    conn = getattr(resp.raw, "_connection", None) or getattr(resp.raw, "connection", None)
    sock = getattr(conn, "sock", None)
    if not isinstance(sock, socket.socket):
        fp = getattr(getattr(resp.raw, "_fp", None), "fp", None)
        sock = getattr(getattr(fp, "raw", None), "_sock", None)
    return sock if isinstance(sock, socket.socket) else None


def call(session: requests.Session, method: str, url: str, *, deadline_s: float = DEADLINE_S,
         max_bytes: int = MAX_BYTES, **kwargs: Any) -> CityResponse:
    """The whole exchange within `deadline_s`; CityUnavailable on time-out or transport failure."""
    end = time.monotonic() + deadline_s
    try:
        resp = session.request(method, url, stream=True, allow_redirects=False,
                               timeout=(deadline_s, deadline_s), **kwargs)
    except requests.RequestException as exc:
        raise CityUnavailable(f"{type(exc).__name__}: {exc}") from exc
    expired = threading.Event()
    sock = _socket_of(resp)

    def cut() -> None:
        expired.set()
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    watchdog = threading.Timer(max(0.0, end - time.monotonic()), cut)
    watchdog.daemon = True
    watchdog.start()
    try:
        declared = resp.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise AnswerTooLarge(f"answer of {declared} bytes exceeds the cap of {max_bytes}")
        body = bytearray()
        for chunk in resp.iter_content(CHUNK):
            body += chunk
            if len(body) > max_bytes:
                raise AnswerTooLarge(f"answer exceeds the cap of {max_bytes} bytes")
            if time.monotonic() > end:
                expired.set()
                break
        if expired.is_set() or time.monotonic() > end:
            raise CityUnavailable(f"no complete answer within {deadline_s:g}s")
        return CityResponse(resp.status_code, bytes(body), dict(resp.headers))
    except requests.RequestException as exc:
        if expired.is_set():
            raise CityUnavailable(f"no complete answer within {deadline_s:g}s") from exc
        raise CityUnavailable(f"{type(exc).__name__}: {exc}") from exc
    finally:
        watchdog.cancel()
        resp.close()
