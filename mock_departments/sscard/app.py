"""The card centre's HTTP side and its reporting thread."""
from __future__ import annotations

import json
import logging
import queue
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, request

import contracts
from hub.client import HubClient, make_event
from hub.domain.idnumber import mask
from hub.security.jwks import HubKeys
from hub.security.signing import NonceCache, SignatureError, verify_request

log = logging.getLogger("sscard")


@dataclass
class Config:
    hub_url: str
    member_id: str
    private_key: Any
    keyid: str
    item_code: str
    progress_schema: str
    received: list[str] = field(default_factory=list)


def create_app(cfg: Config) -> Flask:
    app = Flask("sscard")
    client = HubClient(cfg.hub_url, cfg.member_id, cfg.private_key, cfg.keyid)
    nonces = NonceCache()
    seen: set[str] = set()
    work: queue.Queue[dict[str, Any]] = queue.Queue()
    cache: dict[str, Any] = {}
    lock = threading.Lock()

    hub_key = HubKeys(cfg.hub_url)

    def contract(schema_id: str) -> Any:
        if schema_id not in cache:
            doc = client._call("GET", "/v1/schemas", params={"id": schema_id})  # noqa: SLF001
            cache[schema_id] = doc["schema"]
        return cache[schema_id]

    def report(ev: dict[str, Any], status: str, **extra: Any) -> None:
        data = {"item": cfg.item_code, "status": status,
                "occurred_at": datetime.now(UTC).isoformat(), "handler": "制卡中心", **extra}
        client.publish(make_event(cfg.member_id, "item_progressed",
                                  ev["subject"], data, event_id=f"{ev['id']}:{status}",
                                  dataschema=cfg.progress_schema))

    def worker() -> None:
        while True:
            ev = work.get()
            try:
                report(ev, "received")
                report(
                    ev,
                    "completed",
                    result={"note_zh": "社会保障卡已寄出", "reference": "EMS" + ev["id"][:8]},
                )
            except Exception:  # keep serving; the hub keeps the item open
                log.exception("reporting failed for %s", ev["id"])

    threading.Thread(target=worker, daemon=True).start()

    @app.post("/hub/events")
    def events() -> Any:
        body = request.get_data()
        try:
            verify_request(request.method, request.url, request.headers, body, hub_key, nonces)
        except SignatureError as exc:
            return {"code": exc.code}, 401
        ev = json.loads(body)
        with lock:
            if ev["id"] in seen:
                return {"status": "duplicate"}, 200
            seen.add(ev["id"])
            cfg.received.append(ev["id"])
        if ev["type"] == contracts.request_type(cfg.item_code):
            validator = contracts.validator_class()
            registry_schema = contract(ev["dataschema"])
            errors = [e.message for e in validator(registry_schema).iter_errors(ev["data"])]
            if errors:
                return {"code": "payload_invalid", "errors": errors}, 422
            log.info("card mailing for %s", mask(ev["data"]["person"]["id_number"]))
            work.put(ev)
        return {"status": "accepted"}, 200

    @app.get("/received")
    def received() -> Response:
        with lock:
            return Response(json.dumps(cfg.received), mimetype="application/json")

    return app
