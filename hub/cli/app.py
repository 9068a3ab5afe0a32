"""The ``hub`` command: the group every command module adds to, and what they share."""
from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any, NoReturn

import click

from hub.bootstrap import Hub, NotInitialised, bootstrap
from hub.config import Config
from hub.domain.errors import DomainError
from hub.domain.workdays import beijing_iso
from hub.logs import install as install_log_redaction
from hub.store import migrate


def _config() -> Config:
    return Config.from_env()


def _hub(create: bool = True) -> Hub:
    """The hub for one command; ``create=False`` for commands that only read (they neither
    create nor migrate the schema)."""
    try:
        return bootstrap(_config(), create=create)
    except NotInitialised as exc:
        raise click.ClickException(str(exc)) from exc


def _reading_hub() -> Hub:
    """The hub of a command that only reads: the schema is left as it is."""
    return _hub(create=False)


def _long_running_hub() -> Hub:
    """The hub of a long-running process: it starts whether or not the database is there,
    and brings the schema to head in the background once it is (under an advisory lock)."""
    hub = _hub(create=False)
    migrate.upgrade_in_background(hub.engine)
    return hub


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="log at INFO level")
def main(verbose: bool) -> None:
    """Retirement one-thing data-exchange hub. Configuration: HUB_* environment variables."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    install_log_redaction()


def _when(raw: str | None) -> Any:
    if not raw:
        return None
    try:
        dt = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise click.BadParameter(f"not an ISO 8601 date-time: {raw}") from exc
    if dt.tzinfo is None:
        raise click.BadParameter("give a UTC offset, e.g. 2026-11-25T08:00:00+08:00")
    return dt


def _problems_exit(exc: DomainError) -> NoReturn:
    """The one way a command reports a refusal: code and English, Chinese, then every
    problem with its JSON path."""
    lines = [f"{exc.code}: {exc.message}", exc.message_zh]
    lines += [f"  {p.path}  {p.code}: {p.message}" for p in exc.problems]
    raise click.ClickException("\n".join(line for line in lines if line))


def _run(fn: Any) -> Any:
    try:
        return fn()
    except DomainError as exc:
        _problems_exit(exc)


def _print_json(doc: Any) -> None:
    click.echo(json.dumps(doc, ensure_ascii=False, indent=2))


def _beijing(stamp: str | None) -> str:
    """An ISO instant from the API shown in Beijing time with its offset."""
    if not stamp:
        return ""
    try:
        return beijing_iso(datetime.fromisoformat(stamp))
    except ValueError:
        return stamp
