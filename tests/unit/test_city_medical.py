"""The city medical security bureau stand-in: SOAP-like XML envelope, synchronous answers."""
from __future__ import annotations

import logging
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

import contracts
from mock_departments.cities.medical import create_app

URL = "/ybj/ws/ZtxService"
XML = "text/xml; charset=utf-8"
GEND = {"male": "1", "female": "2"}


def medical_request(payload: dict[str, Any], case_id: str, msg_id: str) -> bytes:
    """The envelope an adapter sends, built from a `medical-transfer-request/1` payload."""
    person = payload["person"]
    body = {"AreaCode": payload["city_code"], "BizSerial": case_id, "PsnName": person["name"],
            "CertNo": person["id_number"], "Gend": GEND[person["sex"]],
            "BirthYm": person["birth_month"].replace("-", ""),
            "EmpNo": payload["employer"]["number"],
            "RetireYm": payload["retirement_month"].replace("-", ""),
            "ContribMonths": str(payload["contribution_months"])}
    rows = "".join(f"<{k}>{v}</{k}>" for k, v in body.items())
    return ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Envelope><Header>"
            f"<MsgId>{msg_id}</MsgId><SendTime>2026-09-22 10:30:05</SendTime>"
            f"<Sender>JS-PROV-MEDICAL</Sender></Header><Body><ZtxRequest>{rows}</ZtxRequest>"
            "</Body></Envelope>").encode()


def _woman(payload: dict[str, Any], months: int) -> dict[str, Any]:
    """The example person as a woman (ID 17th digit even) with `months` of contributions."""
    out = {**payload, "contribution_months": months}
    out["person"] = {**payload["person"], "sex": "female", "id_number": "320402196605150025",
                     "name": "李示例"}
    return out


def parse(resp: Any) -> ET.Element:
    assert resp.content_type.startswith("text/xml")
    return ET.fromstring(resp.get_data())


def field(root: ET.Element, tag: str) -> str:
    node = root.find(f"Body/ZtxResponse/{tag}")
    assert node is not None, tag
    return node.text or ""


@pytest.fixture
def payload() -> dict[str, Any]:
    return contracts.example("medical-transfer-request")


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    a = create_app({"data_dir": str(tmp_path / "medical"), "city": "320400"})
    yield a
    a.extensions["city"].close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def _post(client: FlaskClient, payload: dict[str, Any], msg_id: str | None = None) -> Any:
    return client.post(URL, data=medical_request(payload, "RT320400-20261125-000001",
                                                 msg_id or str(uuid.uuid4())), content_type=XML)


def test_accepts_a_man_with_enough_years(client: FlaskClient, payload: dict[str, Any]) -> None:
    msg_id = str(uuid.uuid4())
    resp = _post(client, payload, msg_id)
    assert resp.status_code == 200
    root = parse(resp)
    assert root.findtext("Header/MsgId") == msg_id
    assert root.findtext("Header/Duplicate") == "false"
    assert field(root, "RetCode") == "0" and field(root, "Result") == "1"
    assert field(root, "BizNo") == "YB320400-000001"
    assert field(root, "RequiredYears") == "30" and field(root, "ActualYears") == "41.25"
    assert field(root, "ReasonCode") == ""


def test_a_woman_short_of_25_years_is_not_eligible(client: FlaskClient,
                                                   payload: dict[str, Any]) -> None:
    root = parse(_post(client, _woman(payload, 20 * 12 + 6)))
    assert field(root, "Result") == "2"
    assert field(root, "ReasonCode") == "YB-NX-01"
    assert "需25年" in field(root, "ReasonMsg") and "20.50" in field(root, "ReasonMsg")
    assert field(root, "RequiredYears") == "25"
    assert field(parse(_post(client, _woman(payload, 25 * 12))), "Result") == "1"
    assert field(parse(_post(client, {**payload, "contribution_months": 359})), "Result") == "2"
    applied = client.get("/admin/applied").get_json()
    assert [a["outcome"] for a in applied["applied"]] == [
        "not_eligible", "completed", "not_eligible"]


def test_required_years_are_parameters(tmp_path: Path, payload: dict[str, Any]) -> None:
    app = create_app({"data_dir": str(tmp_path), "required_years": {"male": 45}})
    root = parse(_post(app.test_client(), payload))  # 41.25 years
    assert field(root, "Result") == "2" and field(root, "RequiredYears") == "45"


