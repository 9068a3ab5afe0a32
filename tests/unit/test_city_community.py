"""The city community service agency stand-in: camelCase JSON enrolment, received then poll."""
from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

import contracts
from mock_departments.cities.community import create_app

URL = "/sqfw/v1/enrolments"


def _address(src: dict[str, Any], phone: str = "phone", zip_: str = "postcode"
             ) -> dict[str, Any]:
    addr = src.get("address") or {}
    out = {"province": addr.get("province"), "city": addr.get("city"),
           "district": addr.get("county"), "detail": addr.get("detail"),
           "tel": src.get(phone), "zip": src.get(zip_)}
    return {k: v for k, v in out.items() if v is not None}


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def community_request(payload: dict[str, Any], case_id: str) -> dict[str, Any]:
    """The agency's own form, from a `socialized-management-request/1` payload."""
    info = payload["info"]
    agency = info.get("service_agency") or {}
    doc: dict[str, Any] = {
        "regionCode": payload["city_code"], "bizSerial": case_id,
        "retireMonth": payload["retirement_month"],
        "person": _drop_none({
            "fullName": info["name"], "gender": {"male": "M", "female": "F"}.get(info.get("sex")),
            "birth": info.get("birth_month"), "idCard": info["id_number"],
            "party": info["political_status"], "eduLevel": info.get("education"),
            "healthState": info["health"], "workUnit": info.get("employer"),
            "archivePlace": info.get("file_location"), "hobbies": info.get("hobbies"),
            "specialTags": info.get("special_status")}),
        "preferredAgency": _drop_none({"city": agency.get("city"),
                                       "district": agency.get("county"),
                                       "street": agency.get("street"),
                                       "community": agency.get("community")}),
        "residence": {"areaType": info["residence"]["area"], **_address(info["residence"])},
        "contacts": [_drop_none({"fullName": c["name"], "relation": c["relation"],
                                 **_address(c)})
                     for c in (info.get("contact_1"), info.get("contact_2")) if c],
    }
    if "spouse" in info:
        s = info["spouse"]
        doc["spouse"] = _drop_none({"fullName": s.get("name"), "birth": s.get("birth_month"),
                                    "tel": s.get("phone"), "healthState": s.get("health"),
                                    "workUnit": s.get("employer"), "status": s.get("status")})
    if "filler" in info:
        f = info["filler"]
        doc["filledBy"] = _drop_none({"unit": f.get("unit"), "person": f.get("person"),
                                      "date": f.get("date"), "contact": f.get("contact"),
                                      "tel": f.get("phone")})
    return doc


@pytest.fixture
def payload() -> dict[str, Any]:
    return contracts.example("socialized-management-request")


def _app(tmp_path: Path, **config: Any) -> Flask:
    return create_app({"data_dir": str(tmp_path / "community"), "city": "320400",
                       "process_delay_s": 0, **config})


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    a = _app(tmp_path)
    yield a
    a.extensions["city"].close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def _post(client: FlaskClient, doc: dict[str, Any], key: str | None = None) -> Any:
    return client.post(URL, data=json.dumps(doc, ensure_ascii=False).encode(),
                       content_type="application/json",
                       headers={"Idempotency-Key": key or str(uuid.uuid4())})


def test_receives_then_assigns_the_preferred_agency(client: FlaskClient,
                                                    payload: dict[str, Any]) -> None:
    resp = _post(client, community_request(payload, "RT320400-20261125-000001"))
    assert resp.status_code == 202
    body = resp.get_json()
    assert body == {"ticket": "SQ320400-000001", "state": "RECEIVED",
                    "poll": "/sqfw/v1/enrolments/SQ320400-000001"}
    assert resp.headers["Location"] == body["poll"]
    status = client.get(body["poll"]).get_json()
    assert status["state"] == "ASSIGNED" and status["bizSerial"] == "RT320400-20261125-000001"
    assert status["assigned"] == {"city": "常州市", "district": "天宁区", "street": "示例街道",
                                  "community": "示例社区", "source": "preferred"}
    assert status["rejectCode"] is None


def test_states_move_received_processing_assigned(tmp_path: Path,
                                                  payload: dict[str, Any]) -> None:
    app = _app(tmp_path, process_delay_s=0.2)
    c = app.test_client()
    poll = _post(c, community_request(payload, "RT1")).get_json()["poll"]
    seen: list[Any] = []
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        state = c.get(poll).get_json()["state"]
        if not seen or seen[-1] != state:
            seen.append(state)
        if state == "ASSIGNED":
            break
        time.sleep(0.03)
    assert seen == ["RECEIVED", "PROCESSING", "ASSIGNED"]


def test_default_table_by_district_when_no_street_is_given(client: FlaskClient,
                                                           payload: dict[str, Any]) -> None:
    payload["info"]["service_agency"] = {"city": "常州市", "county": "钟楼区"}
    poll = _post(client, community_request(payload, "RT2")).get_json()["poll"]
    assigned = client.get(poll).get_json()["assigned"]
    assert (assigned["street"], assigned["community"], assigned["source"]) == (
        "南大街街道", "南大街社区", "default_table")
    del payload["info"]["service_agency"]
    poll = _post(client, community_request(payload, "RT3")).get_json()["poll"]
    assert client.get(poll).get_json()["assigned"]["district"] == "天宁区"  # from the residence


