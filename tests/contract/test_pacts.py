"""Consumer-driven contracts (pact-python, Pact V4) between the stand-in members and the hub.

Consumer side: each stand-in (``mock_departments``) declares what it needs from the hub, and its
real code runs against what it declared:

* HTTP interactions, served by the pact mock server: the departments' pull loop
  (``Department.poll_once``: GET /v1/feed, POST /v1/events with progress, POST /v1/feed/ack) and
  HRSS's ``Platform.submit`` / ``Platform.decide`` (POST /v1/events). The stand-ins sign as usual;
  the mock server ignores the signature headers.
* Message interactions (asynchronous, V4): the CloudEvents the hub sends each member. The pact's
  example message goes through the stand-in's own handler (``Department.handle``; HRSS's signed
  ``POST /hub/events`` view) and the test checks what the stand-in did with it.

Departments check every request payload against its contract before acting, so their message
pacts ask for the contract's required fields (type and pattern matchers derived from the
contract, example values from ``contracts/examples``), plus the envelope attributes they read.

Provider side: the hub verifies every pact. Provider states drive real cases through the hub
in-process; a message is taken from the member's own feed, so it is what the hub really sends.
HTTP interactions are replayed against a live hub through ``SigningProxy`` (conftest): the
verifier can only add static headers, and every hub request needs a fresh RFC 9421 signature
over its nonce, time and body digest, so the proxy signs each request with the consumer
member's key.

Pact files are written to a temporary directory (``HUB_PACT_DIR`` keeps them elsewhere, e.g. to
publish them to a broker).
"""
from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pact import Pact, Verifier, match
from pact.types import Message

import contracts
from hub.client import HubClient
from hub.security import keys
from hub.security.signing import sign_headers
from mock_departments.common import event_id
from mock_departments.hrss.app import create_app as create_hrss
from mock_departments.hrss.people import PEOPLE, build_application, decide
from mock_departments.simple_department import Department
from tests.contract.conftest import Scenario, SigningProxy
from tests.support.members import Member

PROVIDER = "retirement-hub"
DEPARTMENTS = {"community": "socialized_management", "hpf": "hpf_withdrawal",
               "medical": "medical_transfer", "health": "only_child_certificate"}
CONSUMERS = ["hrss", *DEPARTMENTS]
CASE_ID_RE = r"^RT\d{6}-\d{8}-[A-Za-z0-9]+$"
DATE_TIME_RE = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"
UUID_RE = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
PUSH_TYPE = "application/cloudevents+json"

# Provider states. Parameters name the case (and member); every interaction has its own case
# number, so the states never disturb each other on the one hub a verification runs against.
NO_CASE = "no case with this id exists"
ACCEPTED = "the application has been accepted"
APPROVED = "the application has been approved"
REFUSED = "the approval was refused"
WAITING = "a new request is waiting in the member's feed"
CANCELLED = "the item was cancelled after the member received its request"


def case_no(consumer: str, n: int) -> str:
    return f"RT320400-20261125-{CONSUMERS.index(consumer) + 1}{n:05d}"


# ------------------------------------------------------------------ matchers from contracts

def shape(schema: dict[str, Any], value: Any, resolver: Any = None) -> Any:
    """Matchers for the contract's required fields of ``value``; a leaf keeps its example value."""
    resolver = resolver or contracts.registry().resolver(base_uri=schema.get("$id", ""))
    while "$ref" in schema:
        found = resolver.lookup(schema["$ref"])
        schema, resolver = found.contents, found.resolver
    if isinstance(value, dict):
        props = schema.get("properties", {})
        return {k: shape(props.get(k, {}), value[k], resolver)
                for k in schema.get("required", []) if k in value}
    if isinstance(value, list):
        return (match.each_like(shape(schema.get("items", {}), value[0], resolver))
                if value else [])
    if isinstance(value, bool):
        return match.bool(value)
    if isinstance(value, int):
        return match.int(value)
    if isinstance(value, float):
        return match.number(value)
    if "const" in schema:
        return value
    if "enum" in schema:
        return match.regex(value, regex="^(" + "|".join(map(re.escape, schema["enum"])) + ")$")
    if "pattern" in schema:
        return match.regex(value, regex=schema["pattern"])
    if schema.get("format") == "date-time":
        return match.regex(value, regex=DATE_TIME_RE)
    return match.str(value)


