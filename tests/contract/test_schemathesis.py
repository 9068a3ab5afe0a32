"""The hub against its own OpenAPI document (schemathesis), with signed requests.

* Generated requests: one test per documented operation (parametrized from
  ``hub.http.openapi.document()``, which ``test_the_served_document_is_the_one_tested`` pins to the
  live GET /openapi.json), each against its own fresh hub on SQLite. Up to ``MAX_EXAMPLES`` (50)
  cases per operation in each phase (explicit examples, coverage, fuzzing; positive and negative
  data), derandomized with no example database, so CI sends the same requests every run. Every
  request is signed (RFC 9421) by ``HubAuth`` with a registered key: an admin member for
  /v1/admin, HRSS otherwise. Checks: no 5xx (unless that 5xx is documented: /readyz's 503),
  documented status, documented content type, body matches the documented schema. A few hundred
  cases per operation would take several minutes; ``HUB_SCHEMATHESIS_EXAMPLES`` raises it locally.
* Error statuses: one hand-built request per documented 4xx/5xx of every operation (401/413 and
  /v1/admin 403 derived from the document, the rest in ``RECIPES``); each must answer with exactly
  that status and pass the same checks. A newly documented error status without a request fails
  ``test_every_documented_error_has_a_request``.
* Regressions: ``FORMERLY_500`` replays the inputs with which schemathesis once found a 500
  (64-bit overflow in ids and cursors, non-string list entries); each must get its documented
  answer.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks as st_checks
from sqlalchemy import create_engine

import contracts
from hub.bootstrap import Hub, init
from hub.client import make_event
from hub.config import Config
from hub.http.openapi import document
from hub.security import keys
from hub.security.signing import HubAuth
from hub.services.members import add_member
from tests.support.members import Member, case_id
from tests.support.servers import LiveServer

MAX_EXAMPLES = int(os.environ.get("HUB_SCHEMATHESIS_EXAMPLES", "50"))
CHECKS = [st_checks.not_a_server_error, st_checks.status_code_conformance,
          st_checks.content_type_conformance, st_checks.response_schema_conformance]


@dataclasses.dataclass
class Signers:
    member: Member
    admin: Member

    def auth_for(self, path: str) -> HubAuth | None:
        if not path.startswith("/v1/"):
            return None
        who = self.admin if path.startswith("/v1/admin/") else self.member
        return HubAuth(who.key, who.keyid)


@pytest.fixture
def signers(hub: Hub, members: dict[str, Member]) -> Signers:
    key = keys.generate_keypair()
    kid = f"ops-{uuid.uuid4().hex[:6]}"
    add_member(hub, "ops", keys.public_key_pem(key.public_key()), keyid=kid, roles=["admin"])
    return Signers(members["hrss"], Member("ops", key, kid))


def load_schema(doc: dict[str, Any]) -> Any:
    loaded = schemathesis.openapi.from_dict(doc)
    loaded.config.generation.update(max_examples=MAX_EXAMPLES, deterministic=True,
                                    database="none")
    return loaded


# Parametrizing needs the operations at collection time, before any hub runs: the document is a
# pure function of the contracts. `test_the_served_document_is_the_one_tested` ties it to the
# live GET /openapi.json. (schemathesis' lazy `from_fixture` fails under pytest 9: it writes
# `request.node._nodeid`, which pytest 9 no longer has.)
schema = load_schema(document())


def test_the_served_document_is_the_one_tested(live_hub: Any) -> None:
    served = requests.get(live_hub.url + "/openapi.json", timeout=10)
    assert served.status_code == 200
    assert served.json() == json.loads(json.dumps(document()))


BIGINT = 2**63 - 1


def check_generated(case: Any, live_hub: Any, signers: Signers) -> None:
    auth = signers.auth_for(case.path)
    response = case.call(base_url=live_hub.url, auth=auth, timeout=30)
    checks = CHECKS
    if str(response.status_code) in case.operation.definition.raw.get("responses", {}):
        # a documented 5xx (503 from /readyz without a worker heartbeat) is an answer, not a crash
        checks = [c for c in CHECKS if c is not st_checks.not_a_server_error]
    case.validate_response(response, checks=checks,
                           transport_kwargs={"auth": auth, "base_url": live_hub.url})


@schema.parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.filter_too_much], deadline=None)
def test_generated_requests_get_documented_answers(case: Any, live_hub: Any,
                                                   signers: Signers) -> None:
    """One hub per operation, shared by its generated cases (hence the suppressed health check)."""
    check_generated(case, live_hub, signers)


# ------------------------------------------------------------------ every documented error


@dataclasses.dataclass
class Ctx:
    url: str
    signers: Signers
    members: dict[str, Member]
    hub: Hub

    def call(self, method: str, path: str, *, body: Any = None, raw: bytes | None = None,
             ctype: str | None = None, as_: Member | None | str = "auto",
             params: dict[str, Any] | None = None) -> requests.Response:
        data = raw if raw is not None else (
            None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8"))
        if data is not None and ctype is None:
            ctype = "application/json"
        auth = (self.signers.auth_for(path) if as_ == "auto"
                else HubAuth(as_.key, as_.keyid) if isinstance(as_, Member) else None)
        return requests.request(method, self.url + path, data=data, params=params,
                                headers={"Content-Type": ctype} if ctype else {}, auth=auth,
                                timeout=30)

    def event(self, type_key: str, subject: str, data: dict[str, Any],
              source: str = "hrss") -> dict[str, Any]:
        return make_event(source, type_key, subject, data)

    def submitted(self) -> str:
        cid = case_id()
        r = self.call("POST", "/v1/events", ctype="application/cloudevents+json",
                      body=self.event("application_submitted", cid,
                                      contracts.example("application")))
        assert r.status_code == 202, r.text
        return cid


Recipe = Callable[[Ctx], Any]  # a requests or werkzeug test response
CE = "application/cloudevents+json"
TOO_BIG = b"x" * (1_048_576 + 1)


def _conflicting_id(c: Ctx) -> requests.Response:
    ev = c.event("application_submitted", case_id(), contracts.example("application"))
    assert c.call("POST", "/v1/events", body=ev, ctype=CE).status_code == 202
    ev["data"]["city_code"] = "320500"
    return c.call("POST", "/v1/events", body=ev, ctype=CE)


def _invalid_event(c: Ctx) -> requests.Response:
    app = contracts.example("application")
    del app["applicant"]
    return c.call("POST", "/v1/events", body=c.event("application_submitted", case_id(), app),
                  ctype=CE)


def _unknown_case(c: Ctx) -> requests.Response:
    return c.call("POST", "/v1/events", ctype=CE, body=c.event(
        "approval_decided", case_id(), contracts.example("approval-result")))


def _ack_ahead(c: Ctx) -> requests.Response:
    return c.call("POST", "/v1/feed/ack", body={"cursor": 10**9})


def _breaking_version(c: Ctx) -> requests.Response:
    """BACKWARD (the default) refuses a version that drops a property readers may rely on."""
    schema = contracts.schema("progress")
    schema["$id"] = contracts.schema_id("progress", 2)
    schema["properties"].pop("handler")
    return c.call("POST", "/v1/admin/contracts/progress/versions", body={"schema": schema})


def _database_down(method: str, path: str) -> Recipe:
    """The same app over a database it cannot open (in-process: a live one would be shared)."""
    def call(c: Ctx) -> Any:
        from hub.http.app import create_app
        from hub.registry.catalog import Catalog
        from hub.store.db import session_factory

        engine = create_engine("sqlite:////nonexistent/dir/hub.db")
        broken = dataclasses.replace(c.hub, engine=engine, sessions=session_factory(engine),
                                     catalog=Catalog(engine), _schema_ok=False)
        return create_app(hub=broken).test_client().open(path, method=method)
    return call


RECIPES: dict[tuple[str, str, int], Recipe] = {
    ("POST", "/v1/events", 400): lambda c: c.call("POST", "/v1/events", raw=b"{not json",
                                                  ctype=CE),
    ("POST", "/v1/events", 403): lambda c: c.call("POST", "/v1/events", ctype=CE, body=c.event(
        "item_progressed", case_id(), contracts.example("progress"))),
    ("POST", "/v1/events", 404): _unknown_case,
    ("POST", "/v1/events", 409): _conflicting_id,
    ("POST", "/v1/events", 415): lambda c: c.call("POST", "/v1/events", body={},
                                                  ctype="text/plain"),
    ("POST", "/v1/events", 422): _invalid_event,
    ("GET", "/v1/feed", 400): lambda c: c.call("GET", "/v1/feed", params={"limit": "0"}),
    ("POST", "/v1/feed/ack", 400): lambda c: c.call("POST", "/v1/feed/ack", raw=b"[1,"),
    ("POST", "/v1/feed/ack", 409): _ack_ahead,
    ("POST", "/v1/feed/ack", 422): lambda c: c.call("POST", "/v1/feed/ack", body={"cursor": -1}),
    ("GET", "/v1/cases/{case_id}", 404): lambda c: c.call("GET", "/v1/cases/RT320400-none"),
    ("GET", "/v1/admin/deliveries", 400): lambda c: c.call(
        "GET", "/v1/admin/deliveries", params={"since": "yesterday"}),
    ("POST", "/v1/admin/deliveries/{delivery_id}/replay", 404): lambda c: c.call(
        "POST", "/v1/admin/deliveries/999999/replay"),
    ("GET", "/v1/admin/deliveries/{delivery_id}/attempts", 404): lambda c: c.call(
        "GET", "/v1/admin/deliveries/99999999999999999999/attempts"),
    ("POST", "/v1/admin/deliveries/replay", 400): lambda c: c.call(
        "POST", "/v1/admin/deliveries/replay", raw=b"{"),
    ("POST", "/v1/admin/deliveries/replay", 404): lambda c: c.call(
        "POST", "/v1/admin/deliveries/replay", body={"member": "nobody", "states": ["dead"]}),
    ("POST", "/v1/admin/deliveries/replay", 422): lambda c: c.call(
        "POST", "/v1/admin/deliveries/replay", body={"states": ["dead"]}),
    ("PUT", "/v1/admin/members/{member_id}/endpoint", 400): lambda c: c.call(
        "PUT", "/v1/admin/members/hpf/endpoint", raw=b"{"),
    ("PUT", "/v1/admin/members/{member_id}/endpoint", 404): lambda c: c.call(
        "PUT", "/v1/admin/members/nobody/endpoint", body={"enabled": False}),
    ("PUT", "/v1/admin/members/{member_id}/endpoint", 422): lambda c: c.call(
        "PUT", "/v1/admin/members/hpf/endpoint", body={"reason": "no flag"}),
    # contract registry
    ("GET", "/v1/contracts/{subject}/versions", 404): lambda c: c.call(
        "GET", "/v1/contracts/no-such-subject/versions"),
    ("GET", "/v1/contracts/{subject}/versions/{n}", 404): lambda c: c.call(
        "GET", "/v1/contracts/progress/versions/99"),
    ("GET", "/v1/schemas", 400): lambda c: c.call("GET", "/v1/schemas"),
    ("GET", "/v1/schemas", 404): lambda c: c.call(
        "GET", "/v1/schemas", params={"id": contracts.BASE + "no-such-subject/1.json"}),
    ("POST", "/v1/admin/contracts/{subject}/versions", 400): lambda c: c.call(
        "POST", "/v1/admin/contracts/progress/versions", raw=b"{"),
    ("POST", "/v1/admin/contracts/{subject}/versions", 422): lambda c: c.call(
        "POST", "/v1/admin/contracts/progress/versions", body={"schema": "not a schema"}),
    ("POST", "/v1/admin/contracts/{subject}/versions", 409): _breaking_version,
    ("PUT", "/v1/admin/contracts/{subject}/config", 400): lambda c: c.call(
        "PUT", "/v1/admin/contracts/progress/config", raw=b"{"),
    ("PUT", "/v1/admin/contracts/{subject}/config", 422): lambda c: c.call(
        "PUT", "/v1/admin/contracts/progress/config", body={"compatibility": "SIDEWAYS"}),
    ("PUT", "/v1/admin/contracts/{subject}/versions/{n}/state", 400): lambda c: c.call(
        "PUT", "/v1/admin/contracts/progress/versions/1/state", raw=b"{"),
    ("PUT", "/v1/admin/contracts/{subject}/versions/{n}/state", 404): lambda c: c.call(
        "PUT", "/v1/admin/contracts/progress/versions/99/state", body={"state": "deprecated"}),
    ("PUT", "/v1/admin/contracts/{subject}/versions/{n}/state", 422): lambda c: c.call(
        "PUT", "/v1/admin/contracts/progress/versions/1/state", body={"state": "bogus"}),
    ("POST", "/v1/admin/items", 400): lambda c: c.call("POST", "/v1/admin/items", raw=b"{"),
    ("POST", "/v1/admin/items", 422): lambda c: c.call("POST", "/v1/admin/items", body={}),
    ("POST", "/v1/admin/items/{code}/retire", 404): lambda c: c.call(
        "POST", "/v1/admin/items/no_such_item/retire"),
    ("POST", "/v1/admin/members", 400): lambda c: c.call("POST", "/v1/admin/members", raw=b"{"),
    ("POST", "/v1/admin/members", 409): lambda c: c.call("POST", "/v1/admin/members", body={
        "id": "intruder", "keyid": c.signers.member.keyid,
        "public_key_pem": keys.public_key_pem(keys.generate_keypair().public_key())}),
    ("POST", "/v1/admin/members", 422): lambda c: c.call("POST", "/v1/admin/members", body={}),
    ("GET", "/v1/admin/calendars/{year}", 404): lambda c: c.call(
        "GET", "/v1/admin/calendars/2099"),
    ("PUT", "/v1/admin/calendars/{year}", 400): lambda c: c.call(
        "PUT", "/v1/admin/calendars/2099", raw=b"{"),
    ("PUT", "/v1/admin/calendars/{year}", 404): lambda c: c.call(
        "PUT", "/v1/admin/calendars/next", body={}),
    ("PUT", "/v1/admin/calendars/{year}", 422): lambda c: c.call(
        "PUT", "/v1/admin/calendars/2099", body={"year": 2099, "holidays": []}),
    # message log
    ("GET", "/v1/log/checkpoints/{size}", 404): lambda c: c.call(
        "GET", "/v1/log/checkpoints/99999999999"),
    ("POST", "/v1/log/checkpoints/{size}/cosignatures", 400): lambda c: c.call(
        "POST", "/v1/log/checkpoints/0/cosignatures", raw=b"{"),
    ("POST", "/v1/log/checkpoints/{size}/cosignatures", 404): lambda c: c.call(
        "POST", "/v1/log/checkpoints/99999999999/cosignatures", body={"signature": "AAAA"}),
    ("POST", "/v1/log/checkpoints/{size}/cosignatures", 422): lambda c: c.call(
        "POST", "/v1/log/checkpoints/99999999999/cosignatures", body={}),
    ("GET", "/v1/log/inclusion", 400): lambda c: c.call("GET", "/v1/log/inclusion"),
    ("GET", "/v1/log/inclusion", 404): lambda c: c.call(
        "GET", "/v1/log/inclusion", params={"event": "no-such-event"}),
    ("GET", "/v1/log/consistency", 400): lambda c: c.call(
        "GET", "/v1/log/consistency", params={"from": "x", "to": "1"}),
    ("GET", "/v1/log/consistency", 422): lambda c: c.call(
        "GET", "/v1/log/consistency", params={"from": "2", "to": "1"}),
    ("GET", "/readyz", 503): lambda c: c.call("GET", "/readyz"),  # no worker heartbeat here
    ("POST", "/v1/events", 503): _database_down("POST", "/v1/events"),
    ("GET", "/v1/feed", 503): _database_down("GET", "/v1/feed"),
    ("POST", "/v1/feed/ack", 503): _database_down("POST", "/v1/feed/ack"),
}
PATH_PARAMETERS = {"delivery_id": 1, "member_id": "hpf", "case_id": "RT320400-20261125-none",
                   "subject": "progress", "n": 1, "code": "hpf_withdrawal", "year": 2099,
                   "size": 1}


def concrete(path: str) -> str:
    return re.sub(r"{(\w+)}", lambda m: str(PATH_PARAMETERS[m.group(1)]), path)


def _unsigned(method: str, url: str, c: Ctx) -> requests.Response:
    return c.call(method, url, as_=None)


def _too_big(method: str, url: str, c: Ctx) -> requests.Response:
    return c.call(method, url, raw=TOO_BIG)


def _not_admin(method: str, url: str, c: Ctx) -> requests.Response:
    return c.call(method, url, as_=c.members["hpf"], body=None if method == "GET" else {})


def _generic_recipes() -> dict[tuple[str, str, int], Recipe]:
    """401 unsigned and 413 too large for every signed operation; 403 non-admin for /v1/admin."""
    out: dict[tuple[str, str, int], Recipe] = {}
    for path, ops in document()["paths"].items():
        for method, op in ops.items():
            m, url = method.upper(), concrete(path)
            if not op.get("security"):
                continue
            out[(m, path, 401)] = partial(_unsigned, m, url)
            out[(m, path, 413)] = partial(_too_big, m, url)
            if path.startswith("/v1/admin/"):
                out[(m, path, 403)] = partial(_not_admin, m, url)
    return out


RECIPES.update({k: v for k, v in _generic_recipes().items() if k not in RECIPES})


def operation_case(loaded: Any, method: str, path: str) -> Any:
    """A schemathesis case for the operation, to check a hand-built request's response."""
    names = re.findall(r"{(\w+)}", path)
    return loaded[path][method].Case(path_parameters={n: PATH_PARAMETERS[n] for n in names})


