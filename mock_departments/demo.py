"""`make demo`: three applications through the hub, the provincial units and two cities' systems.

In a temporary directory: keys, `hub init`, members, then as real processes on free loopback
ports (SQLite everywhere): the hub, the HRSS stand-in, the four city systems of Changzhou (320400)
and of Wuxi (320200), and the four provincial unit adapters routing by city code
(`<workdir>/routes.json`). Submits three applications through the HRSS stand-in:

  (a) a Changzhou worker choosing every linked item: everything completes;
  (b) a Changzhou cadre whose housing-fund account is in arrears (the Changzhou centre is started
      with `--not-eligible <her ID>:arrears`): the withdrawal becomes a standalone matter;
  (c) a Wuxi special-job-type early retirement (annex 4) with 300 contribution months, short of
      the Wuxi medical bureau's 30 years: the medical transfer becomes a standalone matter.

Shows a live table of every item's state while they move, then each case's final status as the
applicant sees it at the HRSS and, masked, what each city department received (each stand-in's
`GET /admin/received` journal). Stops every process it started; exits 0 only if all three cases
end as expected.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import re
import signal
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

import contracts
from hub.domain.idnumber import mask, mask_phone, mask_text
from hub.security import keys as hub_keys
from mock_departments.hrss.people import PEOPLE
from mock_departments.launcher import CITY_SYSTEMS, Stack, StackError

console = Console()
if not console.is_terminal:  # piped or captured: wide enough for the tables
    console = Console(width=max(console.width, 140))

ITEMS = [d["code"] for d in contracts.items()]
ITEM_NAMES = {d["code"]: d["name_zh"] for d in contracts.items()}
STATE_ZH = {k: v["zh"] for k, v in contracts.labels("item_state").items()}
COLOURS = {"completed": "green", "standalone": "yellow", "cancelled": "magenta",
           "failed": "red", "waiting": "dim", "dispatched": "cyan", "delivered": "cyan",
           "received": "blue", "in_progress": "blue"}
SYSTEM_ZH = {"hpf": "公积金中心", "medical": "医保局", "health": "卫健委",
             "community": "社区服务中心"}


@dataclass(frozen=True)
class Scenario:
    key: str
    person: str
    title: str
    variant: str = "annex3"
    # item -> (final state, reason code or None); items not listed must complete
    expect: dict[str, tuple[str, str | None]] = field(default_factory=dict)

    @property
    def city(self) -> str:
        return PEOPLE[self.person].city_code

    def expected(self) -> dict[str, tuple[str, str | None]]:
        return {code: self.expect.get(code, ("completed", None)) for code in ITEMS}


SCENARIOS = (
    Scenario("a", "wang", "常州 企业职工，选择全部联办事项"),
    Scenario("b", "sun", "常州 机关干部，公积金账户欠缴",
             expect={"hpf_withdrawal": ("standalone", "hpf_arrears")}),
    Scenario("c", "zhao", "无锡 特殊工种提前退休（附件4），医保缴费年限不足", variant="annex4",
             expect={"medical_transfer": ("standalone", "medical_contribution_years_short")}),
)

# The Changzhou housing fund centre finds arrears on the cadre's account (scenario b).
CITY_ARGS = {"hpf@320400": ["--not-eligible", f"{PEOPLE['sun'].id_number}:arrears"]}


def demo_stack(workdir: Path, **kw: Any) -> Stack:
    """The stack the demo (and the end-to-end tests) run: Changzhou and Wuxi, scenario b's rule."""
    return Stack(workdir, city_args={**CITY_ARGS, **kw.pop("city_args", {})}, **kw)


# ----- what a city system received, parsed and masked -------------------------------------------

