"""The console over its WSGI app: logins, CSRF, roles, masking, reveal, overview, reports."""
from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import openpyxl
import pytest
from sqlalchemy import select

import contracts
from hub.console import queries
from hub.console.supervision import check_deadlines
from hub.store.models import Delivery
from tests.console.conftest import PASSWORD, csrf_of
from tests.console.helpers import beijing_morning, open_case, promised

HTTPS = "https://localhost"
APP = contracts.example("application")["applicant"]


def _get(client, path):
    return client.get(path, base_url=HTTPS)


def _audit(hub, action):
    with hub.transaction() as s:
        return queries.audit(s, action=action)


def test_an_operator_needs_the_second_factor(console_app, console_users):
    client = console_app.test_client()
    token = csrf_of(client.get("/console/login", base_url=HTTPS).get_data(as_text=True))
    r = client.post("/console/login", base_url=HTTPS, data={
        "csrf_token": token, "username": "operator", "password": PASSWORD, "code": ""})
    assert r.status_code == 401 and "login_failed" in r.get_data(as_text=True)
    assert _get(client, "/console/").status_code == 302  # still not logged in


def test_the_session_cookie_is_secure_httponly_and_samesite(console_app, console_users):
    client = console_app.test_client()
    r = client.get("/console/login", base_url=HTTPS)
    cookie = r.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "<script>" not in r.get_data(as_text=True)  # no inline script anywhere


def test_a_form_without_its_csrf_token_is_refused(login, hub):
    client = login("operator")
    r = client.post("/console/endpoints/hrss/disable", base_url=HTTPS, data={"reason": "x"})
    assert r.status_code == 400 and "csrf_failed" in r.get_data(as_text=True)
    assert _audit(hub, "endpoint_disable") == []


def test_a_page_above_ones_role_is_refused_and_audited(login, hub):
    client = login("observer")
    assert _get(client, "/console/").status_code == 200
    r = _get(client, "/console/deliveries")
    assert r.status_code == 403 and "forbidden" in r.get_data(as_text=True)
    denied = _audit(hub, "access_denied")
    assert denied and denied[0]["actor"] == "observer"
    assert denied[0]["target"] == "/console/deliveries"


@pytest.mark.parametrize("role", ["observer", "supervisor"])
def test_no_clear_personal_data_for_observers_and_supervisors(login, hub, members, role):
    cid = open_case(hub)
    client = login(role)
    pages = [_get(client, "/console/").get_data(as_text=True),
             _get(client, f"/console/cases?case_id={cid}").get_data(as_text=True),
             _get(client, f"/console/cases/{cid}").get_data(as_text=True)]
    for html in pages:
        for clear in (APP["id_number"], APP["mobile"], APP["household_address"], APP["name"]):
            assert clear not in html
    if role == "supervisor":
        assert APP["id_number"][:4] + "**********" + APP["id_number"][-4:] in pages[2]
        r = client.post(f"/console/cases/{cid}/reveal", base_url=HTTPS,
                        data={"csrf_token": csrf_of(pages[2]), "reason": "核对身份"})
        assert r.status_code == 403 and APP["id_number"] not in r.get_data(as_text=True)


def test_a_reveal_shows_the_data_and_is_audited_with_its_reason(login, hub, members):
    cid = open_case(hub)
    client = login("operator")
    html = _get(client, f"/console/cases/{cid}").get_data(as_text=True)
    assert APP["id_number"] not in html
    short = client.post(f"/console/cases/{cid}/reveal", base_url=HTTPS,
                        data={"csrf_token": csrf_of(html), "reason": ""})
    assert short.status_code == 400 and _audit(hub, "reveal") == []
    r = client.post(f"/console/cases/{cid}/reveal", base_url=HTTPS,
                    data={"csrf_token": csrf_of(html), "reason": "申请人来电核对手机号"})
    assert r.status_code == 200 and APP["id_number"] in r.get_data(as_text=True)
    (line,) = _audit(hub, "reveal")
    assert line["actor"] == "operator" and line["target"] == f"case:{cid}"
    assert line["reason"] == "申请人来电核对手机号"


def test_overview_counts_follow_the_moved_clock(login, hub, members, console_app):
    cid = open_case(hub)
    promised_by, _ = promised(hub, cid, "socialized_management")
    clock = console_app.extensions["hub_console"].clock
    client = login("supervisor")

    def community_cell(col):
        import re
        html = _get(client, "/console/overview/counts").get_data(as_text=True)
        row = re.search(r'data-by="member".*?<tr data-key="community">(.*?)</tr>', html, re.S)
        assert row, html[:2000]
        cell = re.search(rf'data-col="{col}"><a href="[^"]*">(\d+)</a>', row.group(1))
        return int(cell.group(1))

    clock.set(beijing_morning(promised_by - timedelta(days=10)))
    assert community_cell("due_soon") == 0 and community_cell("open") == 1
    clock.set(beijing_morning(promised_by))
    assert community_cell("due_soon") == 1 and community_cell("overdue") == 0
    clock.set(beijing_morning(promised_by + timedelta(days=1)))
    assert community_cell("due_soon") == 0 and community_cell("overdue") == 1
    # the number links to the cases behind it
    listed = _get(client, "/console/cases?member=community&level=overdue").get_data(as_text=True)
    assert cid in listed