def documented_errors() -> list[tuple[str, str, int]]:
    return sorted((method.upper(), path, int(status))
                  for path, ops in document()["paths"].items()
                  for method, op in ops.items()
                  for status in op["responses"] if int(status) >= 400)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Ctx, Any]]:
    """One hub for all hand-built requests (each is independent: its own case ids, no shared
    state it changes), to keep the ~100 of them fast."""
    from hub.http.app import create_app

    tmp = tmp_path_factory.mktemp("errors-hub")
    _, hub = init(Config(database_url=f"sqlite:///{tmp / 'hub.db'}", key_dir=tmp / "keys",
                         run_worker=False))
    cast: dict[str, Member] = {}
    for member_id, publish, roles in (
            ("hrss", ["application_submitted", "approval_decided"], []),
            ("hpf", ["item_progressed", "issue_reported"], []), ("ops", [], ["admin"])):
        key = keys.generate_keypair()
        kid = f"{member_id}-{uuid.uuid4().hex[:6]}"
        add_member(hub, member_id, keys.public_key_pem(key.public_key()), keyid=kid,
                   publish=[contracts.event_type(k) for k in publish], roles=roles)
        cast[member_id] = Member(member_id, key, kid)
    server = LiveServer(create_app(hub=hub))
    try:
        yield (Ctx(server.url, Signers(cast["hrss"], cast["ops"]), cast, hub),
               load_schema(requests.get(server.url + "/openapi.json", timeout=10).json()))
    finally:
        server.stop()
        hub.engine.dispose()


