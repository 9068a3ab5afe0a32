"""Commands on the contract registry: list, versions, show, register, compatibility, state."""
from __future__ import annotations

import json
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from hub.cli.app import (
    _hub,
    _print_json,
    _problems_exit,
    _reading_hub,
    _run,
    main,
)
from hub.domain.errors import DomainError


@main.group()
def contracts() -> None:
    """The contract registry: subjects, versions, compatibility, lifecycle."""


@contracts.command("list")
def contracts_list() -> None:
    """Every subject with its versions, the version to use and its compatibility mode."""
    from hub.registry import service

    t = Table("subject", "versions", "use", "compatibility")
    for sub in service.subjects(_reading_hub()):
        t.add_row(sub["subject"], ", ".join(map(str, sub["versions"])), sub["latest"] or "(none)",
                  sub["compatibility"])
    Console().print(t)


@contracts.command("versions")
@click.argument("subject")
def contracts_versions(subject: str) -> None:
    from hub.registry import service

    _print_json(_run(lambda: service.versions(_reading_hub(), subject)))


@contracts.command("show")
@click.argument("subject_or_id")
@click.argument("version", required=False, type=int)
def contracts_show(subject_or_id: str, version: int | None) -> None:
    """A schema by subject and version, or by its $id."""
    from hub.registry import service

    hub = _reading_hub()
    if subject_or_id.startswith("https://"):
        _print_json(_run(lambda: service.by_id(hub, subject_or_id)))
    else:
        n = version or service.versions(hub, subject_or_id)["versions"][-1]["version"]
        _print_json(_run(lambda: service.version(hub, subject_or_id, n)))


@contracts.command("register")
@click.argument("subject")
@click.argument("schema_file", type=click.File("r", encoding="utf-8"))
def contracts_register(subject: str, schema_file: Any) -> None:
    """Register SCHEMA_FILE as the next version of SUBJECT (checked for compatibility)."""
    from hub.registry import service

    try:
        out, created = service.register_version(_hub(), "console", subject, json.load(schema_file))
    except DomainError as exc:
        _problems_exit(exc)
    Console().print(("registered " if created else "unchanged, already ") + out["id"])


@contracts.command("config")
@click.argument("subject")
@click.argument("mode")
def contracts_config(subject: str, mode: str) -> None:
    """Set SUBJECT's compatibility mode (BACKWARD, FULL_TRANSITIVE, NONE, ...)."""
    from hub.registry import service

    _print_json(_run(lambda: service.set_compatibility(_hub(), "console", subject, mode)))


for _state in ("deprecate", "retire", "activate"):
    def _make(state: str) -> Any:
        @contracts.command(state)
        @click.argument("subject")
        @click.argument("version", type=int)
        def _cmd(subject: str, version: int) -> None:
            from hub.registry import service

            target = {"deprecate": "deprecated", "retire": "retired", "activate": "active"}[state]
            out = _run(lambda: service.set_state(_hub(), "console", subject, version, target))
            Console().print(f"{out['id']}: {out['state']}")

        _cmd.__doc__ = f"{state.capitalize()} one version of a subject."
        return _cmd

    _make(_state)
