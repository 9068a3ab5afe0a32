"""The ``hub`` command line: initialise, serve, manage members and keys, look at cases."""
from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from hub.bootstrap import NotInitialised, bootstrap, init as init_hub
from hub.console import cli as console_cli
from hub.config import Config
from hub.domain.errors import DomainError
from hub.security import keys




def _config() -> Config:
    return Config.from_env()


def _hub() -> Any:
    try:
        return bootstrap(_config())
    except NotInitialised as exc:
        raise click.ClickException(str(exc)) from exc


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="log at INFO level")
def main(verbose: bool) -> None:
    """Retirement one-thing data-exchange hub. Configuration: HUB_* environment variables."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")


@main.command()
def init() -> None:
    """Create the database schema and the hub's own key pair (idempotent)."""
    cfg = _config()
    created, hub = init_hub(cfg)
    Console().print(f"database ready: {cfg.database_url}")
    Console().print(("created" if created else "kept") + f" hub key {hub.keyid} in {cfg.key_dir}")
    sm = hub.keyring.current("sm")
    if sm is not None:
        Console().print(f"hub SM2 key {sm.keyid}")


@main.command()
@click.option("--host", default=None, help="listen address (HUB_HOST)")
@click.option("--port", default=None, type=int, help="listen port (HUB_PORT)")
@click.option("--worker/--no-worker", default=None, help="run the push worker in this process")
@click.option("--workers", "http_workers", default=1, type=int,
              help="HTTP worker processes; above 1 the API runs under gunicorn "
                   "(run delivery workers separately with 'hub worker')")
@click.option("--threads", default=8, type=int, help="threads per gunicorn worker")
def serve(host: str | None, port: int | None, worker: bool | None, http_workers: int,
          threads: int) -> None:
    """Serve the HTTP API (and, by default, the push worker)."""
    from werkzeug.serving import make_server

    from hub.http.app import create_app
    from hub.worker import Worker

    hub = _hub()
    cfg = hub.config
    if http_workers > 1:
        from hub.http.gunicorn import serve as gunicorn_serve

        hub.engine.dispose()  # each gunicorn worker builds its own hub after the fork
        gunicorn_serve(host or cfg.host, port or cfg.port, http_workers, threads)
        return
    app = create_app(hub=hub)
    w = Worker(hub) if (cfg.run_worker if worker is None else worker) else None
    if w:
        w.start()
    server = make_server(host or cfg.host, port or cfg.port, app, threaded=True)
    stop = threading.Event()

    def _term(*_: Any) -> None:
        stop.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _term)
    signal.signal(signal.SIGINT, _term)
    click.echo(f"hub listening on http://{server.host}:{server.port} (worker: {'on' if w else 'off'})",
               err=True)
    try:
        server.serve_forever()
    finally:
        if w:
            w.stop()


@main.command("worker")
def worker_cmd() -> None:
    """Run only the push worker (APScheduler)."""
    from hub.worker import Worker

    w = Worker(_hub())
    w.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    w.stop()


