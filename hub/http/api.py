"""The member-facing API (v1): publish, feed, acknowledge, case status. Views stay thin."""
from __future__ import annotations

import json
import time
from typing import Any

from flask import Blueprint, Response, g, request

from hub.domain.errors import DomainError, Problem
from hub.http import jsonbody
from hub.http.auth import hub_of_app, signed
from hub.services import case_view, deliveries, publish
from hub.services.envelope import BATCH, STRUCTURED

bp = Blueprint("api", __name__, url_prefix="/v1")
MAX_INT = 2**63 - 1  # cursors and ids are 64-bit in the database


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status=status,
                    mimetype="application/json")


def _bad(code: str, path: str, en: str, zh: str, status: int = 400) -> DomainError:
    return DomainError(code, en, zh, status=status, problems=[Problem(code, path, en, zh)])


def _parse_json() -> Any:
    return jsonbody.parse(request.get_data(cache=True))


def _int_arg(name: str, default: int | None, minimum: int = 0) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    # ASCII digits only: str.isdigit() also takes "²" and "١٢", which int() then refuses or reads
    if (not (raw.isascii() and raw.isdigit() and len(raw) <= 19)
            or not minimum <= int(raw) <= MAX_INT):
        raise _bad("invalid_query", f"$.query.{name}",
                   f"'{name}' must be an integer from {minimum} to {MAX_INT}",
                   f"参数“{name}”必须是 {minimum} 至 {MAX_INT} 之间的整数")
    return int(raw)


@bp.post("/events")
@signed
def post_events() -> Response:
    ctype = (request.mimetype or "").lower()
    if ctype not in (STRUCTURED, BATCH):
        raise _bad("unsupported_media_type", "$",
                   f"Content-Type must be {STRUCTURED} or {BATCH}",
                   f"Content-Type 必须为 {STRUCTURED} 或 {BATCH}", status=415)
    out = publish.publish_with_warnings(hub_of_app(), g.member_id, _parse_json(),
                                       batch=ctype == BATCH, keyid=g.keyid)
    resp = _json({"receipts": [r.to_dict() for r in out.receipts]}, 202)
    if out.warnings:
        # RFC 9745 Deprecation (the contract is deprecated now) plus a readable note.
        resp.headers["Deprecation"] = f"@{int(time.time())}"
        resp.headers["X-Contract-Deprecated"] = "; ".join(out.warnings)
    return resp


@bp.get("/feed")
@signed
def get_feed() -> Response:
    after = _int_arg("after", None)
    limit = _int_arg("limit", 100, minimum=1)
    return _json(deliveries.feed(hub_of_app(), g.member_id, after, limit or 100))


@bp.post("/feed/ack")
@signed
def post_ack() -> Response:
    body = _parse_json()
    cursor = body.get("cursor") if isinstance(body, dict) else None
    if not isinstance(cursor, int) or isinstance(cursor, bool) or not 0 <= cursor <= MAX_INT:
        raise _bad("invalid_ack", "$.cursor", "'cursor' must be a non-negative integer",
                   "“cursor”必须是非负整数", status=422)
    return _json(deliveries.ack(hub_of_app(), g.member_id, cursor))


@bp.get("/cases/<case_id>")
@signed
def get_case(case_id: str) -> Response:
    return _json(case_view.show(hub_of_app(), case_id, g.member_id))
