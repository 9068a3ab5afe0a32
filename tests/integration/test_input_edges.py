"""Hostile input over signed HTTP: every kind gets a 4xx problem naming where it is; none a 5xx."""
from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

import contracts
from hub.client import make_event
from hub.security import keys
from hub.security.signing import sign_headers
from hub.store.models import Event, Member
from tests.support.members import case_id

CE = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"


def _send(live_hub: Any, member: Any, method: str, path: str, body: bytes | None = None,
          ctype: str = CE) -> requests.Response:
    url = live_hub.url + path
    headers = {"Content-Type": ctype} if body is not None else {}
    headers.update(sign_headers(method, url, headers, body, member.key, member.keyid))
    return requests.request(method, url, data=body, headers=headers, timeout=30)


def _events(hub: Any) -> int:
    with hub.transaction() as s:
        return int(s.scalar(select(func.count()).select_from(Event)))


def _event(**changes: Any) -> dict[str, Any]:
    ev = make_event("hrss", "application_submitted", case_id(), contracts.example("application"))
    ev.update(changes)
    return ev


@pytest.mark.parametrize("raw,path,code", [
    (b"[" * 5000 + b"]" * 5000, "$", "too_deep"),
    (b'{"a":' * 40 + b"1" + b"}" * 40, "$" + ".a" * 32, "too_deep"),
    (b'{"specversion": "1.0", "n": 123456789012345678901234567890}', "$.n",
     "number_out_of_range"),
    (b'{"x": {"y": [1, 1' + b"0" * 5000 + b"]}}", "$.x.y[1]", "number_out_of_range"),
    (b'{"a": NaN}', "$.a", "number_out_of_range"),
    (b'{"a": [Infinity]}', "$.a[0]", "number_out_of_range"),
    (b'{"a": -Infinity}', "$.a", "number_out_of_range"),
    (b'{"a": 1e400}', "$.a", "number_out_of_range"),
    (b'{"name": "\\ud800"}', "$.name", "invalid_character"),
    (b'{"\\udfff": 1}', "$['\\udfff']", "invalid_character"),
    (b'{"a": ["ok", "nul \\u0000"]}', "$.a[1]", "invalid_character"),
])
def test_json_the_hub_cant_take_as_given_is_refused_with_its_path(live_hub, members, hub,
                                                                  raw, path, code):
    resp = _send(live_hub, members["hrss"], "POST", "/v1/events", raw)
    assert resp.status_code == 400, resp.text[:500]
    problem = resp.json()
    assert resp.headers["Content-Type"] == "application/problem+json"
    assert problem["code"] == "unacceptable_json" and problem["detail_zh"]
    assert {"path": path, "code": code} in [{"path": e["path"], "code": e["code"]}
                                            for e in problem["errors"]]
    assert _events(hub) == 0


def test_valid_surrogate_pairs_and_big_but_sane_numbers_pass_the_parser(live_hub, members):
    resp = _send(live_hub, members["hrss"], "POST", "/v1/feed/ack",
                 b'{"cursor": 0, "note": "\\ud83d\\ude00", "n": 9223372036854775807, "f": 1e300}',
                 "application/json")
    assert resp.status_code == 200, resp.text


@pytest.mark.parametrize("query", ["limit=%C2%B2", "limit=%D9%A1%D9%A2", "after=%EF%BC%91",
                                   "after=" + "9" * 5000, "limit=-1", "after=1e3"])
def test_query_numbers_are_ascii_digits_in_range(live_hub, members, query):
    resp = _send(live_hub, members["hrss"], "GET", "/v1/feed?" + query)
    assert resp.status_code == 400, resp.text
    name = query.split("=")[0]
    assert [(e["path"], e["code"]) for e in resp.json()["errors"]] == [
        (f"$.query.{name}", "invalid_query")]


@pytest.mark.parametrize("query", ["since=9999-12-31T23:59:59-23:59", "since=%EF%BC%92026-01-01"])
def test_admin_time_filters_out_of_range_are_refused(live_hub, hub, make_member, query):
    from hub.services.members import add_member

    ops = make_member("ops", [])
    add_member(hub, "ops", keys.public_key_pem(ops.key.public_key()), keyid=ops.keyid,
               roles=["admin"])
    resp = _send(live_hub, ops, "GET", "/v1/admin/deliveries?" + query)
    assert resp.status_code == 400, resp.text
    assert resp.json()["errors"][0]["path"] == "$.query.since"


