"""CloudEvents envelope checks and data validation against the contract the event names.

Checks here need no database: everything wrong with a request is collected before anything is
stored, so a refused request leaves no trace and the caller sees every problem at once.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import contracts
from hub.domain.errors import Problem
from hub.domain.retirement import RetirementRules
from hub.domain.rules import check_application
from hub.registry.catalog import DEPRECATED, RETIRED, Snapshot, split_id

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
REQUIRED_ATTRIBUTES = ("specversion", "id", "source", "type", "subject")
KNOWN_ATTRIBUTES = set(REQUIRED_ATTRIBUTES) | {"time", "dataschema", "datacontenttype", "data"}
_EXTENSION_NAME = re.compile(r"^[a-z0-9]{1,20}$")
# Bounds that keep every attribute storable (see the Event table) and printable in a log line.
_EVENT_ID = re.compile(r"[\x21-\x7e]{1,128}")
_RFC3339 = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?"
                      r"([Zz]|[+-][0-9]{2}:[0-9]{2})")
MAX_ATTRIBUTE = {"type": 200, "dataschema": 300, "source": 64, "datacontenttype": 100}
MAX_EXTENSION_CHARS = 256
# Member ids are plain ASCII identifiers, so a look-alike (Cyrillic "hrѕѕ") can't pass for one.
MEMBER_ID = re.compile(r"[a-z][a-z0-9_-]{0,63}")


def case_id_pattern() -> re.Pattern[str]:
    """The `case_id` pattern of the common contract, which every event's `subject` must match."""
    global _CASE_ID
    if _CASE_ID is None:
        pattern = contracts.schema("common")["$defs"]["case_id"]["pattern"]
        _CASE_ID = re.compile(pattern, re.ASCII)
    return _CASE_ID


_CASE_ID: re.Pattern[str] | None = None

_ZH = {
    "required": "缺少必填字段",
    "additionalProperties": "包含合同未定义的字段",
    "enum": "取值不在代码表内",
    "const": "取值不正确",
    "type": "数据类型不正确",
    "pattern": "格式不正确",
    "format": "格式不正确",
    "minLength": "长度不足",
    "maxLength": "长度超限",
    "minimum": "数值过小",
    "maximum": "数值过大",
    "minItems": "条目过少",
    "maxItems": "条目过多",
    "uniqueItems": "条目重复",
    "multipleOf": "数值精度不正确",
    "not": "不允许出现该字段",
}


@dataclass(frozen=True)
class IncomingEvent:
    index: int
    envelope: dict[str, Any]
    digest: str

    @property
    def id(self) -> str:
        return str(self.envelope["id"])

    @property
    def type(self) -> str:
        return str(self.envelope["type"])

    @property
    def subject(self) -> str:
        return str(self.envelope["subject"])

    @property
    def data(self) -> dict[str, Any]:
        return self.envelope["data"]  # type: ignore[no-any-return]


def digest(envelope: dict[str, Any]) -> str:
    """Content fingerprint for idempotency: same id and same content means the same event."""
    canon = json.dumps(envelope, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canon.encode("utf-8")).hexdigest()


def schema_problems(snap: Snapshot, schema_id: str, instance: Any, prefix: str) -> list[Problem]:
    """Every way ``instance`` breaks the contract, each with its JSON path under ``prefix``."""
    if snap.is_valid(schema_id, instance):
        return []
    problems = []
    validator = snap.validator(schema_id)
    for err in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path)):
        path = prefix + err.json_path[1:]
        if err.validator == "required" and "'" in err.message:
            path += "." + err.message.split("'")[1]
        problems.append(Problem(
            code=f"schema_{err.validator}",
            path=path,
            message=err.message,
            message_zh=_ZH.get(str(err.validator), "不符合数据合同"),
        ))
    if not problems:  # the verdict engine refused what the explaining one could not place
        problems.append(Problem("schema_invalid", prefix, f"the data does not satisfy {schema_id}",
                                "数据不符合数据合同"))
    return problems


