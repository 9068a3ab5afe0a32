"""Signatures over real HTTP: the library alone can talk to the hub; every forgery is refused."""
from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from datetime import UTC, datetime

import pytest
import requests
from http_message_signatures import HTTPMessageSigner, MappingKeyResolver, algorithms

import contracts
from hub.client import make_event
from hub.security import keys
from hub.security.signing import TAG, sign_headers
from tests.support.members import case_id

CE = "application/cloudevents+json"


def _body(cid: str | None = None) -> bytes:
    ev = make_event("hrss", "application_submitted", cid or case_id(),
                    contracts.example("application"))
    return json.dumps(ev, ensure_ascii=False).encode()


def _post(url: str, body: bytes, headers: dict[str, str]) -> requests.Response:
    return requests.post(url, data=body, headers={"Content-Type": CE, **headers}, timeout=10)


def test_request_signed_directly_with_the_library_is_accepted(live_hub, members):
    """No hub code on the client side: http_message_signatures builds the signature."""
    hrss = members["hrss"]
    body = _body()
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    req = requests.Request("POST", live_hub.url + "/v1/events", data=body,
                           headers={"Content-Type": CE,
                                    "Content-Digest": f"sha-256=:{digest}:"}).prepare()
    signer = HTTPMessageSigner(signature_algorithm=algorithms.ED25519,
                               key_resolver=MappingKeyResolver(private_keys={hrss.keyid: hrss.key},
                                                               public_keys={}))
    now = int(time.time())
    signer.sign(req, key_id=hrss.keyid, label="any-label", tag=TAG,
                created=datetime.fromtimestamp(now, UTC),
                expires=datetime.fromtimestamp(now + 120, UTC),
                nonce=uuid.uuid4().hex, body=body, use_existing_digest=True,
                covered_component_ids=("@method", "@authority", "@path", "@query",
                                       "content-type", "content-digest"))
    resp = requests.Session().send(req, timeout=10)
    assert resp.status_code == 202, resp.text
    assert resp.json()["receipts"][0]["status"] == "accepted"


def _signed(member, url, body, **kw):
    return sign_headers("POST", url, {"Content-Type": CE}, body, member.key, member.keyid, **kw)


@pytest.mark.parametrize("forgery,code", [
    ("tampered_body", "digest_mismatch"),
    ("wrong_key", "signature_invalid"),
    ("unknown_keyid", "unknown_key"),
    ("expired", "signature_expired"),
    ("unsigned", "signature_missing"),
])
def test_forged_requests_are_refused_and_nothing_is_stored(live_hub, members, hub, forgery, code):
    from sqlalchemy import func, select

    from hub.store.models import Event

    url = live_hub.url + "/v1/events"
    body = _body()
    hrss = members["hrss"]
    if forgery == "tampered_body":
        headers = _signed(hrss, url, body)
        body = body.replace(b"annex3", b"annex4")
    elif forgery == "wrong_key":
        headers = sign_headers("POST", url, {"Content-Type": CE}, body, keys.generate_keypair(),
                               hrss.keyid)
    elif forgery == "unknown_keyid":
        headers = sign_headers("POST", url, {"Content-Type": CE}, body, hrss.key, "nobody-1")
    elif forgery == "expired":
        headers = _signed(hrss, url, body, created=int(time.time()) - 400, expires_in=300)
    else:
        headers = {}
    resp = _post(url, body, headers)
    assert resp.status_code == 401
    assert resp.headers["Content-Type"] == "application/problem+json"
    problem = resp.json()
    assert problem["code"] == code and problem["detail"] and problem["detail_zh"]
    with hub.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Event)) == 0


def test_replayed_nonce_is_refused(live_hub, members):
    url = live_hub.url + "/v1/events"
    body = _body()
    headers = _signed(members["hrss"], url, body)
    assert _post(url, body, headers).status_code == 202
    again = _post(url, body, headers)
    assert again.status_code == 401 and again.json()["code"] == "nonce_replayed"


def test_event_type_the_member_may_not_publish(live_hub, members):
    body = json.dumps(make_event("hpf", "application_submitted", case_id(),
                                 contracts.example("application"))).encode()
    url = live_hub.url + "/v1/events"
    resp = _post(url, body, _signed(members["hpf"], url, body))
    assert resp.status_code == 403
    assert resp.json()["code"] == "forbidden"
    assert [e["code"] for e in resp.json()["errors"]] == ["type_not_allowed"]


def test_source_must_be_the_signer(live_hub, members):
    body = json.dumps(make_event("hrss", "item_progressed", case_id(),
                                 contracts.example("progress"))).encode()
    url = live_hub.url + "/v1/events"
    resp = _post(url, body, _signed(members["hpf"], url, body))
    assert resp.status_code == 403
    assert {e["code"] for e in resp.json()["errors"]} == {"source_mismatch"}