def contract_shape(subject: str, example: dict[str, Any]) -> Any:
    return shape(contracts.schema(subject), example)


def enum_regex(code_list: str) -> str:
    return "^(" + "|".join(map(re.escape, contracts.codes(code_list))) + ")$"


def hub_event(type_key: str, case_id: str, data: Any) -> dict[str, Any]:
    """A CloudEvent as the hub sends it; the attributes a stand-in reads are pinned."""
    spec = next(e for e in contracts.events() if e["key"] == type_key)
    return {
        "specversion": "1.0",
        "id": match.regex(event_id(PROVIDER, case_id, type_key), regex=UUID_RE),
        "source": PROVIDER,
        "type": spec["type"],
        "subject": match.regex(case_id, regex=CASE_ID_RE),
        "time": match.regex("2026-11-25T10:30:00.000Z", regex=DATE_TIME_RE),
        "dataschema": spec["dataschema"],
        "datacontenttype": "application/json",
        "data": data,
    }


def member_event(member: str, type_key: str, case_id: str, data: Any,
                 example_id: str) -> dict[str, Any]:
    """A CloudEvent as a member publishes it (``hub.client.make_event``)."""
    spec = next(e for e in contracts.events() if e["key"] == type_key)
    return {
        "specversion": "1.0",
        "id": match.regex(example_id, regex=UUID_RE),
        "source": member,
        "type": spec["type"],
        "subject": match.regex(case_id, regex=CASE_ID_RE),
        "time": match.regex("2026-11-25T10:30:00.000Z", regex=DATE_TIME_RE),
        "dataschema": spec["dataschema"],
        "datacontenttype": "application/json",
        "data": data,
    }


def request_example(code: str) -> dict[str, Any]:
    return contracts.example(code.replace("_", "-") + "-request")


def request_event(member: str, case_id: str) -> dict[str, Any]:
    code = DEPARTMENTS[member]
    d = contracts.item(code)
    key = next(e["key"] for e in contracts.events() if e["type"] == d["request_type"])
    return hub_event(key, case_id, shape(contracts.schema(d["payload_contract"]),
                                         request_example(code)))


RECEIPTS = {"receipts": match.each_like({
    "id": match.str("0b7c6f7e-3f0a-4a47-9a1e-5c1d2e3f4a5b"),
    "status": match.regex("accepted", regex="^(accepted|duplicate)$"),
})}
PROBLEM = {"code": match.str("illegal_transition"), "detail": match.str("cannot move"),
           "status": match.int(409)}
JSON = {"Content-Type": "application/json"}


# ------------------------------------------------------------------ consumer side: departments

def _verify_messages(messages: Pact, handle: Callable[[str | bytes | None, dict[str, Any]], None]
                     ) -> None:
    """Every example message through the stand-in's handler; all failures reported at once."""
    errors = messages.verify(handle, "Async", raises=False)
    assert not errors, "\n".join(f"{e.description}: {e.error!r}" for e in errors)


class FakeHub:
    """The department's hub client, in memory: records what it publishes."""

    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []

    def publish(self, event: dict[str, Any]) -> dict[str, Any]:
        self.published.append(event)
        return {"id": event["id"], "status": "accepted"}


def _progress(member: str, case_id: str, status: str, example_id: str,
              result: dict[str, Any] | None = None) -> dict[str, Any]:
    """What ``Department.report`` sends (the fields and their types, not the values)."""
    code = DEPARTMENTS[member]
    data: dict[str, Any] = {
        "item": code,
        "status": match.regex(status, regex="^(received|in_progress)$" if result is None
                              else "^completed$"),
        "occurred_at": match.regex("2026-11-25T18:30:00+08:00", regex=DATE_TIME_RE),
        "handler": match.str("经办员（模拟）"),
        "department_reference": match.str(f"{member.upper()}-{case_id}"),
    }
    if result is not None:
        data["result"] = match.like(result)
    return member_event(member, "item_progressed", case_id, data, example_id)