def check_envelope(ev: Any, index: int | None, member: str, allowed_types: list[str],
                   snap: Snapshot, warnings: list[str] | None = None
                   ) -> tuple[list[Problem], list[Problem]]:
    """Returns (permission problems, contract problems) for one event; deprecation notes go to
    ``warnings``."""
    p = "$" if index is None else f"$[{index}]"
    denied: list[Problem] = []
    invalid: list[Problem] = []
    if not isinstance(ev, dict):
        return [], [Problem("envelope_not_object", p, "an event must be a JSON object",
                            "事件必须是 JSON 对象")]
    for attr in REQUIRED_ATTRIBUTES:
        if not isinstance(ev.get(attr), str) or not ev.get(attr):
            invalid.append(Problem("envelope_attribute_missing", f"{p}.{attr}",
                                   f"CloudEvents attribute '{attr}' is required (non-empty string)",
                                   f"缺少 CloudEvents 属性“{attr}”"))
    invalid += _attribute_problems(ev, p)
    if ev.get("specversion") not in (None, "1.0"):
        invalid.append(Problem("envelope_specversion", f"{p}.specversion",
                               "specversion must be '1.0'", "specversion 必须为 1.0"))
    for attr in ev:
        if attr not in KNOWN_ATTRIBUTES and not _EXTENSION_NAME.match(attr):
            invalid.append(Problem("envelope_attribute_name", f"{p}.{attr}",
                                   "extension attribute names are 1-20 lower-case letters "
                                   "or digits",
                                   "扩展属性名只能由1至20位小写字母或数字组成"))
    if ev.get("datacontenttype") not in (None, "application/json"):
        invalid.append(Problem("envelope_datacontenttype", f"{p}.datacontenttype",
                               "datacontenttype must be application/json",
                               "datacontenttype 必须为 application/json"))
    source = ev.get("source")
    if isinstance(source, str) and source and source != member:
        denied.append(Problem("source_mismatch", f"{p}.source",
                              f"source must be the signing member '{member}'",
                              f"source 必须是签名成员“{member}”"))
    etype = ev.get("type")
    spec = snap.event_by_type(etype) if isinstance(etype, str) else None
    if isinstance(etype, str) and etype:
        if spec is None:
            invalid.append(Problem("unknown_event_type", f"{p}.type",
                                   f"unknown event type '{etype}'", f"未知的事件类型“{etype}”"))
        elif etype not in allowed_types:
            denied.append(Problem("type_not_allowed", f"{p}.type",
                                  f"member '{member}' may not publish '{etype}'",
                                  f"成员“{member}”无权发布“{etype}”"))
    if spec is not None:
        schema_id = _contract_for(ev, spec, snap, p, invalid, warnings)
        if "data" not in ev:
            invalid.append(Problem("data_missing", f"{p}.data", "event data is required",
                                   "缺少事件数据 data"))
        elif schema_id is not None:
            invalid += schema_problems(snap, schema_id, ev["data"], f"{p}.data")
    return denied, invalid


