"""The contract registry over signed HTTP: browse, register, refuse breaking changes, lifecycle."""
from __future__ import annotations

import copy
import json

import pytest

import contracts
from hub.client import HubHTTPError
from hub.security import keys
from hub.services.members import add_member
from tests.support.members import case_id

JSON = "application/json"


@pytest.fixture
def admin(hub, live_hub, make_member):
    m = make_member("registrar", [])
    add_member(hub, "registrar", keys.public_key_pem(m.key.public_key()), keyid=m.keyid,
               roles=["admin"])
    return m.client(live_hub.url)


def progress_v1() -> dict:  # type: ignore[type-arg]
    return copy.deepcopy(contracts.schemas()[contracts.schema_id("progress")])


def test_browse_subjects_versions_and_schemas(admin, members, live_hub):
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


def test_breaking_change_is_refused_with_every_difference(admin, hub):
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


def test_compatible_version_registers_and_mode_none_allows_anything(admin, hub):
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


def test_invalid_schema_lists_every_problem(admin):
    bad = {"type": "object", "properties": {"x": {"type": "strin"},
                                            "y": {"$ref": "https://nowhere.example/x.json"}}}
    with pytest.raises(HubHTTPError) as err:
        admin._call("POST", "/v1/admin/contracts/newthing/versions", {"schema": bad}, JSON)
    assert err.value.status == 422
    codes = {e["code"] for e in err.value.problem["errors"]}
    assert {"schema_invalid", "object_not_closed", "title_missing", "ref_unresolvable"} <= codes


def test_deprecated_version_warns_and_retired_version_is_refused(admin, members, live_hub):
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
    import requests

    from hub.client import make_event
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


def test_only_admins_change_the_registry(members, live_hub):
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


def test_item_definition_is_validated_before_it_takes_effect(admin, hub, members):
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


def test_items_version_and_retire(admin, members, live_hub, hub):
    d = contracts.item("only_child_certificate")
    d["deadlines"] = {"statutory_working_days": 15, "promised_working_days": 3}
    out = admin._call("POST", "/v1/admin/items", d, JSON)
    assert out["version"] == 2
    served = members["hpf"].client(live_hub.url)._call("GET", "/v1/items")["items"]
    listed = {i["code"]: i for i in served}
    assert listed["only_child_certificate"]["version"] == 2
    assert listed["only_child_certificate"]["deadlines"]["promised_working_days"] == 3

    admin._call("POST", "/v1/admin/items/only_child_certificate/retire")
    hrss = members["hrss"].client(live_hub.url)
    cid = case_id()
    hrss.emit("application_submitted", cid, contracts.example("application"))
    assert "only_child_certificate" not in {i["code"] for i in hrss.case(cid)["items"]}


def _thing(**prop: object) -> dict:  # type: ignore[type-arg]
    """A minimal schema that keeps the house rules, with one property ``x`` as given."""
    return {"type": "object", "additionalProperties": False,
            "properties": {"x": {"title": "字段", "type": "string", **prop}}}


