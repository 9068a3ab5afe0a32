"""Registry changes: contract versions, compatibility settings, lifecycle, linked items.

Every change is checked before it takes effect, recorded in the audit log with who made it,
and becomes visible to every hub process through the catalog's revision check.
"""
from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012
from sqlalchemy import select
from sqlalchemy.orm import Session

import contracts
from hub.bootstrap import Hub
from hub.domain.errors import DomainError, Problem
from hub.domain.projection import unescape
from hub.registry import compat, vetting
from hub.registry.catalog import (
    ACTIVE,
    DEPRECATED,
    RETIRED,
    Snapshot,
    explainer_class,
    request_type,
    split_id,
)
from hub.services.outbox import iso, utcnow
from hub.store.models import (
    ContractStatus,
    ContractVersion,
    ItemDefinitionRow,
    Member,
    RegistryAudit,
    SubjectConfig,
)

SUBJECT = re.compile(r"^[a-z][a-z0-9-]{1,62}$")
ITEM_DEFINITION = contracts.schema_id("item-definition")


def _fail(code: str, status: int, en: str, zh: str, problems: list[Problem] | None = None
          ) -> DomainError:
    return DomainError(code, en, zh, status=status, problems=problems or [])


def audit(s: Session, actor: str, action: str, target: str, detail: dict[str, Any] | None = None
          ) -> None:
    s.add(RegistryAudit(at=utcnow(), actor=actor, action=action, target=target, detail=detail))


def _changed(hub: Hub) -> None:
    hub.catalog.invalidate()


# ----- reading ------------------------------------------------------------------------------

def subjects(hub: Hub) -> list[dict[str, Any]]:
    snap = hub.snap()
    return [{"subject": sub, "versions": snap.versions(sub), "latest": snap.latest_active(sub),
             "compatibility": snap.compatibility(sub)} for sub in snap.subjects()]


def versions(hub: Hub, subject: str) -> dict[str, Any]:
    snap = hub.snap()
    vs = snap.versions(subject)
    if not vs:
        raise _fail("subject_not_found", 404, f"no contract subject '{subject}'",
                    f"没有数据合同主题“{subject}”")
    return {"subject": subject, "compatibility": snap.compatibility(subject),
            "versions": [{"version": v, "id": contracts.schema_id(subject, v),
                          "state": "unavailable" if contracts.schema_id(subject, v) in snap.broken
                          else snap.state(contracts.schema_id(subject, v))} for v in vs]}


def version(hub: Hub, subject: str, n: int) -> dict[str, Any]:
    return by_id(hub, contracts.schema_id(subject, n))


def by_id(hub: Hub, schema_id: str) -> dict[str, Any]:
    snap = hub.snap()
    parts = split_id(schema_id)
    if parts is None or schema_id not in snap.schemas:
        raise _fail("contract_not_found", 404, f"no contract {schema_id}",
                    f"没有数据合同 {schema_id}")
    return {"subject": parts[0], "version": parts[1], "id": schema_id,
            "state": snap.state(schema_id), "schema": copy.deepcopy(snap.schemas[schema_id])}


# ----- contract versions -------------------------------------------------------------------

def _house_rules(node: Any, path: str = "$") -> Iterator[Problem]:
    """Closed objects and a Chinese title on every property, as every contract here has."""
    if isinstance(node, dict):
        props = node.get("properties")
        if isinstance(props, dict):
            if node.get("additionalProperties") is not False:
                yield Problem("object_not_closed", path,
                              "objects must set additionalProperties: false",
                              "对象必须设置 additionalProperties: false")
            for name, sub in props.items():
                if isinstance(sub, dict) and not sub.get("title"):
                    yield Problem("title_missing", f"{path}.properties.{name}",
                                  "every property needs a (Chinese) title",
                                  "每个字段都需要中文标题 title")
        for key, sub in node.items():
            if key in ("properties", "$defs", "patternProperties"):
                if isinstance(sub, dict):
                    for name, child in sub.items():
                        yield from _house_rules(child, f"{path}.{key}.{name}")
            elif key in ("items", "additionalProperties"):
                yield from _house_rules(sub, f"{path}.{key}")
            elif key in ("anyOf", "oneOf", "prefixItems") and isinstance(sub, list):
                # if/then/else, not, contains and allOf only constrain records defined elsewhere
                for i, child in enumerate(sub):
                    yield from _house_rules(child, f"{path}.{key}[{i}]")


