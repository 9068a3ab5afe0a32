"""Commands on the hub's own keys: generate member keys, list, rotate."""
from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from hub.cli.app import (
    _hub,
    _reading_hub,
    main,
)
from hub.security import keys


@main.group("keys")
def keys_group() -> None:
    """Key pairs for members; the hub's own keys (list, rotate)."""


@keys_group.command("generate")
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--name", default="member", help="file name stem")
@click.option("--suite", type=click.Choice(keys.SUITES), default="intl", show_default=True,
              help="intl: Ed25519; sm: SM2 (国密)")
def keys_generate(out_dir: str, name: str, suite: str) -> None:
    """Write NAME.private.pem and NAME.public.pem, and print the key id."""
    priv, pub = keys.write_keypair(Path(out_dir), name, suite=suite)
    Console().print(f"private: {priv}\npublic:  {pub}\nkeyid:   "
                  f"{keys.key_id(keys.load_public_key(pub))}")


@keys_group.command("list")
@click.option("--json", "as_json", is_flag=True)
def keys_list(as_json: bool) -> None:
    """The hub's published keys: suite, key id, state, age."""
    rows = _reading_hub().keyring.status()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    t = Table("suite", "keyid", "state", "age (days)", "retire at")
    for r in rows:
        t.add_row(r["suite"], r["keyid"], r["state"], f"{r['age_s'] / 86400:.1f}",
                  r["retire_at"] or "")
    Console().print(t)


@keys_group.command("rotate")
@click.option("--suite", type=click.Choice(keys.SUITES), default="intl", show_default=True)
@click.option("--overlap", "overlap_s", type=float, default=3600.0, show_default=True,
              help="seconds the old key stays published (receivers' JWKS caches)")
def keys_rotate(suite: str, overlap_s: float) -> None:
    """Replace the hub's key of a suite without downtime (see hub/security/keyring.py)."""
    from hub.services.members import record_key_rotation

    hub = _hub()
    try:
        old, new = hub.keyring.rotate(suite, overlap_s=overlap_s)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    record_key_rotation(hub, suite, old, new, overlap_s)
    Console().print(f"{suite}: signing with {new}; {old or '-'} published "
                    f"for {overlap_s:.0f} s more")