def test_an_unknown_district_is_rejected_with_a_code(client: FlaskClient,
                                                     payload: dict[str, Any]) -> None:
    payload["info"]["service_agency"] = {"county": "玄武区"}
    poll = _post(client, community_request(payload, "RT4")).get_json()["poll"]
    status = client.get(poll).get_json()
    assert (status["state"], status["rejectCode"]) == ("REJECTED", "SQ-E02")
    assert status["rejectMsg"] == "所属区县不在本市辖区"


def test_dedupes_by_idempotency_key(client: FlaskClient, payload: dict[str, Any]) -> None:
    doc, key = community_request(payload, "RT5"), str(uuid.uuid4())
    first = _post(client, doc, key).get_json()
    second = _post(client, doc, key)
    assert second.status_code == 202 and second.get_json() == {**first, "duplicate": True}
    applied = client.get("/admin/applied").get_json()
    assert applied["count"] == 1 and applied["duplicates"] == 1


def test_refuse_mode_is_422_with_the_reason(client: FlaskClient,
                                            payload: dict[str, Any]) -> None:
    client.post("/admin/behaviour", json={"mode": "refuse",
                                          "reason": {"code": "SQ-E09", "message": "暂停受理"}})
    resp = _post(client, community_request(payload, "RT6"))
    assert resp.status_code == 422
    assert resp.get_json() == {"errorCode": "SQ-E09", "errorMsg": "暂停受理"}


def test_error_mode_500_and_down_mode_503(client: FlaskClient, payload: dict[str, Any]) -> None:
    poll = _post(client, community_request(payload, "RT7")).get_json()["poll"]
    client.post("/admin/behaviour", json={"mode": "error"})
    assert _post(client, community_request(payload, "RT8")).status_code == 500
    assert client.get(poll).status_code == 500
    client.post("/admin/behaviour", json={"mode": "down"})
    resp = _post(client, community_request(payload, "RT9"))
    assert resp.status_code == 503 and resp.get_json()["errorCode"] == "UNAVAILABLE"
    assert client.get(poll).status_code == 503
    assert client.get("/admin/applied").get_json()["count"] == 1


def test_slow_mode(client: FlaskClient, payload: dict[str, Any]) -> None:
    client.post("/admin/behaviour", json={"mode": "slow", "delay_s": 0.2})
    started = time.monotonic()
    assert _post(client, community_request(payload, "RT10")).status_code == 202
    assert time.monotonic() - started >= 0.2


@pytest.mark.parametrize("mutate,field", [
    (lambda d: d["person"].update(mobile="13800000000"), "person.mobile"),
    (lambda d: d.update(religion="none"), "religion"),
    (lambda d: d["person"].pop("idCard"), "person.idCard"),
    (lambda d: d["person"].update(idCard="320402196605150034"), "person.idCard"),
    (lambda d: d["person"].update(gender="male"), "person.gender"),
    (lambda d: d.update(regionCode="320200"), "regionCode"),
    (lambda d: d.update(retireMonth="202610"), "retireMonth"),
    (lambda d: d.update(contacts=[]), "contacts"),
    (lambda d: d["contacts"][0].pop("tel"), "contacts[0].tel"),
    (lambda d: d["residence"].update(detail=None), "residence.detail"),
])
def test_a_request_off_the_interface_is_400_naming_the_field(
        client: FlaskClient, payload: dict[str, Any], mutate: Any, field: str) -> None:
    doc = community_request(payload, "RT11")
    mutate(doc)
    resp = _post(client, doc)
    assert resp.status_code == 400
    assert resp.get_json()["errorCode"] == "BAD_REQUEST" and resp.get_json()["field"] == field


def test_missing_key_bad_json_and_unknown_ticket(client: FlaskClient,
                                                 payload: dict[str, Any]) -> None:
    resp = client.post(URL, json=community_request(payload, "RT12"))
    assert resp.status_code == 400 and resp.get_json()["errorCode"] == "NO_IDEMPOTENCY_KEY"
    resp = client.post(URL, data=b"[1,", headers={"Idempotency-Key": "k"})
    assert resp.status_code == 400
    assert client.get(f"{URL}/SQ320400-999999").status_code == 404


def test_journal_keeps_bodies_exactly_and_logs_are_masked(
        client: FlaskClient, payload: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    raw = json.dumps(community_request(payload, "RT13"), ensure_ascii=False)
    client.post(URL, data=raw.encode(), headers={"Idempotency-Key": "k-13"},
                content_type="application/json")
    [entry] = client.get("/admin/received").get_json()["received"]
    assert entry["body"] == raw and entry["event_id"] == "k-13"
    info = payload["info"]
    for secret in (info["id_number"], info["residence"]["address"]["detail"],
                   info["contact_1"]["phone"]):
        assert secret not in caplog.text


def test_tickets_survive_a_restart(tmp_path: Path, payload: dict[str, Any]) -> None:
    key = str(uuid.uuid4())
    poll = _post(_app(tmp_path).test_client(), community_request(payload, "RT14"), key
                 ).get_json()["poll"]
    c = _app(tmp_path).test_client()
    assert c.get(poll).get_json()["state"] == "ASSIGNED"
    assert _post(c, community_request(payload, "RT14"), key).get_json()["duplicate"] is True
