"""What every city stand-in shares: behaviour modes, the request journal, dedupe, admin routes.

The journal and the dedupe store are appended to JSON-lines files in the data directory, so a
restarted stand-in still answers a resent event id the same way (as a real system's database
would) and the data-minimisation test still sees every body that reached it.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request

from mock_departments.common import CST

MODES = ("accept", "refuse", "slow", "error", "down")


def local_now() -> str:
    """Legacy local time `YYYY-MM-DD HH:MM:SS` (UTC+8), what these systems print."""
    return datetime.now(CST).strftime("%Y-%m-%d %H:%M:%S")


def json_response(doc: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(doc, ensure_ascii=False), status=status, headers=headers,
                    content_type="application/json; charset=utf-8")


@dataclass
class Behaviour:
    mode: str = "accept"
    delay_s: float = 2.0
    reason_code: str | None = None
    reason_message: str | None = None

    @classmethod
    def from_doc(cls, doc: dict[str, Any], base: Behaviour | None = None) -> Behaviour:
        """Build from an admin call or config; ValueError on anything it cannot use."""
        if not isinstance(doc, dict):
            raise ValueError("behaviour must be a JSON object")
        mode = doc.get("mode", base.mode if base else "accept")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        delay = doc.get("delay_s", base.delay_s if base else 2.0)
        if isinstance(delay, bool) or not isinstance(delay, (int, float)) or delay < 0:
            raise ValueError("delay_s must be a number >= 0")
        reason = doc.get("reason")
        code, message = None, None
        if isinstance(reason, str):
            message = reason
        elif isinstance(reason, dict):
            code = reason.get("code")
            message = reason.get("message") or reason.get("message_zh")
        elif reason is not None:
            raise ValueError("reason must be a string or {code, message}")
        code = doc.get("reason_code", code)
        message = doc.get("reason_message", message)
        for name, value in (("reason.code", code), ("reason.message", message)):
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{name} must be a string")
        return cls(mode, float(delay), code, message)

    def as_doc(self) -> dict[str, Any]:
        return {"mode": self.mode, "delay_s": self.delay_s,
                "reason": {"code": self.reason_code, "message": self.reason_message}}


@dataclass
class Applied:
    event_id: str
    reference: str
    outcome: str
    at: str
    answer: Any  # whatever the system answers again for a duplicate


class CityStandIn:
    """State of one stand-in: behaviour, journal, applied events. Thread-safe."""

    system = "city"
    default_reason = ("E00", "系统维护，暂停受理")

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.city = str(config.get("city") or "320400")
        self.data_dir = Path(config.get("data_dir") or f"var/{self.system}")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log = logging.getLogger(f"city.{self.system}")
        self.lock = threading.RLock()
        self.configured = Behaviour.from_doc(
            {k: config[k] for k in ("mode", "delay_s", "reason", "reason_code", "reason_message")
             if config.get(k) is not None})
        self.behaviour = self.configured
        self._journal_path = self.data_dir / "journal.jsonl"
        self._applied_path = self.data_dir / "applied.jsonl"
        self.received: list[dict[str, Any]] = _read_lines(self._journal_path)
        self.applied: dict[str, Applied] = {
            d["event_id"]: Applied(**d) for d in _read_lines(self._applied_path)}
        self.duplicates = 0

    # ----- behaviour -------------------------------------------------------------------
    @property
    def mode(self) -> str:
        return self.behaviour.mode

    def set_behaviour(self, doc: dict[str, Any]) -> Behaviour:
        with self.lock:
            self.behaviour = Behaviour.from_doc(doc)
            self.log.info("%s: behaviour now %s", self.system, self.behaviour.mode)
            return self.behaviour

    def refusal(self) -> tuple[str, str]:
        b = self.behaviour
        return (b.reason_code or self.default_reason[0], b.reason_message or self.default_reason[1])

    def pause_if_slow(self) -> None:
        if self.behaviour.mode == "slow":
            time.sleep(self.behaviour.delay_s)

    # ----- journal and dedupe ----------------------------------------------------------
    def journal(self, *, path: str, fmt: str, content_type: str | None, event_id: str | None,
                body: str, method: str = "POST", file: str | None = None) -> None:
        with self.lock:
            entry = {"seq": len(self.received) + 1, "at": local_now(), "method": method,
                     "path": path, "format": fmt, "content_type": content_type,
                     "event_id": event_id, "file": file, "body": body}
            self.received.append(entry)
            _append_line(self._journal_path, entry)

    def seen(self, event_id: str | None) -> Applied | None:
        """The stored answer for an event id applied before (and count the duplicate)."""
        if not event_id:
            return None
        with self.lock:
            found = self.applied.get(event_id)
            if found is not None:
                self.duplicates += 1
            return found

    def remember(self, event_id: str, reference: str, outcome: str, answer: Any) -> Applied:
        with self.lock:
            rec = Applied(event_id, reference, outcome, local_now(), answer)
            self.applied[event_id] = rec
            _append_line(self._applied_path, asdict(rec))
            return rec

    def reset(self) -> None:
        with self.lock:
            self.received.clear()
            self.applied.clear()
            self.duplicates = 0
            self.behaviour = self.configured
            for p in (self._journal_path, self._applied_path):
                p.unlink(missing_ok=True)
            self.on_reset()

    def on_reset(self) -> None:
        """Drop pending work specific to a system."""

    def close(self) -> None:
        """Stop background work specific to a system."""


def _read_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text("utf-8").splitlines():
        if line.strip():
            out.append(json.loads(line))
    return out


def _append_line(path: Path, doc: dict[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(doc, ensure_ascii=False) + "\n")


def _admin_blueprint() -> Blueprint:
    bp = Blueprint("admin", __name__, url_prefix="/admin")

    def city() -> CityStandIn:
        return current_app.extensions["city"]  # type: ignore[no-any-return]

    @bp.get("/received")
    def received() -> Response:
        c = city()
        with c.lock:
            return json_response({"system": c.system, "city": c.city, "received": list(c.received)})

    @bp.get("/applied")
    def applied() -> Response:
        c = city()
        with c.lock:
            rows = [{"event_id": a.event_id, "reference": a.reference, "outcome": a.outcome,
                     "at": a.at} for a in c.applied.values()]
            return json_response({"system": c.system, "city": c.city, "applied": rows,
                                  "count": len(rows), "duplicates": c.duplicates})

    @bp.get("/behaviour")
    def get_behaviour() -> Response:
        return json_response(city().behaviour.as_doc())

    @bp.post("/behaviour")
    def post_behaviour() -> Response:
        doc = request.get_json(silent=True)
        try:
            b = city().set_behaviour(doc)  # type: ignore[arg-type]
        except ValueError as exc:
            return json_response({"error": str(exc)}, 400)
        return json_response(b.as_doc())

    @bp.post("/reset")
    def reset() -> Response:
        city().reset()
        return json_response(city().behaviour.as_doc())

    return bp


def make_app(name: str, standin: CityStandIn,
             unavailable: Callable[[], Response]) -> Flask:
    """A Flask app with the admin routes, `/healthz` and the `down` mode gate installed."""
    app = Flask(name)
    app.extensions["city"] = standin
    app.register_blueprint(_admin_blueprint())

    @app.before_request
    def gate() -> Response | None:
        if standin.mode == "down" and not request.path.startswith("/admin/"):
            return unavailable()
        return None

    @app.get("/healthz")
    def healthz() -> Response:
        return json_response({"status": "ok", "system": standin.system, "city": standin.city,
                              "mode": standin.mode})

    return app