@pytest.mark.parametrize("schema,path,code", [
    ({**_thing(), "$schema": "http://json-schema.org/draft-04/schema#"}, "$.schema.$schema",
     "schema_dialect"),
    ({**_thing(), "$schema": "https://evil.example.cn/meta.json"}, "$.schema.$schema",
     "schema_dialect"),
    (_thing(**{"$id": contracts.schema_id("common")}), "$.schema.properties.x.$id",
     "schema_nested_id"),
    (_thing(**{"$schema": "https://json-schema.org/draft/2020-12/schema"}),
     "$.schema.properties.x.$schema", "schema_dialect"),
    (_thing(pattern="(unclosed"), "$.schema.properties.x.pattern", "schema_pattern"),
    (_thing(pattern="[z-a]"), "$.schema.properties.x.pattern", "schema_pattern"),
    (_thing(pattern="^(a+)\\1$"), "$.schema.properties.x.pattern", "schema_pattern"),
    (_thing(pattern="^(?=a)a+$"), "$.schema.properties.x.pattern", "schema_pattern"),
    ({"type": "object", "additionalProperties": False, "properties": {},
      "patternProperties": {"(?<!x)y": {"title": "字段"}}}, "$.schema.patternProperties",
     "schema_pattern"),
    (_thing(**{"$ref": "https://evil.example.cn/x.json"}), "$.schema.properties.x.$ref",
     "ref_unresolvable"),
    (_thing(**{"$ref": "file:///etc/passwd"}), "$.schema.properties.x.$ref", "ref_unresolvable"),
    (_thing(**{"$dynamicRef": "https://evil.example.cn/x.json#meta"}),
     "$.schema.properties.x.$dynamicRef", "ref_unresolvable"),
    (_thing(**{"$dynamicRef": "#nowhere"}), "$.schema.properties.x.$dynamicRef",
     "ref_unresolvable"),
    (_thing(**{"$ref": "#/$defs/missing"}), "$.schema.properties.x.$ref", "ref_unresolvable"),
])
def test_poisoned_schemas_are_refused_at_registration(admin, hub, schema, path, code):
    with pytest.raises(HubHTTPError) as err:
        admin._call("POST", "/v1/admin/contracts/newthing/versions", {"schema": schema}, JSON)
    assert err.value.status == 422, err.value.problem
    found = [(e["path"], e["code"]) for e in err.value.problem["errors"]]
    assert (path, code) in found, found
    assert hub.snap().versions("newthing") == []


def test_an_outside_reference_is_never_fetched(admin, hub):
    import threading

    from werkzeug.serving import make_server

    hits: list[str] = []

    def app(environ, start_response):
        hits.append(environ["PATH_INFO"])
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"type": "string"}']

    srv = make_server("127.0.0.1", 0, app)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        ref = f"http://127.0.0.1:{srv.server_port}/x.json"
        with pytest.raises(HubHTTPError) as err:
            admin._call("POST", "/v1/admin/contracts/newthing/versions",
                        {"schema": _thing(**{"$ref": ref})}, JSON)
    finally:
        srv.shutdown()
    assert err.value.status == 422 and hits == []


def test_the_same_schema_twice_returns_the_existing_version(admin, hub):
    first = admin._call("POST", "/v1/admin/contracts/newthing/versions",
                        {"schema": _thing()}, JSON)
    assert first["version"] == 1
    again = admin._call("POST", "/v1/admin/contracts/newthing/versions",
                        {"schema": {**_thing(), "$schema": "https://json-schema.org/draft/2020-12/schema"}},
                        JSON)
    assert again["id"] == first["id"]
    second = admin._call("POST", "/v1/admin/contracts/newthing/versions",
                         {"schema": {**_thing(), "properties": {
                             **_thing()["properties"], "y": {"title": "乙", "type": "string"}}}},
                         JSON)
    assert second["version"] == 2
    back = admin._call("POST", "/v1/admin/contracts/newthing/versions", {"schema": _thing()}, JSON)
    assert back["id"] == first["id"]
    assert hub.snap().versions("newthing") == [1, 2]


def test_a_registered_pattern_is_explained_in_linear_time(admin, members, live_hub):
    """``^(a+)+$`` backtracks for ages in Python's re; the hub explains it with RE2."""
    admin._call("PUT", "/v1/admin/contracts/progress/config", {"compatibility": "NONE"}, JSON)
    new = progress_v1()
    new["properties"]["handler"]["pattern"] = "^(a+)+$"
    new["properties"]["handler"]["maxLength"] = 50
    v2 = admin._call("POST", "/v1/admin/contracts/progress/versions", {"schema": new}, JSON)["id"]
    hrss = members["hrss"].client(live_hub.url)
    cid = case_id()
    hrss.emit("application_submitted", cid, contracts.example("application"))
    health = members["health"].client(live_hub.url)
    health.timeout = 60
    data = {"item": "only_child_certificate", "status": "received",
            "occurred_at": "2026-11-25T10:00:00Z", "handler": "a" * 40 + "!"}
    with pytest.raises(HubHTTPError) as err:
        health.emit("item_progressed", cid, data, dataschema=v2)
    assert err.value.status == 422
    assert [(e["path"], e["code"]) for e in err.value.problem["errors"]] == [
        ("$.data.handler", "schema_pattern")]