def department_pacts(member: str, out: Path, key: Any, keyid: str) -> None:
    code = DEPARTMENTS[member]
    feed_case, report_case, done_case, cancel_case = (case_no(member, n) for n in (1, 2, 3, 4))
    msg_case, msg_cancel_case, ack_case = (case_no(member, n) for n in (5, 6, 7))
    result = Department._result(code, done_case, request_example(code))

    # -- the pull loop: feed, three progress reports, acknowledgement (one mock session)
    pact = Pact(member, PROVIDER)
    (pact.upon_receiving(f"{member} pulls its feed")
     .given(WAITING, member=member, case_id=feed_case)
     .with_request("GET", "/v1/feed")
     .with_query_parameter("limit", match.regex("100", regex=r"^[1-9][0-9]*$"))
     .will_respond_with(200).with_headers(JSON)
     .with_body({"items": match.each_like({"cursor": match.int(1),
                                           "event": request_event(member, feed_case)}),
                 "next_cursor": match.int(1), "has_more": match.bool(False)},
                content_type="application/json"))
    (pact.upon_receiving(f"{member} reports progress on its item")
     .given(APPROVED, case_id=report_case)
     .with_request("POST", "/v1/events").with_header("Content-Type", PUSH_TYPE)
     .with_body(_progress(member, report_case, "received",
                          "3d3f1a0e-8a53-5e0f-9f1a-1b2c3d4e5f60"), content_type=PUSH_TYPE)
     .will_respond_with(202).with_headers(JSON)
     .with_body(RECEIPTS, content_type="application/json"))
    (pact.upon_receiving(f"{member} reports its item completed with the result")
     .given(APPROVED, case_id=done_case)
     .with_request("POST", "/v1/events").with_header("Content-Type", PUSH_TYPE)
     .with_body(_progress(member, done_case, "completed",
                          "4d3f1a0e-8a53-5e0f-9f1a-1b2c3d4e5f61", result), content_type=PUSH_TYPE)
     .will_respond_with(202).with_headers(JSON)
     .with_body(RECEIPTS, content_type="application/json"))
    (pact.upon_receiving(f"{member} acknowledges its feed")
     .given(APPROVED, case_id=ack_case)
     .with_request("POST", "/v1/feed/ack").with_header("Content-Type", "application/json")
     .with_body({"cursor": match.int(1)}, content_type="application/json")
     .will_respond_with(200).with_headers(JSON)
     .with_body({"cursor": match.int(1), "acknowledged": match.int(0)},
                content_type="application/json"))

    with pact.serve(addr="127.0.0.1") as srv:
        dept = Department(client=HubClient(str(srv.url), member, key, keyid), member_id=member)
        assert dept.poll_once() is False
        assert dept.reported == 3 and dept.cursor == 1
    pact.write_file(out, overwrite=True)

    # -- the messages it expects, through its own handler
    messages = Pact(member, PROVIDER)
    (messages.upon_receiving(f"the {code} request for {member}", "Async")
     .given(APPROVED, case_id=msg_case)
     .with_body(request_event(member, msg_case), content_type="application/json"))
    if contracts.item(code)["trigger"] == "accepted":  # only a phase-1 item can be withdrawn
        (messages.upon_receiving(f"the cancellation of {code} for {member}", "Async")
         .given(CANCELLED, member=member, case_id=msg_cancel_case)
         .with_body(hub_event("item_cancelled", msg_cancel_case, {
             "item": code,
             "reason": {"code": match.regex("approval_refused", regex=r"^[a-z][a-z0-9_]*$"),
                        "message_zh": match.str("退休审批未通过")},
             "cancelled_at": match.regex("2026-11-25T10:30:00.000Z", regex=DATE_TIME_RE)}),
             content_type="application/json"))

    def handle(body: str | bytes | None, metadata: dict[str, Any]) -> None:
        ev = json.loads(body or "{}")
        fake = FakeHub()
        dept = Department(client=fake, member_id=member)  # type: ignore[arg-type]
        dept.handle(ev)
        if ev["type"] == contracts.event_type("item_cancelled"):
            assert dept.cancelled == {(ev["subject"], code)}
            return
        statuses = [e["data"]["status"] for e in fake.published]
        assert statuses == ["received", "in_progress", "completed"], fake.published

    _verify_messages(messages, handle)
    messages.write_file(out, overwrite=False)

    if contracts.item(code)["trigger"] == "accepted":
        # -- a report on an item the hub has since cancelled is refused for good (409)
        late = Pact(member, PROVIDER)
        (late.upon_receiving(f"{member} reports progress on a cancelled item")
         .given(CANCELLED, member=member, case_id=cancel_case)
         .with_request("POST", "/v1/events").with_header("Content-Type", PUSH_TYPE)
         .with_body(_progress(member, cancel_case, "received",
                              "5d3f1a0e-8a53-5e0f-9f1a-1b2c3d4e5f62"), content_type=PUSH_TYPE)
         .will_respond_with(409)
         .with_header("Content-Type", "application/problem+json")
         .with_body(PROBLEM, content_type="application/problem+json"))
        with late.serve(addr="127.0.0.1") as srv:
            dept = Department(client=HubClient(str(srv.url), member, key, keyid),
                              member_id=member)
            request = {"id": "x", "subject": cancel_case}
            assert dept.report(request, code, "received") is False
        late.write_file(out, overwrite=False)


