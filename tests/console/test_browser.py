"""The console in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright): log in
with a second factor, watch an item turn yellow then red as the clock moves, open its case and
timeline, replay dead deliveries after a dry-run count, download the XLSX report, be refused a
page above one's role, and find every action in the audit log."""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pyotp
import pytest
from sqlalchemy import select

import contracts
from hub.console.levels import beijing_date
from hub.console.supervision import check_deadlines
from hub.store.models import Delivery
from tests.console.conftest import PASSWORD
from tests.console.helpers import beijing_morning, open_case, promised
from tests.support.servers import LiveServer

CHROMIUM = os.environ.get("HUB_TEST_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
APP = contracts.example("application")["applicant"]

pytestmark = pytest.mark.skipif(shutil.which(CHROMIUM) is None,
                                reason=f"no Chromium at {CHROMIUM} (.ci/run installs it)")


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    root = Path(os.environ.get("HUB_TEST_ARTIFACTS", tmp_path)) / "console"
    root.mkdir(parents=True, exist_ok=True)
    return root


@pytest.fixture
def console(hub, members, console_users) -> Iterator[dict[str, Any]]:
    from hub.http.app import create_app

    app = create_app(hub=hub)
    srv = LiveServer(app)
    yield {"url": srv.url, "clock": app.extensions["hub_console"].clock, "users": console_users}
    srv.stop()


def _login(page: Any, console: dict[str, Any], role: str) -> None:
    page.goto(console["url"] + "/console/login")
    page.fill("input[name=username]", role)
    page.fill("input[name=password]", PASSWORD)
    if role in console["users"].totp:
        page.fill("input[name=code]", pyotp.TOTP(console["users"].totp[role]).now())
    page.click("button[type=submit]")
    page.wait_for_url("**/console/")


def _logout(page: Any) -> None:
    page.click("header form button")
    page.wait_for_url("**/console/login")


def _cell(page: Any, member: str, col: str) -> Any:
    return page.locator(f'table[data-by="member"] tr[data-key="{member}"] td[data-col="{col}"]')


def test_the_console_in_a_browser(browser, console, hub, artifacts):
    cid = open_case(hub)
    promised_by, statutory_by = promised(hub, cid, "socialized_management")
    with hub.transaction() as s:  # two dead deliveries: one replayed alone, one in bulk
        dead = {d.member_id: d.id for d in s.scalars(
            select(Delivery).where(Delivery.member_id.in_(["community", "health"])))}
        for d in s.scalars(select(Delivery).where(Delivery.id.in_(dead.values()))):
            d.state = "dead"
    clock = console["clock"]
    page = browser.new_page(viewport={"width": 1366, "height": 768}, accept_downloads=True)

    # an operator logs in with a second factor
    _login(page, console, "operator")

    # the clock moves: nothing, then yellow, then red
    def move(day: Any) -> None:
        clock.set(beijing_morning(day))
        check_deadlines(hub, clock.now())
        page.goto(console["url"] + "/console/")

    move(promised_by - timedelta(days=10))
    assert "hot-" not in (_cell(page, "community", "due_soon").get_attribute("class") or "")
    move(promised_by)
    assert "hot-due_soon" in _cell(page, "community", "due_soon").get_attribute("class")
    assert _cell(page, "community", "due_soon").inner_text() == "1"
    move(promised_by + timedelta(days=1))
    red = _cell(page, "community", "overdue")
    assert "hot-overdue" in red.get_attribute("class") and red.inner_text() == "1"
    assert _cell(page, "community", "due_soon").inner_text() == "0"
    assert page.locator("svg.trend").count() == 1
    page.screenshot(path=str(artifacts / "overview.png"), full_page=True)

    # the red number leads to the case; the case page has its timeline with deadline lines
    red.locator("a").click()
    page.click(f"text={cid}")
    page.wait_for_url(f"**/console/cases/{cid}")
    lane = page.locator('svg.timeline g.lane[data-item="socialized_management"]')
    assert lane.locator("line.promised-line").count() == 1
    assert lane.locator("line.statutory-line").count() == 1
    assert lane.locator("circle.mark").count() >= 2  # waiting, dispatched
    assert page.locator('#items tr[data-item="socialized_management"] td.level'
                        ).get_attribute("data-level") == "overdue"
    assert APP["id_number"] not in page.content()
    page.screenshot(path=str(artifacts / "case.png"), full_page=True)
    page.fill("form.reveal input[name=reason]", "申请人来电核对身份")
    page.click("form.reveal button")
    assert page.locator("#personal").get_attribute("data-revealed") == "yes"
    assert APP["id_number"] in page.content()

    # replay one dead delivery, then the other in bulk after a dry-run count
    page.goto(console["url"] + "/console/deliveries?state=dead")
    page.locator(f'tr[data-id="{dead["health"]}"] button.replay-one').click()
    page.wait_for_url("**/console/deliveries?replayed=*")
    page.select_option("#bulk-replay select[name=member]", "community")
    page.click("#bulk-replay button[type=submit]")
    dry = page.locator("#bulk-result .dry-run")
    dry.wait_for()
    assert dry.get_attribute("data-count") == "1"
    with hub.transaction() as s:
        assert s.get(Delivery, dead["community"]).state == "dead"  # counting changed nothing
    page.click("#bulk-result button.confirm-replay")
    page.locator("#bulk-result .replayed").wait_for()
    with hub.transaction() as s:
        assert {s.get(Delivery, i).state for i in dead.values()} <= {"pending", "delivered"}

    # the monthly report, downloaded and read back
    month = beijing_date(clock.now()).strftime("%Y-%m")
    page.goto(console["url"] + f"/console/reports?month={month}")
    with page.expect_download() as dl:
        page.click("#xlsx")
    path = artifacts / "report.xlsx"
    dl.value.save_as(str(path))
    wb = openpyxl.load_workbook(path)
    rows = [[c.value for c in r] for r in wb["超期清单"].iter_rows(min_row=2)]
    assert any(r[0] == cid and r[1] == "socialized_management" for r in rows)
    assert wb["按部门"]["A2"].value == "部门"
    _logout(page)

    # a supervisor is refused the deliveries and sees no clear personal data
    _login(page, console, "supervisor")
    resp = page.goto(console["url"] + "/console/deliveries")
    assert resp.status == 403
    page.goto(console["url"] + f"/console/cases/{cid}")
    html = page.content()
    for clear in (APP["id_number"], APP["mobile"], APP["household_address"]):
        assert clear not in html
    _logout(page)

    # the admin finds every action in the audit log
    _login(page, console, "admin")
    page.goto(console["url"] + "/console/audit")
    actions = page.locator("#audit tr[data-action]").evaluate_all(
        "rows => rows.map(r => r.dataset.action)")
    for needed in ("login", "reveal", "replay", "report_download", "access_denied"):
        assert needed in actions, (needed, actions)
    assert "申请人来电核对身份" in page.locator('#audit tr[data-action="reveal"]').inner_text()
    assert actions.count("replay") == 2
    page.close()


def test_a_form_without_its_token_is_refused_in_the_browser(browser, console, hub):
    page = browser.new_page()
    _login(page, console, "operator")
    page.goto(console["url"] + "/console/endpoints")
    resp = page.request.post(console["url"] + "/console/endpoints/hrss/disable",
                             form={"reason": "no token"})
    assert resp.status == 400 and "csrf_failed" in resp.text()
    page.close()
