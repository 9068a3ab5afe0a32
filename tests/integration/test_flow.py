"""One application through the hub over real HTTP: phase 1, phase 2, progress, closure."""
from __future__ import annotations

import copy

import pytest
from sqlalchemy import select

import contracts
from hub.client import HubHTTPError
from hub.store.models import Delivery
from tests.support.members import case_id


def _status_events(client, cid):
    feed = client.feed(after=0, limit=500)
    return [i["event"]["data"] for i in feed["items"]
            if i["event"]["type"] == contracts.event_type("case_status_changed")
            and i["event"]["subject"] == cid]


def _pull_requests(client):
    feed = client.feed(after=0, limit=500)
    return [i["event"] for i in feed["items"]], feed["next_cursor"]


def _states(doc):
    return {i["code"]: i["state"] for i in doc["items"]}


def test_application_runs_to_a_closed_case(live_hub, members, hub):
    hrss = members["hrss"].client(live_hub.url)
    cid = case_id()
    receipt = hrss.emit("application_submitted", cid, contracts.example("application"))
    assert receipt["status"] == "accepted"

    case = hrss.case(cid)
    st = _states(case)
    assert st["retirement_approval"] == "in_progress"
    assert st["socialized_management"] == "dispatched"
    assert st["only_child_certificate"] == "dispatched"
    assert st["hpf_withdrawal"] == "waiting" and st["medical_transfer"] == "waiting"

    # phase 1 reached the community and health units, and nothing else did
    health = members["health"].client(live_hub.url)
    events, cursor = _pull_requests(health)
    assert [e["type"] for e in events] == [contracts.item("only_child_certificate")["request_type"]]
    payload = events[0]["data"]
    assert payload["holds_certificate"] is True
    assert set(payload) <= set(contracts.schema("only-child-certificate-request")["properties"])
    assert _pull_requests(members["hpf"].client(live_hub.url))[0] == []
    health.ack(cursor)
    assert _states(hrss.case(cid))["only_child_certificate"] == "delivered"
    with hub.transaction() as s:  # the bulk acknowledgement computed the latency in SQL
        (latency,) = s.scalars(select(Delivery.latency_ms).where(Delivery.member_id == "health"))
        assert latency is not None and 0 <= latency < 60_000

    # phase 2: approval
    hrss.emit("approval_decided", cid, contracts.example("approval-result"))
    st = _states(hrss.case(cid))
    assert st["retirement_approval"] == st["pension_verification"] == "completed"
    assert st["retirement_certificate"] == "completed"
    assert st["hpf_withdrawal"] == st["medical_transfer"] == "dispatched"

    hpf = members["hpf"].client(live_hub.url)
    hpf_events, _ = _pull_requests(hpf)
    assert hpf_events[0]["data"]["retirement_month"] == contracts.example(
        "approval-result")["retirement_month"]

    # every department reports; hpf not eligible becomes a standalone matter
    def report(member, item, status, **extra):
        data = {"item": item, "status": status, "occurred_at": "2026-11-25T10:00:00Z", **extra}
        return members[member].client(live_hub.url).emit("item_progressed", cid, data)

    report("health", "only_child_certificate", "completed")
    report("community", "socialized_management", "received")
    report("community", "socialized_management", "completed")
    report("medical", "medical_transfer", "in_progress")
    report("medical", "medical_transfer", "completed")
    report("hpf", "hpf_withdrawal", "not_eligible",
           reason={"code": "arrears", "message_zh": "单位存在欠缴，需单独办理"})

    final = hrss.case(cid)
    assert final["state"] == "closed"
    st = _states(final)
    assert st["hpf_withdrawal"] == "standalone"
    hpf_item = next(i for i in final["items"] if i["code"] == "hpf_withdrawal")
    assert hpf_item["reason"]["code"] == "arrears"
    assert [h["to"] for h in hpf_item["history"]] == ["waiting", "dispatched", "standalone"]

    # the merged status reached HRSS after every change, the last one closed
    statuses = _status_events(hrss, cid)
    assert len(statuses) >= 8
    assert statuses[-1]["state"] == "closed"
    assert _states(statuses[-1]) == st
    for s in statuses:
        assert not list(contracts.validator(contracts.schema_id("case-status")).iter_errors(s))


def test_refused_approval_cancels_dependent_items(live_hub, members):
    hrss = members["hrss"].client(live_hub.url)
    cid = case_id()
    hrss.emit("application_submitted", cid, contracts.example("application"))
    hrss.emit("approval_decided", cid, contracts.example("approval-result-refused"))
    doc = hrss.case(cid)
    assert doc["state"] == "closed"
    by = {i["code"]: i for i in doc["items"]}
    assert by["retirement_approval"]["state"] == "completed"
    for code in ("pension_verification", "retirement_certificate", "hpf_withdrawal",
                 "medical_transfer", "socialized_management", "only_child_certificate"):
        assert by[code]["state"] == "cancelled", code
        assert by[code]["reason"]["code"] == "approval_refused"
    # the community unit already had its request, so it is told of the cancellation
    events, _ = _pull_requests(members["community"].client(live_hub.url))
    assert [e["type"] for e in events][-1] == contracts.event_type("item_cancelled")
    assert events[-1]["data"]["item"] == "socialized_management"


