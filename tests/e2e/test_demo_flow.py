"""The demo's scenarios and more, through real processes: the hub, the HRSS stand-in, the four
provincial unit adapters and the city systems of Changzhou and Wuxi (Suzhou added by
configuration only). One stack per module (`e2e_stack`, what `make demo` runs)."""
from __future__ import annotations

import base64
import json
import socket
import sqlite3
import threading
import time
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from http_message_signatures import HTTPMessageVerifier, MappingKeyResolver, algorithms
from http_message_signatures.exceptions import InvalidSignature
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

import contracts
from hub.client import make_event
from hub.security import keys
from hub.security.signing import HubAuth
from mock_departments.demo import SCENARIOS, Scenario, parse_received
from mock_departments.hrss.people import PEOPLE, build_application
from mock_departments.launcher import CITY_SYSTEMS, DEPARTMENTS, Stack

pytestmark = pytest.mark.e2e

DEPARTMENT_ITEMS = [d["code"] for d in contracts.items() if d["settled_by"] == "department"]
ALL_ITEMS = [d["code"] for d in contracts.items()]
STATE_ZH = contracts.labels("item_state")
# item -> the city system it reaches (the unit's name is the system's)
SYSTEM_OF_ITEM = {d["code"]: d["member"] for d in contracts.items()
                  if d["settled_by"] == "department"}
ITEM_OF_SYSTEM = {v: k for k, v in SYSTEM_OF_ITEM.items()}
REASON_ZH = {
    "hpf_arrears": "住房公积金账户存在欠缴",
    "medical_contribution_years_short": "医保累计缴费年限不足（需30年，实缴25.00年），需补缴后办理",
}


