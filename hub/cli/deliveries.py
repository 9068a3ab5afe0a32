"""Commands on deliveries and notices: list, replay, what administrators must act on."""
from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from hub.cli.app import (
    _hub,
    _reading_hub,
    _run,
    _when,
    main,
)
from hub.domain import delivery


@main.group()
def deliveries() -> None:
    """Deliveries of events to members: inspect and replay."""


@deliveries.command("list")
@click.option("--member", default=None)
@click.option("--state", type=click.Choice(delivery.STATES), default=None)
@click.option("--since", default=None, help="ISO 8601 date-time with offset")
@click.option("--limit", default=50, type=int)
@click.option("--json", "as_json", is_flag=True)
def deliveries_list(member: str | None, state: str | None, since: str | None, limit: int,
                    as_json: bool) -> None:
    """Newest deliveries first, with state, attempts and the last error."""
    from hub.services.operations import list_deliveries

    rows = list_deliveries(_reading_hub(), member=member, state=state, since=_when(since),
                           limit=limit)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    t = Table("id", "member", "type", "case", "state", "tries", "last error")
    for r in rows:
        t.add_row(str(r["id"]), r["member"], r["type"].removeprefix("cn.gov.js.retirement."),
                  r["subject"] or "", r["state"], str(r["attempts"]), (r["last_error"] or "")[:60])
    Console().print(t)


@deliveries.command("replay")
@click.argument("delivery_id", required=False, type=int)
@click.option("--member", default=None, help="replay this member's deliveries")
@click.option("--since", default=None, help="only those created since (ISO 8601 with offset)")
@click.option("--state", "states", multiple=True, type=click.Choice(delivery.REPLAYABLE),
              help="which states to replay (default: dead)")
def deliveries_replay(delivery_id: int | None, member: str | None, since: str | None,
                      states: tuple[str, ...]) -> None:
    """Deliver again with the same event ids: one delivery, or a member's since a time."""
    from rich.progress import Progress

    from hub.services.operations import replay

    hub = _hub()
    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("replaying", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        out = _run(lambda: replay(hub, delivery_id=delivery_id, member=member, since=_when(since),
                                  states=states or (delivery.DEAD,), progress=progress))
    Console().print(f"replayed {out['replayed']} deliveries")


@main.command("notices")
@click.option("--limit", default=20, type=int)
def notices_cmd(limit: int) -> None:
    """What administrators must act on (e.g. endpoints disabled after 410 Gone)."""
    from hub.services.operations import notices

    for n in notices(_reading_hub(), limit):
        Console().print(f"{n['at']}  {n['kind']:<18} {n['message']}\n{'':<42}{n['message_zh']}")
