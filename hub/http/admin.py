"""Administrator API: deliveries, replay, endpoints, notices. Signed by a member with role admin."""
from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, g, request

from hub.domain import delivery
from hub.domain.errors import DomainError, Problem
from hub.http.api import _bad, _int_arg, _json, _parse_json
from hub.http.auth import hub_of_app, signed
from hub.registry import calendars
from hub.services import members as member_service
from hub.services import operations

bp = Blueprint("admin", __name__, url_prefix="/v1/admin")


def admin_only(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        m = hub_of_app().snap().members.get(g.member_id)
        if m is None or member_service.ADMIN not in m.roles:
            raise DomainError("admin_required", "this operation needs a member with the admin role",
                              "该操作需要具有管理员角色的成员签名", status=403)
        return view(*args, **kwargs)

    return signed(wrapper)


def _since(raw: Any, path: str) -> datetime | None:
    if raw in (None, ""):
        return None
    try:
        dt = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
        if dt.tzinfo is not None:
            dt.astimezone(UTC)  # a year-1 or year-9999 time may not exist in UTC
    except (ValueError, OverflowError) as exc:
        raise _bad("invalid_time", path, "expected an ISO 8601 date-time",
                   "应为 ISO 8601 日期时间") from exc
    if dt.tzinfo is None:
        raise _bad("invalid_time", path, "the date-time needs a UTC offset", "日期时间需带时区")
    return dt


@bp.get("/deliveries")
@admin_only
def list_deliveries() -> Response:
    return _json({"deliveries": operations.list_deliveries(
        hub_of_app(), member=request.args.get("member") or None,
        state=request.args.get("state") or None,
        since=_since(request.args.get("since"), "$.query.since"),
        limit=_int_arg("limit", 100, minimum=1) or 100)})


@bp.get("/deliveries/<int(max=9223372036854775807):delivery_id>/attempts")
@admin_only
def delivery_attempts(delivery_id: int) -> Response:
    return _json({"attempts": operations.attempts(hub_of_app(), delivery_id)})


@bp.post("/deliveries/<int(max=9223372036854775807):delivery_id>/replay")
@admin_only
def replay_one(delivery_id: int) -> Response:
    return _json(operations.replay(hub_of_app(), delivery_id=delivery_id), 202)


@bp.post("/deliveries/replay")
@admin_only
def replay_many() -> Response:
    body = _parse_json()
    if not isinstance(body, dict) or not isinstance(body.get("member"), str):
        raise DomainError("invalid_replay", "'member' (string) is required",
                          "必须提供成员编号 member", status=422,
                          problems=[Problem("invalid_replay", "$.member", "required", "必填")])
    states = body.get("states", [delivery.DEAD])
    if (not isinstance(states, list) or not states
            or not all(isinstance(x, str) and x in operations.REPLAYABLE for x in states)):
        raise _bad("invalid_replay", "$.states",
                   f"states must be a subset of {operations.REPLAYABLE}",
                   "states 取值不正确", status=422)
    return _json(operations.replay(hub_of_app(), member=body["member"],
                                   since=_since(body.get("since"), "$.since"),
                                   states=tuple(states)), 202)


@bp.put("/members/<member_id>/endpoint")
@admin_only
def set_endpoint(member_id: str) -> Response:
    body = _parse_json()
    if not isinstance(body, dict) or not isinstance(body.get("enabled"), bool):
        raise _bad("invalid_endpoint_change", "$.enabled", "'enabled' (boolean) is required",
                   "必须提供布尔值 enabled", status=422)
    reason = body.get("reason")
    if reason is not None and (not isinstance(reason, str) or len(reason) > 500):
        raise _bad("invalid_endpoint_change", "$.reason", "'reason' is a string of at most 500 "
                   "characters", "reason 须为不超过500个字符的字符串", status=422)
    return _json(operations.set_endpoint(hub_of_app(), member_id, body["enabled"],
                                         body.get("reason")))


@bp.get("/calendars")
@admin_only
def calendars_list() -> Response:
    return _json({"calendars": calendars.years(hub_of_app()),
                  "status": calendars.status(hub_of_app())})


@bp.get("/calendars/<int:year>")
@admin_only
def calendar_show(year: int) -> Response:
    return _json(calendars.show(hub_of_app(), year))


@bp.put("/calendars/<int:year>")
@admin_only
def calendar_register(year: int) -> Response:
    out = calendars.register(hub_of_app(), g.member_id, year, _parse_json())
    return _json(out, 201 if out["created"] else 200)


@bp.get("/notices")
@admin_only
def notices() -> Response:
    return _json({"notices": operations.notices(hub_of_app())})