# ------------------------------------------------------------------ consumer side: HRSS

def _hrss_platform(tmp: Path, hub_url: str, key_path: Path, keyid: str,
                   state: dict[str, Any] | None = None) -> Any:
    tmp.mkdir(parents=True, exist_ok=True)
    if state is not None:
        (tmp / "hrss-state.json").write_text(json.dumps(state, ensure_ascii=False), "utf-8")
    return create_hrss({"hub_url": hub_url, "key_path": str(key_path), "keyid": keyid,
                        "data_dir": str(tmp), "approve_on": "manual"})


def _status_item() -> dict[str, Any]:
    """One item of the merged status, as HRSS reads it (``_apply_status``, applicant view)."""
    return {"code": match.regex("retirement_approval", regex=enum_regex("item_code")),
            "name_zh": match.str("企业职工退休审批"),
            "state": match.regex("in_progress", regex=enum_regex("item_state")),
            "state_zh": match.str("办理中"),
            "updated_at": match.regex("2026-11-25T10:30:00.000Z", regex=DATE_TIME_RE)}


def _status_event(case_id: str, state: str) -> dict[str, Any]:
    return hub_event("case_status_changed", case_id, {
        "case_id": match.regex(case_id, regex=CASE_ID_RE),
        "city_code": match.regex("320400", regex=r"^\d{6}$"),
        "state": match.regex(state, regex=enum_regex("case_state")),
        "updated_at": match.regex("2026-11-25T10:30:00.000Z", regex=DATE_TIME_RE),
        "items": match.each_like(_status_item()),
    })