@pytest.mark.parametrize("poison", [
    {"$schema": "https://evil.example.cn/meta.json"},
    {"properties": {"handler": {"title": "经办人", "type": "string", "pattern": "(unclosed"}}},
    {"properties": {"handler": {"title": "经办人", "$ref": "https://evil.example.cn/x.json"}}},
])
def test_a_stored_version_that_fails_to_load_refuses_only_events_naming_it(
        admin, members, live_hub, hub, poison):
    """A version stored before today's checks (or damaged in the database) is set aside."""
    from hub.services.outbox import utcnow
    from hub.store.models import ContractVersion, RegistryAudit

    v2 = contracts.schema_id("progress", 2)
    broken = {**progress_v1(), "$id": v2, **poison}
    with hub.transaction() as s:
        s.add(ContractVersion(schema_id=v2, subject="progress", version=2, schema=broken,
                              created_by="older-hub", created_at=utcnow()))
        s.add(RegistryAudit(at=utcnow(), actor="older-hub", action="contract.register",
                            target=v2, detail={}))
    hub.catalog.invalidate()

    hrss = members["hrss"].client(live_hub.url)
    cid = case_id()
    assert hrss.emit("application_submitted", cid,
                     contracts.example("application"))["status"] == "accepted"
    health = members["health"].client(live_hub.url)
    data = {"item": "only_child_certificate", "status": "received",
            "occurred_at": "2026-11-25T10:00:00Z"}
    assert health.emit("item_progressed", cid, data)["status"] == "accepted"
    with pytest.raises(HubHTTPError) as err:
        health.emit("item_progressed", cid, {**data, "status": "in_progress"}, dataschema=v2)
    assert err.value.status == 422
    assert [(e["path"], e["code"]) for e in err.value.problem["errors"]] == [
        ("$.dataschema", "contract_unavailable")]
    notices = admin._call("GET", "/v1/admin/notices")["notices"]
    assert any(n["kind"] == "contract_unavailable" and v2 in n["message"] for n in notices)
    # the next registration takes the next number and works
    new = progress_v1()
    new["properties"]["channel"] = {"title": "渠道", "type": "string"}
    assert admin._call("POST", "/v1/admin/contracts/progress/versions",
                       {"schema": new}, JSON)["version"] == 3


def test_concurrent_item_registrations_end_in_409_never_500(hub, members):
    """Writers that read the same catalog both claim the next version: one wins, the others
    are told to send again (a clear 409), and nothing half-stored remains."""
    import threading

    from sqlalchemy import select

    from hub.domain.errors import DomainError
    from hub.registry.service import register_item
    from hub.store.models import ItemDefinitionRow

    d = contracts.item("only_child_certificate")
    hub.snap()  # every writer starts from the same cached catalog
    gate = threading.Barrier(6)
    results: list[object] = []

    def register() -> None:
        gate.wait()
        try:
            results.append(register_item(hub, "registrar", d)[1])
        except DomainError as exc:
            results.append((exc.code, exc.status, bool(exc.message_zh)))

    threads = [threading.Thread(target=register) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    won = [r for r in results if isinstance(r, int)]
    assert len(results) == 6 and won
    assert set(results) - set(won) <= {("concurrent_write", 409, True)}
    with hub.transaction() as s:
        stored = list(s.scalars(select(ItemDefinitionRow.version)
                                .where(ItemDefinitionRow.code == "only_child_certificate")))
    assert sorted(stored) == sorted(won)