def _refs(node: Any, path: str = "$") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for k, v in node.items():
            if k in ("$ref", "$dynamicRef") and isinstance(v, str):
                yield f"{path}.{k}", v
            else:
                yield from _refs(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _refs(v, f"{path}[{i}]")


def _content(schema: dict[str, Any]) -> dict[str, Any]:
    """What makes two versions the same: everything but the $id, with the default dialect."""
    return {"$schema": vetting.DIALECT, **{k: v for k, v in schema.items() if k != "$id"}}


def _registry_with(snap: Snapshot, schema_id: str, schema: dict[str, Any]) -> Registry[Any]:
    registry: Registry[Any] = snap.registry.with_resource(
        schema_id, Resource.from_contents(schema, default_specification=DRAFT202012))
    return registry


def _lookup(registry: Registry) -> Any:
    """A ``resolve(uri) -> schema`` callback over a registry, as compat.check takes it."""
    resolver = registry.resolver()
    return lambda uri: resolver.lookup(uri).contents


def register_version(hub: Hub, actor: str, subject: str,
                     schema: Any) -> tuple[dict[str, Any], bool]:
    """Returns (the version, created). An identical schema returns the existing version."""
    if not SUBJECT.match(subject):
        raise _fail("invalid_subject", 422, "subject names are lower-case letters, digits and -",
                    "主题名只能由小写字母、数字和连字符组成",
                    [Problem("invalid_subject", "$.subject", "bad name", "名称不合法")])
    if not isinstance(schema, dict):
        raise _fail("schema_invalid", 422, "the schema must be a JSON object",
                    "数据合同必须是 JSON 对象",
                    [Problem("schema_invalid", "$.schema", "expected an object", "应为对象")])
    snap = hub.snap()
    existing = snap.versions(subject)
    n = (existing[-1] if existing else 0) + 1
    new_id = contracts.schema_id(subject, n)
    schema = copy.deepcopy(schema)
    schema.setdefault("$schema", vetting.DIALECT)
    # the same content as an existing version is not a new version
    same = [sid for v in reversed(existing)
            if (sid := contracts.schema_id(subject, v)) in snap.schemas
            and _content(snap.schemas[sid]) == _content(schema)]
    if same:
        return by_id(hub, same[0]), False
    # an edited copy of an earlier version may carry that version's $id; it is replaced
    allowed = {new_id} | {contracts.schema_id(subject, v) for v in existing}
    if "$id" in schema and schema["$id"] not in allowed:
        raise _fail("schema_id_mismatch", 422,
                    f"$id must be {new_id} (the next version of '{subject}') or absent",
                    f"$id 必须为 {new_id} 或省略",
                    [Problem("schema_id_mismatch", "$.schema.$id", "wrong $id", "$id 不正确")])
    schema["$id"] = new_id
    problems = [Problem("schema_invalid",
                        "$.schema" + (e.json_path[1:] if hasattr(e, "json_path") else ""),
                        e.message, "不是合法的 JSON Schema 2020-12")
                for e in Draft202012Validator(Draft202012Validator.META_SCHEMA).iter_errors(schema)]
    problems += [Problem(p.code, "$.schema" + p.path[1:], p.message, p.message_zh)
                 for p in _house_rules(schema)]
    known = vetting.contract_ids(snap.schemas) | {new_id}
    problems += [Problem(p.code, "$.schema" + p.path[1:], p.message, p.message_zh)
                 for p in vetting.static_problems(new_id, schema, known)]
    if problems:  # nothing below may meet an unknown dialect or an outside reference
        raise _fail("schema_invalid", 422, "the schema cannot be registered as it is",
                    "数据合同不符合要求，未登记", problems)
    with_new = _registry_with(snap, new_id, schema)
    resolver = with_new.resolver(base_uri=new_id)
    for path, ref in _refs(schema):
        try:
            resolver.lookup(ref)
        except Unresolvable:
            problems.append(Problem("ref_unresolvable", "$.schema" + path[1:],
                                    f"$ref {ref} does not resolve", f"$ref {ref} 无法解析"))
    if not problems:
        try:
            rs_registry = jsonschema_rs.Registry([*snap.schemas.items(), (new_id, schema)])
        except Exception as exc:  # noqa: BLE001 - the engine's own words explain the refusal
            problems.append(Problem("schema_uncompilable", "$.schema",
                                    f"jsonschema-rs can't load the schema: {str(exc)[:300]}",
                                    "验证引擎无法加载该数据合同"))
        else:
            explainer = explainer_class()(schema, registry=with_new)
            problems += [Problem(p.code, "$.schema" + p.path[1:], p.message, p.message_zh)
                         for p in vetting.engine_problems(schema, rs_registry, explainer)]
    if problems:
        raise _fail("schema_invalid", 422, "the schema cannot be registered as it is",
                    "数据合同不符合要求，未登记", problems)
    previous = [snap.schemas[sid] for v in existing
                if (sid := contracts.schema_id(subject, v)) in snap.schemas]
    mode = snap.compatibility(subject)
    diffs = compat.check(mode, schema, previous,
                         resolve=_lookup(with_new)) if previous else []
    if diffs:
        raise _fail("incompatible_schema", 409,
                    f"version {n} of '{subject}' is not {mode} compatible; nothing was registered",
                    f"“{subject}”第 {n} 版不满足 {mode} 兼容性要求，未登记",
                    [Problem(d.kind, d.path, d.detail, "不兼容的变更：" + d.kind) for d in diffs])
    with hub.uow() as uow:
        s = uow.session
        s.add(ContractVersion(schema_id=new_id, subject=subject, version=n, schema=schema,
                              created_by=actor, created_at=utcnow()))
        audit(s, actor, "contract.register", new_id, {"compatibility": mode})
        uow.commit()  # a clash with a concurrent write is a 409, not a 500
    _changed(hub)
    return by_id(hub, new_id), True


def set_compatibility(hub: Hub, actor: str, subject: str, mode: Any) -> dict[str, Any]:
    if mode not in compat.MODES:
        raise _fail("invalid_compatibility", 422,
                    f"compatibility must be one of {', '.join(compat.MODES)}",
                    "兼容性模式取值不正确",
                    [Problem("invalid_compatibility", "$.compatibility", "unknown mode",
                             "未知模式")])
    with hub.uow() as uow:
        s = uow.session
        row = s.get(SubjectConfig, subject)
        if row is None:
            s.add(SubjectConfig(subject=subject, compatibility=mode))
        else:
            row.compatibility = mode
        audit(s, actor, "contract.config", subject, {"compatibility": mode})
        uow.commit()  # a clash with a concurrent write is a 409, not a 500
    _changed(hub)
    return {"subject": subject, "compatibility": mode}


def set_state(hub: Hub, actor: str, subject: str, n: int, state: Any) -> dict[str, Any]:
    if state not in (ACTIVE, DEPRECATED, RETIRED):
        raise _fail("invalid_state", 422, "state must be active, deprecated or retired",
                    "状态只能是 active、deprecated 或 retired",
                    [Problem("invalid_state", "$.state", "unknown state", "未知状态")])
    sid = contracts.schema_id(subject, n)
    by_id(hub, sid)  # 404 when unknown
    with hub.uow() as uow:
        s = uow.session
        row = s.get(ContractStatus, sid)
        if row is None:
            row = ContractStatus(schema_id=sid)
            s.add(row)
        row.state, row.changed_by, row.changed_at = state, actor, utcnow()
        audit(s, actor, f"contract.{state}", sid)
        uow.commit()  # a clash with a concurrent write is a 409, not a 500
    _changed(hub)
    return by_id(hub, sid)


# ----- linked items -------------------------------------------------------------------------

def _schema_has(snap: Snapshot, node: Any, tokens: list[str], base: str, depth: int = 0) -> bool:
    """Does a JSON pointer exist in documents of this schema (following $ref, allOf, if/then)?"""
    if depth > 40 or not isinstance(node, dict):
        return False
    if "$ref" in node:
        try:
            res = snap.registry.resolver(base_uri=base).lookup(node["$ref"])
        except Unresolvable:
            return False
        target_base = res.resolver._base_uri or base  # noqa: SLF001 - keep relative refs right
        if _schema_has(snap, res.contents, tokens, target_base, depth + 1):
            return True
    if not tokens:
        return True
    head, rest = tokens[0], tokens[1:]
    props = node.get("properties") or {}
    if head in props and _schema_has(snap, props[head], rest, base, depth + 1):
        return True
    if (head.isdigit() and isinstance(node.get("items"), dict)
            and _schema_has(snap, node["items"], rest, base, depth + 1)):
        return True
    for key in ("allOf", "anyOf", "oneOf"):
        for sub in node.get(key) or []:
            if _schema_has(snap, sub, tokens, base, depth + 1):
                return True
    for key in ("then", "else"):
        if (isinstance(node.get(key), dict)
                and _schema_has(snap, node[key], tokens, base, depth + 1)):
            return True
    return False


def _case_document_has(snap: Snapshot, pointer: str) -> bool:
    tokens = [unescape(t) for t in pointer.lstrip("/").split("/")]
    if tokens in (["case_id"], ["city_code"]):
        return True
    roots = {"application": "application_submitted", "approval": "approval_decided"}
    if tokens[0] not in roots:
        return False
    sid = snap.current_schema(roots[tokens[0]])
    return _schema_has(snap, snap.schemas[sid], tokens[1:], sid)


def register_item(hub: Hub, actor: str, definition: Any) -> tuple[dict[str, Any], int]:
    snap = hub.snap()
    problems = [Problem(f"schema_{e.validator}", "$" + e.json_path[1:], e.message,
                        "关联事项定义格式不正确")
                for e in snap.validator(ITEM_DEFINITION).iter_errors(definition)]
    if problems:
        raise _fail("invalid_item_definition", 422, "the linked-item definition is malformed",
                    "关联事项定义格式不正确", problems)
    d = copy.deepcopy(definition)
    code = d["code"]
    with hub.transaction() as s:
        if s.get(Member, d["member"]) is None:
            problems.append(Problem("member_not_found", "$.member",
                                    f"member '{d['member']}' is not registered",
                                    f"成员“{d['member']}”未登记"))
    if d["settled_by"] == "department":
        expected = request_type(code)
        if d.get("request_type") not in (None, expected):
            problems.append(Problem("request_type_mismatch", "$.request_type",
                                    f"request_type must be {expected}",
                                    f"request_type 必须为 {expected}"))
        d["request_type"] = expected
        for key in ("payload_contract", "progress_contract"):
            if not d.get(key) or d[key] not in snap.schemas:
                problems.append(Problem("contract_not_found", f"$.{key}",
                                        f"{key} {d.get(key)} is not registered",
                                        f"{key} {d.get(key)} 未登记"))
        pc = d.get("payload_contract")
        for target, source in d["projection"].items():
            if not _case_document_has(snap, source):
                problems.append(Problem("projection_source_missing", f"$.projection['{target}']",
                                        f"{source} does not exist in the case document",
                                        f"办件数据中不存在 {source}"))
            if pc in snap.schemas:
                tokens = target.lstrip("/").split("/")
                if not _schema_has(snap, snap.schemas[pc], tokens, pc):
                    problems.append(Problem("projection_target_missing",
                                            f"$.projection['{target}']",
                                            f"{target} is not a field of {pc}",
                                            f"{target} 不是推送数据合同中的字段"))
    elif d.get("request_type") or d.get("payload_contract"):
        problems.append(Problem("not_dispatched", "$.request_type",
                                "items settled by the approval are not dispatched: "
                                "request_type and payload_contract must be null",
                                "由审批结果办结的事项不推送，"
                                "request_type 与 payload_contract 应为空"))
    if problems:
        raise _fail("invalid_item_definition", 422, "the linked-item definition cannot take effect",
                    "关联事项定义未通过校验，未生效", problems)
    n = snap.item_versions.get(code, 0) + 1
    with hub.uow() as uow:
        s = uow.session
        s.add(ItemDefinitionRow(code=code, version=n, definition=d, state=ACTIVE, created_by=actor,
                                created_at=utcnow()))
        audit(s, actor, "item.register", code, {"version": n})
        uow.commit()  # a clash with a concurrent write is a 409, not a 500
    _changed(hub)
    return d, n


def retire_item(hub: Hub, actor: str, code: str) -> dict[str, Any]:
    """New cases no longer get the item; cases that already have it carry on."""
    snap = hub.snap()
    current = snap.item(code)
    if current is None:
        raise _fail("item_not_found", 404, f"no active linked item '{code}'",
                    f"没有生效的关联事项“{code}”")
    n = snap.item_versions.get(code, 1) + 1
    with hub.uow() as uow:
        s = uow.session
        s.add(ItemDefinitionRow(code=code, version=n, definition=current, state=RETIRED,
                                created_by=actor, created_at=utcnow()))
        audit(s, actor, "item.retire", code, {"version": n})
        uow.commit()  # a clash with a concurrent write is a 409, not a 500
    _changed(hub)
    return {"code": code, "version": n, "state": RETIRED}


def audit_log(hub: Hub, limit: int = 100) -> list[dict[str, Any]]:
    with hub.transaction() as s:
        rows = s.scalars(select(RegistryAudit).order_by(RegistryAudit.id.desc()).limit(limit)).all()
        return [{"id": r.id, "at": iso(r.at), "actor": r.actor, "action": r.action,
                 "target": r.target, "detail": r.detail} for r in rows]
