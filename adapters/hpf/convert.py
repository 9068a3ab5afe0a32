"""Housing provident fund centre: hub payload <-> the centre's pinyin JSON. Pure functions.

Request `hpf-withdrawal-request/1` -> `POST /gjj/api/txtq/sq` body; the centre's answers (apply
answer, callback, query) -> progress data. See mock_departments/cities/INTERFACES.md §1.
"""
from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from adapters.base import (
    CityProgress,
    CityRejected,
    CityUnavailable,
    Forwarded,
    dt_from_city,
    dt_to_city,
    need,
    reason_code,
    ym_to_city,
)
from adapters.issues import ConversionError

APPLY_PATH = "/gjj/api/txtq/sq"
QUERY_PATH = "/gjj/api/txtq/cx"

# 不符合 reasons (yydm) -> the contract's reason codes and English texts
REASONS: dict[str, tuple[str, str]] = {
    "E01": ("hpf_no_account", "No HPF account found; handled as a standalone matter"),
    "E02": ("hpf_arrears", "The HPF account has arrears; handled as a standalone matter"),
    "E03": ("hpf_frozen", "The HPF account is frozen; handled as a standalone matter"),
}


def to_city(payload: dict[str, Any], case_id: str,
            callback_url: str | None = None) -> dict[str, str]:
    """The centre's apply body: every value a string, nothing it does not list."""
    body = {
        "ywlsh": case_id[:64],
        "xzqh": str(need(payload, "city_code")),
        "zjlx": "01",
        "zjhm": str(need(payload, "person", "id_number")).upper(),
        "xm": str(need(payload, "person", "name")),
        "dwmc": str(need(payload, "employer", "name")),
        "dwzh": str(need(payload, "employer", "number")),
        "txny": ym_to_city(need(payload, "retirement_month")),
        "spsj": dt_to_city(need(payload, "approval_decided_at")),
    }
    if callback_url:
        body["hdurl"] = callback_url
    return body


def _body(text: str) -> dict[str, Any]:
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise ConversionError(f"answer is not JSON: {text[:200]!r}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("fhm"), str):
        raise ConversionError(f"answer lacks fhm: {text[:200]!r}")
    return doc


def from_apply_answer(status: int, text: str) -> Forwarded:
    """The centre's answer to an apply -> Forwarded, or CityRejected / CityUnavailable."""
    if status >= 500:
        raise CityUnavailable(f"HTTP {status}: {text[:200]}")
    doc = _body(text)
    fhm, fhxx = doc["fhm"], str(doc.get("fhxx") or "")
    if status == 202 and fhm == "01":
        slbh = doc.get("slbh")
        if not isinstance(slbh, str) or not slbh:
            raise ConversionError(f"accepted without slbh: {text[:200]!r}")
        return Forwarded(slbh, [CityProgress({"status": "received",
                                              "department_reference": slbh[:64]})])
    if status == 200 and fhm == "08":
        yydm = str(doc.get("yydm") or "E08")
        return Forwarded(None, [CityProgress({"status": "failed", "reason": {
            "code": reason_code(yydm, {}, "hpf_refused"),
            "message_zh": (fhxx or "公积金中心不予受理")[:500],
            "message_en": f"The housing provident fund centre refused the item ({yydm})"}})])
    if 400 <= status < 500:
        raise CityRejected(f"HTTP {status} fhm={fhm}: {fhxx}")
    raise ConversionError(f"unexpected answer HTTP {status} fhm={fhm}: {text[:200]!r}")


_MONEY = re.compile(r"^\d+(\.\d{1,2})?$")


def from_callback(doc: Any) -> CityProgress:
    """A callback (or query) body -> progress; ConversionError when it does not fit."""
    if not isinstance(doc, dict):
        raise ConversionError("callback body is not a JSON object")
    slbh, sjid, blzt = doc.get("slbh"), doc.get("sjid"), doc.get("blzt")
    if not isinstance(slbh, str) or not slbh or not isinstance(blzt, str):
        raise ConversionError(f"callback lacks slbh or blzt: {json.dumps(doc)[:300]}")
    sjid = sjid if isinstance(sjid, str) and sjid else None
    data: dict[str, Any] = {"department_reference": slbh[:64]}
    if blzt == "01":
        data["status"] = "in_progress"
    elif blzt == "02":
        tqje = str(doc.get("tqje") or "")
        if not _MONEY.match(tqje):
            raise ConversionError(f"completed without a valid tqje: {tqje!r}")
        try:
            amount = float(Decimal(tqje))
        except InvalidOperation as exc:
            raise ConversionError(f"bad tqje {tqje!r}") from exc
        data.update(status="completed", occurred_at=dt_from_city(doc.get("bjsj")), result={
            "note_zh": "住房公积金已销户并提取至本人银行卡",
            "note_en": "Account closed; balance paid to the retiree's bank card",
            "amount": amount, "reference": slbh[:64]})
    elif blzt == "09":
        yydm = str(doc.get("yydm") or "")
        code, en = REASONS.get(yydm, (reason_code(yydm, {}, "hpf_not_eligible"),
                                      "Not eligible for the linked withdrawal"))
        data.update(status="not_eligible", occurred_at=dt_from_city(doc.get("bjsj")), reason={
            "code": code, "message_zh": str(doc.get("yyxx") or "不符合联办提取条件")[:500],
            "message_en": en})
    else:
        raise ConversionError(f"unknown blzt {blzt!r}")
    ywlsh = doc.get("ywlsh")
    return CityProgress(data, request_event_id=sjid, city_reference=slbh,
                        case_reference=ywlsh if isinstance(ywlsh, str) and ywlsh else None)
