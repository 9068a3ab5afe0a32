"""Commands on members: add, retire a key, list, push endpoints on and off."""
from __future__ import annotations

import json
from pathlib import Path

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
def members() -> None:
    """Department systems and provincial units that talk to the hub."""


@members.command("add")
@click.argument("member_id")
@click.option("--key-file", required=True, type=click.Path(exists=True, dir_okay=False),
              help="the member's Ed25519 public key (PEM)")
@click.option("--key-id", default=None, help="the keyid its signatures name (default: thumbprint)")
@click.option("--publish", multiple=True, help="an event type it may publish (repeatable)")
@click.option("--subscribe", multiple=True, help="an event type it receives (repeatable)")
@click.option("--push-url", default=None, help="where the hub pushes its events (else it pulls)")
@click.option("--name", default=None, help="display name")
@click.option("--role", multiple=True, help="a role, e.g. admin (repeatable)")
def members_add(member_id: str, key_file: str, key_id: str | None, publish: tuple[str, ...],
                subscribe: tuple[str, ...], push_url: str | None, name: str | None,
                role: tuple[str, ...]) -> None:
    """Register a member (or add a key and permissions to an existing one)."""
    from hub.services.members import add_member

    hub = _hub()
    unknown = [t for t in publish + subscribe if hub.snap().event_by_type(t) is None]
    if unknown:
        raise click.BadParameter(f"unknown event types: {', '.join(unknown)}")
    try:
        m = add_member(hub, member_id, Path(key_file).read_text("utf-8"), keyid=key_id,
                       publish=list(publish), subscribe=list(subscribe), push_url=push_url,
                       name=name, roles=list(role))
    except DomainError as exc:
        _problems_exit(exc)
    except ValueError as exc:
        raise click.ClickException(f"invalid_key: {key_file}: {exc}") from exc
    Console().print(f"member {m.id}: keys {', '.join(m.keyids)}")


@members.command("retire-key")
@click.argument("member_id")
@click.argument("keyid")
def members_retire_key(member_id: str, keyid: str) -> None:
    """Retire one of a member's keys once it signs with its new one (audited)."""
    from hub.services.members import retire_key

    try:
        m = retire_key(_hub(), member_id, keyid)
    except DomainError as exc:
        _problems_exit(exc)
    Console().print(f"member {m.id}: retired {keyid}; keys {', '.join(m.keyids)}")


@members.command("list")
@click.option("--json", "as_json", is_flag=True)
def members_list(as_json: bool) -> None:
    """Every member with its keys, permissions and push URL."""
    from hub.services.members import list_members

    ms = list_members(_reading_hub())
    if as_json:
        click.echo(json.dumps([m.to_dict() for m in ms], ensure_ascii=False, indent=2))
        return
    t = Table("member", "keys", "publishes", "subscribes", "push url", "ack cursor")
    for m in ms:
        t.add_row(m.id, "\n".join(m.keyids), "\n".join(m.publish), "\n".join(m.subscribe),
                  m.push_url or "(pull)", str(m.ack_cursor))
    Console().print(t)


@members.command("disable-push")
@click.argument("member_id")
@click.option("--reason", default=None)
def members_disable_push(member_id: str, reason: str | None) -> None:
    """Stop pushing to a member; its deliveries wait and nothing is lost."""
    from hub.services.operations import set_endpoint

    out = _run(lambda: set_endpoint(_hub(), member_id, False, reason))
    Console().print(f"{member_id}: push {'enabled' if out['enabled'] else 'disabled'}")


@members.command("enable-push")
@click.argument("member_id")
def members_enable_push(member_id: str) -> None:
    """Resume pushing to a member; waiting deliveries go out now."""
    from hub.services.operations import set_endpoint

    out = _run(lambda: set_endpoint(_hub(), member_id, True))
    Console().print(f"{member_id}: push {'enabled' if out['enabled'] else 'disabled'}")
