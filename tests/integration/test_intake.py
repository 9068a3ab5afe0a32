"""Intake over real HTTP: a lower-case x never leaves the hub; annex 5 must be the applicant's."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

import contracts
from hub.client import HubHTTPError, make_event
from hub.store.models import CaseRow, Event
from tests.support.members import case_id

X_ID = "32040219660515005X"  # born 1966-05, male, like the example applicant


def test_lower_case_x_is_stored_and_forwarded_upper_case(live_hub, members, hub):
    app = contracts.example("application")
    app["applicant"]["id_number"] = X_ID.lower()
    app["socialized_management"]["id_number"] = X_ID.lower()
    cid = case_id()
    hrss = members["hrss"].client(live_hub.url)
    event = make_event("hrss", "application_submitted", cid, app)
    assert hrss.publish(event)["status"] == "accepted"

    with hub.transaction() as s:
        stored = s.scalars(select(Event).where(Event.subject == cid)).all()
        row = s.get(CaseRow, cid)
        stored_text = json.dumps([e.data for e in stored]) + json.dumps(row.document)
    assert X_ID in stored_text and X_ID.lower() not in stored_text

    # what crossed the wire to the community unit carries the upper-case X
    feed = members["community"].client(live_hub.url).feed(after=0, limit=100)["items"]
    sent = [i["event"] for i in feed if i["event"]["subject"] == cid]
    assert sent and all(X_ID.lower() not in json.dumps(e) for e in sent)
    assert X_ID in json.dumps(sent)
    # what people see of the case is in Beijing time with its offset
    view = hrss.case(cid)
    assert view["updated_at"].endswith("+08:00") and view["created_at"].endswith("+08:00")
    assert all(h["at"].endswith("+08:00") for i in view["items"] for h in i["history"])

    # the same event again (lower-case as before) is a duplicate, not a conflict
    assert hrss.publish(event)["status"] == "duplicate"


def test_annex_5_of_another_person_is_refused_with_paths(live_hub, members, hub):
    app = contracts.example("application")
    app["socialized_management"].update(id_number="11010519491231002X", name="李四",
                                        birth_month="1949-12", sex="female")
    cid = case_id()
    with pytest.raises(HubHTTPError) as err:
        members["hrss"].client(live_hub.url).emit("application_submitted", cid, app)
    assert err.value.status == 422
    got = {(e["code"], e["path"]) for e in err.value.problem["errors"]}
    assert got == {("annex5_id_number_mismatch", "$.data.socialized_management.id_number"),
                   ("annex5_name_mismatch", "$.data.socialized_management.name"),
                   ("annex5_birth_month_mismatch", "$.data.socialized_management.birth_month"),
                   ("annex5_sex_mismatch", "$.data.socialized_management.sex")}
    with hub.transaction() as s:  # nothing half-stored
        assert s.get(CaseRow, cid) is None
        assert s.scalars(select(Event).where(Event.subject == cid)).first() is None


def test_a_later_month_without_flexible_late_is_accepted_with_a_warning(live_hub, members):
    app = contracts.example("application")
    app["retirement"]["month"] = "2027-04"  # six months after the legal 2026-10
    receipt = members["hrss"].client(live_hub.url).emit("application_submitted", case_id(), app)
    assert receipt["status"] == "accepted"
    (w,) = receipt["warnings"]
    assert w["code"] == "retirement_after_legal_month" and w["path"] == "$.data.retirement.month"