@main.group()
def db() -> None:
    """Database schema (Alembic)."""


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Apply schema migrations up to REVISION (default: head)."""
    from hub.store import migrate
    from hub.store.db import make_engine

    engine = make_engine(_config().database_url)
    migrate.upgrade(engine, revision)
    Console().print(f"database at revision {migrate.current(engine)}")


@db.command("current")
def db_current() -> None:
    """Print the schema revision the database is at."""
    from hub.store import migrate
    from hub.store.db import make_engine

    click.echo(migrate.current(make_engine(_config().database_url)) or "(empty)")


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
        raise click.ClickException(f"{exc.code}: {exc.message}") from exc
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
        raise click.ClickException(f"{exc.code}: {exc.message}") from exc
    Console().print(f"member {m.id}: retired {keyid}; keys {', '.join(m.keyids)}")


@members.command("list")
@click.option("--json", "as_json", is_flag=True)
def members_list(as_json: bool) -> None:
    """Every member with its keys, permissions and push URL."""
    from hub.services.members import list_members

    ms = list_members(_hub())
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


@main.group()
def deliveries() -> None:
    """Deliveries of events to members: inspect and replay."""


def _when(raw: str | None) -> Any:
    from datetime import datetime

    if not raw:
        return None
    try:
        dt = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise click.BadParameter(f"not an ISO 8601 date-time: {raw}") from exc
    if dt.tzinfo is None:
        raise click.BadParameter("give a UTC offset, e.g. 2026-11-25T08:00:00+08:00")
    return dt


def _run(fn: Any) -> Any:
    try:
        return fn()
    except DomainError as exc:
        raise click.ClickException(f"{exc.code}: {exc.message}") from exc


@deliveries.command("list")
@click.option("--member", default=None)
@click.option("--state", type=click.Choice(["pending", "delivered", "dead"]), default=None)
@click.option("--since", default=None, help="ISO 8601 date-time with offset")
@click.option("--limit", default=50, type=int)
@click.option("--json", "as_json", is_flag=True)
def deliveries_list(member: str | None, state: str | None, since: str | None, limit: int,
                    as_json: bool) -> None:
    """Newest deliveries first, with state, attempts and the last error."""
    from hub.services.operations import list_deliveries

    rows = list_deliveries(_hub(), member=member, state=state, since=_when(since), limit=limit)
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
@click.option("--state", "states", multiple=True, type=click.Choice(["dead", "delivered", "pending"]),
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
                                  states=states or ("dead",), progress=progress))
    Console().print(f"replayed {out['replayed']} deliveries")


@main.command("notices")
@click.option("--limit", default=20, type=int)
def notices_cmd(limit: int) -> None:
    """What administrators must act on (e.g. endpoints disabled after 410 Gone)."""
    from hub.services.operations import notices

    for n in notices(_hub(), limit):
        Console().print(f"{n['at']}  {n['kind']:<18} {n['message']}\n{'':<42}{n['message_zh']}")


@main.group()
def contracts() -> None:
    """The contract registry: subjects, versions, compatibility, lifecycle."""


def _print_json(doc: Any) -> None:
    click.echo(json.dumps(doc, ensure_ascii=False, indent=2))


@contracts.command("list")
def contracts_list() -> None:
    """Every subject with its versions, the version to use and its compatibility mode."""
    from hub.registry import service

    t = Table("subject", "versions", "use", "compatibility")
    for sub in service.subjects(_hub()):
        t.add_row(sub["subject"], ", ".join(map(str, sub["versions"])), sub["latest"] or "(none)",
                  sub["compatibility"])
    Console().print(t)


@contracts.command("versions")
@click.argument("subject")
def contracts_versions(subject: str) -> None:
    from hub.registry import service

    _print_json(_run(lambda: service.versions(_hub(), subject)))


@contracts.command("show")
@click.argument("subject_or_id")
@click.argument("version", required=False, type=int)
def contracts_show(subject_or_id: str, version: int | None) -> None:
    """A schema by subject and version, or by its $id."""
    from hub.registry import service

    hub = _hub()
    if subject_or_id.startswith("https://"):
        _print_json(_run(lambda: service.by_id(hub, subject_or_id)))
    else:
        n = version or service.versions(hub, subject_or_id)["versions"][-1]["version"]
        _print_json(_run(lambda: service.version(hub, subject_or_id, n)))


def _problems_exit(exc: DomainError) -> None:
    lines = [f"{exc.code}: {exc.message}", exc.message_zh]
    lines += [f"  {p.path}  {p.code}: {p.message}" for p in exc.problems]
    raise click.ClickException("\n".join(lines))


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


@main.group()
def items() -> None:
    """Linked items (关联事项) as data."""


@items.command("list")
def items_list() -> None:
    t = Table("code", "name", "member", "phase", "chosen", "settled by", "deadline (days)")
    for d in _hub().snap().items:
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
    rows = _hub().keyring.status()
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


@main.group()
def case() -> None:
    """Cases: the merged status of one application."""


@case.command("show")
@click.argument("case_id")
@click.option("--json", "as_json", is_flag=True)
def case_show(case_id: str, as_json: bool) -> None:
    """Each item's state, reason, deadlines and history."""
    from hub.services.case_view import show

    try:
        doc = show(_hub(), case_id, None)
    except DomainError as exc:
        raise click.ClickException(f"{exc.code}: {exc.message}") from exc
    if as_json:
        click.echo(json.dumps(doc, ensure_ascii=False, indent=2))
        return
    render_case(doc)


def render_case(doc: dict[str, Any]) -> None:
    Console().print(f"[bold]case {doc['case_id']}[/] city {doc['city_code']} — {doc['state']}")
    t = Table("item", "state", "reason", "promised by", "history")
    for it in doc["items"]:
        reason = (it.get("reason") or {}).get("message_zh", "")
        hist = " → ".join(h["to"] for h in it.get("history", []))
        t.add_row(f"{it['name_zh']}\n{it['code']}", f"{it['state_zh']}\n{it['state']}", reason,
                  (it.get("deadlines") or {}).get("promised", it.get("deadline_note", "")), hist)
    Console().print(t)
    if doc.get("issues"):
        it = Table("reported", "by", "item", "code", "problem", title="issues 异常")
        for i in doc["issues"]:
            it.add_row(i["occurred_at"], i["reported_by"], i.get("item", ""), i["code"],
                       i["message_zh"] + ("\n" + i["message_en"] if i.get("message_en") else ""))
        Console().print(it)


main.add_command(console_cli.users)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