def parse_received(system: str, entry: dict[str, Any]) -> list[dict[str, str]]:
    """One journal entry as flat `{field: value}` requests (a CSV file gives one per row).

    Field names are the city system's own (`person.idCard`, `Header/MsgId`, `身份证号`); a body
    that cannot be parsed gives `{"(unparsed)": body}`.
    """
    body = entry.get("body") or ""
    try:
        if system in ("hpf", "community"):
            return [dict(_flatten(json.loads(body)))]
        if system == "medical":
            root = ET.fromstring(body.encode("utf-8"))
            out: dict[str, str] = {}
            header, req = root.find("Header"), root.find("Body/ZtxRequest")
            if header is not None:
                out.update({f"Header/{el.tag}": (el.text or "") for el in header})
            if req is not None:
                out.update({el.tag: (el.text or "") for el in req})
            return [out]
        if system == "health":
            rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"), newline="")))
            columns = rows[0] if rows else []
            return [dict(zip(columns, r, strict=False))
                    for r in rows[1:] if any(c.strip() for c in r)]
    except (ValueError, ET.ParseError):
        pass
    return [{"(unparsed)": body}]


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(value, dict):
        out: list[tuple[str, str]] = []
        for k, v in value.items():
            out += _flatten(v, f"{prefix}.{k}" if prefix else str(k))
        return out
    if isinstance(value, list):
        if value and all(not isinstance(v, (dict, list)) for v in value):
            return [(prefix, ",".join(str(v) for v in value))]
        out = []
        for i, v in enumerate(value):
            out += _flatten(v, f"{prefix}[{i}]")
        return out
    return [(prefix, "" if value is None else str(value))]


_ID_KEYS = {"zjhm", "CertNo", "身份证号", "person.idCard"}
_NAME_KEYS = {"xm", "PsnName", "姓名"}
_ID_RE = re.compile(r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9])")
_MOBILE_RE = re.compile(r"(?<![0-9])1[3-9][0-9]{9}(?![0-9])")


def mask_field(key: str, value: str) -> str:
    """A received value as the demo may print it: ID numbers, names, phones, addresses masked."""
    leaf = key.rsplit(".", 1)[-1]
    if key in _ID_KEYS:
        return mask(value)
    if key in _NAME_KEYS or leaf in ("fullName", "person", "contact"):
        return mask_text(value)
    if leaf == "tel":
        return mask_phone(value)
    if leaf == "detail":
        return mask_text(value)
    value = _ID_RE.sub(lambda m: mask(m.group(0)), value)
    return _MOBILE_RE.sub(lambda m: mask_phone(m.group(0)), value)


# ----- tables ----------------------------------------------------------------------------------

def _state_cell(item: dict[str, Any] | None) -> Text:
    if item is None:
        return Text("–", style="dim")
    state = item["state"]
    return Text.assemble((STATE_ZH.get(state, state), COLOURS.get(state, "")), " ",
                         (state, "dim"))


def live_table(cases: list[tuple[Scenario, str]], docs: dict[str, dict[str, Any]],
               elapsed: float) -> Table:
    t = Table(title=f"联办事项状态 (every linked item's state, live)  {elapsed:5.1f}s",
              title_justify="left")
    t.add_column("事项 item")
    for sc, case_id in cases:
        t.add_column(f"({sc.key}) {sc.title}\n[dim]{case_id}[/]")
    for code in ITEMS:
        row: list[Any] = [f"{ITEM_NAMES[code]}\n[dim]{code}[/]"]
        for _, case_id in cases:
            items = {i["code"]: i for i in docs.get(case_id, {}).get("items", [])}
            row.append(_state_cell(items.get(code)))
        t.add_row(*row)
    t.add_section()
    states = []
    for _, case_id in cases:
        s = docs.get(case_id, {}).get("state", "…")
        states.append(Text(f"办件 {s}", style="bold green" if s == "closed" else "bold"))
    t.add_row("办件 case", *states)
    return t


def final_table(sc: Scenario, case_id: str, view: dict[str, Any],
                problems: list[str]) -> Table:
    verdict = "[green]as expected[/]" if not problems else "[red]NOT as expected[/]"
    t = Table(title=f"({sc.key}) {case_id} {sc.title}: 申请人看到的状态 "
                    f"{view.get('state_zh')} ({view.get('state')}), {verdict}",
              title_justify="left")
    for col in ("事项", "状态", "原因 reason", "结果 result"):
        t.add_column(col)
    for it in view.get("items", []):
        reason = it.get("reason") or {}
        t.add_row(it["name_zh"], _state_cell(it),
                  f"{reason.get('message_zh', '')}\n[dim]{reason.get('code', '')}[/]"
                  if reason else "", it.get("result_zh") or "")
    return t