def test_illegal_transition_is_refused_with_409(live_hub, members):
    hrss = members["hrss"].client(live_hub.url)
    cid = case_id()
    hrss.emit("application_submitted", cid, contracts.example("application"))
    health = members["health"].client(live_hub.url)
    ok = {"item": "only_child_certificate", "status": "completed",
          "occurred_at": "2026-11-25T10:00:00Z"}
    health.emit("item_progressed", cid, ok)
    with pytest.raises(HubHTTPError) as err:
        health.emit("item_progressed", cid, {**ok, "status": "in_progress"})
    assert err.value.status == 409
    assert err.value.problem["code"] == "illegal_transition"
    assert err.value.problem["errors"][0]["path"] == "$.data.status"
    # phase-2 item not yet dispatched
    with pytest.raises(HubHTTPError) as err:
        members["hpf"].client(live_hub.url).emit(
            "item_progressed", cid, {**ok, "item": "hpf_withdrawal"})
    assert err.value.status == 409 and err.value.problem["code"] == "item_not_dispatched"
    # not this member's item
    with pytest.raises(HubHTTPError) as err:
        members["hpf"].client(live_hub.url).emit(
            "item_progressed", cid, {**ok, "item": "socialized_management"})
    assert err.value.status == 403 and err.value.problem["code"] == "not_responsible"


def test_invalid_application_lists_every_error_and_stores_nothing(live_hub, members, hub):
    from sqlalchemy import func, select

    from hub.store.models import CaseRow, Event

    hrss = members["hrss"].client(live_hub.url)
    app = copy.deepcopy(contracts.example("application"))
    app["applicant"]["id_number"] = app["applicant"]["id_number"][:-1] + (
        "0" if app["applicant"]["id_number"][-1] != "0" else "1")
    app["applicant"]["sex"] = "unknown"
    del app["employer"]["name"]
    app["retirement"]["extra"] = 1
    with pytest.raises(HubHTTPError) as err:
        hrss.emit("application_submitted", case_id(), app)
    p = err.value.problem
    assert err.value.status == 422 and p["code"] == "invalid_event"
    paths = {e["path"] for e in p["errors"]}
    assert {"$.data.applicant.sex", "$.data.employer.name", "$.data.retirement"} <= paths
    assert all(e["message_zh"] for e in p["errors"])
    assert p["detail_zh"]
    with hub.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Event)) == 0
        assert s.scalar(select(func.count()).select_from(CaseRow)) == 0

    # schema-valid but breaking the domain rules: every rule error, with its path
    app = copy.deepcopy(contracts.example("application"))
    app["applicant"]["birth_month"] = "1966-06"
    app["applicant"]["sex"] = "female"
    with pytest.raises(HubHTTPError) as err:
        hrss.emit("application_submitted", case_id(), app)
    codes = {(e["code"], e["path"]) for e in err.value.problem["errors"]}
    assert ("id_number_birth_mismatch", "$.data.applicant.birth_month") in codes
    assert ("id_number_sex_mismatch", "$.data.applicant.sex") in codes


def test_batch_is_all_or_nothing_and_idempotent(live_hub, members, hub):
    from hub.client import make_event

    hrss = members["hrss"].client(live_hub.url)
    good = make_event("hrss", "application_submitted", case_id(), contracts.example("application"))
    bad = make_event("hrss", "application_submitted", case_id(), {"form": "annex3"})
    with pytest.raises(HubHTTPError) as err:
        hrss.publish_batch([good, bad])
    assert err.value.status == 422
    assert all(e["path"].startswith("$[1]") for e in err.value.problem["errors"])
    with pytest.raises(HubHTTPError):
        hrss.case(good["subject"])

    first = hrss.publish_batch([good])
    again = hrss.publish_batch([good])
    assert again[0]["status"] == "duplicate" and again[0]["sequence"] == first[0]["sequence"]
    changed = {**good, "data": {**good["data"], "paper_certificate": False}}
    with pytest.raises(HubHTTPError) as err:
        hrss.publish(changed)
    assert err.value.status == 409 and err.value.problem["code"] == "event_id_conflict"


def test_issue_reports_are_recorded_against_the_case(live_hub, members):
    hrss = members["hrss"].client(live_hub.url)
    cid = case_id()
    hrss.emit("application_submitted", cid, contracts.example("application"))
    community = members["community"].client(live_hub.url)
    community.emit("issue_reported", cid, {
        "item": "socialized_management", "code": "unknown_city",
        "message_zh": "路由表中没有该城市", "message_en": "no route for the city",
        "occurred_at": "2026-11-25T10:00:00Z", "city_code": "320999"})
    doc = hrss.case(cid)
    (issue,) = doc["issues"]
    assert issue["code"] == "unknown_city" and issue["reported_by"] == "community"
    assert issue["item"] == "socialized_management"
    # a member outside the case cannot report on it
    with pytest.raises(HubHTTPError) as err:
        members["hpf"].client(live_hub.url).emit("issue_reported", case_id(), {
            "code": "x", "message_zh": "x", "occurred_at": "2026-11-25T10:00:00Z"})
    assert err.value.status in (403, 404)