def _items(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {i["code"]: i for i in doc["items"]}


# ----- what the hub sent and what the cities received ----------------------------------------

def hub_requests(stack: Stack) -> dict[str, dict[str, Any]]:
    """Every request event the hub published to a unit: event id -> {type, subject, data}."""
    types = {d["request_type"] for d in contracts.items() if d.get("request_type")}
    db = sqlite3.connect(f"file:{stack.workdir / 'hub.db'}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT event_id, type, subject, data FROM events").fetchall()
    finally:
        db.close()
    return {r[0]: {"type": r[1], "subject": r[2], "data": json.loads(r[3])}
            for r in rows if r[1] in types}


def city_requests(stack: Stack, city: str) -> list[tuple[str, dict[str, Any], dict[str, str]]]:
    """(system, journal entry, one parsed request) for every request that reached a city."""
    out = []
    for system in CITY_SYSTEMS:
        for entry in stack.received(system, city):
            for req in parse_received(system, entry):
                out.append((system, entry, req))
    return out


def event_id_of(system: str, entry: dict[str, Any], req: dict[str, str]) -> str | None:
    """The hub event id a city request carries (header, MsgId or the CSV row's 事件编号)."""
    return req.get("事件编号") if system == "health" else entry.get("event_id")


def reached(stack: Stack, case_id: str) -> dict[tuple[str, str], int]:
    """(city, system) -> how many requests of this case reached it."""
    by_event = hub_requests(stack)
    out: dict[tuple[str, str], int] = {}
    for city in stack.cities:
        for system, entry, req in city_requests(stack, city):
            ev = by_event.get(event_id_of(system, entry, req) or "")
            if ev and ev["subject"] == case_id:
                out[(city, system)] = out.get((city, system), 0) + 1
    return out


# ----- the demo's three scenarios ------------------------------------------------------------

@pytest.fixture(scope="module")
def demo_cases(e2e_stack: Stack) -> dict[str, tuple[Scenario, str, dict[str, Any],
                                                     dict[str, Any]]]:
    """The demo's three applications, submitted together: key -> (scenario, case id, hub doc,
    the applicant's view at the HRSS), once every case is closed."""
    submitted = [(sc, e2e_stack.submit(person=sc.person, variant=sc.variant)["case_id"])
                 for sc in SCENARIOS]
    out = {}
    for sc, case_id in submitted:
        hub_doc, view = e2e_stack.wait_closed(case_id, timeout=45)
        out[sc.key] = (sc, case_id, hub_doc, view)
    return out


@pytest.mark.parametrize("key", [sc.key for sc in SCENARIOS])
def test_demo_scenario(e2e_stack: Stack, demo_cases: Any, key: str) -> None:
    sc, case_id, hub_doc, view = demo_cases[key]
    assert case_id.startswith(f"RT{sc.city}-")
    expected = sc.expected()

    # The hub: closed; every item's final state and reason as the scenario says.
    assert hub_doc["state"] == "closed" and hub_doc["city_code"] == sc.city
    items = _items(hub_doc)
    assert sorted(items) == sorted(ALL_ITEMS)
    assert {c: (i["state"], (i.get("reason") or {}).get("code")) for c, i in items.items()} \
        == expected
    for code, (_state, reason) in expected.items():
        if reason is not None:
            assert items[code]["reason"]["message_zh"] == REASON_ZH[reason]
        else:
            assert items[code].get("reason") is None, (code, items[code].get("reason"))
    # Department items went to the unit and came back from it, ending where expected.
    for code in DEPARTMENT_ITEMS:
        history = items[code]["history"]
        steps = [h["to"] for h in history]
        assert steps[:2] == ["waiting", "dispatched"], (code, steps)
        assert steps[-1] == expected[code][0], (code, steps)  # a batch file skips "received"
        assert {h["by"] for h in history[2:]} == {SYSTEM_OF_ITEM[code]}, (code, history)
    assert hub_doc.get("issues", []) == []

    # Each department item reached its own city's system exactly once, no other city's.
    where = reached(e2e_stack, case_id)
    assert where == {(sc.city, SYSTEM_OF_ITEM[c]): 1 for c in DEPARTMENT_ITEMS}, where

    # The HRSS stand-in received the merged status: what the applicant sees.
    assert view["state"] == "closed" and view["state_zh"] == "已办结"
    assert view["decision"] == "approved"
    shown = {i["code"]: i for i in view["items"]}
    assert {c: (i["state"], (i.get("reason") or {}).get("code")) for c, i in shown.items()} \
        == expected
    for code, it in shown.items():
        state, reason = expected[code]
        assert it["state_zh"] == STATE_ZH[state]["zh"]
        assert it["name_zh"] == contracts.item(code)["name_zh"]
        assert it["reason_zh"] == (REASON_ZH[reason] if reason else None)
        if state == "completed":
            assert it["result_zh"], code
    received = e2e_stack.hrss("GET", "/received").json()
    mine = [e for e in received["events"] if e["subject"] == case_id]
    assert mine and all(e["type"] == contracts.event_type("case_status_changed") for e in mine)
    assert mine[-1]["state"] == "closed"
    assert len(received["ids"]) == len(set(received["ids"]))
    assert received["contract_problems"] == []

    if key == "a":
        assert items["hpf_withdrawal"]["result"]["amount"] == 86543.21
        assert "4347.46" in shown["pension_verification"]["result_zh"]  # DOMAIN.md §3 example
        assert shown["socialized_management"]["result_zh"].endswith("常州市天宁区示例街道示例社区")
        assert "已登记：持有" in shown["only_child_certificate"]["result_zh"]
    if key == "b":  # no wish given: the agency's table for 钟楼区
        assert shown["socialized_management"]["result_zh"].endswith("南大街街道南大街社区")
        assert shown["hpf_withdrawal"]["state_zh"] == "转单独事项办理"
    if key == "c":  # Wuxi's own table; annex 4's contribution months from HRSS's approval
        assert shown["socialized_management"]["result_zh"].endswith("无锡市滨湖区蠡湖街道蠡湖社区")
        assert shown["medical_transfer"]["state_zh"] == "转单独事项办理"
        assert hub_doc["items"] and view["items"]


# ----- refused approval ------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["by_rule", "by_clerk"])
def test_refused_approval_cancels_dependent_items(e2e_stack: Stack, unique_case_id,
                                                   how: str) -> None:
    case_id = unique_case_id("2")
    if how == "by_rule":  # 150 contribution months < 180: refused by DOMAIN.md §2
        e2e_stack.submit(person="zhou", case_id=case_id)
        code = "insufficient_contributions"
    else:
        code = "retirement_age_not_reached"
        e2e_stack.submit(person="wang", case_id=case_id, refuse={
            "code": code, "message_zh": "经核查档案出生日期有误，暂不予批准",
            "message_en": "Birth date in the personnel file differs; not approved for now"})

    hub_doc, view = e2e_stack.wait_closed(case_id, timeout=45)

    items = _items(hub_doc)
    approval = items["retirement_approval"]
    assert approval["state"] == "completed" and approval["reason"]["code"] == code
    # Items still waiting for the approval are certainly cancelled; items already dispatched at
    # acceptance (socialized management, only-child certificate) are cancelled unless their city
    # department finished first.
    for c in ("pension_verification", "retirement_certificate", "hpf_withdrawal",
              "medical_transfer"):
        assert items[c]["state"] == "cancelled", (c, items[c]["state"])
    for c, it in items.items():
        if c == "retirement_approval":
            continue
        assert it["state"] in ("cancelled", "completed"), (c, it["state"])
        if it["state"] == "cancelled":
            assert it["reason"]["code"] == "approval_refused"
            assert it["reason"]["message_zh"].startswith("退休审批未通过")
    # The phase-2 items never reached a city: nothing of this case at a fund centre or bureau.
    where = reached(e2e_stack, case_id)
    assert not [k for k in where if k[1] in ("hpf", "medical")], where

    assert view["state"] == "closed" and view["decision"] == "refused"
    shown = {i["code"]: i for i in view["items"]}
    assert shown["hpf_withdrawal"]["state_zh"] == "已取消"
    assert "退休审批未通过" in shown["hpf_withdrawal"]["reason_zh"]
    assert shown["retirement_approval"]["reason"]["code"] == code


# ----- cities by configuration -----------------------------------------------------------------

def test_unknown_city_is_recorded_against_the_case(e2e_stack: Stack, unique_case_id) -> None:
    """A case for a city with no routes entry: each unit records `unknown_city` on the case."""
    case_id = unique_case_id("6", city="320600")  # Nantong: not configured
    e2e_stack.submit(person="wu", case_id=case_id, city_code="320600")
    deadline = time.monotonic() + 30
    reporters: set[str] = set()
    doc: dict[str, Any] = {}
    while time.monotonic() < deadline and reporters != set(DEPARTMENTS):
        doc = e2e_stack.hub_case(case_id)
        reporters = {i["reported_by"] for i in doc.get("issues", [])
                     if i["code"] == "unknown_city"}
        time.sleep(0.3)
    assert reporters == set(DEPARTMENTS), doc.get("issues")
    for issue in doc["issues"]:
        assert issue["city_code"] == "320600" and "320600" in issue["message_zh"]
    assert doc["state"] == "open"  # nothing was silently dropped or faked as done
    assert reached(e2e_stack, case_id) == {}


def test_a_third_city_is_one_routes_entry(e2e_stack: Stack, unique_case_id) -> None:
    """Suzhou (320500): its systems' addresses in routes.json, the adapters restarted, no code."""
    e2e_stack.add_city("320500", "苏州")
    routes = json.loads(e2e_stack.routes_path.read_text("utf-8"))
    assert sorted(routes) == ["320200", "320400", "320500"]
    assert routes["320500"]["hpf"]["url"] == e2e_stack.city("hpf", "320500").url

    case_id = unique_case_id("5", city="320500")
    sub = e2e_stack.submit(person="wu", case_id=case_id)
    assert sub["linked_items"]
    hub_doc, view = e2e_stack.wait_closed(case_id, timeout=45)
    assert hub_doc["city_code"] == "320500"
    assert {i["code"]: i["state"] for i in hub_doc["items"]} == {c: "completed" for c in ALL_ITEMS}
    assert {i["code"]: i["state"] for i in view["items"]} == {c: "completed" for c in ALL_ITEMS}
    assert reached(e2e_stack, case_id) == {("320500", s): 1 for s in CITY_SYSTEMS}
    shown = {i["code"]: i for i in view["items"]}
    assert shown["socialized_management"]["result_zh"].endswith("苏州市姑苏区示例街道示例社区")


# ----- data minimisation -----------------------------------------------------------------------

# Every field each city interface has (mock_departments/cities/INTERFACES.md), and where its value
# comes from: a JSON pointer into the item's payload contract, or a technical value.
CASE, EVENT, TECH = "<case id>", "<event id>", "<technical>"
_ADDRESS = {"province": "/province", "city": "/city", "district": "/county", "detail": "/detail"}


def _contact(i: int) -> dict[str, str]:
    base = f"/info/contact_{i + 1}"
    return {f"contacts[{i}].fullName": f"{base}/name",
            f"contacts[{i}].relation": f"{base}/relation",
            **{f"contacts[{i}].{k}": f"{base}/address{v}" for k, v in _ADDRESS.items()},
            f"contacts[{i}].tel": f"{base}/phone", f"contacts[{i}].zip": f"{base}/postcode"}


INTERFACE: dict[str, dict[str, str]] = {
    "hpf": {"ywlsh": CASE, "xzqh": "/city_code", "zjlx": TECH, "zjhm": "/person/id_number",
            "xm": "/person/name", "dwmc": "/employer/name", "dwzh": "/employer/number",
            "txny": "/retirement_month", "spsj": "/approval_decided_at", "hdurl": TECH},
    "medical": {"Header/MsgId": EVENT, "Header/SendTime": TECH, "Header/Sender": TECH,
                "AreaCode": "/city_code", "BizSerial": CASE, "PsnName": "/person/name",
                "CertNo": "/person/id_number", "Gend": "/person/sex",
                "BirthYm": "/person/birth_month", "EmpNo": "/employer/number",
                "RetireYm": "/retirement_month", "ContribMonths": "/contribution_months"},
    "health": {"批次号": TECH, "事件编号": EVENT, "姓名": "/person/name",
               "身份证号": "/person/id_number", "性别": "/person/sex",
               "是否持证": "/holds_certificate", "退休年月": "/retirement_month"},
    "community": {
        "regionCode": "/city_code", "bizSerial": CASE, "retireMonth": "/retirement_month",
        "person.fullName": "/info/name", "person.gender": "/info/sex",
        "person.birth": "/info/birth_month", "person.idCard": "/info/id_number",
        "person.party": "/info/political_status", "person.eduLevel": "/info/education",
        "person.healthState": "/info/health", "person.workUnit": "/info/employer",
        "person.archivePlace": "/info/file_location", "person.hobbies": "/info/hobbies",
        "person.specialTags": "/info/special_status",
        **{f"preferredAgency.{k}": f"/info/service_agency/{v}" for k, v in
           {"city": "city", "district": "county", "street": "street",
            "community": "community"}.items()},
        "residence.areaType": "/info/residence/area",
        **{f"residence.{k}": f"/info/residence/address{v}" for k, v in _ADDRESS.items()},
        "residence.tel": "/info/residence/phone", "residence.zip": "/info/residence/postcode",
        **{f"spouse.{k}": f"/info/spouse/{v}" for k, v in
           {"fullName": "name", "birth": "birth_month", "tel": "phone", "healthState": "health",
            "workUnit": "employer", "status": "status"}.items()},
        **_contact(0), **_contact(1),
        **{f"filledBy.{k}": f"/info/filler/{v}" for k, v in
           {"unit": "unit", "person": "person", "date": "date", "contact": "contact",
            "tel": "phone"}.items()},
    },
}
CODED = {"male": {"1", "男", "M"}, "female": {"2", "女", "F"}, True: {"是"}, False: {"否"}}


def _pointer(doc: Any, pointer: str) -> Any:
    for part in pointer.strip("/").split("/"):
        if not isinstance(doc, dict) or part not in doc:
            raise KeyError(pointer)
        doc = doc[part]
    return doc


def _derivations(value: Any) -> set[str]:
    """The strings a city system may show for one contract value (its own formats)."""
    if isinstance(value, bool):
        return CODED[value]
    if isinstance(value, list):
        return {",".join(str(v) for v in value)}
    text = str(value)
    return {text, text.replace("-", ""), text.upper()} | CODED.get(value, set())


def test_each_city_receives_only_its_contract_fields(e2e_stack: Stack, demo_cases: Any) -> None:
    """Walk every request that reached every city system (GET /admin/received): each field is in
    that system's interface, its value derives from the field the item's payload contract holds
    for it, and the hub's payload itself has only the contract's fields."""
    hub = hub_requests(e2e_stack)
    payload_props = {}
    for code, system in SYSTEM_OF_ITEM.items():
        d = contracts.item(code)
        payload_props[system] = set(contracts.schema(d["payload_contract"])["properties"])
    # what the applicant told HRSS that no department needs
    never = set()
    for person in PEOPLE.values():
        never |= {person.mobile, person.personal_number}
    app = contracts.example("application")["applicant"]
    never |= {app["household_address"], app["ethnicity"]}

    walked = 0
    for city in e2e_stack.cities:
        for system, entry, req in city_requests(e2e_stack, city):
            where = f"{city} {system} #{entry['seq']}"
            assert "(unparsed)" not in req, where
            extra = sorted(set(req) - set(INTERFACE[system]))
            assert not extra, f"{where}: fields outside the interface: {extra}"
            for text in never:
                assert text not in entry["body"], f"{where}: carries {text!r}"
            ev_id = event_id_of(system, entry, req)
            ev = hub.get(ev_id or "")
            assert ev is not None, f"{where}: event id {ev_id} is no hub request"
            assert SYSTEM_OF_ITEM[REQUEST_ITEM[ev["type"]]] == system, where
            data = ev["data"]
            assert set(data) <= payload_props[system], (where, sorted(data))
            errors = list(contracts.validator(
                contracts.item(REQUEST_ITEM[ev["type"]])["payload_contract"]).iter_errors(data))
            assert not errors, (where, [e.message for e in errors])
            assert data["city_code"] == city, where
            for field, source in INTERFACE[system].items():
                if field not in req:
                    continue
                value = req[field]
                if source == CASE:
                    assert value == ev["subject"], (where, field)
                elif source == EVENT:
                    assert value == ev_id, (where, field)
                elif source == "/approval_decided_at":
                    assert len(value) == 19, (where, field)  # the same instant, local format
                elif source != TECH:
                    assert value in _derivations(_pointer(data, source)), (where, field, value)
            walked += 1
    # at least the demo's three cases at each of the four systems, in both cities
    assert walked >= len(SCENARIOS) * len(CITY_SYSTEMS), walked
    assert {(c, s) for c in ("320400", "320200") for s in CITY_SYSTEMS} <= {
        (c, s) for c in e2e_stack.cities for s in CITY_SYSTEMS if e2e_stack.received(s, c)}


REQUEST_ITEM = {d["request_type"]: d["code"] for d in contracts.items() if d.get("request_type")}


# ----- signatures of the hub's pushes ------------------------------------------------------

class _Capture:
    """A tiny receiving server that records each request exactly as it arrived."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.server = make_server("127.0.0.1", port, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{port}/push"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def app(self, environ: dict[str, Any], start_response: Any) -> Any:
        req = Request(environ)
        raw_target = environ.get("RAW_URI") or environ.get("REQUEST_URI") or req.full_path
        self.requests.append({
            "method": req.method,
            "url": f"http://{req.headers['Host']}{raw_target}",
            "headers": list(req.headers.items()),
            "body": req.get_data(),
        })
        return Response("{}", status=200, mimetype="application/json")(environ, start_response)

    def __enter__(self) -> _Capture:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def _jwks_keys(hub_url: str) -> dict[str, Ed25519PublicKey]:
    out = {}
    for jwk in requests.get(hub_url + "/.well-known/jwks.json", timeout=5).json()["keys"]:
        if jwk["kty"] == "EC" and jwk["crv"] == "SM2":
            continue  # the hub's SM2 key: for members on the sm suite
        assert jwk["kty"] == "OKP" and jwk["crv"] == "Ed25519"
        raw = base64.urlsafe_b64decode(jwk["x"] + "=" * (-len(jwk["x"]) % 4))
        out[jwk["kid"]] = Ed25519PublicKey.from_public_bytes(raw)
    return out


def test_push_verifies_with_http_message_signatures_alone(e2e_stack: Stack,
                                                          unique_case_id) -> None:
    """Point hrss's push URL at a bare server, verify the hub's push with the library only."""
    hrss_pub = str(e2e_stack.key_dir / "hrss.public.pem")
    case_id = unique_case_id("3")
    with _Capture() as cap:
        e2e_stack.hub_cli("members", "add", "hrss", "--key-file", hrss_pub,
                          f"--key-id={e2e_stack.keyids['hrss']}", "--push-url", cap.url)
        try:
            app = build_application(PEOPLE["chen"], linked_items=[])
            e2e_stack.client("hrss").emit("application_submitted", case_id, app)
            deadline = time.monotonic() + 20
            while not cap.requests and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            e2e_stack.hub_cli("members", "add", "hrss", "--key-file", hrss_pub,
                              f"--key-id={e2e_stack.keyids['hrss']}",
                              "--push-url", e2e_stack.hrss_url + "/hub/events")
    assert cap.requests, "the hub pushed nothing to the capture server"
    got = cap.requests[0]
    headers = dict(got["headers"])
    assert headers["Content-Type"] == "application/cloudevents+json"
    assert headers.get("X-Hub-Delivery")

    verifier = HTTPMessageVerifier(
        signature_algorithm=algorithms.ED25519,
        key_resolver=MappingKeyResolver(public_keys=_jwks_keys(e2e_stack.hub_url),
                                        private_keys={}))
    message = SimpleNamespace(method=got["method"], url=got["url"], headers=headers)
    (result,) = verifier.verify(
        message, max_age=timedelta(minutes=5), expect_tag="retirement-hub",
        require_components=("@method", "@authority", "@path", "content-type",
                            "content-digest"),
        body=got["body"])
    assert result.parameters["keyid"] in _jwks_keys(e2e_stack.hub_url)
    event = json.loads(got["body"])
    assert event["type"] == contracts.event_type("case_status_changed")
    assert event["subject"] == case_id and event["source"] == "retirement-hub"

    # A tampered body no longer verifies.
    with pytest.raises(InvalidSignature):
        verifier.verify(message, max_age=timedelta(minutes=5), expect_tag="retirement-hub",
                        body=got["body"].replace(b"open", b"shut"))


def _hub_private_key(stack: Stack) -> Any:
    for name in ("hub-private.pem", "hub.private.pem"):
        path = stack.hub_key_dir / name
        if path.exists():
            return keys.load_private_key(path)
    raise AssertionError("no hub private key in the stack's key directory")


def test_hrss_verifies_pushes_and_applies_an_event_id_once(e2e_stack: Stack,
                                                          unique_case_id) -> None:
    """Re-signed copies of one event (a retry) are answered 200 and applied once; forgeries 401."""
    hub_key = _hub_private_key(e2e_stack)
    kid = keys.key_id(hub_key.public_key())
    case_id = unique_case_id("4")
    status = contracts.example("case-status")
    status["case_id"] = case_id
    ev = make_event("retirement-hub", "case_status_changed", case_id, status)
    body = json.dumps(ev, ensure_ascii=False).encode("utf-8")
    url = e2e_stack.hrss_url + "/hub/events"
    hdrs = {"Content-Type": "application/cloudevents+json", "X-Hub-Delivery": "999"}
    before = e2e_stack.hrss("GET", "/received").json()

    first = requests.post(url, data=body, headers=hdrs, auth=HubAuth(hub_key, kid), timeout=5)
    again = requests.post(url, data=body, headers=hdrs, auth=HubAuth(hub_key, kid), timeout=5)
    assert (first.status_code, first.json()["status"]) == (200, "accepted")
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")

    after = e2e_stack.hrss("GET", "/received").json()
    assert after["count"] == before["count"] + 1
    assert after["duplicates"] == before["duplicates"] + 1
    assert after["ids"].count(ev["id"]) == 1

    unsigned = requests.post(url, data=body, headers=hdrs, timeout=5)
    assert unsigned.status_code == 401
    forged_key = keys.generate_keypair()
    forged = requests.post(url, data=body, headers=hdrs, timeout=5,
                           auth=HubAuth(forged_key, kid))
    assert forged.status_code == 401 and forged.json()["code"] == "signature_invalid"
