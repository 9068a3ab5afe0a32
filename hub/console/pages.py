"""The console pages: thin views over `queries`, `stats` and `actions`."""
from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from time import monotonic
from typing import Any

from flask import Response, abort, current_app, json, redirect, request, url_for

import contracts
from hub.console import actions, masking, queries, stats, svg
from hub.console import levels as L
from hub.console.web import actor, bad_request, bp, hub, lang, now, page, parse_date, requires
from hub.domain import delivery
from hub.domain import states as S
from hub.services import key_age

MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
LIMIT = 100


def _text(name: str, limit: int = 100) -> str | None:
    raw = request.values.get(name, "").strip()
    if len(raw) > limit:
        raise bad_request(name, f"at most {limit} characters", f"最多 {limit} 个字符")
    return raw or None


def _int(name: str) -> int | None:
    raw = request.values.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 9:
        raise bad_request(name, "expected a whole number", "应为整数")
    return int(raw)


def _start(d: Any) -> datetime | None:
    return datetime.combine(d, time(0), L.BEIJING) if d else None


# ----- overview --------------------------------------------------------------------------

@bp.get("/")
@requires("observer")
def overview() -> Any:
    return page("overview.html", **_overview_data())


@bp.get("/overview/counts")
@requires("observer")
def overview_counts() -> Any:
    """The live part of the overview: htmx reloads the tables every minute."""
    return page("overview_counts.html", **_overview_data())


def _overview_data() -> dict[str, Any]:
    at = now()
    with hub().transaction() as s:
        data = stats.overview_page(s, at, hub().snap().calendar, _cached_spans(s, at))
    return {"by_member": data["by_member"], "by_city": data["by_city"],
            "chart": svg.trend(data["weeks"], lang()), "now": at}


SPANS_TTL_S = 300.0


def _cached_spans(s: Any, at: datetime) -> Any:
    """Completions of the last twelve weeks, read at most every five minutes per process and
    Beijing day (the costly part of the overview at volume; the counts are always live)."""
    state = current_app.extensions["hub_console"]
    key = L.beijing_date(at)
    hit = state.spans_cache.get(key)
    if hit is not None and monotonic() - hit[0] < SPANS_TTL_S:
        return hit[1]
    spans = stats.recent_spans(s, at)
    state.spans_cache = {key: (monotonic(), spans)}
    return spans


# ----- cases -----------------------------------------------------------------------------

@bp.get("/cases")
@requires("supervisor")
def cases() -> Any:
    level = _text("level")
    if level and level not in L.LEVELS:
        raise bad_request("level", "unknown warning level", "未知督办等级")
    state = _text("state", 20)
    if state and state not in ("open", "closed", *S.PROGRESSION, *S.FINAL):
        raise bad_request("state", "unknown state", "未知状态")
    since, until = parse_date("from"), parse_date("to")
    at = now()
    today = L.beijing_date(at)
    filters = {"case_id": _text("case_id"), "city": _text("city", 6), "member": _text("member", 64),
               "state": state, "level": level}
    with hub().transaction() as s:
        rows = queries.search_cases(
            s, **filters, since=_start(since),
            until=_start(until + timedelta(days=1)) if until else None,
            today=today, soon=L.due_soon_limit(today, hub().snap().calendar), limit=LIMIT,
            offset=(_int("page") or 0) * LIMIT)
        members, cities = queries.member_ids(s), queries.city_codes(s)
    return page("cases.html", rows=rows, f=request.args, members=members, cities=cities,
                states=("open", "closed", *S.PROGRESSION, *sorted(S.FINAL)))


def _case_or_404(case_id: str) -> dict[str, Any]:
    with hub().transaction() as s:
        case = queries.case_detail(s, case_id)
    if case is None:
        abort(404)
    for it in case["items"]:
        try:
            d = contracts.item(it["code"])
            it["label"] = d["name_zh"] if lang() == "zh" else d["name_en"]
        except KeyError:
            it["label"] = it["code"]
    return case


@bp.get("/cases/<case_id>")
@requires("supervisor")
def case_page(case_id: str) -> Any:
    case = _case_or_404(case_id)
    return _render_case(case, reveal=False)


