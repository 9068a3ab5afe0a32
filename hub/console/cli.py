"""``hub users add|list|disable|reset``: console accounts from the command line."""
from __future__ import annotations

import json
from typing import Any

import click

from hub.console import accounts, queries
from hub.domain.errors import DomainError


def _hub() -> Any:
    from hub.cli import _hub as make_hub

    return make_hub()


def _show(creds: accounts.NewCredentials) -> None:
    click.echo(f"user: {creds.username} ({creds.role})")
    click.echo(f"password: {creds.password}")
    if creds.totp_secret:
        click.echo(f"totp secret: {creds.totp_secret}")
        click.echo(f"totp uri: {creds.totp_uri}")


def _fail(exc: DomainError) -> None:
    raise click.ClickException(f"{exc.code}: {exc.message} / {exc.message_zh}")


@click.group("users")
def users() -> None:
    """Console users (observer, supervisor, operator, admin)."""


@users.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(accounts.ROLES), required=True)
@click.option("--password", envvar="HUB_USER_PASSWORD", default=None,
              help="default: a random one, printed once")
def users_add(username: str, role: str, password: str | None) -> None:
    try:
        _show(accounts.add_user(_hub(), username, role, password))
    except DomainError as exc:
        _fail(exc)


@users.command("list")
@click.option("--json", "as_json", is_flag=True)
def users_list(as_json: bool) -> None:
    hub = _hub()
    with hub.transaction() as s:
        rows = queries.users(s)
    if as_json:
        click.echo(json.dumps(rows, default=str, ensure_ascii=False, indent=2))
        return
    for r in rows:
        state = "disabled" if r["disabled_at"] else "active"
        click.echo(f"{r['username']:<24} {r['role']:<11} totp={'yes' if r['totp'] else 'no':<4}"
                   f" {state}")


@users.command("disable")
@click.argument("username")
def users_disable(username: str) -> None:
    try:
        accounts.disable_user(_hub(), username)
    except DomainError as exc:
        _fail(exc)
    click.echo(f"disabled {username}")


@users.command("reset")
@click.argument("username")
@click.option("--password", envvar="HUB_USER_PASSWORD", default=None)
def users_reset(username: str, password: str | None) -> None:
    try:
        _show(accounts.reset_user(_hub(), username, password))
    except DomainError as exc:
        _fail(exc)