def hrss_pacts(out: Path, tmp: Path, key: Any, keyid: str) -> None:
    key_path = tmp / "hrss.private.pem"
    key_path.parent.mkdir(parents=True, exist_ok=True)
    key_path.write_bytes(keys.private_key_pem(key))
    wang = PEOPLE["wang"]
    new_case, open_case, decided_case = (case_no("hrss", n) for n in (1, 2, 3))
    status_case, closed_case = case_no("hrss", 4), case_no("hrss", 5)
    application = build_application(wang)
    approval = decide(application, wang, decided_at="2026-11-25T18:30:00+08:00",
                      certificate_number="JS-TX-320400-2026-000001", base_wage=8000.0,
                      refusal=None)

    def publishes(type_key: str, case_id: str, data: dict[str, Any], what: str) -> Any:
        return member_event("hrss", type_key, case_id, match.like(data),
                            event_id("hrss", case_id, what))

    pact = Pact("hrss", PROVIDER)
    (pact.upon_receiving("hrss submits an application")
     .given(NO_CASE, case_id=new_case)
     .with_request("POST", "/v1/events").with_header("Content-Type", PUSH_TYPE)
     .with_body(publishes("application_submitted", new_case, application, "application"),
                content_type=PUSH_TYPE)
     .will_respond_with(202).with_headers(JSON)
     .with_body(RECEIPTS, content_type="application/json"))
    (pact.upon_receiving("hrss publishes the approval result")
     .given(ACCEPTED, case_id=open_case)
     .with_request("POST", "/v1/events").with_header("Content-Type", PUSH_TYPE)
     .with_body(publishes("approval_decided", open_case, approval, "approval"),
                content_type=PUSH_TYPE)
     .will_respond_with(202).with_headers(JSON)
     .with_body(RECEIPTS, content_type="application/json"))
    messages = Pact("hrss", PROVIDER)
    (messages.upon_receiving("the merged status once the application is accepted", "Async")
     .given(ACCEPTED, case_id=status_case)
     .with_body(_status_event(status_case, "open"), content_type="application/json"))
    (messages.upon_receiving("the merged status once the case is closed", "Async")
     .given(REFUSED, case_id=closed_case)
     .with_body(_status_event(closed_case, "closed"), content_type="application/json"))

    with pact.serve(addr="127.0.0.1") as srv:
        app = _hrss_platform(tmp / "run", str(srv.url), key_path, keyid)
        platform = app.extensions["hrss"]
        doc, status = platform.submit({"person": "wang", "case_id": new_case})
        assert status == 201 and doc["receipt"]["status"] == "accepted", doc
        result = platform.decide(new_case)
        assert result is not None and result["decision"] == "approved"
    pact.write_file(out, overwrite=True)

    hub_key = keys.generate_keypair()
    pushes = _hrss_platform(tmp / "push", "http://hub.invalid", key_path, keyid)
    receiver = pushes.extensions["hrss"]
    receiver.hub_keys = {"hub-test": hub_key.public_key()}.get  # the hub's JWKS, offline

    def handle(body: str | bytes | None, metadata: dict[str, Any]) -> None:
        raw = body.encode("utf-8") if isinstance(body, str) else (body or b"")
        url = "http://localhost/hub/events"
        headers = {"Content-Type": PUSH_TYPE}
        headers.update(sign_headers("POST", url, headers, raw, hub_key, "hub-test"))
        resp = pushes.test_client().post("/hub/events", data=raw, headers=headers)
        assert resp.status_code == 200 and resp.get_json()["status"] == "accepted", resp.data
        ev = json.loads(raw)
        assert receiver.statuses[ev["subject"]]["state"] == ev["data"]["state"]

    _verify_messages(messages, handle)
    messages.write_file(out, overwrite=False)

    # -- after a restart that lost the decision, the hub's 409 tells HRSS it is already decided
    again = Pact("hrss", PROVIDER)
    (again.upon_receiving("hrss publishes an approval result the hub already has")
     .given(APPROVED, case_id=decided_case)
     .with_request("POST", "/v1/events").with_header("Content-Type", PUSH_TYPE)
     .with_body(publishes("approval_decided", decided_case, approval, "approval"),
                content_type=PUSH_TYPE)
     .will_respond_with(409).with_header("Content-Type", "application/problem+json")
     .with_body({**PROBLEM, "code": "approval_already_decided"},
                content_type="application/problem+json"))
    with again.serve(addr="127.0.0.1") as srv:
        app = _hrss_platform(tmp / "restarted", str(srv.url), key_path, keyid,
                             state={"applications": {decided_case: application}})
        result = app.extensions["hrss"].decide(decided_case)
        assert result is not None and result["decision"] == "approved"
    again.write_file(out, overwrite=False)


# ------------------------------------------------------------------ pact files, once a session

class PactBook:
    """Writes each consumer's pact once per session (consumer test or provider test, first wins)."""

    def __init__(self, out: Path, tmp: Callable[[str], Path]) -> None:
        self.out = out
        self.tmp = tmp
        self.lock = threading.Lock()
        self.written: dict[str, Path] = {}
        self.keys = {m: (keys.generate_keypair(), f"{m}-consumer") for m in CONSUMERS}

    def path(self, consumer: str) -> Path:
        with self.lock:
            if consumer not in self.written:
                key, keyid = self.keys[consumer]
                if consumer == "hrss":
                    hrss_pacts(self.out, self.tmp("hrss"), key, keyid)
                else:
                    department_pacts(consumer, self.out, key, keyid)
                self.written[consumer] = self.out / f"{consumer}-{PROVIDER}.json"
            return self.written[consumer]