def test_members_see_only_their_own_feed_and_cases(live_hub, members):
    hrss = members["hrss"].client(live_hub.url)
    app = dict(contracts.example("application"), linked_items=[])  # no hpf item chosen
    app.pop("socialized_management", None)
    cid = case_id()
    hrss.emit("application_submitted", cid, app)
    hpf = members["hpf"].client(live_hub.url)
    feed = hpf.feed(after=0)
    assert feed["items"] == []
    from hub.client import HubHTTPError
    with pytest.raises(HubHTTPError) as err:
        hpf.case(cid)
    assert err.value.status == 404
    health_feed = members["health"].client(live_hub.url).feed(after=0)
    assert {i["event"]["subject"] for i in health_feed["items"]} == {cid}
    assert all(i["event"]["type"] != contracts.event_type("case_status_changed")
               for i in health_feed["items"])


def test_body_over_the_limit_gets_413(live_hub, members, hub):
    url = live_hub.url + "/v1/events"
    body = b"[" + b" " * (hub.config.max_body_bytes + 10) + b"]"
    resp = _post(url, body, _signed(members["hrss"], url, body))
    assert resp.status_code == 413
    assert resp.json()["code"] == "body_too_large"


def test_jwks_publishes_the_hub_key(live_hub, hub):
    doc = requests.get(live_hub.url + "/.well-known/jwks.json", timeout=10).json()
    ed, sm = doc["keys"]  # the Ed25519 key and, beside it, the SM2 key
    assert ed["kty"] == "OKP" and ed["crv"] == "Ed25519" and ed["kid"] == hub.keyid
    assert keys.public_key_pem(keys.public_from_jwk(ed)) == keys.public_key_pem(
        hub.private_key.public_key())
    sm2_key = hub.keyring.current("sm")
    assert sm["kty"] == "EC" and sm["crv"] == "SM2" and sm["kid"] == sm2_key.keyid
    assert keys.public_from_jwk(sm) == sm2_key.private.public_key()


@pytest.fixture
def hub_with(hub_config):
    """A second hub process on the same database with other settings, served over HTTP."""
    from hub.bootstrap import init
    from hub.http.app import create_app
    from tests.support.servers import LiveServer

    started = []

    def start(**overrides):
        _, h = init(hub_config.with_overrides(**overrides))
        srv = LiveServer(create_app(hub=h))
        started.append((srv, h))
        return srv

    yield start
    for srv, h in started:
        srv.stop()
        h.engine.dispose()


def _event_count(hub) -> int:
    from sqlalchemy import func, select

    from hub.store.models import Event

    with hub.transaction() as s:
        return int(s.scalar(select(func.count()).select_from(Event)))


def test_request_signed_for_another_hub_is_refused(live_hub, members, hub):
    """A request signed for a staging hub, replayed here with its own Host header, is refused."""
    body = _body()
    staging = "http://staging-hub.example.cn/v1/events"
    headers = _signed(members["hrss"], staging, body)
    resp = _post(live_hub.url + "/v1/events", body, {**headers, "Host": "staging-hub.example.cn"})
    assert resp.status_code == 401, resp.text
    assert resp.json()["code"] == "wrong_authority" and resp.json()["detail_zh"]
    assert _event_count(hub) == 0


def test_configured_public_authority_is_the_only_one_accepted(hub_with, members, hub):
    srv = hub_with(public_authority=("hub.retirement.js.gov.cn",))
    local = srv.url + "/v1/events"
    body = _body()
    resp = _post(local, body, _signed(members["hrss"], local, body))
    assert resp.status_code == 401 and resp.json()["code"] == "wrong_authority"
    assert _event_count(hub) == 0
    public = "http://hub.retirement.js.gov.cn/v1/events"
    resp = _post(local, body, {**_signed(members["hrss"], public, body),
                               "Host": "hub.retirement.js.gov.cn"})
    assert resp.status_code == 202, resp.text
    assert resp.json()["receipts"][0]["status"] == "accepted" and _event_count(hub) > 0


def test_signature_window_comes_from_configuration(hub_with, members, hub):
    """A signature made 90 s ago is fine under the default window and refused under 60 s."""
    made = int(time.time()) - 90
    body = _body()
    short = hub_with(signature_window_s=60).url + "/v1/events"
    resp = _post(short, body, _signed(members["hrss"], short, body, created=made))
    assert resp.status_code == 401 and resp.json()["code"] == "signature_expired"
    assert _event_count(hub) == 0
    default = hub_with().url + "/v1/events"
    resp = _post(default, body, _signed(members["hrss"], default, body, created=made))
    assert resp.status_code == 202, resp.text


@pytest.mark.parametrize("host", ["[", "[::1", "a b", "hub.example.cn:99999", "ä.example"])
def test_a_malformed_host_header_is_refused_not_crashed(live_hub, members, hub, host):
    body = _body()
    url = live_hub.url + "/v1/events"
    resp = _post(url, body, {**_signed(members["hrss"], url, body), "Host": host})
    assert resp.status_code == 401, resp.text
    assert resp.json()["code"] in ("wrong_authority", "signature_invalid")
    assert _event_count(hub) == 0
