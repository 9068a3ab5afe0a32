"""Commands on the working calendar: import a year, show, list."""
from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from hub.cli.app import (
    _beijing,
    _hub,
    _print_json,
    _problems_exit,
    _reading_hub,
    _run,
    main,
)
from hub.domain.errors import DomainError


@main.group()
def calendar() -> None:
    """The working calendar (holidays and 调休 working days), one registered document a year."""


@calendar.command("import")
@click.argument("year", type=click.IntRange(2000, 2100))
@click.argument("calendar_file", type=click.Path(exists=True, dir_okay=False))
def calendar_import(year: int, calendar_file: str) -> None:
    """Register YEAR's arrangement from CALENDAR_FILE (JSON typed from the State Council notice);
    open items' deadlines that needed it are counted again."""
    from hub.registry import calendars

    path = Path(calendar_file)
    if path.stat().st_size > calendars.MAX_DOCUMENT_BYTES:
        raise click.ClickException(f"{path} is larger than {calendars.MAX_DOCUMENT_BYTES} bytes")
    try:
        doc = json.loads(path.read_text("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise click.ClickException(f"{path} is not UTF-8 JSON: {exc}") from exc
    try:
        out = calendars.register(_hub(), "console", year, doc)
    except DomainError as exc:
        _problems_exit(exc)
    if not out["created"]:
        Console().print(f"calendar {year} unchanged (version {out['version']})")
        return
    r = out["recomputed"]
    Console().print(f"calendar {year} version {out['version']} registered; deadlines recomputed "
                    f"for {r['items']} items in {r['cases']} cases")


@calendar.command("show")
@click.argument("year", type=click.IntRange(2000, 2100))
@click.option("--json", "as_json", is_flag=True)
def calendar_show(year: int, as_json: bool) -> None:
    """YEAR's holidays and adjusted working days, where they come from, and every version."""
    import datetime as dt

    from hub.registry import calendars

    doc = _run(lambda: calendars.show(_reading_hub(), year))
    if as_json:
        _print_json(doc)
        return
    Console().print(f"[bold]working calendar {year}[/]: {doc['source']}")
    week = "一二三四五六日"
    t = Table("date", "weekday", "kind")
    kinds = (("holiday 放假", doc["holidays"]), ("working day 调休上班", doc["workdays"]))
    for kind, days in kinds:
        for d in days:
            t.add_row(d, "周" + week[dt.date.fromisoformat(d).weekday()], kind)
    Console().print(t)
    for v in doc["versions"]:
        Console().print(f"version {v['version']}: {v['notice']}, by {v['created_by']} at "
                        f"{_beijing(v['created_at'])}")


@calendar.command("list")
def calendar_list() -> None:
    """The years the hub knows and whether next year is still missing."""
    from hub.registry import calendars

    hub = _reading_hub()
    t = Table("year", "source", "holidays", "workdays")
    for y in calendars.years(hub):
        t.add_row(str(y["year"]), y["source"], str(y["holidays"]), str(y["workdays"]))
    Console().print(t)
    st = calendars.status(hub)
    if st["warning"]:
        Console().print(f"[bold red]{st['message']}[/]\n{st['message_zh']}")
