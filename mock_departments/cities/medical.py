"""Medical security bureau stand-in: a SOAP-like XML envelope, answered synchronously.

    python -m mock_departments.cities.medical --port P --data-dir D [--city 320400]
        [--required-years-male 30] [--required-years-female 25] [--mode ...]

Checks cumulative contribution years (months / 12) against the required years by sex
(DOMAIN.md §4: men 30 / women 25 by default, parameters) and answers not eligible when short.
"""
from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import defusedxml
import defusedxml.ElementTree as SafeET
from flask import Flask, Response, request

from hub.domain.idnumber import is_valid, mask
from mock_departments.cities import serve
from mock_departments.cities.base import CityStandIn, local_now, make_app

FIELDS = ("AreaCode", "BizSerial", "PsnName", "CertNo", "Gend", "BirthYm", "EmpNo", "RetireYm",
          "ContribMonths")
GENDERS = {"1": "male", "2": "female"}
SHORT_CODE = "YB-NX-01"
_YYYYMM = re.compile(r"^\d{4}(0[1-9]|1[0-2])$")
XML_TYPE = "text/xml; charset=utf-8"


class Fault(ValueError):
    def __init__(self, message: str, msg_id: str | None = None) -> None:
        super().__init__(message)
        self.msg_id = msg_id


def _text(parent: ET.Element, tag: str) -> str | None:
    node = parent.find(tag)
    return None if node is None else (node.text or "").strip()


def parse_envelope(raw: bytes, city: str) -> tuple[str, dict[str, str]]:
    """`(MsgId, {element: text})` from a request envelope; Fault on anything off the interface."""
    try:  # hardened: DTDs, entities and external references refused in any encoding
        root = SafeET.fromstring(raw, forbid_dtd=True, forbid_entities=True,
                                 forbid_external=True)
    except defusedxml.DefusedXmlException as exc:
        raise Fault("不接受DOCTYPE/ENTITY声明") from exc
    except (ET.ParseError, ValueError) as exc:
        raise Fault(f"XML格式错误: {exc}") from exc
    if root.tag != "Envelope":
        raise Fault(f"根元素应为Envelope，实为{root.tag}")
    header = root.find("Header")
    msg_id = _text(header, "MsgId") if header is not None else None
    if not msg_id:
        raise Fault("缺少Header/MsgId")
    req = root.find("Body/ZtxRequest")
    if req is None:
        raise Fault("缺少Body/ZtxRequest", msg_id)
    unknown = sorted({child.tag for child in req} - set(FIELDS))
    if unknown:
        raise Fault(f"未知元素: {', '.join(unknown)}", msg_id)
    values = {tag: _text(req, tag) for tag in FIELDS}
    missing = [tag for tag, v in values.items() if not v]
    if missing:
        raise Fault(f"缺少元素: {', '.join(missing)}", msg_id)
    data = {k: v for k, v in values.items() if v is not None}
    checks = [
        (data["AreaCode"] == city, f"AreaCode 行政区划不符（本局为{city}）"),
        (len(data["CertNo"]) == 18 and is_valid(data["CertNo"]), "CertNo 身份证号码无效"),
        (data["Gend"] in GENDERS, "Gend 性别代码应为1或2"),
        (bool(_YYYYMM.match(data["BirthYm"])), "BirthYm 应为YYYYMM"),
        (bool(_YYYYMM.match(data["RetireYm"])), "RetireYm 应为YYYYMM"),
        (data["ContribMonths"].isdigit(), "ContribMonths 应为非负整数"),
        (len(data["BizSerial"]) <= 64, "BizSerial 过长"),
    ]
    for ok, message in checks:
        if not ok:
            raise Fault(message, msg_id)
    return msg_id, data


def envelope(msg_id: str | None, body: ET.Element, *, header: dict[str, str] | None = None
             ) -> bytes:
    root = ET.Element("Envelope")
    head = ET.SubElement(root, "Header")
    ET.SubElement(head, "MsgId").text = msg_id or ""
    for tag, value in (header or {}).items():
        ET.SubElement(head, tag).text = value
    ET.SubElement(root, "Body").append(body)
    out: bytes = ET.tostring(root, encoding="UTF-8", xml_declaration=True)
    return out