def test_the_case_page_draws_the_timeline_with_deadline_lines(login, hub, members):
    cid = open_case(hub)
    html = _get(login("supervisor"), f"/console/cases/{cid}").get_data(as_text=True)
    assert '<svg class="timeline"' in html
    assert html.count('class="deadline promised-line"') >= 2
    assert html.count('class="deadline statutory-line"') >= 2
    assert 'data-item="socialized_management"' in html


def test_bulk_replay_counts_first_then_replays(login, hub, members):
    open_case(hub)
    with hub.transaction() as s:
        ids = list(s.scalars(select(Delivery.id).where(Delivery.member_id == "community")))
        for d in s.scalars(select(Delivery).where(Delivery.id.in_(ids))):
            d.state = "dead"
    client = login("operator")
    token = csrf_of(_get(client, "/console/deliveries").get_data(as_text=True))
    dry = client.post("/console/deliveries/replay", base_url=HTTPS,
                      data={"csrf_token": token, "member": "community"})
    assert f'data-count="{len(ids)}"' in dry.get_data(as_text=True)
    with hub.transaction() as s:  # the dry run changed nothing
        chosen = select(Delivery).where(Delivery.id.in_(ids))
        assert {d.state for d in s.scalars(chosen)} == {"dead"}
    done = client.post("/console/deliveries/replay", base_url=HTTPS,
                       data={"csrf_token": token, "member": "community", "confirm": "yes"})
    assert f'data-count="{len(ids)}"' in done.get_data(as_text=True)
    with hub.transaction() as s:
        chosen = select(Delivery).where(Delivery.id.in_(ids))
        assert {d.state for d in s.scalars(chosen)} == {"pending"}
    (line,) = _audit(hub, "replay")
    assert line["target"] == "member:community" and line["detail"]["replayed"] == len(ids)


def test_notices_move_from_open_to_acknowledged_to_resolved(login, hub, members):
    cid = open_case(hub)
    promised_by, _ = promised(hub, cid, "socialized_management")
    check_deadlines(hub, beijing_morning(promised_by + timedelta(days=1)))
    client = login("operator")
    html = _get(client, "/console/notices?state=open").get_data(as_text=True)
    with hub.transaction() as s:
        nid = queries.notices(s, state="open")[0]["id"]
    assert client.post(f"/console/notices/{nid}/acknowledged", base_url=HTTPS,
                       data={"csrf_token": csrf_of(html)}).status_code == 302
    assert client.post(f"/console/notices/{nid}/resolved", base_url=HTTPS,
                       data={"csrf_token": csrf_of(html)}).status_code == 302
    again = client.post(f"/console/notices/{nid}/acknowledged", base_url=HTTPS,
                        data={"csrf_token": csrf_of(html)})
    assert again.status_code == 409
    with hub.transaction() as s:
        n = next(x for x in queries.notices(s) if x["id"] == nid)
    assert n["state"] == "resolved" and n["acknowledged_by"] == n["resolved_by"] == "operator"


def test_monthly_report_as_xlsx_and_csv(login, hub, members):
    cid = open_case(hub)
    promised_by, _ = promised(hub, cid, "socialized_management")
    late = beijing_morning(promised_by + timedelta(days=1))
    check_deadlines(hub, late)
    month = late.astimezone(beijing_morning(promised_by).tzinfo).strftime("%Y-%m")
    from hub.console.levels import beijing_date
    month = beijing_date(late).strftime("%Y-%m")
    client = login("observer")
    page = _get(client, f"/console/reports?month={month}").get_data(as_text=True)
    assert cid in page
    x = _get(client, f"/console/reports/timeliness.xlsx?month={month}")
    assert x.status_code == 200
    wb = openpyxl.load_workbook(io.BytesIO(x.data))
    assert wb.sheetnames == ["按部门", "按设区市", "超期清单"]
    assert [c.value for c in wb["按部门"][2]][:4] == ["部门", "办结件数", "按期办结", "超期办结"]
    overdue = [[c.value for c in row] for row in wb["超期清单"].iter_rows(min_row=2)]
    assert any(r[0] == cid and r[1] == "socialized_management" for r in overdue)
    c = _get(client, f"/console/reports/timeliness.csv?month={month}")
    assert c.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(c.data.decode("utf-8-sig"))))
    assert rows[0][:3] == ["维度", "名称", "办结件数"]
    assert any(r and r[0] == cid for r in rows)
    bad = _get(client, "/console/reports?month=2026-13")
    assert bad.status_code == 400 and "bad_console_input" in bad.get_data(as_text=True)


