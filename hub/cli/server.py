"""Commands that run the hub: init, serve, worker, and the database schema."""
from __future__ import annotations

import signal
import sys
import threading
from typing import Any

import click
from rich.console import Console

from hub.bootstrap import init as init_hub
from hub.cli.app import (
    _config,
    _hub,
    _long_running_hub,
    main,
)


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
