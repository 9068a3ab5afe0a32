"""The eighth linked item with no code change: registered through the admin API alone.

Social security card mailing (申领的社会保障卡寄送, annex 4): a new department member, its
payload contract, the code lists, application, progress and case-status contracts extended
(each a compatible new version), and the item definition; then an application chooses it and
the stand-in card centre (a separate process) receives, validates against the registry, and
completes it.
"""
from __future__ import annotations

import copy
import json
import subprocess
import sys
import time
from typing import Any

import pytest
import requests

import contracts
from hub.security import keys
from hub.services.members import add_member
from hub.worker import Worker
from mock_departments.launcher import free_port
from tests.support.members import case_id

pytestmark = pytest.mark.e2e
JSON = "application/json"
CODE = "social_security_card_mailing"
CODES_1 = contracts.schema_id("codes", 1)
CODES_2 = contracts.schema_id("codes", 2)


def _with_codes_2(node: Any) -> Any:
    text = json.dumps(node, ensure_ascii=False).replace(CODES_1, CODES_2)
    return json.loads(text)


def _wait(check: Any, timeout: float = 20) -> Any:
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


@pytest.fixture
def database_url(tmp_path):
    return f"sqlite:///{tmp_path / 'hub.db'}"


def test_eighth_item_registered_through_the_api_alone(hub, live_hub, make_member, tmp_path):
    hrss = make_member("hrss", ["application_submitted", "approval_decided"])
    for m in ("community", "hpf", "medical", "health"):
        make_member(m, ["item_progressed"])
    admin_m = make_member("registrar", [])
    add_member(hub, "registrar", keys.public_key_pem(admin_m.key.public_key()),
               keyid=admin_m.keyid, roles=["admin"])
    admin = admin_m.client(live_hub.url)

    # 1. the new department joins, by API
    card_key = keys.generate_keypair()
    priv, _ = keys.write_keypair(tmp_path, "sscard", card_key)
    port = free_port()
    admin._call("POST", "/v1/admin/members", {
        "id": "sscard", "name": "社会保障卡服务中心",
        "public_key_pem": keys.public_key_pem(card_key.public_key()), "keyid": "sscard-1",
        "publish": [contracts.event_type("item_progressed")],
        "push_url": f"http://127.0.0.1:{port}/hub/events"}, JSON)

    # 2. contracts: the code list grows (compatible), and the contracts that use it follow
    codes = copy.deepcopy(contracts.schemas()[CODES_1])
    codes["$defs"]["item_code"]["enum"].append(CODE)
    labels = codes["$defs"]["item_code"]["x-labels"]
    labels[CODE] = {"zh": "社会保障卡寄送", "en": "Social security card mailing"}
    out = admin._call("POST", "/v1/admin/contracts/codes/versions", {"schema": codes}, JSON)
    assert out["version"] == 2
    for subject in ("application", "progress", "case-status"):
        schema = _with_codes_2(contracts.schemas()[contracts.schema_id(subject)])
        out = admin._call("POST", f"/v1/admin/contracts/{subject}/versions",
                          {"schema": schema}, JSON)
        assert out["version"] == 2
    payload_contract = {
        "title": "社会保障卡寄送申请", "type": "object", "additionalProperties": False,
        "required": ["city_code", "person", "address", "mobile"],
        "properties": {
            "city_code": {"title": "城市行政区划代码", "type": "string", "pattern": "^\\d{6}$"},
            "person": {"title": "申请人", "type": "object", "additionalProperties": False,
                       "required": ["name", "id_number"], "properties": {
                           "name": {"title": "姓名", "type": "string"},
                           "id_number": {"title": "公民身份号码", "type": "string"}}},
            "address": {"title": "寄送地址", "type": "string"},
            "mobile": {"title": "联系电话", "type": "string"}}}
    out = admin._call("POST", "/v1/admin/contracts/social-security-card-mailing-request/versions",
                      {"schema": payload_contract}, JSON)
    payload_id = out["id"]

    # 3. the item definition
    definition = {
        "code": CODE, "order": 8, "name_zh": "社会保障卡寄送",
        "name_en": "Social security card mailing",
        "member": "sscard", "trigger": "accepted", "chosen": "optional", "settled_by": "department",
        "request_type": None, "payload_contract": payload_id,
        "progress_contract": contracts.schema_id("progress", 2),
        "projection": {"/city_code": "/city_code", "/person/name": "/application/applicant/name",
                       "/person/id_number": "/application/applicant/id_number",
                       "/address": "/application/applicant/household_address",
                       "/mobile": "/application/applicant/mobile"},
        "deadlines": {"statutory_working_days": 10, "promised_working_days": 3},
        "not_eligible": "failed", "cancel_on_refusal": True}
    item = admin._call("POST", "/v1/admin/items", definition, JSON)
    assert item["request_type"] == (
        "cn.gov.js.retirement.item.social-security-card-mailing.requested.v1")

    # 4. the stand-in card centre runs as its own process
    proc = subprocess.Popen([sys.executable, "-m", "mock_departments.sscard", "--port", str(port),
                             "--hub", live_hub.url, "--key", str(priv), "--keyid=sscard-1",
                             "--progress-schema", contracts.schema_id("progress", 2)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    worker = Worker(hub)
    worker.start()
    try:
        _wait(lambda: _up(port))
        app = contracts.example("application")
        app["linked_items"] = [*app["linked_items"], CODE]
        cid = case_id()
        client = hrss.client(live_hub.url)
        client.emit("application_submitted", cid, app,
                    dataschema=contracts.schema_id("application", 2))

        def card_item() -> Any:
            items = {i["code"]: i for i in client.case(cid)["items"]}
            return items[CODE] if items[CODE]["state"] == "completed" else None

        done = _wait(card_item)
        # the push's receipt and the centre's own "received" race; a skipped step is allowed
        steps = [h["to"] for h in done["history"]]
        assert steps in (["waiting", "dispatched", "delivered", "received", "completed"],
                         ["waiting", "dispatched", "received", "completed"]), steps
        assert [h["by"] for h in done["history"]][-2:] == ["sscard", "sscard"]
        assert done["name_zh"] == "社会保障卡寄送"
        assert done["result"]["note_zh"] == "社会保障卡已寄出"
        got = requests.get(f"http://127.0.0.1:{port}/received", timeout=5).json()
        assert len(got) == 1
    finally:
        worker.stop()
        proc.terminate()
        proc.wait(10)
    # what crossed the wire to the card centre is exactly its contract's fields
    with hub.transaction() as s:
        from sqlalchemy import select

        from hub.store.models import Event
        ev = s.scalars(select(Event).where(Event.type == item["request_type"])).one()
        assert set(ev.data) == set(payload_contract["properties"])
        assert ev.dataschema == payload_id


def _up(port: int) -> bool:
    try:
        requests.get(f"http://127.0.0.1:{port}/received", timeout=1)
        return True
    except requests.RequestException:
        return False