def received_table(stack: Stack, city: str, case_by_id: dict[str, str]) -> Table:
    t = Table(title=f"{stack.city_names.get(city, city)} ({city}) 各部门收到的数据 "
                    f"(what each city department received, masked)", title_justify="left",
              show_lines=True)
    for col in ("部门 system", "办件 case", "字段 fields (the system's own names)"):
        t.add_column(col)
    for system in CITY_SYSTEMS:
        entries = stack.received(system, city)
        if not entries:
            t.add_row(f"{SYSTEM_ZH[system]}\n[dim]{system}[/]", "[dim]nothing[/]", "")
        for entry in entries:
            for req in parse_received(system, entry):
                idn = next((req[k] for k in _ID_KEYS if k in req), "")
                case = case_by_id.get(idn.upper(), "?")
                fields = "  ".join(f"[bold]{k}[/]={mask_field(k, v)}" for k, v in req.items())
                t.add_row(f"{SYSTEM_ZH[system]}\n[dim]{system} {entry['format']}[/]", case,
                          fields)
    return t


# ----- checks ----------------------------------------------------------------------------------

def check_case(sc: Scenario, hub_doc: dict[str, Any], view: dict[str, Any]) -> list[str]:
    """Every difference between the case's outcome (hub and HRSS view) and the scenario."""
    problems = []
    if hub_doc.get("state") != "closed":
        problems.append(f"hub: case {hub_doc.get('state')}")
    if view.get("state") != "closed":
        problems.append(f"HRSS: case {view.get('state')}")
    got = {i["code"]: (i["state"], (i.get("reason") or {}).get("code"))
           for i in hub_doc.get("items", [])}
    shown = {i["code"]: (i["state"], (i.get("reason") or {}).get("code"))
             for i in view.get("items", [])}
    for code, want in sc.expected().items():
        if got.get(code) != want:
            problems.append(f"hub: {code} {got.get(code)} expected {want}")
        if shown.get(code) != want:
            problems.append(f"HRSS: {code} {shown.get(code)} expected {want}")
    return problems


# ----- the run ---------------------------------------------------------------------------------

def signature_report(stack: Stack) -> tuple[str, bool]:
    """Which algorithms signed: every member's registered keys, and the hub's pushes to HRSS."""
    jwks = {k["kid"]: k for k in requests.get(stack.hub_url + "/.well-known/jwks.json",
                                                timeout=5).json()["keys"]}
    suites = {m: hub_keys.suite_of(hub_keys.load_public_key(stack.key_dir / f"{m}.public.pem"))
              for m in stack.keyids}
    pushes = stack.hrss("GET", "/received").json()["events"]
    push_algs = {("sm2-sm3" if jwks.get(e["keyid"], {}).get("crv") == "SM2" else "ed25519")
                 for e in pushes}
    member_algs = {"sm2-sm3" if s == "sm" else "ed25519" for s in suites.values()}
    want = {"sm2-sm3" if stack.suite == "sm" else "ed25519"}
    ok = member_algs == want and push_algs <= want and bool(pushes)
    text = (f"signatures: {len(suites)} members sign with {', '.join(sorted(member_algs))}; "
            f"{len(pushes)} pushes to HRSS signed with {', '.join(sorted(push_algs))}")
    return text, ok


