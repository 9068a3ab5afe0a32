"""One application through the real hub, the HRSS stand-in and the simple departments."""
from __future__ import annotations

import base64
import json
import socket
import threading
import time
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from http_message_signatures import HTTPMessageVerifier, MappingKeyResolver, algorithms
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

import contracts
from hub.client import make_event
from hub.security import keys
from hub.security.signing import HubAuth
from mock_departments.hrss.people import PEOPLE, build_application
from mock_departments.launcher import Stack

pytestmark = pytest.mark.e2e

DEPARTMENT_ITEMS = [d["code"] for d in contracts.items() if d["settled_by"] == "department"]
ALL_ITEMS = [d["code"] for d in contracts.items()]
STATE_ZH = contracts.labels("item_state")


def _items(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {i["code"]: i for i in doc["items"]}


def test_application_closes_with_every_item_completed(e2e_stack: Stack, unique_case_id) -> None:
    case_id = unique_case_id()
    sub = e2e_stack.submit(person="wang", case_id=case_id)
    assert sub["legal_age"] == {"years": 60, "months": 5} and sub["retirement_month"] == "2026-10"

    hub_doc, view = e2e_stack.wait_closed(case_id, timeout=60)

    # The hub: closed, every item completed, department items went through the department.
    assert hub_doc["state"] == "closed"
    items = _items(hub_doc)
    assert sorted(items) == sorted(ALL_ITEMS)
    assert {c: i["state"] for c, i in items.items()} == {c: "completed" for c in ALL_ITEMS}
    for code in DEPARTMENT_ITEMS:
        steps = [h["to"] for h in items[code]["history"]]
        assert steps[:2] == ["waiting", "dispatched"], (code, steps)
        assert steps[-3:] == ["received", "in_progress", "completed"], (code, steps)
        member = contracts.item(code)["member"]
        assert {h["by"] for h in items[code]["history"][2:]} == {member}
    assert items["hpf_withdrawal"]["result"]["amount"] == 86543.21

    # The HRSS stand-in received the final merged status: closed, each item completed.
    assert view["state"] == "closed" and view["state_zh"] == "已办结"
    assert {i["code"]: i["state"] for i in view["items"]} == {c: "completed" for c in ALL_ITEMS}
    for it in view["items"]:
        assert it["state_zh"] == STATE_ZH["completed"]["zh"] == "办结"
        assert it["name_zh"] == contracts.item(it["code"])["name_zh"]
        assert it["reason"] is None
    shown = {i["code"]: i for i in view["items"]}
    assert "4347.46" in shown["pension_verification"]["result_zh"]  # DOMAIN.md §3 example
    assert view["decision"] == "approved"

    received = e2e_stack.hrss("GET", "/received").json()
    mine = [e for e in received["events"] if e["subject"] == case_id]
    assert mine and all(e["type"] == contracts.event_type("case_status_changed") for e in mine)
    assert mine[-1]["state"] == "closed"
    assert len(received["ids"]) == len(set(received["ids"]))
    assert received["contract_problems"] == []


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

    hub_doc, view = e2e_stack.wait_closed(case_id, timeout=60)

    items = _items(hub_doc)
    approval = items["retirement_approval"]
    assert approval["state"] == "completed" and approval["reason"]["code"] == code
    # Items still waiting for the approval are certainly cancelled; items already dispatched at
    # acceptance are cancelled unless their department finished first.
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

    assert view["state"] == "closed" and view["decision"] == "refused"
    shown = {i["code"]: i for i in view["items"]}
    assert shown["hpf_withdrawal"]["state_zh"] == "已取消"
    assert "退休审批未通过" in shown["hpf_withdrawal"]["reason_zh"]
    assert shown["retirement_approval"]["reason"]["code"] == code


def test_department_not_eligible_becomes_standalone(e2e_stack: Stack, unique_case_id) -> None:
    case_id = unique_case_id("9")  # the medical stand-in reports not_eligible for -9xxxxx
    e2e_stack.submit(person="chen", case_id=case_id)
    hub_doc, view = e2e_stack.wait_closed(case_id, timeout=60)
    items = _items(hub_doc)
    assert items["medical_transfer"]["state"] == "standalone"
    assert items["medical_transfer"]["reason"]["code"] == "medical_contribution_years_short"
    others = {c: i["state"] for c, i in items.items() if c != "medical_transfer"}
    assert set(others.values()) == {"completed"}  # a standalone item blocks nothing
    shown = {i["code"]: i for i in view["items"]}
    assert shown["medical_transfer"]["state_zh"] == "转单独事项办理"
    assert "医保" in shown["medical_transfer"]["reason_zh"]


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

    def __enter__(self) -> "_Capture":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def _jwks_keys(hub_url: str) -> dict[str, Ed25519PublicKey]:
    out = {}
    for jwk in requests.get(hub_url + "/.well-known/jwks.json", timeout=5).json()["keys"]:
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
    with pytest.raises(Exception):
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