def test_every_documented_error_has_a_request() -> None:
    """A new documented error status needs a request here that reaches it (and a stale one goes)."""
    documented = set(documented_errors())
    missing = sorted(documented - set(RECIPES))
    stale = sorted(set(RECIPES) - documented)
    assert not missing and not stale, (
        f"documented error statuses no request in RECIPES reaches: {missing}; "
        f"RECIPES for statuses no longer documented: {stale}")


@pytest.mark.parametrize("method,path,status",
                         sorted(set(documented_errors()) & set(RECIPES)),
                         ids=lambda v: str(v).replace("/", "_") if isinstance(v, str) else str(v))
def test_documented_error_is_reachable(method: str, path: str, status: int,
                                       shared: tuple[Ctx, Any]) -> None:
    ctx, hub_schema = shared
    response = RECIPES[(method, path, status)](ctx)
    assert response.status_code == status, (response.status_code, response.text[:500])
    # the documented status, content type and body schema (a 5xx is the point of the 500 case)
    checks = [c for c in CHECKS if c is not st_checks.not_a_server_error]
    operation_case(hub_schema, method, path).validate_response(response, checks=checks)


# ------------------------------------------------------------------ reported hub bugs

FORMERLY_500 = [
    pytest.param("GET", "/v1/feed", "/v1/feed", {"after": str(10**22)}, None, 400,
                 id="feed-after-beyond-bigint-500"),
    pytest.param("GET", "/v1/admin/deliveries", "/v1/admin/deliveries", {"limit": str(10**22)},
                 None, 400, id="deliveries-limit-beyond-bigint-500"),
    pytest.param("GET", "/v1/admin/deliveries/{delivery_id}/attempts",
                 "/v1/admin/deliveries/null,null/attempts", None, None, None,
                 id="attempts-non-integer-id-undocumented-404"),
    pytest.param("GET", "/v1/admin/deliveries/{delivery_id}/attempts",
                 f"/v1/admin/deliveries/{10**22}/attempts", None, None, None,
                 id="attempts-id-beyond-bigint"),
    pytest.param("POST", "/v1/admin/deliveries/{delivery_id}/replay",
                 f"/v1/admin/deliveries/{10**22}/replay", None, None, None,
                 id="replay-id-beyond-bigint"),
    pytest.param("POST", "/v1/admin/deliveries/replay", "/v1/admin/deliveries/replay", None,
                 {"member": "hpf", "states": [{}]}, 422, id="replay-states-not-strings-500"),
    pytest.param("POST", "/v1/admin/members", "/v1/admin/members", None,
                 {"id": "x1", "publish": 5,
                  "public_key_pem": keys.public_key_pem(keys.generate_keypair().public_key())},
                 422, id="members-publish-not-a-list-500"),
]


@pytest.mark.parametrize("method,path,url,params,body,expected", FORMERLY_500)
def test_formerly_500_requests_get_documented_answers(
    method: str,
    path: str,
    url: str,
    params: dict[str, str] | None,
    body: Any,
    expected: int | None,
    shared: tuple[Ctx, Any],
) -> None:
    """Requests that once crashed the hub now get a documented answer."""
    ctx, hub_schema = shared
    response = ctx.call(method, url, params=params, body=body)
    if expected is not None:
        assert response.status_code == expected, (response.status_code, response.text[:300])
    operation_case(hub_schema, method, path).validate_response(response, checks=CHECKS)
