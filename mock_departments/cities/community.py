"""Community service agency stand-in (socialized management): camelCase JSON, received then poll.

    python -m mock_departments.cities.community --port P --data-dir D [--city 320400]
        [--process-delay-s 0.3] [--mode ...]

The assignment is decided when the enrolment is received; the poll endpoint reveals it after
`process_delay_s` (RECEIVED, then PROCESSING, then ASSIGNED or REJECTED), computed from the
receipt time, so no thread is needed and a restart keeps every ticket's state.
"""
from __future__ import annotations

import json
import re
import sys
import time
from typing import Any

from flask import Flask, Response, request

from hub.domain.idnumber import is_valid, mask, mask_text
from mock_departments.cities import serve
from mock_departments.cities.base import CityStandIn, json_response, local_now, make_app

_ADDRESS = {"province": str, "city": str, "district": str, "detail": str, "tel": str, "zip": str}
SPEC: dict[str, Any] = {
    "regionCode": str, "bizSerial": str, "retireMonth": str,
    "person": {"fullName": str, "gender": str, "birth": str, "idCard": str, "party": str,
               "eduLevel": str, "healthState": str, "workUnit": str, "archivePlace": str,
               "hobbies": [str], "specialTags": [str]},
    "preferredAgency": {"city": str, "district": str, "street": str, "community": str},
    "residence": {"areaType": str, **_ADDRESS},
    "spouse": {"fullName": str, "birth": str, "tel": str, "healthState": str, "workUnit": str,
               "status": str},
    "contacts": [{"fullName": str, "relation": str, **_ADDRESS}],
    "filledBy": {"unit": str, "person": str, "date": str, "contact": str, "tel": str},
}
REQUIRED = ("regionCode", "bizSerial", "retireMonth", "person.fullName", "person.idCard",
            "person.party", "person.healthState", "residence.areaType")
CONTACT_REQUIRED = ("fullName", "relation", "tel")
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")

DEFAULT_AGENCIES: dict[str, dict[str, list[str]]] = {
    "320400": {"天宁区": ["天宁街道", "天宁社区"], "钟楼区": ["南大街街道", "南大街社区"],
               "新北区": ["三井街道", "三井社区"], "武进区": ["湖塘镇", "湖塘社区"],
               "金坛区": ["金城镇", "金城社区"], "溧阳市": ["溧城街道", "溧城社区"]},
    "320200": {"梁溪区": ["崇安寺街道", "崇安寺社区"], "滨湖区": ["蠡湖街道", "蠡湖社区"],
               "新吴区": ["旺庄街道", "旺庄社区"], "锡山区": ["东亭街道", "东亭社区"],
               "惠山区": ["堰桥街道", "堰桥社区"], "江阴市": ["澄江街道", "澄江社区"],
               "宜兴市": ["宜城街道", "宜城社区"]},
}
CITY_NAMES = {"320400": "常州市", "320200": "无锡市"}


class BadRequest(ValueError):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def _walk(value: Any, spec: Any, path: str) -> None:
    if spec is str:
        if not isinstance(value, str) or not value.strip():
            raise BadRequest(f"{path} must be a non-empty string", path)
    elif isinstance(spec, list):
        if not isinstance(value, list):
            raise BadRequest(f"{path} must be an array", path)
        for i, item in enumerate(value):
            _walk(item, spec[0], f"{path}[{i}]")
    else:
        if not isinstance(value, dict):
            raise BadRequest(f"{path or 'body'} must be an object", path or None)
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            if key not in spec:
                raise BadRequest(f"unknown field {where}", where)
            _walk(item, spec[key], where)


def parse_enrolment(raw: str, city: str) -> dict[str, Any]:
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise BadRequest(f"body is not JSON: {exc}") from exc
    _walk(doc, SPEC, "")
    for path in REQUIRED:
        node: Any = doc
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            raise BadRequest(f"{path} is required", path)
    contacts = doc.get("contacts")
    if not contacts or len(contacts) > 2:
        raise BadRequest("contacts must hold 1 or 2 entries", "contacts")
    for i, contact in enumerate(contacts):
        for key in CONTACT_REQUIRED:
            if key not in contact:
                raise BadRequest(f"contacts[{i}].{key} is required", f"contacts[{i}].{key}")
    person = doc["person"]
    checks = [
        (doc["regionCode"] == city, "regionCode", f"regionCode is not this city ({city})"),
        (len(doc["bizSerial"]) <= 64, "bizSerial", "bizSerial longer than 64"),
        (bool(_MONTH.match(doc["retireMonth"])), "retireMonth", "retireMonth must be YYYY-MM"),
        (len(person["idCard"]) == 18 and is_valid(person["idCard"]), "person.idCard",
         "person.idCard is not a valid ID number"),
        (person.get("gender", "M") in ("M", "F"), "person.gender", "person.gender must be M or F"),
    ]
    for ok, field, message in checks:
        if not ok:
            raise BadRequest(message, field)
    return doc  # type: ignore[no-any-return]


