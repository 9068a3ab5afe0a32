"""The working calendar registered while the hub runs: CLI and admin API, recomputation, notice."""
from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

import contracts
from hub.cli import main
from hub.client import HubHTTPError
from hub.domain.case import Case
from hub.security import keys
from hub.services.members import add_member
from hub.store import cases as case_store
from hub.worker import Worker
from tests.integration.test_operations import wait_until
from tests.support.members import case_id

UTC = datetime.UTC
D = datetime.date
TEST_2027 = Path(__file__).parents[1] / "data" / "calendar-2027-TEST-ONLY.json"


@pytest.fixture
def env(hub_config):
    return {"HUB_DATABASE_URL": hub_config.database_url, "HUB_KEY_DIR": str(hub_config.key_dir),
            "COLUMNS": "200"}


def cli(env, *args):
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.output


def _store_case(hub, at):
    """A case opened at `at` by the running hub's own calendar, as on_application does."""
    cid = case_id()
    case = Case.open(cid, contracts.example("application"), hub.definitions(), now=at,
                     by="hrss", event_id=f"ev-{cid}", deadline=hub.snap().calendar.deadline)
    with hub.transaction() as s:
        case_store.add(s, case, "hrss")
    return cid


def test_2027_registered_by_cli_while_the_hub_runs(hub, live_hub, members, env):
    hrss = members["hrss"].client(live_hub.url)
    before = _store_case(hub, datetime.datetime(2026, 12, 20, 2, 0, tzinfo=UTC))
    doc = hrss.case(before)
    item = next(i for i in doc["items"] if i["code"] == "socialized_management")
    assert item["deadlines"] == {"promised": "2026-12-28"}
    assert item["deadline_note"] == "holiday_calendar_unknown_year"

    code, out = cli(env, "calendar", "import", "2027", str(TEST_2027))
    assert code == 0, out
    assert "calendar 2027 version 1 registered" in out and "in 1 cases" in out

    # the opened-before case has its missing date, and its history says which calendar
    doc = hrss.case(before)
    item = next(i for i in doc["items"] if i["code"] == "socialized_management")
    assert item["deadlines"] == {"promised": "2026-12-28", "statutory": "2027-01-18"}
    assert "deadline_note" not in item
    entry = item["history"][-1]
    assert entry["reason"]["code"] == "deadlines_recomputed"
    assert entry["reason"]["calendar"].startswith("registry 2027 v1")
    assert entry["from"] == entry["to"] == item["state"]

    # and the entrance platform was told: a status event with the new dates crossed the wire
    feed = hrss.feed(after=0, limit=500)["items"]
    statuses = [i["event"]["data"] for i in feed
                if i["event"]["type"] == contracts.event_type("case_status_changed")
                and i["event"]["subject"] == before]
    last = next(i for i in statuses[-1]["items"] if i["code"] == "socialized_management")
    assert last["deadlines"]["statutory"] == "2027-01-18"

    # the running hub picks the registration up: a case opened on 2026-12-20 now gets a 2027
    # statutory date counting Saturday 2027-01-09, worked in the (test) arrangement
    wait_until(lambda: hub.snap().calendar.knows(2027))
    after = _store_case(hub, datetime.datetime(2026, 12, 20, 2, 0, tzinfo=UTC))
    item = next(i for i in hrss.case(after)["items"] if i["code"] == "socialized_management")
    assert item["deadlines"] == {"promised": "2026-12-28", "statutory": "2027-01-18"}

    # importing the same file again changes nothing; the CLI shows the year
    code, out = cli(env, "calendar", "import", "2027", str(TEST_2027))
    assert code == 0 and "unchanged (version 1)" in out
    code, out = cli(env, "calendar", "show", "2027")
    assert code == 0 and "2027-01-09" in out and "调休上班" in out and "version 1" in out
    assert "+08:00" in out  # registered-at shown in Beijing time with its offset
    shown = json.loads(cli(env, "calendar", "show", "2027", "--json")[1])
    assert shown["workdays"] == ["2027-01-09", "2027-02-20"] and shown["version"] == 1


