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

from hub.bootstrap import NotInitialised, bootstrap
from hub.bootstrap import init as init_hub
from hub.config import Config
from hub.console import cli as console_cli
from hub.domain.errors import DomainError
from hub.logs import install as install_log_redaction
from hub.security import keys


def _config() -> Config:
    return Config.from_env()


def _hub(create: bool = True) -> Any:
    try:
        return bootstrap(_config(), create=create)
    except NotInitialised as exc:
        raise click.ClickException(str(exc)) from exc


def _long_running_hub() -> Any:
    """The hub of a long-running process: it starts whether or not the database is there,
    and brings the schema to head in the background once it is (under an advisory lock)."""
    from hub.store import migrate

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

    if http_workers > 1:
        import subprocess

        from hub.http.gunicorn import serve as gunicorn_serve

        cfg = _hub(create=False).config
        # Migrations once, in a process of their own (it waits for the database if need be);
        # the gunicorn workers answer 503 until the schema is at head, and never migrate.
        subprocess.Popen([sys.executable, "-c", "from hub.cli import main; main()",
                          "db", "upgrade", "--wait"])
        gunicorn_serve(host or cfg.host, port or cfg.port, http_workers, threads)
        return
    hub = _long_running_hub()
    cfg = hub.config
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
    mode = "on" if w else "off"
    click.echo(f"hub listening on http://{server.host}:{server.port} (worker: {mode})",
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

    w = Worker(_long_running_hub())
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
@click.option("--wait", is_flag=True,
              help="wait for the database (with back-off) instead of failing when it is away")
def db_upgrade(revision: str, wait: bool) -> None:
    """Apply schema migrations up to REVISION (default: head)."""
    from hub.store import migrate
    from hub.store.db import make_engine

    engine = make_engine(_config().database_url)
    if wait and revision == "head":
        migrate.upgrade_when_reachable(engine)
    else:
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
@click.option("--state", "states", multiple=True,
              type=click.Choice(["dead", "delivered", "pending"]),
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

    doc = _run(lambda: calendars.show(_hub(), year))
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

    hub = _hub()
    t = Table("year", "source", "holidays", "workdays")
    for y in calendars.years(hub):
        t.add_row(str(y["year"]), y["source"], str(y["holidays"]), str(y["workdays"]))
    Console().print(t)
    st = calendars.status(hub)
    if st["warning"]:
        Console().print(f"[bold red]{st['message']}[/]\n{st['message_zh']}")


def _beijing(stamp: str | None) -> str:
    """An ISO instant from the API shown in Beijing time with its offset."""
    from datetime import datetime

    from hub.domain.workdays import beijing_iso

    if not stamp:
        return ""
    try:
        return beijing_iso(datetime.fromisoformat(stamp.replace("Z", "+00:00")))
    except ValueError:
        return stamp


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


from hub.messagelog.cli import archive_group, log_group  # noqa: E402 - needs main

main.add_command(log_group)
main.add_command(archive_group)
main.add_command(console_cli.users)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
