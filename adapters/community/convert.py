"""Community service agency: hub payload <-> the agency's camelCase JSON. Pure functions.

Request `socialized-management-request/1` (annex 5 in `info`) -> `POST /sqfw/v1/enrolments`;
the enrol answer and the poll answers -> progress data. An absent source field is omitted, never
sent as null or "". See mock_departments/cities/INTERFACES.md §4.
"""
from __future__ import annotations

import json
from typing import Any

from adapters.base import (
    CityProgress,
    CityRejected,
    CityUnavailable,
    Forwarded,
    dt_from_city,
    need,
    reason_code,
)
from adapters.issues import ConversionError

ENROL_PATH = "/sqfw/v1/enrolments"
GENDER = {"male": "M", "female": "F"}
REJECT_REASONS: dict[str, str] = {"SQ-E01": "community_unassignable",
                                  "SQ-E02": "community_out_of_area"}


def _pick(src: Any, mapping: dict[str, str]) -> dict[str, Any]:
    """`{target: src[source]}` for the sources present (and not None)."""
    if not isinstance(src, dict):
        return {}
    return {t: src[s] for t, s in mapping.items() if src.get(s) is not None}


def _address(src: Any) -> dict[str, Any]:
    return _pick(src, {"province": "province", "city": "city", "district": "county",
                       "detail": "detail"})


def to_city(payload: dict[str, Any], case_id: str) -> dict[str, Any]:
    info = need(payload, "info")
    person = _pick(info, {"fullName": "name", "birth": "birth_month", "idCard": "id_number",
                          "party": "political_status", "eduLevel": "education",
                          "healthState": "health", "workUnit": "employer",
                          "archivePlace": "file_location", "hobbies": "hobbies",
                          "specialTags": "special_status"})
    if info.get("sex") is not None:
        if info["sex"] not in GENDER:
            raise ConversionError(f"unknown sex {info['sex']!r}", "payload_unconvertible")
        person["gender"] = GENDER[info["sex"]]
    body: dict[str, Any] = {
        "regionCode": str(need(payload, "city_code")),
        "bizSerial": case_id[:64],
        "retireMonth": need(payload, "retirement_month"),
        "person": person,
    }
    agency = _pick(info.get("service_agency"), {"city": "city", "district": "county",
                                                "street": "street", "community": "community"})
    if agency:
        body["preferredAgency"] = agency
    res = info.get("residence")
    if isinstance(res, dict):
        body["residence"] = {**_pick(res, {"areaType": "area"}), **_address(res.get("address")),
                             **_pick(res, {"tel": "phone", "zip": "postcode"})}
    spouse = _pick(info.get("spouse"), {"fullName": "name", "birth": "birth_month",
                                        "tel": "phone", "healthState": "health",
                                        "workUnit": "employer", "status": "status"})
    if spouse:
        body["spouse"] = spouse
    contacts = []
    for key in ("contact_1", "contact_2"):
        c = info.get(key)
        if isinstance(c, dict):
            contacts.append({**_pick(c, {"fullName": "name", "relation": "relation"}),
                             **_address(c.get("address")),
                             **_pick(c, {"tel": "phone", "zip": "postcode"})})
    body["contacts"] = contacts
    filler = _pick(info.get("filler"), {"unit": "unit", "person": "person", "date": "date",
                                        "contact": "contact", "tel": "phone"})
    if filler:
        body["filledBy"] = filler
    for path in (("person", "fullName"), ("person", "idCard"), ("person", "party"),
                 ("person", "healthState"), ("residence", "areaType")):
        if not isinstance(body.get(path[0]), dict) or path[1] not in body[path[0]]:
            raise ConversionError(f"payload lacks what the agency requires: {'.'.join(path)}",
                                  "payload_unconvertible")
    if not contacts:
        raise ConversionError("payload has no contact person", "payload_unconvertible")
    return body


def _doc(text: str) -> dict[str, Any]:
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise ConversionError(f"answer is not JSON: {text[:200]!r}") from exc
    if not isinstance(doc, dict):
        raise ConversionError(f"answer is not a JSON object: {text[:200]!r}")
    return doc


def from_enrol_answer(status: int, text: str) -> Forwarded:
    if status >= 500:
        raise CityUnavailable(f"HTTP {status}: {text[:200]}")
    if status == 400:
        raise CityRejected(f"HTTP 400: {text[:300]}")
    doc = _doc(text)
    if status == 202:
        ticket = doc.get("ticket")
        if not isinstance(ticket, str) or not ticket or doc.get("state") not in (
                "RECEIVED", "PROCESSING", "ASSIGNED", "REJECTED"):
            raise ConversionError(f"accepted without ticket/state: {text[:200]!r}")
        return Forwarded(ticket, [CityProgress({"status": "received",
                                                "department_reference": ticket[:64]})])
    if status == 422:
        code = str(doc.get("errorCode") or "SQ-REFUSED")
        return Forwarded(None, [CityProgress({"status": "failed", "reason": {
            "code": reason_code(code, {}, "community_refused"),
            "message_zh": str(doc.get("errorMsg") or "社区服务中心不予受理")[:500],
            "message_en": f"The community service agency refused the item ({code})"}})])
    if 400 <= status < 500:
        raise CityRejected(f"HTTP {status}: {text[:300]}")
    raise ConversionError(f"unexpected answer HTTP {status}: {text[:200]!r}")


def from_poll(doc: Any) -> CityProgress:
    """A poll answer -> progress (received / in_progress / completed / failed)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("ticket"), str):
        raise ConversionError(f"poll answer without ticket: {str(doc)[:200]}")
    ticket, state = doc["ticket"], doc.get("state")
    when = dt_from_city(doc.get("updatedAt") or None)
    data: dict[str, Any] = {"occurred_at": when, "department_reference": ticket[:64]}
    if state == "RECEIVED":
        data["status"] = "received"
    elif state == "PROCESSING":
        data["status"] = "in_progress"
    elif state == "ASSIGNED":
        a = doc.get("assigned")
        if not isinstance(a, dict) or not a.get("street") or not a.get("community"):
            raise ConversionError(f"ASSIGNED without street/community: {str(doc)[:200]}")
        place = "".join(str(a.get(k) or "") for k in ("city", "district", "street", "community"))
        data.update(status="completed", result={
            "note_zh": f"已纳入社会化管理服务：{place}"[:500],
            "note_en": "Enrolled in socialized management by the assigned street and community",
            "reference": ticket[:64]})
    elif state == "REJECTED":
        code = str(doc.get("rejectCode") or "")
        data.update(status="failed", reason={
            "code": reason_code(code, REJECT_REASONS, "community_rejected"),
            "message_zh": str(doc.get("rejectMsg") or "社区服务中心未能确定所属社区")[:500],
            "message_en": f"The community service agency could not enrol the retiree ({code})"})
    else:
        raise ConversionError(f"unknown state {state!r}")
    serial = doc.get("bizSerial")
    return CityProgress(data, city_reference=ticket,
                        case_reference=serial if isinstance(serial, str) and serial else None)