@pytest.mark.parametrize("changes,path,code", [
    ({"id": 12}, "$.id", "envelope_attribute_missing"),
    ({"id": "x" * 129}, "$.id", "envelope_id"),
    ({"id": "has space"}, "$.id", "envelope_id"),
    ({"id": "编号"}, "$.id", "envelope_id"),
    ({"time": 1732500000}, "$.time", "envelope_attribute_type"),
    ({"time": "2026-11-25 10:00"}, "$.time", "envelope_time"),
    ({"time": "2026-11-25T10:00:00"}, "$.time", "envelope_time"),
    ({"time": "２０２６-11-25T10:00:00Z"}, "$.time", "envelope_time"),
    ({"time": "9999-12-31T23:59:59-23:59"}, "$.time", "envelope_time"),
    ({"time": "2026-11-25T10:00:00Z" + " " * 100}, "$.time", "envelope_time"),
    ({"subject": "../../etc/passwd"}, "$.subject", "envelope_subject"),
    ({"subject": "RT" + "1" * 100}, "$.subject", "envelope_subject"),
    ({"subject": "RT３２０４００-20261125-1"}, "$.subject", "envelope_subject"),
    ({"subject": "RT320400\n-forged"}, "$.subject", "envelope_subject"),
    ({"source": "hrѕѕ"}, "$.source", "source_mismatch"),
    ({"dataschema": {"$ref": "x"}}, "$.dataschema", "envelope_attribute_type"),
    ({"dataschema": "x" * 400}, "$.dataschema", "envelope_attribute_size"),
    ({"type": "t" * 300}, "$.type", "envelope_attribute_size"),
    ({"traceparent": {"nested": True}}, "$.traceparent", "envelope_extension_value"),
    ({"trace": "x" * 300}, "$.trace", "envelope_extension_value"),
    ({"seq": 2**40}, "$.seq", "envelope_extension_value"),
])
def test_cloudevents_attributes_of_the_wrong_type_size_or_form(live_hub, members, hub,
                                                              changes, path, code):
    body = json.dumps(_event(**changes), ensure_ascii=False).encode()
    resp = _send(live_hub, members["hrss"], "POST", "/v1/events", body)
    assert 400 <= resp.status_code < 500, resp.text
    found = [(e["path"], e["code"]) for e in resp.json()["errors"]]
    assert (path, code) in found, found
    assert _events(hub) == 0


def test_extension_attributes_of_the_allowed_kinds_pass(live_hub, members):
    body = json.dumps(_event(trace="abc", seq=7, replay=False)).encode()
    resp = _send(live_hub, members["hrss"], "POST", "/v1/events", body)
    assert resp.status_code == 202, resp.text


def test_a_bad_batch_gets_the_first_problems_and_a_count_under_1_mb(live_hub, members, hub):
    body = json.dumps([{}] * 10_000, separators=(",", ":")).encode()  # 30 kB, 5 problems each
    assert len(body) < 40_000
    resp = _send(live_hub, members["hrss"], "POST", "/v1/events", body, BATCH)
    assert resp.status_code == 422
    assert len(resp.content) < 1_000_000
    problem = resp.json()
    assert len(problem["errors"]) == 100
    assert problem["error_count"] == 50_000 and problem["errors_truncated"] is True
    assert problem["errors"][0]["path"].startswith("$[0].")
    assert _events(hub) == 0


def test_a_huge_value_is_not_echoed_back_whole(live_hub, members, hub):
    body = json.dumps(_event(type="t" * 500_000)).encode()
    resp = _send(live_hub, members["hrss"], "POST", "/v1/events", body)
    assert resp.status_code == 422
    assert len(resp.content) < 10_000
    assert {e["code"] for e in resp.json()["errors"]} >= {"unknown_event_type"}


@pytest.mark.parametrize("member_id", ["hrѕѕ", "ＨＲＳＳ", "hrss\u200b", "Hrss", "a" * 65, "1hrss",
                                       "hr ss"])
def test_member_ids_are_plain_ascii_identifiers(live_hub, hub, make_member, member_id):
    from hub.services.members import add_member

    admin = make_member("registrar", [])
    add_member(hub, "registrar", keys.public_key_pem(admin.key.public_key()), keyid=admin.keyid,
               roles=["admin"])
    pem = keys.public_key_pem(keys.generate_keypair().public_key())
    body = json.dumps({"id": member_id, "public_key_pem": pem}, ensure_ascii=False).encode()
    resp = _send(live_hub, admin, "POST", "/v1/admin/members", body, "application/json")
    assert resp.status_code == 422, resp.text
    assert ("$.id", "invalid_member_id") in [(e["path"], e["code"]) for e in resp.json()["errors"]]
    with hub.transaction() as s:
        assert s.get(Member, member_id) is None


@pytest.mark.parametrize("field,value", [
    ("name", "名" * 201), ("push_url", "http://127.0.0.1/" + "x" * 500),
    ("push_url", "javascript:alert(1)"), ("push_url", "http://部门.example/hook"),
    ("keyid", "k" * 129), ("keyid", "key id"), ("keyid", "密钥"),
])
def test_member_fields_fit_what_the_hub_stores(live_hub, hub, make_member, field, value):
    from hub.services.members import add_member

    admin = make_member("registrar", [])
    add_member(hub, "registrar", keys.public_key_pem(admin.key.public_key()), keyid=admin.keyid,
               roles=["admin"])
    pem = keys.public_key_pem(keys.generate_keypair().public_key())
    body = json.dumps({"id": "newunit", "public_key_pem": pem, field: value},
                      ensure_ascii=False).encode()
    resp = _send(live_hub, admin, "POST", "/v1/admin/members", body, "application/json")
    assert resp.status_code == 422, resp.text
    assert f"$.{field}" in [e["path"] for e in resp.json()["errors"]]
    with hub.transaction() as s:
        assert s.get(Member, "newunit") is None


@pytest.mark.parametrize("reason", [{"why": "x"}, ["x"], 5, "理" * 501])
def test_an_endpoint_change_reason_is_a_short_string(live_hub, hub, make_member, reason):
    from hub.services.members import add_member

    admin = make_member("registrar", [])
    add_member(hub, "registrar", keys.public_key_pem(admin.key.public_key()), keyid=admin.keyid,
               roles=["admin"])
    make_member("hpf", [], push_url="http://127.0.0.1:9/hook")
    body = json.dumps({"enabled": False, "reason": reason}, ensure_ascii=False).encode()
    resp = _send(live_hub, admin, "PUT", "/v1/admin/members/hpf/endpoint", body,
                 "application/json")
    assert resp.status_code == 422, resp.text
    assert resp.json()["errors"][0]["path"] == "$.reason"