class Agency(CityStandIn):
    system = "community"
    default_reason = ("SQ-REFUSED", "系统维护，暂停受理")

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self.process_delay_s = float(config.get("process_delay_s", 0.3))
        self.agencies = {**DEFAULT_AGENCIES, **(config.get("default_agencies") or {})}
        self.tickets: dict[str, dict[str, Any]] = {
            a.reference: a.answer for a in self.applied.values()}

    def assign(self, doc: dict[str, Any]) -> dict[str, Any]:
        """ASSIGNED with the agency, or REJECTED with a code: decided at receipt."""
        wish = doc.get("preferredAgency") or {}
        district = wish.get("district") or (doc.get("residence") or {}).get("district")
        city_name = wish.get("city") or CITY_NAMES.get(self.city, "")
        if wish.get("street") and wish.get("community"):
            return {"state": "ASSIGNED", "assigned": {
                "city": city_name, "district": district or "", "street": wish["street"],
                "community": wish["community"], "source": "preferred"}}
        if not district:
            return {"state": "REJECTED", "rejectCode": "SQ-E01",
                    "rejectMsg": "无法确定所属街道社区（缺少所属区县）"}
        found = self.agencies.get(self.city, {}).get(district)
        if found is None:
            return {"state": "REJECTED", "rejectCode": "SQ-E02",
                    "rejectMsg": "所属区县不在本市辖区"}
        return {"state": "ASSIGNED", "assigned": {
            "city": city_name, "district": district, "street": found[0], "community": found[1],
            "source": "default_table"}}

    def receive(self, event_id: str, doc: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            ticket = f"SQ{self.city}-{len(self.tickets) + 1:06d}"
            decision = self.assign(doc)
            record = {"ticket": ticket, "bizSerial": doc["bizSerial"], "receivedAt": time.time(),
                      "receivedLocal": local_now(), "decision": decision}
            self.tickets[ticket] = record
            self.remember(event_id, ticket, "completed" if decision["state"] == "ASSIGNED"
                          else "not_eligible", record)
        self.log.info("community: %s (%s) for %s at %s: %s", ticket, doc["bizSerial"],
                      mask(doc["person"]["idCard"]),
                      mask_text((doc.get("residence") or {}).get("detail", "")), decision["state"])
        return self.receipt(record)

    @staticmethod
    def receipt(record: dict[str, Any]) -> dict[str, Any]:
        ticket = record["ticket"]
        return {"ticket": ticket, "state": "RECEIVED", "poll": f"/sqfw/v1/enrolments/{ticket}"}

    def status(self, ticket: str) -> dict[str, Any] | None:
        with self.lock:
            record = self.tickets.get(ticket)
        if record is None:
            return None
        elapsed = time.time() - record["receivedAt"]
        out: dict[str, Any] = {"ticket": ticket, "bizSerial": record["bizSerial"],
                               "state": "RECEIVED", "assigned": None, "rejectCode": None,
                               "rejectMsg": None, "updatedAt": record["receivedLocal"]}
        if elapsed >= 2 * self.process_delay_s:
            out.update(record["decision"])
            out["updatedAt"] = record.setdefault("finishedLocal", local_now())
        elif elapsed >= self.process_delay_s:
            out["state"] = "PROCESSING"
        return out

    def on_reset(self) -> None:
        self.tickets.clear()


def _error(code: str, message: str, status: int, **extra: Any) -> Response:
    return json_response({"errorCode": code, "errorMsg": message, **extra}, status)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    agency = Agency(dict(config or {}))
    app = make_app("mock_departments.cities.community", agency,
                   lambda: _error("UNAVAILABLE", "系统暂停服务", 503))

    @app.post("/sqfw/v1/enrolments")
    def enrol() -> Response:
        raw = request.get_data(as_text=True)
        event_id = request.headers.get("Idempotency-Key", "").strip() or None
        agency.journal(path=request.path, fmt="json", content_type=request.content_type,
                       event_id=event_id, body=raw)
        if event_id is None:
            return _error("NO_IDEMPOTENCY_KEY", "缺少Idempotency-Key（事件编号）", 400)
        if agency.mode == "error":
            return _error("INTERNAL", "系统内部错误", 500)
        agency.pause_if_slow()
        before = agency.seen(event_id)
        if before is not None:
            body = {**agency.receipt(before.answer), "duplicate": True}
            return json_response(body, 202, {"Location": body["poll"]})
        if agency.mode == "refuse":
            code, message = agency.refusal()
            return _error(code, message, 422)
        try:
            doc = parse_enrolment(raw, agency.city)
        except BadRequest as exc:
            return _error("BAD_REQUEST", str(exc), 400, field=exc.field)
        body = agency.receive(event_id, doc)
        return json_response(body, 202, {"Location": body["poll"]})

    @app.get("/sqfw/v1/enrolments/<ticket>")
    def poll(ticket: str) -> Response:
        if agency.mode == "error":
            return _error("INTERNAL", "系统内部错误", 500)
        found = agency.status(ticket)
        if found is None:
            return _error("NOT_FOUND", "未找到该受理单", 404)
        return json_response(found)

    return app


def main(argv: list[str] | None = None) -> int:
    p = serve.parser("community", "Stand-in community service agency (socialized management)")
    p.add_argument("--process-delay-s", type=float, default=None)
    a = p.parse_args(argv)
    return serve.serve("community", a,
                       serve.config_from(a, {"process_delay_s": a.process_delay_s}), create_app)


if __name__ == "__main__":
    sys.exit(main())
