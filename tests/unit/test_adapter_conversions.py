"""Each unit's conversions, both ways, on the contracts' examples (JSON, XML, CSV)."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

import pytest

import contracts
from adapters.base import CST, CityProblem, CityProgress, CityRejected, CityUnavailable, Resend
from adapters.community import convert as community
from adapters.health import convert as health
from adapters.hpf import convert as hpf
from adapters.issues import ConversionError, mask_personal
from adapters.medical import convert as medical

CASE = "RT320400-20261125-000001"
EVENT = "6f1c2a8e-3a4b-4c5d-9e8f-0a1b2c3d4e5f"


def _progress_ok(cp: object, item: str) -> dict[str, Any]:
    assert isinstance(cp, CityProgress)
    data = {"item": item, "occurred_at": "2026-09-22T10:30:05+08:00", **cp.data}
    errors = [e.message for e in contracts.validator("progress").iter_errors(data)]
    assert errors == []
    return data


# ----- hpf: JSON with pinyin names, answer later by callback ----------------------------------
def test_hpf_request_from_the_contract_example() -> None:
    body = hpf.to_city(contracts.example("hpf-withdrawal-request"), CASE, "http://a/hpf/callback")
    assert body == {"ywlsh": CASE, "xzqh": "320400", "zjlx": "01",
                    "zjhm": "320402196605150033", "xm": "王示例", "dwmc": "常州示例机械有限公司",
                    "dwzh": "32040000001234", "txny": "202610", "spsj": "2026-09-22 10:30:00",
                    "hdurl": "http://a/hpf/callback"}
    assert all(isinstance(v, str) for v in body.values())


def test_hpf_request_time_is_converted_to_local_time() -> None:
    payload = contracts.example("hpf-withdrawal-request") | {
        "approval_decided_at": "2026-09-22T02:30:00Z"}
    assert hpf.to_city(payload, CASE)["spsj"] == "2026-09-22 10:30:00"
    assert "hdurl" not in hpf.to_city(payload, CASE)


def test_hpf_accept_answer_is_received() -> None:
    fw = hpf.from_apply_answer(202, json.dumps({"fhm": "01", "fhxx": "受理", "slbh":
                                                "GJJ320400-000001", "ywlsh": CASE}))
    assert fw.city_reference == "GJJ320400-000001"
    (cp,) = fw.answers
    assert isinstance(cp, CityProgress) and cp.data["status"] == "received"
    _progress_ok(cp, "hpf_withdrawal")


def test_hpf_callbacks_completed_and_not_eligible() -> None:
    done = hpf.from_callback({"slbh": "GJJ320400-000001", "ywlsh": CASE, "sjid": EVENT,
                              "blzt": "02", "blztmc": "办结", "tqje": "86543.21",
                              "bjsj": "2026-09-22 10:30:01", "yydm": "", "yyxx": ""})
    assert done.request_event_id == EVENT
    data = _progress_ok(done, "hpf_withdrawal")
    assert data["status"] == "completed" and data["result"]["amount"] == 86543.21
    assert data["occurred_at"] == "2026-09-22T10:30:01+08:00"
    ne = hpf.from_callback({"slbh": "GJJ320400-000002", "ywlsh": CASE, "sjid": EVENT,
                            "blzt": "09", "tqje": "", "bjsj": "2026-09-22 10:30:01",
                            "yydm": "E02", "yyxx": "住房公积金账户存在欠缴"})
    data = _progress_ok(ne, "hpf_withdrawal")
    assert data["status"] == "not_eligible"
    assert data["reason"] == {"code": "hpf_arrears", "message_zh": "住房公积金账户存在欠缴",
                              "message_en": hpf.REASONS["E02"][1]}


def test_hpf_refusal_fails_the_item_with_the_centres_reason() -> None:
    fw = hpf.from_apply_answer(200, json.dumps({"fhm": "08", "fhxx": "系统维护，暂停受理",
                                                "yydm": "E08", "slbh": None}))
    data = _progress_ok(fw.answers[0], "hpf_withdrawal")
    assert data["status"] == "failed" and data["reason"]["code"] == "hpf_refused_e08"
    assert data["reason"]["message_zh"] == "系统维护，暂停受理"


@pytest.mark.parametrize("status,body,exc", [
    (400, {"fhm": "99", "fhxx": "报文格式错误"}, CityRejected),
    (401, {"fhm": "98", "fhxx": "令牌无效"}, CityRejected),
    (500, {"fhm": "96"}, CityUnavailable),
    (503, {"fhm": "95"}, CityUnavailable),
])
def test_hpf_faults_are_classified(status: int, body: dict[str, str], exc: type) -> None:
    with pytest.raises(exc):
        hpf.from_apply_answer(status, json.dumps(body))


@pytest.mark.parametrize("text", ["<html>oops</html>", '{"status": "ok"}',
                                  '{"fhm": "01", "fhxx": "受理"}'])
def test_hpf_answer_that_does_not_fit(text: str) -> None:
    with pytest.raises(ConversionError) as e:
        hpf.from_apply_answer(202, text)
    assert e.value.code == "city_answer_invalid"


@pytest.mark.parametrize("doc", [None, [], {"slbh": "X"}, {"slbh": "X", "blzt": "77"},
                                 {"slbh": "X", "blzt": "02", "tqje": "lots"}])
def test_hpf_callback_that_does_not_fit(doc: object) -> None:
    with pytest.raises(ConversionError):
        hpf.from_callback(doc)


# ----- medical: SOAP-like XML, synchronous -----------------------------------------------------
def test_medical_request_envelope_from_the_contract_example() -> None:
    raw = medical.to_city(contracts.example("medical-transfer-request"), CASE, EVENT,
                          "2026-09-22T10:30:05+08:00")
    assert raw.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(raw)
    assert root.findtext("Header/MsgId") == EVENT
    assert root.findtext("Header/SendTime") == "2026-09-22 10:30:05"
    req = root.find("Body/ZtxRequest")
    assert req is not None
    assert {el.tag: el.text for el in req} == {
        "AreaCode": "320400", "BizSerial": CASE, "PsnName": "王示例",
        "CertNo": "320402196605150033", "Gend": "1", "BirthYm": "196605",
        "EmpNo": "32040000001234", "RetireYm": "202610", "ContribMonths": "495"}


def _ztx(result: str, reason: str = "", msg: str = "", biz: str = "YB320400-000001") -> str:
    return ("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Envelope><Header><MsgId>m</MsgId>"
            "<RespTime>2026-09-22 10:30:05</RespTime><Duplicate>false</Duplicate></Header>"
            f"<Body><ZtxResponse><RetCode>0</RetCode><RetMsg>成功</RetMsg><BizNo>{biz}</BizNo>"
            f"<Result>{result}</Result><ResultMsg>已办理在职转退休，停止缴费</ResultMsg>"
            f"<ReasonCode>{reason}</ReasonCode><ReasonMsg>{msg}</ReasonMsg>"
            "<RequiredYears>30</RequiredYears><ActualYears>41.25</ActualYears>"
            "<HandleTime>2026-09-22 10:30:05</HandleTime></ZtxResponse></Body></Envelope>")


def test_medical_answers_to_progress() -> None:
    fw = medical.from_answer(200, _ztx("1"))
    assert fw.city_reference == "YB320400-000001"
    received, done = (_progress_ok(a, "medical_transfer")
                      for a in fw.answers)
    assert received["status"] == "received" and done["status"] == "completed"
    assert done["result"]["reference"] == "YB320400-000001"
    fw = medical.from_answer(200, _ztx("2", "YB-NX-01",
                                       "医保累计缴费年限不足（需30年，实缴20.50年），需补缴后办理"))
    ne = _progress_ok(fw.answers[1], "medical_transfer")
    assert ne["status"] == "not_eligible"
    assert ne["reason"]["code"] == "medical_contribution_years_short"
    fw = medical.from_answer(200, _ztx("3", "YB-SL-09", "系统维护，暂停受理", biz=""))
    (failed,) = (_progress_ok(a, "medical_transfer") for a in fw.answers)
    assert failed["status"] == "failed" and failed["reason"]["code"] == "medical_refused_yb_sl_09"


def test_medical_faults() -> None:
    client = ("<Envelope><Header><MsgId>m</MsgId></Header><Body><Fault><faultcode>Client"
              "</faultcode><faultstring>CertNo 身份证号码无效</faultstring></Fault></Body>"
              "</Envelope>")
    with pytest.raises(CityRejected, match="CertNo"):
        medical.from_answer(400, client)
    with pytest.raises(CityUnavailable):
        medical.from_answer(503, client.replace("Client", "Server.Unavailable"))


@pytest.mark.parametrize("text", [
    "not xml at all", "<Envelope><Body/></Envelope>", "<Other/>",
    "<Envelope><Body><ZtxResponse><RetCode>0</RetCode><Result>7</Result></ZtxResponse></Body>"
    "</Envelope>",
    '<!DOCTYPE x [<!ENTITY a "b">]><Envelope><Body/></Envelope>',
])
def test_medical_answer_that_does_not_fit(text: str) -> None:
    with pytest.raises(ConversionError):
        medical.from_answer(200, text)


# ----- health: CSV batch files -----------------------------------------------------------------
def test_health_request_file_from_the_contract_example() -> None:
    row = health.to_row(contracts.example("only-child-certificate-request"), EVENT, "B000001")
    raw = health.to_csv([row])
    assert raw.startswith(b"\xef\xbb\xbf")
    assert raw.decode("utf-8-sig").split("\r\n") == [
        "批次号,事件编号,姓名,身份证号,性别,是否持证,退休年月",
        f"B000001,{EVENT},王示例,320402196605150033,男,是,202610", ""]
    from datetime import datetime
    at = datetime(2026, 9, 22, 10, 30, 5, tzinfo=CST)
    assert health.file_name("320400", "B000001", at) == \
        "DSZN_320400_20260922103005_B000001.csv"


def _result(*rows: str, header: str = ",".join(health.RESULT_HEADER)) -> bytes:
    return ("\r\n".join([header, *rows]) + "\r\n").encode("utf-8-sig")


NAME = "DSZN_320400_20260922103005_B000001_RESULT.csv"


def test_health_result_rows_to_progress() -> None:
    answers = health.from_result_csv(_result(
        f"B000001,{EVENT},320402196605150033,登记成功,00,已登记：持有独生子女父母光荣证,"
        "2026-09-22 10:30:06",
        "B000001,ev-2,320402196605150033,不予登记,E102,身份证号无效,2026-09-22 10:30:06",
        "B000001,ev-3,320402196605150033,处理失败,E900,系统内部错误，请重新报送,"
        "2026-09-22 10:30:06"), NAME)
    done, failed, resend = answers
    assert isinstance(done, CityProgress) and done.request_event_id == EVENT
    d = _progress_ok(done, "only_child_certificate")
    assert d["status"] == "completed"
    assert d["result"]["note_en"] == "Recorded: certificate held"
    assert d["result"]["reference"] == "DSZN_320400_20260922103005_B000001"
    f = _progress_ok(failed, "only_child_certificate")
    assert f["status"] == "failed" and f["reason"]["code"] == "health_row_rejected_e102"
    assert isinstance(resend, Resend) and resend.request_event_id == "ev-3"


def test_health_broken_row_does_not_hide_the_others() -> None:
    answers = health.from_result_csv(_result(
        f"B000001,{EVENT},320402196605150033,登记成功",          # too few columns
        "B000001,ev-2,320402196605150033,登记成功,00,已登记：未持有独生子女父母光荣证,昨天",
        "B000001,,320402196605150033,不予登记,E107,事件编号为空,2026-09-22 10:30:06",
        "B000001,ev-4,320402196605150033,好的,00,?,2026-09-22 10:30:06",
        "B000001,ev-5,320402196605150033,登记成功,00,已登记：未持有独生子女父母光荣证,"
        "2026-09-22 10:30:06"), NAME)
    assert [type(a).__name__ for a in answers] == ["CityProblem"] * 4 + ["CityProgress"]
    problems = [a for a in answers if isinstance(a, CityProblem)]
    assert all(a.issue.code == "batch_row_invalid" for a in problems)
    assert problems[0].request_event_id == EVENT
    assert "3204**********0033" not in problems[0].issue.detail  # no ID numbers at all here
    keys = {a.key for a in problems}
    assert len(keys) == 4  # each broken row is its own problem
    last = answers[4]
    assert isinstance(last, CityProgress)
    assert last.data["result"]["note_en"] == "Recorded: certificate not held"


def test_health_whole_file_refused_or_unreadable() -> None:
    (p,) = health.from_result_csv(_result(
        ",,,不予登记,E100,文件格式错误：表头不符或无法按UTF-8解码,2026-09-22 10:30:06"), NAME)
    assert isinstance(p, CityProblem) and p.issue.code == "batch_file_invalid"
    assert p.city_reference == "DSZN_320400_20260922103005_B000001"
    (p,) = health.from_result_csv(b"\xff\xfe garbage", NAME)
    assert isinstance(p, CityProblem) and p.issue.code == "batch_file_invalid"
    (p,) = health.from_result_csv(_result(header="a,b,c"), NAME)
    assert isinstance(p, CityProblem) and p.issue.code == "batch_file_invalid"


# ----- community: camelCase JSON, then poll ----------------------------------------------------
def test_community_request_from_the_contract_example() -> None:
    body = community.to_city(contracts.example("socialized-management-request"), CASE)
    assert body["regionCode"] == "320400" and body["bizSerial"] == CASE
    assert body["retireMonth"] == "2026-10"
    assert body["person"] == {
        "fullName": "王示例", "gender": "M", "birth": "1966-05", "idCard": "320402196605150033",
        "party": "masses", "eduLevel": "senior_high", "healthState": "normal",
        "workUnit": "常州示例机械有限公司", "archivePlace": "常州市天宁区人才服务中心（示例）",
        "hobbies": ["chess_cards", "fishing", "travel"], "specialTags": []}
    assert body["preferredAgency"] == {"city": "常州市", "district": "天宁区",
                                       "street": "示例街道", "community": "示例社区"}
    assert body["residence"] == {"areaType": "this_pooling_area", "province": "江苏省",
                                 "city": "常州市", "district": "天宁区",
                                 "detail": "示例路1号1幢101室", "tel": "0519-80000001",
                                 "zip": "213000"}
    assert [c["fullName"] for c in body["contacts"]] == ["王小例", "王二例"]
    assert body["contacts"][1]["district"] == "玄武区"
    assert body["filledBy"]["tel"] == "0519-80000009"
    assert body["spouse"]["status"] == "retired"


def test_community_absent_fields_are_omitted_not_null() -> None:
    payload = contracts.example("socialized-management-request")
    for key in ("spouse", "contact_2", "filler", "service_agency", "hobbies"):
        payload["info"].pop(key, None)
    body = community.to_city(payload, CASE)
    assert "spouse" not in body and "filledBy" not in body and "preferredAgency" not in body
    assert "hobbies" not in body["person"] and len(body["contacts"]) == 1
    assert "null" not in json.dumps(body) and '""' not in json.dumps(body)


def test_community_answers_and_polls_to_progress() -> None:
    fw = community.from_enrol_answer(202, json.dumps({"ticket": "SQ320400-000001",
                                                      "state": "RECEIVED", "poll": "/x"}))
    assert fw.city_reference == "SQ320400-000001"
    _progress_ok(fw.answers[0], "socialized_management")
    done = community.from_poll({
        "ticket": "SQ320400-000001", "bizSerial": CASE, "state": "ASSIGNED",
        "assigned": {"city": "常州市", "district": "天宁区", "street": "示例街道",
                     "community": "示例社区", "source": "preferred"},
        "rejectCode": None, "rejectMsg": None, "updatedAt": "2026-09-22 10:30:06"})
    d = _progress_ok(done, "socialized_management")
    assert d["status"] == "completed" and "示例街道示例社区" in d["result"]["note_zh"]
    rej = community.from_poll({"ticket": "SQ1", "state": "REJECTED", "rejectCode": "SQ-E02",
                               "rejectMsg": "所属区县不在本市辖区", "updatedAt": None})
    r = _progress_ok(rej, "socialized_management")
    assert r["status"] == "failed" and r["reason"]["code"] == "community_out_of_area"
    assert community.from_poll({"ticket": "SQ1", "state": "PROCESSING"}).data["status"] == \
        "in_progress"
    refused = community.from_enrol_answer(422, json.dumps({"errorCode": "SQ-REFUSED",
                                                           "errorMsg": "系统维护，暂停受理"}))
    first = refused.answers[0]
    assert isinstance(first, CityProgress)
    assert _progress_ok(first, "socialized_management")["status"] == "failed"


@pytest.mark.parametrize("status,text,exc", [
    (202, "{}", ConversionError), (202, "[1]", ConversionError), (200, "{}", ConversionError),
    (400, '{"errorCode": "BAD_REQUEST"}', CityRejected), (503, "{}", CityUnavailable)])
def test_community_answer_that_does_not_fit(status: int, text: str, exc: type) -> None:
    with pytest.raises(exc):
        community.from_enrol_answer(status, text)
    with pytest.raises(ConversionError):
        community.from_poll({"ticket": "SQ1", "state": "ASSIGNED", "assigned": {}})


def test_payload_that_cannot_be_converted() -> None:
    payload = contracts.example("hpf-withdrawal-request")
    del payload["employer"]
    with pytest.raises(ConversionError) as e:
        hpf.to_city(payload, CASE)
    assert e.value.code == "payload_unconvertible"


def test_personal_data_is_masked_in_details() -> None:
    assert mask_personal("id 320402196605150033 tel 13800000003") == \
        "id 3204**********0033 tel 138****0003"
