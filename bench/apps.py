"""The two small WSGI apps the benchmark serves under gunicorn next to the hub.

* ``receiver_app()``: the subscribing stand-in. Every POST records its arrival time, the
  event's ``subject`` and ``type`` and whether it carried an RFC 9421 signature, as one line
  appended to ``BENCH_ARRIVALS`` (O_APPEND: several gunicorn workers share the file), then
  answers 204. It does not verify signatures (that would charge the hub path only).
* ``bare_app()``: the bare Flask echo hop. ``POST /relay`` forwards the body, unchanged and
  with the same Content-Type, to ``BENCH_FORWARD_URL`` (the same receiver) and answers 202
  once the receiver has answered. No validation, no storage, no signing: the floor a relay
  written with the same stack on the same server setup cannot beat.

Start them with gunicorn's factory syntax, e.g.
``gunicorn -w 2 -k gthread --threads 8 'bench.apps:receiver_app()'``.
"""
from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

import requests
from flask import Flask, Response, request

_fd_lock = threading.Lock()
_fd: dict[int, int] = {}


def _arrivals_fd() -> int:
    """One O_APPEND descriptor per process (opened after gunicorn forks)."""
    pid = os.getpid()
    fd = _fd.get(pid)
    if fd is None:
        with _fd_lock:
            fd = _fd.get(pid)
            if fd is None:
                fd = os.open(os.environ["BENCH_ARRIVALS"],
                             os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                _fd[pid] = fd
    return fd


def receiver_app() -> Flask:
    app = Flask("bench-receiver")

    @app.post("/hub/events")
    @app.post("/events")
    def events() -> Response:
        arrived = time.time()
        raw = request.get_data()
        try:
            ev: Any = json.loads(raw)
        except ValueError:
            ev = {}
        signed = 1 if request.headers.get("Signature") else 0
        subject = str(ev.get("subject", "")) if isinstance(ev, dict) else ""
        etype = str(ev.get("type", "")) if isinstance(ev, dict) else ""
        line = f"{arrived:.6f}\t{subject}\t{etype}\t{signed}\n".encode()
        os.write(_arrivals_fd(), line)  # one write(2) per line: lines never interleave
        return Response(status=204)

    @app.get("/healthz")
    def healthz() -> Response:
        return Response("ok", mimetype="text/plain")

    return app


_local = threading.local()


def _session() -> requests.Session:
    s = getattr(_local, "session", None)
    if s is None:
        s = _local.session = requests.Session()
    return s


def bare_app() -> Flask:
    forward = os.environ["BENCH_FORWARD_URL"]
    app = Flask("bench-bare")

    @app.post("/relay")
    def relay() -> Response:
        body = request.get_data()
        resp = _session().post(forward, data=body, timeout=10,
                               headers={"Content-Type": request.content_type or
                                        "application/octet-stream"})
        return Response(json.dumps({"forwarded": resp.status_code}), status=202,
                        mimetype="application/json")

    @app.get("/healthz")
    def healthz() -> Response:
        return Response("ok", mimetype="text/plain")

    return app