def run(workdir: Path, timeout: float, verbose: bool, suite: str = "intl") -> int:
    started = time.monotonic()
    with demo_stack(workdir, verbose=verbose, suite=suite) as stack:
        cities = ", ".join(f"{stack.city_names.get(c, c)} {c}" for c in stack.cities)
        console.print(f"[bold]hub[/] {stack.hub_url}   [bold]HRSS stand-in[/] {stack.hrss_url}   "
                      f"[bold]adapters[/] community, hpf, medical, health (pull)   "
                      f"[bold]cities[/] {cities}: hpf (JSON+callback), medical (XML), "
                      f"health (CSV files), community (JSON+poll)   "
                      f"[dim]({time.monotonic() - started:.1f}s to start; routes in "
                      f"{stack.routes_path.name})[/]")
        cases: list[tuple[Scenario, str]] = []
        for sc in SCENARIOS:
            sub = stack.submit(person=sc.person, variant=sc.variant)
            cases.append((sc, sub["case_id"]))
            console.print(f"submitted ({sc.key}) [bold]{sub['case_id']}[/] {sc.title}: legal age "
                          f"{sub['legal_age']['years']}y{sub['legal_age']['months']}m, retires "
                          f"{sub['retirement_month']}")
        t0 = time.monotonic()
        deadline = t0 + timeout
        docs: dict[str, dict[str, Any]] = {}
        views: dict[str, dict[str, Any]] = {}
        try:
            with Live(live_table(cases, docs, 0.0), console=console, refresh_per_second=8,
                      transient=False) as live:
                while time.monotonic() < deadline:
                    stack.check_alive()
                    for _, case_id in cases:
                        docs[case_id] = stack.hub_case(case_id)
                        if docs[case_id].get("state") == "closed" and case_id not in views:
                            resp = stack.hrss("GET", f"/cases/{case_id}")
                            if resp.status_code == 200 and resp.json().get("state") == "closed":
                                views[case_id] = resp.json()
                    live.update(live_table(cases, docs, time.monotonic() - t0))
                    if len(views) == len(cases):
                        break
                    time.sleep(0.2)
        finally:
            if not console.is_terminal:  # the last frame ends without a line break there
                console.line()
        if len(views) < len(cases):
            console.print(f"[red]not every case closed within {timeout:.0f}s[/]")
            for p in stack.procs:
                console.print(f"[dim]--- {p.name} log (last lines) ---[/]\n{p.tail(10)}")
            return 1
        console.print(f"all three cases closed {time.monotonic() - t0:.1f}s after submission")
        ok = True
        for scenario, case_id in cases:
            problems = check_case(scenario, docs[case_id], views[case_id])
            ok = ok and not problems
            console.print(final_table(scenario, case_id, views[case_id], problems))
            for problem in problems:
                console.print(f"  [red]{problem}[/]")
        case_by_id = {PEOPLE[sc.person].id_number: case_id for sc, case_id in cases}
        console.print(Group(*(received_table(stack, city, case_by_id) for city in stack.cities)))
        received = stack.hrss("GET", "/received").json()
        console.print(f"HRSS stand-in received {received['count']} status pushes "
                      f"({received['duplicates']} duplicates ignored, "
                      f"{len(received['contract_problems'])} contract problems)")
        ok = ok and not received["contract_problems"]
        report, signed_ok = signature_report(stack)
        console.print(report if signed_ok else f"[red]{report} (suite {suite} expected)[/]")
        ok = ok and signed_ok
    console.print(f"[dim]every process stopped; {time.monotonic() - started:.1f}s in all[/]")
    console.print("[green bold]OK[/]: all three cases ended as expected" if ok
                  else "[red bold]FAILED[/]: not every case ended as expected")
    if ok:
        from mock_departments import console_demo

        console_demo.show(stack.env, console.print)
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mock_departments.demo",
                                description="Three applications end to end (Changzhou, Wuxi).")
    p.add_argument("--timeout", type=float, default=45.0, help="seconds for the cases to close")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    p.add_argument("-v", "--verbose", action="store_true", help="processes log at INFO level")
    p.add_argument("--suite", choices=("intl", "sm"), default="intl",
                   help="members' keys: intl (Ed25519) or sm (SM2 with SM3, 国密)")
    a = p.parse_args(argv)

    def _term(*_: Any) -> None:  # SIGTERM: unwind like Ctrl-C so the processes are stopped
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _term)
    tmp = tempfile.mkdtemp(prefix="retirement-demo-")
    try:
        return run(Path(tmp), a.timeout, a.verbose, a.suite)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: processes stopped[/]")
        return 130
    except StackError as exc:
        console.print(f"[red]could not run the demo:[/] {exc}")
        return 1
    finally:
        if a.keep:
            console.print(f"[dim]kept {tmp} (logs in {tmp}/logs)[/]")
        else:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
