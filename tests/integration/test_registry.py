"""The contract registry over signed HTTP: browse, register, refuse breaking changes, lifecycle."""
from __future__ import annotations

import copy
import json

import pytest

import contracts
from hub.client import HubHTTPError
from hub.security import keys
from hub.services.members import add_member
from tests.conftest import case_id

JSON = "application/json"


@pytest.fixture
def admin(hub, live_hub, make_member):  # type: ignore[no-untyped-def]
    m = make_member("registrar", [])
    add_member(hub, "registrar", keys.public_key_pem(m.key.public_key()), keyid=m.keyid,
               roles=["admin"])
    return m.client(live_hub.url)


def progress_v1() -> dict:  # type: ignore[type-arg]
    return copy.deepcopy(contracts.schemas()[contracts.schema_id("progress")])


def test_browse_subjects_versions_and_schemas(admin, members, live_hub):  # type: ignore[no-untyped-def]
    reader = members["hpf"].client(live_hub.url)
    subjects = {s["subject"]: s for s in reader._call("GET", "/v1/contracts")["subjects"]}
    assert subjects["progress"]["versions"] == [1]
    assert subjects["progress"]["compatibility"] == "BACKWARD"
    v = reader._call("GET", "/v1/contracts/progress/versions")
    assert v["versions"] == [{"version": 1, "id": contracts.schema_id("progress"),
                              "state": "active"}]
    doc = reader._call("GET", "/v1/contracts/progress/versions/1")
    assert doc["schema"]["$id"] == contracts.schema_id("progress")
    by_id = reader._call("GET", "/v1/schemas", params={"id": contracts.schema_id("progress")})
    assert by_id == doc
    with pytest.raises(HubHTTPError) as err:
        reader._call("GET", "/v1/contracts/nothing/versions")
    assert err.value.status == 404


def test_breaking_change_is_refused_with_every_difference(admin, hub):  # type: ignore[no-untyped-def]
    new = progress_v1()
    del new["properties"]["handler"]
    new["properties"]["channel"] = {"title": "渠道", "type": "string"}
    new["required"] = [*new["required"], "channel"]
    with pytest.raises(HubHTTPError) as err:
        admin._call("POST", "/v1/admin/contracts/progress/versions", {"schema": new}, JSON)
    assert err.value.status == 409
    p = err.value.problem
    assert p["code"] == "incompatible_schema"
    kinds = {(e["code"], e["path"]) for e in p["errors"]}
    assert ("PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", "$.properties.handler") in kinds
    assert any(k == "REQUIRED_PROPERTY_ADDED_TO_CLOSED_CONTENT_MODEL" for k, _ in kinds)
    assert hub.snap().versions("progress") == [1]  # nothing registered


def test_compatible_version_registers_and_mode_none_allows_anything(admin, hub):  # type: ignore[no-untyped-def]
    new = progress_v1()
    new["properties"]["channel"] = {"title": "渠道", "type": "string"}
    out = admin._call("POST", "/v1/admin/contracts/progress/versions", {"schema": new}, JSON)
    assert out["version"] == 2 and out["id"] == contracts.schema_id("progress", 2)
    again = admin._call("POST", "/v1/admin/contracts/progress/versions", {"schema": new}, JSON)
    assert again["version"] == 2  # identical content is not a new version

    breaking = copy.deepcopy(new)
    del breaking["properties"]["handler"]
    admin._call("PUT", "/v1/admin/contracts/progress/config", {"compatibility": "NONE"}, JSON)
    out = admin._call("POST", "/v1/admin/contracts/progress/versions", {"schema": breaking}, JSON)
    assert out["version"] == 3
    audit = admin._call("GET", "/v1/admin/audit")["audit"]
    actions = [(a["action"], a["actor"]) for a in audit]
    assert ("contract.register", "registrar") in actions
    assert ("contract.config", "registrar") in actions


def test_invalid_schema_lists_every_problem(admin):  # type: ignore[no-untyped-def]
    bad = {"type": "object", "properties": {"x": {"type": "strin"},
                                            "y": {"$ref": "https://nowhere.example/x.json"}}}
    with pytest.raises(HubHTTPError) as err:
        admin._call("POST", "/v1/admin/contracts/newthing/versions", {"schema": bad}, JSON)
    assert err.value.status == 422
    codes = {e["code"] for e in err.value.problem["errors"]}
    assert {"schema_invalid", "object_not_closed", "title_missing", "ref_unresolvable"} <= codes