def fault(code: str, message: str, status: int, msg_id: str | None = None) -> Response:
    node = ET.Element("Fault")
    ET.SubElement(node, "faultcode").text = code
    ET.SubElement(node, "faultstring").text = message
    return Response(envelope(msg_id, node, header={"RespTime": local_now()}), status=status,
                    content_type=XML_TYPE)


class Bureau(CityStandIn):
    system = "medical"
    default_reason = ("YB-SL-09", "系统维护，暂停受理")

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        years = {"male": 30, "female": 25, **(config.get("required_years") or {})}
        self.required_years = {k: int(v) for k, v in years.items()}
        self.issued = len(self.applied)

    def decide(self, msg_id: str, data: dict[str, str]) -> dict[str, str]:
        sex = GENDERS[data["Gend"]]
        required = self.required_years[sex]
        months = int(data["ContribMonths"])
        actual = (Decimal(months) / 12).quantize(Decimal("0.01"), ROUND_HALF_UP)
        with self.lock:
            self.issued += 1
            biz_no = f"YB{self.city}-{self.issued:06d}"
        fields = {"RetCode": "0", "RetMsg": "成功", "BizNo": biz_no, "Result": "1",
                  "ResultMsg": "已办理在职转退休，停止缴费", "ReasonCode": "", "ReasonMsg": "",
                  "RequiredYears": str(required), "ActualYears": str(actual),
                  "HandleTime": local_now()}
        if months < required * 12:
            fields.update(Result="2", ResultMsg="不符合在职转退休条件", ReasonCode=SHORT_CODE,
                          ReasonMsg=f"医保累计缴费年限不足（需{required}年，实缴{actual}年），需补缴后办理")
        self.remember(msg_id, biz_no, "completed" if fields["Result"] == "1" else "not_eligible",
                      fields)
        self.log.info("medical: %s for %s: result %s (%s of %s years)", biz_no,
                      mask(data["CertNo"]), fields["Result"], actual, required)
        return fields


def answer(msg_id: str, fields: dict[str, str], duplicate: bool = False) -> Response:
    node = ET.Element("ZtxResponse")
    for tag, value in fields.items():
        ET.SubElement(node, tag).text = value
    body = envelope(msg_id, node, header={"RespTime": local_now(),
                                          "Duplicate": "true" if duplicate else "false"})
    return Response(body, status=200, content_type=XML_TYPE)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    bureau = Bureau(dict(config or {}))
    app = make_app("mock_departments.cities.medical", bureau,
                   lambda: fault("Server.Unavailable", "系统暂停服务", 503))

    @app.post("/ybj/ws/ZtxService")
    def ztx() -> Response:
        raw = request.get_data()
        try:
            msg_id, data = parse_envelope(raw, bureau.city)
        except Fault as exc:
            bureau.journal(path=request.path, fmt="xml", content_type=request.content_type,
                           event_id=exc.msg_id, body=raw.decode("utf-8", errors="replace"))
            if bureau.mode == "error":
                return fault("Server", "系统内部错误", 500, exc.msg_id)
            return fault("Client", str(exc), 400, exc.msg_id)
        bureau.journal(path=request.path, fmt="xml", content_type=request.content_type,
                       event_id=msg_id, body=raw.decode("utf-8", errors="replace"))
        if bureau.mode == "error":
            return fault("Server", "系统内部错误", 500, msg_id)
        bureau.pause_if_slow()
        before = bureau.seen(msg_id)
        if before is not None:
            return answer(msg_id, before.answer, duplicate=True)
        if bureau.mode == "refuse":
            code, message = bureau.refusal()
            return answer(msg_id, {"RetCode": "0", "RetMsg": "成功", "BizNo": "", "Result": "3",
                                   "ResultMsg": "不予受理", "ReasonCode": code,
                                   "ReasonMsg": message, "HandleTime": local_now()})
        return answer(msg_id, bureau.decide(msg_id, data))

    return app


def main(argv: list[str] | None = None) -> int:
    p = serve.parser("medical", "Stand-in medical security bureau (city level)")
    p.add_argument("--required-years-male", type=int, default=None)
    p.add_argument("--required-years-female", type=int, default=None)
    a = p.parse_args(argv)
    config = serve.config_from(a, {})
    years = dict(config.get("required_years") or {})
    if a.required_years_male is not None:
        years["male"] = a.required_years_male
    if a.required_years_female is not None:
        years["female"] = a.required_years_female
    config["required_years"] = years
    return serve.serve("medical", a, config, create_app)


if __name__ == "__main__":
    sys.exit(main())