def test_a_correction_recounts_items_that_depend_on_the_year(hub, live_hub, members, env,
                                                            tmp_path):
    hrss = members["hrss"].client(live_hub.url)
    assert cli(env, "calendar", "import", "2027", str(TEST_2027))[0] == 0
    hub.catalog.invalidate()
    cid = _store_case(hub, datetime.datetime(2026, 12, 20, 2, 0, tzinfo=UTC))
    corrected = json.loads(TEST_2027.read_text("utf-8"))
    corrected["workdays"].remove("2027-01-09")  # the Saturday is not worked after all
    path = tmp_path / "2027.json"
    path.write_text(json.dumps(corrected, ensure_ascii=False), "utf-8")
    code, out = cli(env, "calendar", "import", "2027", str(path))
    assert code == 0 and "version 2 registered" in out, out
    item = next(i for i in hrss.case(cid)["items"] if i["code"] == "socialized_management")
    assert item["deadlines"]["statutory"] == "2027-01-19"
    assert item["history"][-1]["reason"]["calendar"].startswith("registry 2027 v2")


def test_cli_refuses_a_bad_calendar_with_paths_and_stores_nothing(hub, env, tmp_path):
    bad = json.loads(TEST_2027.read_text("utf-8"))
    bad["workdays"] = ["2027-01-05", "2027-01-02"]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad), "utf-8")
    code, out = cli(env, "calendar", "import", "2027", str(path))
    assert code != 0
    assert "$.workdays[0]  calendar_workday_not_weekend" in out
    assert "$.workdays[1]  calendar_day_both" in out
    code, out = cli(env, "calendar", "show", "2027")
    assert code != 0 and "calendar_not_found" in out
    code, out = cli(env, "calendar", "import", "2028", str(TEST_2027))
    assert code != 0 and "calendar_year_mismatch" in out
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 50_000, "utf-8")
    code, out = cli(env, "calendar", "import", "2027", str(deep))
    assert code != 0 and "not UTF-8 JSON" in out
    code, out = cli(env, "calendar", "list")
    assert code == 0 and "contracts/calendars/2026.json" in out and "chinese-calendar" in out


@pytest.fixture
def admin(hub, live_hub, make_member):
    ops = make_member("ops", [])
    add_member(hub, "ops", keys.public_key_pem(ops.key.public_key()), keyid=ops.keyid,
               roles=["admin"])
    return ops.client(live_hub.url)


def test_admin_api_registers_and_shows_a_year(hub, admin, members, live_hub):
    doc = json.loads(TEST_2027.read_text("utf-8"))
    bad = {**doc, "holidays": []}
    with pytest.raises(HubHTTPError) as err:
        admin._call("PUT", "/v1/admin/calendars/2027", bad, "application/json")
    assert err.value.status == 422 and err.value.problem["code"] == "invalid_calendar"
    assert [p["path"] for p in err.value.problem["errors"]] == ["$.holidays"]
    with pytest.raises(HubHTTPError) as err:  # only administrators
        members["hrss"].client(live_hub.url)._call("PUT", "/v1/admin/calendars/2027", doc,
                                                    "application/json")
    assert err.value.status == 403

    out = admin._call("PUT", "/v1/admin/calendars/2027", doc, "application/json")
    assert out["created"] is True and out["version"] == 1
    shown = admin._call("GET", "/v1/admin/calendars/2027")
    assert shown["versions"][0]["created_by"] == "ops" and "2027-01-01" in shown["holidays"]
    assert shown["versions"][0]["created_at"].endswith("Z")
    audit = admin._call("GET", "/v1/admin/audit")["audit"]
    assert any(a["action"] == "calendar.register" and a["target"] == "calendar/2027"
               and a["actor"] == "ops" and a["detail"]["version"] == 1 for a in audit)
    listed = admin._call("GET", "/v1/admin/calendars")
    assert [c["year"] for c in listed["calendars"]][-1] == 2027
    # the shipped 2026 document is what the hub uses for 2026
    assert admin._call("GET", "/v1/admin/calendars/2026")["source"].startswith(
        "contracts/calendars/2026.json")