def test_deprecated_version_warns_and_retired_version_is_refused(admin, members, live_hub):  # type: ignore[no-untyped-def]
    new = progress_v1()
    new["properties"]["channel"] = {"title": "渠道", "type": "string"}
    admin._call("POST", "/v1/admin/contracts/progress/versions", {"schema": new}, JSON)
    hrss = members["hrss"].client(live_hub.url)
    cid = case_id()
    hrss.emit("application_submitted", cid, contracts.example("application"))
    health = members["health"].client(live_hub.url)
    data = {"item": "only_child_certificate", "status": "received",
            "occurred_at": "2026-11-25T10:00:00Z"}

    admin._call("PUT", "/v1/admin/contracts/progress/versions/1/state", {"state": "deprecated"},
                JSON)
    from hub.client import make_event
    import requests
    ev = make_event("health", "item_progressed", cid, data)
    resp = health.http.post(live_hub.url + "/v1/events", data=json.dumps(ev).encode(),
                            headers={"Content-Type": "application/cloudevents+json"},
                            auth=health.auth, timeout=10)
    assert resp.status_code == 202
    assert "Deprecation" in resp.headers
    assert contracts.schema_id("progress", 2) in resp.headers["X-Contract-Deprecated"]

    admin._call("PUT", "/v1/admin/contracts/progress/versions/1/state", {"state": "retired"}, JSON)
    with pytest.raises(HubHTTPError) as err:
        health.emit("item_progressed", cid, {**data, "status": "in_progress"})
    assert err.value.status == 422
    (e,) = err.value.problem["errors"]
    assert e["code"] == "contract_retired" and contracts.schema_id("progress", 2) in e["message"]
    # the version to use works
    health.emit("item_progressed", cid, {**data, "status": "in_progress"},
                dataschema=contracts.schema_id("progress", 2))
    assert isinstance(requests, object)


def test_only_admins_change_the_registry(members, live_hub):  # type: ignore[no-untyped-def]
    hpf = members["hpf"].client(live_hub.url)
    for method, path, body in [
        ("POST", "/v1/admin/contracts/progress/versions", {"schema": progress_v1()}),
        ("PUT", "/v1/admin/contracts/progress/config", {"compatibility": "NONE"}),
        ("POST", "/v1/admin/items", contracts.item("hpf_withdrawal")),
        ("POST", "/v1/admin/members", {"id": "x", "public_key_pem": "x"}),
    ]:
        with pytest.raises(HubHTTPError) as err:
            hpf._call(method, path, body, JSON)
        assert err.value.status == 403 and err.value.problem["code"] == "admin_required"


def test_item_definition_is_validated_before_it_takes_effect(admin, hub, members):  # type: ignore[no-untyped-def]
    d = contracts.item("hpf_withdrawal")
    d["code"] = "hpf_withdrawal_v2_test"
    d["member"] = "nobody"
    d["payload_contract"] = contracts.schema_id("no-such-request")
    d["projection"] = {"/person/name": "/application/applicant/nickname"}
    with pytest.raises(HubHTTPError) as err:
        admin._call("POST", "/v1/admin/items", d, JSON)
    assert err.value.status == 422
    codes = {(e["code"], e["path"]) for e in err.value.problem["errors"]}
    assert ("member_not_found", "$.member") in codes
    assert ("contract_not_found", "$.payload_contract") in codes
    assert ("projection_source_missing", "$.projection['/person/name']") in codes
    assert hub.snap().item("hpf_withdrawal_v2_test") is None

    bad_target = contracts.item("hpf_withdrawal")
    bad_target["projection"] = {**bad_target["projection"], "/extra": "/city_code"}
    with pytest.raises(HubHTTPError) as err:
        admin._call("POST", "/v1/admin/items", bad_target, JSON)
    assert {e["code"] for e in err.value.problem["errors"]} == {"projection_target_missing"}


def test_items_version_and_retire(admin, members, live_hub, hub):  # type: ignore[no-untyped-def]
    d = contracts.item("only_child_certificate")
    d["deadlines"] = {"statutory_working_days": 15, "promised_working_days": 3}
    out = admin._call("POST", "/v1/admin/items", d, JSON)
    assert out["version"] == 2
    listed = {i["code"]: i for i in members["hpf"].client(live_hub.url)._call("GET", "/v1/items")["items"]}
    assert listed["only_child_certificate"]["version"] == 2
    assert listed["only_child_certificate"]["deadlines"]["promised_working_days"] == 3

    admin._call("POST", "/v1/admin/items/only_child_certificate/retire")
    hrss = members["hrss"].client(live_hub.url)
    cid = case_id()
    hrss.emit("application_submitted", cid, contracts.example("application"))
    assert "only_child_certificate" not in {i["code"] for i in hrss.case(cid)["items"]}