@pytest.fixture(scope="session")
def pact_book(tmp_path_factory: pytest.TempPathFactory) -> PactBook:
    out = Path(os.environ["HUB_PACT_DIR"]) if os.environ.get("HUB_PACT_DIR") else \
        tmp_path_factory.mktemp("pacts")
    return PactBook(out, tmp_path_factory.mktemp)


@pytest.mark.parametrize("consumer", CONSUMERS)
def test_consumer_pact(pact_book: PactBook, consumer: str) -> None:
    """The stand-in's own code works against what it declares it needs from the hub."""
    doc = json.loads(pact_book.path(consumer).read_text("utf-8"))
    kinds = {i["type"] for i in doc["interactions"]}
    assert kinds == {"Synchronous/HTTP", "Asynchronous/Messages"}
    assert doc["consumer"]["name"] == consumer and doc["provider"]["name"] == PROVIDER


# ------------------------------------------------------------------ provider side: the hub

MESSAGE_TYPES = {
    **{f"the {code} request for {m}": contracts.item(code)["request_type"]
       for m, code in DEPARTMENTS.items()},
    **{f"the cancellation of {code} for {m}": contracts.event_type("item_cancelled")
       for m, code in DEPARTMENTS.items()},
    "the merged status once the application is accepted":
        contracts.event_type("case_status_changed"),
    "the merged status once the case is closed": contracts.event_type("case_status_changed"),
}


class ProviderStates:
    """Sets the hub up for each interaction; remembers the case for the message producer."""

    def __init__(self, scenario: Scenario, consumer: str) -> None:
        self.scenario = scenario
        self.consumer = consumer
        self.case_id: str | None = None

    def __call__(self, state: str, action: str, parameters: dict[str, Any] | None) -> None:
        if action != "setup":
            return
        p = parameters or {}
        case_id, member = str(p.get("case_id") or ""), str(p.get("member") or "")
        s = self.scenario
        if state == NO_CASE:
            assert not s.exists(case_id)
        elif state == ACCEPTED:
            s.submit(case_id)
        elif state == APPROVED:
            s.decide(case_id)
        elif state == REFUSED:
            s.decide(case_id, "approval-result-refused")
        elif state == WAITING:
            s.pull_all(member)
            s.decide(case_id)
        elif state == CANCELLED:
            s.submit(case_id)
            s.pull_all(member)
            s.decide(case_id, "approval-result-refused")
        else:
            raise LookupError(f"unknown provider state {state!r}")
        self.case_id = case_id

    def message(self, name: str, metadata: dict[str, Any] | None = None) -> Message:
        """The event the hub itself put in the consumer's feed for the state's case."""
        assert self.case_id is not None, "no provider state set up"
        ev = self.scenario.latest(self.consumer, MESSAGE_TYPES[name], self.case_id)
        return {"contents": json.dumps(ev, ensure_ascii=False).encode("utf-8"),
                "metadata": None, "content_type": "application/json"}


@pytest.mark.parametrize("consumer", CONSUMERS)
def test_hub_honours_pact(pact_book: PactBook, consumer: str, scenario: Scenario,
                          signing_proxy: SigningProxy, members: dict[str, Member]) -> None:
    """The real hub answers every HTTP interaction and produces every message the pact expects."""
    path = pact_book.path(consumer)
    signing_proxy.signer = members[consumer]
    states = ProviderStates(scenario, consumer)
    verifier = (Verifier(PROVIDER, host="127.0.0.1")
                .add_transport(url=signing_proxy.url)
                .message_handler(states.message)
                .state_handler(states)
                .set_error_on_empty_pact(enabled=True)
                .set_coloured_output(enabled=False)
                .add_source(path))
    try:
        verifier.verify()
    except RuntimeError:
        pytest.fail(f"the hub breaks the {consumer} pact:\n"
                    + verifier.output(strip_ansi=True), pytrace=False)
    results = verifier.results
    assert not results.get("errors"), results
