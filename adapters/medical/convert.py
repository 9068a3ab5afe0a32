"""Medical security bureau: hub payload <-> the bureau's SOAP-like XML. Pure functions.

Request `medical-transfer-request/1` -> `Envelope/Body/ZtxRequest`; the synchronous
`ZtxResponse` or `Fault` -> progress data. See mock_departments/cities/INTERFACES.md §2.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import defusedxml
import defusedxml.ElementTree as SafeET

from adapters.base import (
    CityProgress,
    CityRejected,
    CityUnavailable,
    ForeignAnswer,
    Forwarded,
    dt_from_city,
    dt_to_city,
    need,
    now_iso,
    reason_code,
    ym_to_city,
)
from adapters.issues import ConversionError

PATH = "/ybj/ws/ZtxService"
SENDER = "JS-PROV-MEDICAL"
GEND = {"male": "1", "female": "2"}
REASONS: dict[str, tuple[str, str]] = {
    "YB-NX-01": ("medical_contribution_years_short",
                 "Medical insurance contribution years short; handled as a standalone matter "
                 "after top-up"),
}


def to_city(payload: dict[str, Any], case_id: str, event_id: str,
            send_time: str | None = None) -> bytes:
    """The request envelope, UTF-8 with an XML declaration; MsgId = the hub event id."""
    sex = need(payload, "person", "sex")
    if sex not in GEND:
        raise ConversionError(f"unknown sex {sex!r}", "payload_unconvertible")
    months = need(payload, "contribution_months")
    if not isinstance(months, int) or isinstance(months, bool) or months < 0:
        raise ConversionError(f"bad contribution_months {months!r}", "payload_unconvertible")
    env = ET.Element("Envelope")
    header = ET.SubElement(env, "Header")
    for tag, text in (("MsgId", event_id), ("SendTime", dt_to_city(send_time or now_iso())),
                      ("Sender", SENDER)):
        ET.SubElement(header, tag).text = text
    req = ET.SubElement(ET.SubElement(env, "Body"), "ZtxRequest")
    for tag, text in (
        ("AreaCode", str(need(payload, "city_code"))),
        ("BizSerial", case_id[:64]),
        ("PsnName", str(need(payload, "person", "name"))),
        ("CertNo", str(need(payload, "person", "id_number")).upper()),
        ("Gend", GEND[sex]),
        ("BirthYm", ym_to_city(need(payload, "person", "birth_month"))),
        ("EmpNo", str(need(payload, "employer", "number"))),
        ("RetireYm", ym_to_city(need(payload, "retirement_month"))),
        ("ContribMonths", str(months)),
    ):
        ET.SubElement(req, tag).text = text
    body: bytes = ET.tostring(env, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body


def _parse(text: str | bytes) -> ET.Element:
    """A hardened parse: DTDs, entities and external references refused in any encoding."""
    if isinstance(text, str):
        text = text.encode("utf-8")
    try:
        root = SafeET.fromstring(text, forbid_dtd=True, forbid_entities=True,
                                 forbid_external=True)
    except defusedxml.DefusedXmlException as exc:
        raise ConversionError(f"answer refused: {type(exc).__name__} (no DTDs or entities "
                              f"from outside)") from exc
    except (ET.ParseError, ValueError) as exc:
        raise ConversionError(f"answer is not well-formed XML: {exc}") from exc
    if root.tag != "Envelope" or root.find("Body") is None:
        raise ConversionError(f"answer is not an Envelope with a Body: <{root.tag}>")
    return root


def _text(el: ET.Element, tag: str) -> str:
    found = el.find(tag)
    return (found.text or "").strip() if found is not None else ""


def from_answer(status: int, text: str | bytes, msg_id: str | None = None) -> Forwarded:
    """The bureau's synchronous answer -> Forwarded with progress, or an exception to classify.

    With `msg_id` (the hub event id sent as `Header/MsgId`), a response must echo it: an answer
    to another message is refused (ForeignAnswer) and the request is sent again later.
    """
    if status >= 500:
        fault = ""
        try:
            found = _parse(text).find("Body/Fault")
            if found is not None:
                fault = _text(found, "faultstring")
        except (ConversionError, AttributeError, TypeError):
            pass
        raise CityUnavailable(f"HTTP {status} {fault}".strip())
    root = _parse(text)
    fault_el = root.find("Body/Fault")
    if fault_el is not None:
        msg = f"HTTP {status} {_text(fault_el, 'faultcode')}: {_text(fault_el, 'faultstring')}"
        if 400 <= status < 500 or _text(fault_el, "faultcode").startswith("Client"):
            raise CityRejected(msg)
        raise ConversionError(msg)
    if 400 <= status < 500:
        raise CityRejected(f"HTTP {status} without a Fault")
    resp = root.find("Body/ZtxResponse")
    if resp is None:
        raise ConversionError("answer has neither ZtxResponse nor Fault")
    header = root.find("Header")
    echoed = _text(header, "MsgId") if header is not None else ""
    if msg_id is not None and echoed != msg_id:
        raise ForeignAnswer(f"the answer is for message {echoed[:64]!r}, not {msg_id}")
    result, biz_no = _text(resp, "Result"), _text(resp, "BizNo")
    ret_code = _text(resp, "RetCode")
    if ret_code not in ("0", ""):
        raise ConversionError(f"RetCode {ret_code!r}: {_text(resp, 'RetMsg')}")
    when = dt_from_city(_text(resp, "HandleTime") or None)
    ref = biz_no[:64] or None
    received: dict[str, Any] = {"status": "received", "occurred_at": when}
    if ref:
        received["department_reference"] = ref
    if result == "1":
        if not ref:
            raise ConversionError("Result 1 without BizNo")
        done = {"status": "completed", "occurred_at": when, "department_reference": ref,
                "result": {"note_zh": (_text(resp, "ResultMsg") or "已办理在职转退休")[:500],
                           "note_en": "Transferred to retiree medical insurance; contributions "
                                      "stop", "reference": ref}}
        return Forwarded(ref, [_cp(received), _cp(done)])
    if result == "2":
        rc = _text(resp, "ReasonCode")
        code, en = REASONS.get(rc, (reason_code(rc, {}, "medical_not_eligible"),
                                    "Not eligible for the linked transfer"))
        ne: dict[str, Any] = {"status": "not_eligible", "occurred_at": when, "reason": {
            "code": code, "message_zh": (_text(resp, "ReasonMsg") or "不符合办理条件")[:500],
            "message_en": en}}
        if ref:
            ne["department_reference"] = ref
        return Forwarded(ref, [_cp(received), _cp(ne)])
    if result == "3":
        rc = _text(resp, "ReasonCode") or "YB-SL-09"
        return Forwarded(None, [_cp({"status": "failed", "occurred_at": when, "reason": {
            "code": reason_code(rc, {}, "medical_refused"),
            "message_zh": (_text(resp, "ReasonMsg") or "医保局不予受理")[:500],
            "message_en": f"The medical security bureau refused the item ({rc})"}})])
    raise ConversionError(f"unknown Result {result!r}")


def _cp(data: dict[str, Any]) -> CityProgress:
    return CityProgress(data)