def test_completed_items_give_on_time_rates_medians_and_the_trend(hub, members):
    from hub.client import make_event
    from hub.console import stats
    from hub.services.publish import publish

    cid = open_case(hub)
    progress = contracts.example("progress")
    progress.update(item="socialized_management", status="completed")
    progress.pop("promised_date", None)
    progress["occurred_at"] = "2026-11-30T10:00:00+08:00"
    progress["result"] = {"note_zh": "已纳入社会化管理"}
    publish(hub, "community", make_event("community", "item_progressed", cid, progress),
            batch=False)
    with hub.transaction() as s:
        page = stats.overview_page(s, datetime.now(UTC), hub.snap().calendar)
    community = next(r for r in page["by_member"] if r["key"] == "community")
    assert community["completed"] == 1 and community["on_time"] == 1
    assert community["on_time_pct"] == 100.0
    assert community["median_days"] == community["p90_days"] == 0.0  # done the same day
    assert sum(w["on_time"] for w in page["weeks"]) == 1
    assert sum(w["late"] for w in page["weeks"]) == 0


def test_admin_pages_registry_diff_diagnostics_and_users(login, hub, members):
    client = login("admin")
    reg = _get(client, "/console/registry?subject=progress&a=1&b=1")
    assert reg.status_code == 200 and 'id="schema-diff"' in reg.get_data(as_text=True)
    missing = _get(client, "/console/registry?subject=progress&a=1&b=99")
    assert missing.status_code == 400
    diag = _get(client, "/console/diagnostics.json")
    body = diag.get_json(force=True)
    assert body["database"]["ok"] is True and body["contracts"]["ok"] is True
    assert 2026 in body["calendar_years"] and 2025 in body["calendar_years"]
    assert "attachment" in diag.headers["Content-Disposition"]
    users = _get(client, "/console/users").get_data(as_text=True)
    assert "operator" in users and "$argon2" not in users
    assert _get(client, "/console/audit").status_code == 200


def test_schema_diff_names_added_removed_and_changed_pointers() -> None:
    from hub.console.pages import schema_diff

    old = {"properties": {"a": {"type": "string"}, "b/c": {"type": "integer"}}, "required": ["a"]}
    new = {"properties": {"a": {"type": "integer"}, "d": {}}, "required": ["a"]}
    assert schema_diff(old, new) == [
        {"pointer": "/properties/a/type", "change": "changed"},
        {"pointer": "/properties/b~1c", "change": "removed"},
        {"pointer": "/properties/d", "change": "added"}]


def test_masking_keeps_only_what_places_a_value() -> None:
    from hub.console.masking import mask, table

    assert mask("id_number", "320402196605150033") == "3204**********0033"
    assert mask("mobile", "13800000001") == "138****0001"
    assert mask("name", "王示例") == "王**"
    assert mask("household_address", "江苏省常州市天宁区示例路1号") == "江苏省常州市****"
    doc = contracts.example("application")
    masked = " ".join(r["value"] for r in table(doc, reveal=False))
    assert APP["id_number"] not in masked and APP["mobile"] not in masked
    assert APP["id_number"] in " ".join(r["value"] for r in table(doc, reveal=True))


def test_english_is_available_and_the_switch_returns_to_the_page(login, hub, members):
    client = login("observer")
    r = _get(client, "/console/lang/en?next=/console/reports?month=2026-11")
    assert r.status_code == 302 and r.headers["Location"].endswith("/console/reports?month=2026-11")
    html = _get(client, "/console/").get_data(as_text=True)
    assert "Overview" in html and "Seriously overdue" in html
    away = _get(client, "/console/lang/zh?next=//evil.example/")
    assert away.headers["Location"].endswith("/console/")
    assert "督查总览" in _get(client, "/console/").get_data(as_text=True)


def test_endpoint_disable_and_enable_are_audited(login, hub, members):
    from hub.store.models import Member

    client = login("operator")
    token = csrf_of(_get(client, "/console/endpoints").get_data(as_text=True))
    r = client.post("/console/endpoints/hpf/disable", base_url=HTTPS,
                    data={"csrf_token": token, "reason": "对端维护"})
    assert r.status_code == 302
    with hub.transaction() as s:
        assert s.get(Member, "hpf").push_disabled_reason == "对端维护"
    client.post("/console/endpoints/hpf/enable", base_url=HTTPS, data={"csrf_token": token})
    with hub.transaction() as s:
        assert s.get(Member, "hpf").push_disabled_at is None
    (off,) = _audit(hub, "endpoint_disable")
    (on,) = _audit(hub, "endpoint_enable")
    assert off["reason"] == "对端维护" and off["target"] == "member:hpf" and on["reason"] is None
    unknown = client.post("/console/endpoints/nobody/disable", base_url=HTTPS,
                          data={"csrf_token": token})
    assert unknown.status_code == 404 and _audit(hub, "endpoint_disable") == [off]
