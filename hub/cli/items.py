"""Commands on linked items: list, register a version, retire."""
from __future__ import annotations

import json
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from hub.cli.app import (
    _hub,
    _problems_exit,
    _reading_hub,
    _run,
    main,
)
from hub.domain.errors import DomainError


@main.group()
def items() -> None:
    """Linked items (关联事项) as data."""


@items.command("list")
def items_list() -> None:
    t = Table("code", "name", "member", "phase", "chosen", "settled by", "deadline (days)")
    for d in _reading_hub().snap().items:
        dl = d.get("deadlines") or {}
        t.add_row(d["code"], d["name_zh"], d["member"], d["trigger"], d["chosen"], d["settled_by"],
                  f"{dl.get('promised_working_days', '-')}/{dl.get('statutory_working_days', '-')}")
    Console().print(t)


@items.command("register")
@click.argument("definition_file", type=click.File("r", encoding="utf-8"))
def items_register(definition_file: Any) -> None:
    """Register (or version) a linked item; it takes effect for new cases at once."""
    from hub.registry import service

    try:
        d, n = service.register_item(_hub(), "console", json.load(definition_file))
    except DomainError as exc:
        _problems_exit(exc)
    Console().print(f"item {d['code']} version {n} registered")


@items.command("retire")
@click.argument("code")
def items_retire(code: str) -> None:
    from hub.registry import service

    out = _run(lambda: service.retire_item(_hub(), "console", code))
    Console().print(f"item {code} retired (version {out['version']})")