def test_next_year_unknown_raises_a_notice_a_metric_and_readyz_detail(hub, admin, live_hub):
    from hub.registry import calendars

    # late November 2026 in Beijing, 2027 not registered: past the 1 October warning date
    st = calendars.watch(hub, datetime.datetime(2026, 11, 29, 8, 0, tzinfo=UTC))
    assert st["warning"] is True and st["next_year"] == 2027
    calendars.watch(hub, datetime.datetime(2026, 11, 30, 8, 0, tzinfo=UTC))  # raised once only
    notices = [n for n in admin._call("GET", "/v1/admin/notices")["notices"]
               if n["kind"] == "calendar_year_unknown"]
    assert len(notices) == 1 and "2027" in notices[0]["message"] and notices[0]["message_zh"]
    # before the warning date nothing is due
    assert calendars.status(hub, datetime.datetime(2026, 9, 1, tzinfo=UTC))["warning"] is False

    w = Worker(hub)
    w.start()
    try:
        r = wait_until(lambda: (x := requests.get(live_hub.url + "/readyz", timeout=5))
                       .status_code == 200 and x)
    finally:
        w.stop()
    cal = r.json()["checks"]["calendar"]
    assert r.json()["ready"] is True
    assert cal["next_year"] == int(cal["today"][:4]) + 1 and "message" in cal
    text = requests.get(live_hub.url + "/metrics", timeout=5).text
    assert "hub_calendar_next_year_unknown 1.0" in text
    assert f'hub_calendar_year_known{{year="{cal["next_year"]}"}} 0.0' in text

    ny = cal["next_year"]
    admin._call("PUT", f"/v1/admin/calendars/{ny}",
                {"year": ny, "notice": "TEST DATA, not a real arrangement",
                 "holidays": [{"name": "test", "from": f"{ny}-01-01"}]}, "application/json")
    hub.catalog.invalidate()
    text = requests.get(live_hub.url + "/metrics", timeout=5).text
    assert "hub_calendar_next_year_unknown 0.0" in text
    assert requests.get(live_hub.url + "/readyz", timeout=5).json()["checks"]["calendar"][
        "warning"] is False


def test_a_stored_year_that_no_longer_passes_its_checks_does_not_stop_the_hub(hub, env):
    from hub.services.outbox import utcnow
    from hub.store.models import WorkingCalendarRow

    assert cli(env, "calendar", "import", "2027", str(TEST_2027))[0] == 0
    with hub.transaction() as s:  # e.g. a row written before a check was added
        s.add(WorkingCalendarRow(year=2027, version=2, document={"year": 2027}, notice="bad",
                                 created_by="test", created_at=utcnow()))
    hub.catalog.invalidate()
    cal = hub.snap().calendar
    assert cal.arrangement(2027).version == 1  # the previous version stays in force
    assert cal.deadline(D(2026, 12, 20), 20) == D(2027, 1, 18)


def test_any_year_in_the_path_gets_a_documented_answer(admin):
    huge = 10**16
    with pytest.raises(HubHTTPError) as err:
        admin._call("GET", f"/v1/admin/calendars/{huge}")
    assert err.value.status == 404 and err.value.problem["code"] == "calendar_not_found"
    with pytest.raises(HubHTTPError) as err:
        admin._call("PUT", f"/v1/admin/calendars/{huge}", {"year": huge}, "application/json")
    assert err.value.status == 422
    assert [e["path"] for e in err.value.problem["errors"]] == ["$.year"]