def _attribute_problems(ev: dict[str, Any], p: str) -> list[Problem]:
    """Types, sizes and formats of the CloudEvents attributes, before any is looked up."""
    out: list[Problem] = []

    def bad(attr: str, code: str, en: str, zh: str) -> None:
        out.append(Problem(code, f"{p}.{attr}", en, zh))

    for attr in ("time", "dataschema", "datacontenttype"):
        if attr in ev and not isinstance(ev[attr], str):
            bad(attr, "envelope_attribute_type", f"'{attr}' must be a string",
                f"属性“{attr}”必须是字符串")
    for attr, limit in MAX_ATTRIBUTE.items():
        if isinstance(ev.get(attr), str) and len(ev[attr]) > limit:
            bad(attr, "envelope_attribute_size", f"'{attr}' is longer than {limit} characters",
                f"属性“{attr}”超过 {limit} 个字符")
    eid = ev.get("id")
    if isinstance(eid, str) and eid and not _EVENT_ID.fullmatch(eid):
        bad("id", "envelope_id", "'id' is 1-128 printable ASCII characters without spaces",
            "事件编号 id 须为1至128位可打印 ASCII 字符（不含空格）")
    subject = ev.get("subject")
    if isinstance(subject, str) and subject and not case_id_pattern().fullmatch(subject):
        bad("subject", "envelope_subject", "'subject' must be a case id (letters, digits, . _ -; "
            "at most 64 characters, starting with a letter or digit)",
            "subject 必须是办件编号（字母、数字及 . _ -，至多64位，以字母或数字开头）")
    source = ev.get("source")
    if isinstance(source, str) and source and not MEMBER_ID.fullmatch(source):
        bad("source", "envelope_source", "'source' must be a member id (ASCII a-z, 0-9, _ and -)",
            "source 必须是成员编号（ASCII 小写字母、数字、_ 和 -）")
    when = ev.get("time")
    if isinstance(when, str) and not _is_rfc3339(when):
        bad("time", "envelope_time", "'time' must be an RFC 3339 date-time with an offset",
            "time 必须是带时区的 RFC 3339 日期时间")
    for attr, value in ev.items():
        if attr in KNOWN_ATTRIBUTES or not _EXTENSION_NAME.match(attr):
            continue
        if not isinstance(value, (str, int)) or (
                isinstance(value, str) and len(value) > MAX_EXTENSION_CHARS) or (
                type(value) is int and not -2**31 <= value < 2**31):
            bad(attr, "envelope_extension_value",
                f"extension attributes are strings of at most {MAX_EXTENSION_CHARS} characters, "
                "32-bit integers or booleans",
                f"扩展属性值须为不超过 {MAX_EXTENSION_CHARS} 个字符的字符串、32位整数或布尔值")
    return out


def _is_rfc3339(value: str) -> bool:
    if not _RFC3339.fullmatch(value):
        return False
    try:
        parsed = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
        parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return False
    return True


def _contract_for(ev: dict[str, Any], spec: dict[str, Any], snap: Snapshot, p: str,
                  invalid: list[Problem], warnings: list[str] | None) -> str | None:
    """The contract version the event names: one of its subject's versions, not retired."""
    declared = ev.get("dataschema") or spec["dataschema"]
    subject = (split_id(spec["dataschema"]) or ("", 0))[0]
    parts = split_id(declared) if isinstance(declared, str) else None
    if isinstance(declared, str) and declared in snap.broken:
        use = snap.latest_active(subject)
        invalid.append(Problem("contract_unavailable", f"{p}.dataschema",
                               f"contract {declared} can't be loaded by the hub now (an "
                               f"administrator has been told); publish with {use}",
                               f"数据合同 {declared} 暂时无法加载（已通知管理员），请使用 {use}"))
        return None
    if parts is None or parts[0] != subject or declared not in snap.schemas:
        known = ", ".join(f"{subject}/{v}" for v in snap.versions(subject))
        invalid.append(Problem("dataschema_mismatch", f"{p}.dataschema",
                               f"dataschema must be a registered version of '{subject}' ({known})",
                               f"dataschema 必须是“{subject}”的已登记版本（{known}）"))
        return None
    state = snap.state(declared)
    use = snap.latest_active(subject)
    if state == RETIRED:
        invalid.append(Problem("contract_retired", f"{p}.dataschema",
                               f"contract {declared} is retired; publish with {use}",
                               f"数据合同 {declared} 已停用，请使用 {use}"))
        return None
    if state == DEPRECATED and warnings is not None:
        warnings.append(f"{declared} is deprecated; use {use}")
    return str(declared)


def rule_problems(ev: dict[str, Any], index: int | None, rules: RetirementRules,
                  snap: Snapshot) -> list[Problem]:
    """Domain rules beyond the schema, for the contracts that have them."""
    if ev.get("type") != snap.event_type("application_submitted"):
        return []
    p = ("$" if index is None else f"$[{index}]") + ".data"
    return [Problem(x.code, p + x.path[1:], x.message, x.message_zh)
            for x in check_application(ev["data"], rules)]
