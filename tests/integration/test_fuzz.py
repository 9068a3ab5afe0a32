"""Generated junk at every endpoint of the hub, signed so it reaches the parsers: never a 5xx.

Schemathesis sends what the OpenAPI document describes (and its negations); this sends what an
attacker or a broken member would: hostile JSON (deep nesting, huge or non-finite numbers, lone
surrogates, NUL), CloudEvents with attributes of every wrong type and size, arbitrary bytes under
every content type, junk path segments and query parameters in any script. One hub serves the
whole run, so later requests meet whatever earlier junk managed to store. Derandomized: CI sends
the same requests every run; ``HUB_FUZZ_EXAMPLES`` raises the count locally.
"""
from __future__ import annotations

import json
import os
import re
import uuid
from typing import Any
from urllib.parse import quote

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import contracts
from hub.bootstrap import Hub
from hub.client import make_event
from hub.http.openapi import document
from hub.security import keys
from hub.security.signing import HubAuth
from hub.services.members import add_member
from tests.support.members import Member

EXAMPLES = int(os.environ.get("HUB_FUZZ_EXAMPLES", "1500"))
OPERATIONS = sorted((method.upper(), path) for path, ops in document()["paths"].items()
                    for method in ops)
CONTENT_TYPES = ["application/cloudevents+json", "application/cloudevents-batch+json",
                 "application/json", "text/plain", "application/json; charset=utf-16", None]
CE_ATTRIBUTES = ["specversion", "id", "source", "type", "subject", "time", "dataschema",
                 "datacontenttype", "data", "traceparent", "x", "Ünicode"]
QUERY_NAMES = ["after", "limit", "id", "member", "state", "since", "cursor"]

HOSTILE = [
    b"[" * 20_000 + b"]" * 20_000,
    b'{"a":' * 3000 + b"1" + b"}" * 3000,
    b'{"cursor": NaN}', b'{"cursor": Infinity}', b"-Infinity", b'{"cursor": 1e400}',
    b'{"cursor": 1' + b"0" * 5000 + b"}", b'[1' + b"0" * 400 + b".5e-3]",
    b'{"schema": {"type": "string", "pattern": "\\ud800"}}', b'{"member": "\\udc00"}',
    b'{"id": "a\\u0000b", "public_key_pem": "x"}', b'"\\ud83d"', b"\xef\xbb\xbf{}",
    b"\xff\xfe{\x00}\x00", b"", b"null", b"0", b'{"states": [{}], "member": []}',
]

class Hostile(bytes):
    """A hostile body that shows itself by name (some are tens of kB)."""

    def __repr__(self) -> str:
        return f"Hostile({bytes(self[:40])!r}…, {len(self)} bytes)"


scalars = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
           | st.text(max_size=30) | st.sampled_from(["１２３", "٣", "²", "9" * 30, "-1", "0",
                                                     "2026-11-25T10:00:00Z", "hrѕѕ", "../..",
                                                     "RT320400-20261125-0001", "x" * 300,
                                                     "名" * 600, "http://127.0.0.1/" + "p" * 600,
                                                     "a\nb\r\tc"]))
json_values = st.recursive(scalars, lambda c: st.lists(c, max_size=4)
                           | st.dictionaries(st.text(max_size=10), c, max_size=4), max_leaves=12)


@st.composite
def cloud_events(draw: Any) -> dict[str, Any]:
    """A real event with some attributes dropped, replaced or added."""
    key = draw(st.sampled_from(["application_submitted", "item_progressed", "approval_decided"]))
    data = draw(st.sampled_from(["application", "progress", "approval-result"]))
    ev = make_event("hrss", key, f"RT320400-20261125-{uuid.uuid4().hex[:8]}",
                    contracts.example(data))
    for name in draw(st.lists(st.sampled_from(CE_ATTRIBUTES), max_size=3)):
        if draw(st.booleans()):
            ev.pop(name, None)
        else:
            ev[name] = draw(json_values)
    if draw(st.booleans()) and isinstance(ev.get("data"), dict) and ev["data"]:
        field = draw(st.sampled_from(sorted(ev["data"])))
        ev["data"][field] = draw(json_values)
    return ev


bodies = st.one_of(
    st.none(),
    st.sampled_from([Hostile(h) for h in HOSTILE]),
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    cloud_events().map(lambda v: json.dumps(v, ensure_ascii=False).encode()),
    st.lists(cloud_events(), min_size=1, max_size=4).map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"schema": json_values}).map(lambda v: json.dumps(v).encode()),
)
segments = st.one_of(st.text(min_size=1, max_size=40),
                     st.integers(min_value=-2**70, max_value=2**70).map(str),
                     st.sampled_from(["progress", "１", "²", "retirement_approval", "hrss", "1"]))
queries = st.dictionaries(st.sampled_from(QUERY_NAMES),
                          st.text(max_size=30) | st.sampled_from(["9" * 400, "１", "٣", "²"]),
                          max_size=3)


@pytest.fixture
def signers(hub: Hub, members: dict[str, Member]) -> dict[str, Member]:
    key = keys.generate_keypair()
    kid = f"ops-{uuid.uuid4().hex[:6]}"
    add_member(hub, "ops", keys.public_key_pem(key.public_key()), keyid=kid, roles=["admin"])
    return {"member": members["hrss"], "admin": Member("ops", key, kid)}


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(operation=st.sampled_from(OPERATIONS), fill=st.lists(segments, min_size=3, max_size=3),
       query=queries, body=bodies, ctype=st.sampled_from(CONTENT_TYPES), admin=st.booleans())
def test_junk_at_every_endpoint_never_gets_a_5xx(live_hub: Any, signers: dict[str, Member],
                                                 operation: tuple[str, str], fill: list[str],
                                                 query: dict[str, str], body: bytes | None,
                                                 ctype: str | None, admin: bool) -> None:
    method, template = operation
    names = re.findall(r"\{[^}]+\}", template)
    path = template
    for name, value in zip(names, fill, strict=False):  # a fill may carry spare values
        path = path.replace(name, quote(value, safe=""), 1)
    signer = signers["admin" if admin or path.startswith("/v1/admin/") else "member"]
    headers = {"Content-Type": ctype or "application/octet-stream"} if body else {}
    resp = requests.request(method, live_hub.url + path, params=query,
                            data=bytes(body) if body is not None else None,
                            headers=headers, auth=HubAuth(signer.key, signer.keyid), timeout=60)
    assert resp.status_code < 500 or (template == "/readyz" and resp.status_code == 503), (
        method, path, query, body[:200] if body else body, resp.status_code, resp.text[:500])
    if resp.status_code >= 400 and template != "/readyz":
        problem = resp.json()
        assert problem["code"] and problem["detail_zh"] and len(resp.content) < 1_000_000