def _render_case(case: dict[str, Any], reveal: bool, reason: str | None = None) -> Any:
    at = now()
    today = L.beijing_date(at)
    soon = L.due_soon_limit(today, hub().snap().calendar)
    for it in case["items"]:
        it["level"] = (L.classify(today, it["promised_by"], it["statutory_by"], soon)
                       if it["state"] in S.PROGRESSION else None)
    return page("case.html", case=case, timeline=svg.timeline(case, at, lang()),
                personal=masking.table(case["document"], reveal), revealed=reveal,
                reveal_reason=reason)


@bp.post("/cases/<case_id>/reveal")
@requires("operator")
def reveal(case_id: str) -> Any:
    reason = _text("reason", 200)
    if not reason or len(reason) < 4:
        raise bad_request("reason", "state why (at least 4 characters)",
                          "请说明事由（至少 4 个字）")
    case = _case_or_404(case_id)
    actions.reveal(hub(), actor(), now(), case_id, reason)
    return _render_case(case, reveal=True, reason=reason)


# ----- deliveries and endpoints ----------------------------------------------------------

def _delivery_filters() -> dict[str, Any]:
    since = parse_date("since")
    return {"member": _text("member", 64), "state": _text("state", 20),
            "event_type": _text("event_type", 200), "since": _start(since),
            "min_attempts": _int("min_attempts")}


@bp.get("/deliveries")
@requires("operator")
def deliveries() -> Any:
    filters = _delivery_filters()
    with hub().transaction() as s:
        rows = queries.deliveries(s, limit=LIMIT, **filters)
        tries = queries.attempts(s, [r["id"] for r in rows])
        members, types = queries.member_ids(s), queries.event_types(s)
    return page("deliveries.html", rows=rows, tries=tries, f=request.args, members=members,
                types=types, states=delivery.STATES)


@bp.post("/deliveries/<int:delivery_id>/replay")
@requires("operator")
def replay_one(delivery_id: int) -> Any:
    actions.replay(hub(), actor(), now(), delivery_id=delivery_id)
    return redirect(url_for("console.deliveries", replayed=delivery_id))


@bp.post("/deliveries/replay")
@requires("operator")
def replay_bulk() -> Any:
    """First a dry run that counts; the count comes back with a confirm button (htmx)."""
    member = _text("member", 64)
    if not member:
        raise bad_request("member", "choose a department", "请选择部门")
    since = _start(parse_date_form("since"))
    with hub().transaction() as s:
        n = queries.count_deliveries(s, member=member, state=delivery.DEAD, since=since)
    if request.form.get("confirm") != "yes":
        return page("replay_count.html", member=member, since=request.form.get("since", ""),
                    count=n)
    out = actions.replay(hub(), actor(), now(), member=member, since=since)
    return page("replay_done.html", member=member, out=out)


def parse_date_form(name: str) -> Any:
    return parse_date(name, request.form)


@bp.get("/endpoints")
@requires("operator")
def endpoints() -> Any:
    with hub().transaction() as s:
        rows = queries.endpoint_health(s, now() - timedelta(days=7))
    return page("endpoints.html", rows=rows)


@bp.post("/endpoints/<member>/<action>")
@requires("operator")
def endpoint_switch(member: str, action: str) -> Any:
    if action not in ("enable", "disable"):
        abort(404)
    enable = action == "enable"
    actions.set_endpoint(hub(), actor(), now(), member, enable,
                         None if enable else _text("reason", 200) or "disabled in the console")
    return redirect(url_for("console.endpoints"))


# ----- notices, audit, users -------------------------------------------------------------

@bp.get("/notices")
@requires("operator")
def notices() -> Any:
    state = _text("state", 20)
    with hub().transaction() as s:
        rows = queries.notices(s, state=state)
    return page("notices.html", rows=rows, state=state)


@bp.post("/notices/<int:notice_id>/<to>")
@requires("operator")
def notice_move(notice_id: int, to: str) -> Any:
    actions.move_notice(hub(), notice_id, to, actor(), now())
    return redirect(url_for("console.notices"))


@bp.get("/audit")
@requires("admin")
def audit() -> Any:
    with hub().transaction() as s:
        rows = queries.audit(s, action=_text("action", 64))
        registry_rows = queries.registry_audit(s)
    return page("audit.html", rows=rows, registry_rows=registry_rows)


@bp.get("/users")
@requires("admin")
def users() -> Any:
    with hub().transaction() as s:
        rows = queries.users(s)
    return page("users.html", rows=rows)


# ----- reports ---------------------------------------------------------------------------

