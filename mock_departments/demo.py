"""`make demo`: one Changzhou application through the hub, end to end, in well under a minute.

In a temporary directory: keys, `hub init`, members, then the hub, the HRSS stand-in and the four
simple departments as real processes on free loopback ports. Submits one application choosing
every linked item, waits until the case is closed, prints each item's timeline and what the
applicant sees, stops every process it started, and exits 0 only if every item completed.
"""
from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from mock_departments.launcher import Stack, StackError

CST = timezone(timedelta(hours=8))
console = Console()


def _local(ts: str | None) -> str:
    if not ts:
        return ""
    try:
        dt = datetime.fromisoformat(ts.replace("Z", "+00:00")).astimezone(CST)
    except ValueError:
        return ts
    return dt.strftime("%H:%M:%S.") + f"{dt.microsecond // 1000:03d}"


def timeline_table(doc: dict[str, Any]) -> Table:
    t = Table(title=f"办件 {doc['case_id']} 时间线 (timeline, UTC+8)", show_lines=False)
    for col in ("事项 item", "时间 time", "from → to", "by", "原因 reason"):
        t.add_column(col)
    for item in doc["items"]:
        first = True
        for h in item.get("history", []):
            reason = (h.get("reason") or {}).get("message_zh", "")
            t.add_row(f"{item['name_zh']}\n[dim]{item['code']}[/]" if first else "",
                      _local(h.get("at")), f"{h.get('from') or '∅'} → {h['to']}",
                      h.get("by", ""), reason)
            first = False
        t.add_section()
    return t


def applicant_table(view: dict[str, Any]) -> Table:
    t = Table(title=f"申请人看到的办件状态 (what the applicant sees at HRSS): "
                    f"{view.get('state_zh')} ({view.get('state')})")
    for col in ("事项", "状态", "原因", "结果"):
        t.add_column(col)
    for it in view.get("items", []):
        colour = "green" if it["state"] == "completed" else "yellow"
        t.add_row(it["name_zh"], f"[{colour}]{it['state_zh']}[/] [dim]{it['state']}[/]",
                  it.get("reason_zh") or "", it.get("result_zh") or "")
    return t


def run(workdir: Path, person: str, timeout: float, verbose: bool) -> int:
    started = time.monotonic()
    with Stack(workdir, verbose=verbose) as stack:
        console.print(f"[bold]hub[/] {stack.hub_url}   [bold]HRSS stand-in[/] {stack.hrss_url}   "
                      f"[bold]departments[/] community, hpf, medical, health (pull)   "
                      f"[dim]({time.monotonic() - started:.1f}s to start)[/]")
        for note in stack.notes:
            console.print(f"[yellow]note:[/] {note}")
        sub = stack.submit(person=person)
        case_id = sub["case_id"]
        console.print(f"submitted [bold]{case_id}[/] (Changzhou 320400): legal age "
                      f"{sub['legal_age']['years']}y{sub['legal_age']['months']}m, retires "
                      f"{sub['retirement_month']}, linked items {', '.join(sub['linked_items'])}")
        try:
            hub_doc, view = stack.wait_closed(case_id, timeout)
        except StackError as exc:
            console.print(f"[red]{exc}[/]")
            for p in stack.procs:
                console.print(f"[dim]--- {p.name} log (last lines) ---[/]\n{p.tail(15)}")
            return 1
        console.print(timeline_table(hub_doc))
        console.print(applicant_table(view))
        received = stack.hrss("GET", "/received").json()
        console.print(f"HRSS stand-in received {received['count']} status pushes "
                      f"({received['duplicates']} duplicates ignored); case closed in "
                      f"{time.monotonic() - started:.1f}s from start")
        ok = (hub_doc["state"] == "closed"
              and all(i["state"] == "completed" for i in hub_doc["items"])
              and all(i["state"] == "completed" for i in view["items"]))
    console.print("[green bold]OK[/]: every item completed" if ok
                  else "[red bold]FAILED[/]: not every item completed")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mock_departments.demo")
    p.add_argument("--person", default="wang", help="fixture applicant (wang, chen, zhou)")
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    p.add_argument("-v", "--verbose", action="store_true", help="hub logs at INFO level")
    a = p.parse_args(argv)

    def _term(*_: Any) -> None:  # SIGTERM: unwind like Ctrl-C so the processes are stopped
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _term)
    tmp = tempfile.mkdtemp(prefix="retirement-demo-")
    try:
        return run(Path(tmp), a.person, a.timeout, a.verbose)
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