def test_dedupes_by_msg_id(client: FlaskClient, payload: dict[str, Any]) -> None:
    msg_id = str(uuid.uuid4())
    first = parse(_post(client, payload, msg_id))
    second = parse(_post(client, payload, msg_id))
    assert second.findtext("Header/Duplicate") == "true"
    assert field(second, "BizNo") == field(first, "BizNo")
    assert field(second, "HandleTime") == field(first, "HandleTime")
    applied = client.get("/admin/applied").get_json()
    assert applied["count"] == 1 and applied["duplicates"] == 1


def test_refuse_mode_answers_result_3_with_the_reason(client: FlaskClient,
                                                      payload: dict[str, Any]) -> None:
    client.post("/admin/behaviour", json={"mode": "refuse", "reason": "系统升级，暂停受理"})
    root = parse(_post(client, payload))
    assert field(root, "Result") == "3" and field(root, "ReasonCode") == "YB-SL-09"
    assert field(root, "ReasonMsg") == "系统升级，暂停受理" and field(root, "BizNo") == ""
    assert client.get("/admin/applied").get_json()["count"] == 0


def test_error_mode_is_a_server_fault_500(client: FlaskClient, payload: dict[str, Any]) -> None:
    client.post("/admin/behaviour", json={"mode": "error"})
    resp = _post(client, payload)
    assert resp.status_code == 500
    root = parse(resp)
    assert root.findtext("Body/Fault/faultcode") == "Server"


def test_down_mode_is_503_except_admin(client: FlaskClient, payload: dict[str, Any]) -> None:
    client.post("/admin/behaviour", json={"mode": "down"})
    resp = _post(client, payload)
    assert resp.status_code == 503
    assert parse(resp).findtext("Body/Fault/faultcode") == "Server.Unavailable"
    assert client.get("/admin/received").status_code == 200


def test_slow_mode(client: FlaskClient, payload: dict[str, Any]) -> None:
    client.post("/admin/behaviour", json={"mode": "slow", "delay_s": 0.25})
    started = time.monotonic()
    assert field(parse(_post(client, payload)), "Result") == "1"
    assert time.monotonic() - started >= 0.25


@pytest.mark.parametrize("mutate,needle", [
    (lambda b: b.replace(b"</Envelope>", b""), "XML格式错误"),
    (lambda b: b.replace(b"Envelope>", b"Letter>"), "根元素"),
    (lambda b: b.replace(b"<MsgId>m-1</MsgId>", b""), "MsgId"),
    (lambda b: b.replace(b"ZtxRequest>", b"Other>"), "ZtxRequest"),
    (lambda b: b.replace(b"<Gend>1</Gend>", b"<Gend>1</Gend><Phone>13800000000</Phone>"),
     "Phone"),
    (lambda b: b.replace(b"<Gend>1</Gend>", b""), "Gend"),
    (lambda b: b.replace(b"<Gend>1</Gend>", b"<Gend>M</Gend>"), "Gend"),
    (lambda b: b.replace(b"0033", b"0034"), "CertNo"),
    (lambda b: b.replace(b"<ContribMonths>495", b"<ContribMonths>-5"), "ContribMonths"),
    (lambda b: b.replace(b"<AreaCode>320400", b"<AreaCode>320200"), "AreaCode"),
    (lambda b: b"<!DOCTYPE x [<!ENTITY a 'b'>]>" + b.split(b"?>", 1)[1], "DOCTYPE"),
])
def test_envelope_that_breaks_the_interface_is_a_client_fault(client: FlaskClient,
                                                               payload: dict[str, Any],
                                                               mutate: Any, needle: str) -> None:
    raw = mutate(medical_request(payload, "RT320400-20261125-000001", "m-1"))
    resp = client.post(URL, data=raw, content_type=XML)
    assert resp.status_code == 400
    root = parse(resp)
    assert root.findtext("Body/Fault/faultcode") == "Client"
    assert needle in (root.findtext("Body/Fault/faultstring") or "")
    assert client.get("/admin/applied").get_json()["count"] == 0
    assert client.get("/admin/received").get_json()["received"][0]["body"] == raw.decode()


def test_journal_keeps_the_xml_as_received_and_logs_are_masked(
        client: FlaskClient, payload: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    raw = medical_request(payload, "RT320400-20261125-000009", "m-9")
    client.post(URL, data=raw, content_type=XML)
    entry = client.get("/admin/received").get_json()["received"][0]
    assert entry["body"] == raw.decode("utf-8") and entry["event_id"] == "m-9"
    assert entry["format"] == "xml"
    assert payload["person"]["id_number"] not in caplog.text