def _month() -> str:
    month = request.args.get("month") or L.beijing_date(now()).strftime("%Y-%m")
    if not MONTH.match(month):
        raise bad_request("month", "expected YYYY-MM", "应为 YYYY-MM")
    return month


def _report() -> dict[str, Any]:
    with hub().transaction() as s:
        return stats.monthly_report(s, _month(), hub().snap().calendar)


@bp.get("/reports")
@requires("observer")
def reports() -> Any:
    report = _report()
    weeks_chart = None
    return page("reports.html", report=report, chart=weeks_chart)


@bp.get("/reports/timeliness.xlsx")
@requires("observer")
def report_xlsx() -> Any:
    report = _report()
    actions.record_download(hub(), actor(), now(), f"report:{report['month']}.xlsx")
    return Response(stats.xlsx(report), headers={
        "Content-Disposition": f"attachment; filename=timeliness-{report['month']}.xlsx"},
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


@bp.get("/reports/timeliness.csv")
@requires("observer")
def report_csv() -> Any:
    report = _report()
    actions.record_download(hub(), actor(), now(), f"report:{report['month']}.csv")
    return Response(stats.csv_bytes(report), headers={
        "Content-Disposition": f"attachment; filename=timeliness-{report['month']}.csv"},
        mimetype="text/csv; charset=utf-8")


# ----- diagnostics and registry ----------------------------------------------------------

def _diagnostics() -> dict[str, Any]:
    at = now()
    out: dict[str, Any] = {"at": at.astimezone(L.BEIJING).isoformat(timespec="seconds")}
    try:
        with hub().transaction() as s:
            out.update(queries.diagnostics(s, at))
        out["database"] = {"ok": True, "dialect": hub().engine.dialect.name}
    except Exception as exc:  # noqa: BLE001 - the page reports any database failure
        out["database"] = {"ok": False, "error": type(exc).__name__}
    out["keys"] = key_age.key_ages(hub())
    out["calendar_years"] = hub().snap().calendar.years()
    try:
        snap = hub().snap()
        out["contracts"] = {"ok": True, "schemas": len(snap.schemas), "items": len(snap.items),
                            "events": len(snap.events)}
    except Exception as exc:  # noqa: BLE001
        out["contracts"] = {"ok": False, "error": type(exc).__name__}
    return out


@bp.get("/diagnostics")
@requires("operator")
def diagnostics() -> Any:
    return page("diagnostics.html", d=_diagnostics())


@bp.get("/diagnostics.json")
@requires("operator")
def diagnostics_json() -> Any:
    body = json.dumps(_diagnostics(), default=str, ensure_ascii=False, indent=2)
    return Response(body, mimetype="application/json", headers={
        "Content-Disposition": "attachment; filename=hub-diagnostics.json"})


@bp.get("/registry")
@requires("admin")
def registry() -> Any:
    snap = hub().snap()
    with hub().transaction() as s:
        versions = queries.registry_versions(s)
        items = queries.item_definition_versions(s)
    in_force = [{"code": d["code"], "member": d["member"], "trigger": d.get("trigger"),
                 "name": d.get("name_zh") if lang() == "zh" else d.get("name_en")}
                for d in snap.items]
    subject = _text("subject", 100)
    diff = None
    a, b = _int("a"), _int("b")
    if subject and a and b:
        old = snap.schemas.get(contracts.schema_id(subject, a))
        new = snap.schemas.get(contracts.schema_id(subject, b))
        if old is None or new is None:
            raise bad_request("subject", "no such version", "没有该版本")
        diff = {"subject": subject, "a": a, "b": b, "changes": schema_diff(old, new)}
    return page("registry.html", versions=versions, items=items, in_force=in_force,
                subjects=sorted({sid.split("/")[-2] for sid in snap.schemas}), diff=diff)


def schema_diff(old: Any, new: Any, path: str = "") -> list[dict[str, str]]:
    """JSON pointers added, removed or changed between two documents."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[dict[str, str]] = []
        for k in sorted(set(old) | set(new), key=str):
            p = f"{path}/{str(k).replace('~', '~0').replace('/', '~1')}"
            if k not in old:
                out.append({"pointer": p, "change": "added"})
            elif k not in new:
                out.append({"pointer": p, "change": "removed"})
            else:
                out += schema_diff(old[k], new[k], p)
        return out
    return [] if old == new else [{"pointer": path or "/", "change": "changed"}]
