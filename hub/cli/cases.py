"""Commands on cases: show one, as a table or JSON."""
from __future__ import annotations

import json
import sys
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from hub.cli.app import (
    _beijing,
    _reading_hub,
    _run,
    main,
)


@main.group()
def case() -> None:
    """Cases: the merged status of one application."""


@case.command("show")
@click.argument("case_id")
@click.option("--json", "as_json", is_flag=True)
def case_show(case_id: str, as_json: bool) -> None:
    """Each item's state, reason, deadlines and history."""
    from hub.services.case_view import show

    doc = _run(lambda: show(_reading_hub(), case_id, None))
    if as_json:
        click.echo(json.dumps(doc, ensure_ascii=False, indent=2))
        return
    render_case(doc)


def render_case(doc: dict[str, Any]) -> None:
    Console().print(f"[bold]case {doc['case_id']}[/] city {doc['city_code']} — {doc['state']}, "
                    f"updated {_beijing(doc.get('updated_at'))}")
    t = Table("item", "state", "reason", "promised / statutory by", "history")
    for it in doc["items"]:
        reason = (it.get("reason") or {}).get("message_zh", "")
        hist = " → ".join(h["to"] for h in it.get("history", []))
        last = (it.get("history") or [{}])[-1].get("at")
        dl = it.get("deadlines") or {}
        due = (f"{dl.get('promised', '-')} / {dl.get('statutory', '-')}" if dl
               else it.get("deadline_note", ""))
        t.add_row(f"{it['name_zh']}\n{it['code']}", f"{it['state_zh']}\n{it['state']}", reason,
                  due, f"{hist}\n{_beijing(last)}" if last else hist)
    Console().print(t)
    if doc.get("issues"):
        it = Table("reported", "by", "item", "code", "problem", title="issues 异常")
        for i in doc["issues"]:
            it.add_row(i["occurred_at"], i["reported_by"], i.get("item", ""), i["code"],
                       i["message_zh"] + ("\n" + i["message_en"] if i.get("message_en") else ""))
        Console().print(it)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
