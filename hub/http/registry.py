"""Contract registry and linked items: anyone signed may read; only administrators change."""
from __future__ import annotations

import re

from flask import Blueprint, Response, g, request

from hub.domain.errors import DomainError, Problem
from hub.http.admin import admin_only
from hub.http.api import _bad, _json, _parse_json
from hub.http.auth import hub_of_app, signed
from hub.registry import service
from hub.services import members as member_service
from hub.services.envelope import MEMBER_ID

bp = Blueprint("registry", __name__, url_prefix="/v1")
MEMBER_FIELD_LIMITS = {"name": 200, "push_url": 500}  # the members table's columns
KEYID = re.compile(r"[\x21-\x7e]{1,128}")


@bp.get("/contracts")
@signed
def list_subjects() -> Response:
    return _json({"subjects": service.subjects(hub_of_app())})


@bp.get("/contracts/<subject>/versions")
@signed
def list_versions(subject: str) -> Response:
    return _json(service.versions(hub_of_app(), subject))


@bp.get("/contracts/<subject>/versions/<int:n>")
@signed
def get_version(subject: str, n: int) -> Response:
    return _json(service.version(hub_of_app(), subject, n))


@bp.get("/schemas")
@signed
def schema_by_id() -> Response:
    sid = request.args.get("id", "")
    if not sid:
        raise _bad("invalid_query", "$.query.id", "'id' (a contract $id) is required",
                   "必须提供参数 id（数据合同 $id）")
    return _json(service.by_id(hub_of_app(), sid))


@bp.get("/items")
@signed
def list_items() -> Response:
    snap = hub_of_app().snap()
    return _json({"items": [{**d, "version": snap.item_versions.get(d["code"], 1)}
                            for d in snap.items]})


@bp.post("/admin/contracts/<subject>/versions")
@admin_only
def register_version(subject: str) -> Response:
    body = _parse_json()
    schema = body.get("schema") if isinstance(body, dict) else None
    out, created = service.register_version(hub_of_app(), g.member_id, subject, schema)
    return _json(out, 201 if created else 200)


@bp.put("/admin/contracts/<subject>/config")
@admin_only
def set_config(subject: str) -> Response:
    body = _parse_json()
    mode = body.get("compatibility") if isinstance(body, dict) else None
    return _json(service.set_compatibility(hub_of_app(), g.member_id, subject, mode))


@bp.put("/admin/contracts/<subject>/versions/<int:n>/state")
@admin_only
def set_state(subject: str, n: int) -> Response:
    body = _parse_json()
    state = body.get("state") if isinstance(body, dict) else None
    return _json(service.set_state(hub_of_app(), g.member_id, subject, n, state))


@bp.post("/admin/items")
@admin_only
def register_item() -> Response:
    definition, n = service.register_item(hub_of_app(), g.member_id, _parse_json())
    return _json({**definition, "version": n}, 201)


@bp.post("/admin/items/<code>/retire")
@admin_only
def retire_item(code: str) -> Response:
    return _json(service.retire_item(hub_of_app(), g.member_id, code))


@bp.post("/admin/members")
@admin_only
def add_member() -> Response:
    body = _parse_json()
    problems = []
    if not isinstance(body, dict):
        body = {}
        problems.append(Problem("invalid_member", "$", "expected an object", "应为对象"))
    for key in ("id", "public_key_pem"):
        if not isinstance(body.get(key), str) or not body.get(key):
            problems.append(Problem("invalid_member", f"$.{key}", f"'{key}' is required",
                                    f"必须提供 {key}"))
    if isinstance(body.get("id"), str) and body["id"] and not MEMBER_ID.fullmatch(body["id"]):
        problems.append(Problem("invalid_member_id", "$.id",
                                "member ids are plain ASCII: a-z, 0-9, _ and -, starting with a "
                                "letter, at most 64", "成员编号只能由 ASCII 小写字母、数字、_ 和 - "
                                "组成，以字母开头，至多64位"))
    for key in ("keyid", "name", "push_url"):
        if key in body and body[key] is not None and not isinstance(body[key], str):
            problems.append(Problem("invalid_member", f"$.{key}", f"'{key}' must be a string",
                                    f"{key} 必须是字符串"))
    for key, limit in MEMBER_FIELD_LIMITS.items():
        if isinstance(body.get(key), str) and len(body[key]) > limit:
            problems.append(Problem("invalid_member", f"$.{key}",
                                    f"'{key}' is longer than {limit} characters",
                                    f"{key} 超过 {limit} 个字符"))
    if isinstance(body.get("keyid"), str) and not KEYID.fullmatch(body["keyid"]):
        problems.append(Problem("invalid_member", "$.keyid",
                                "'keyid' is 1-128 printable ASCII characters without spaces",
                                "keyid 须为1至128位可打印 ASCII 字符（不含空格）"))
    url = body.get("push_url")
    if isinstance(url, str) and url and not re.fullmatch(r"https?://[\x21-\x7e]+", url):
        problems.append(Problem("invalid_member", "$.push_url",
                                "'push_url' must be an absolute http(s) URL in ASCII",
                                "push_url 必须是 ASCII 的 http(s) 绝对地址"))
    for key in ("publish", "subscribe", "roles"):
        value = body.get(key)
        if value is not None and (not isinstance(value, list)
                                  or not all(isinstance(x, str) for x in value)):
            problems.append(Problem("invalid_member", f"$.{key}",
                                    f"'{key}' must be a list of strings",
                                    f"{key} 必须是字符串数组"))
            body[key] = []
    snap = hub_of_app().snap()
    for key in ("publish", "subscribe"):
        for i, t in enumerate(body.get(key) or []):
            if snap.event_by_type(t) is None:
                problems.append(Problem("unknown_event_type", f"$.{key}[{i}]",
                                        f"unknown event type {t}", f"未知的事件类型 {t}"))
    if problems:
        raise DomainError("invalid_member", "the member cannot be registered",
                          "成员信息不完整，未登记", status=422, problems=problems)
    try:
        m = member_service.add_member(
            hub_of_app(), body["id"], body["public_key_pem"], keyid=body.get("keyid"),
            publish=body.get("publish"), subscribe=body.get("subscribe"),
            push_url=body.get("push_url"), name=body.get("name"), roles=body.get("roles"),
            actor=g.member_id)
    except ValueError as exc:
        raise DomainError("invalid_member",
                          f"public_key_pem is not an Ed25519 or SM2 public key: {exc}",
                          "public_key_pem 不是 Ed25519 或 SM2 公钥", status=422,
                          problems=[Problem("invalid_key", "$.public_key_pem", str(exc),
                                            "公钥无效")]) from exc
    return _json(m.to_dict(), 201)


@bp.get("/admin/audit")
@admin_only
def audit() -> Response:
    return _json({"audit": service.audit_log(hub_of_app())})
