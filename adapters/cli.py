"""The command line every unit shares (`python -m adapters.<unit> ...`); the composition root.

    python -m adapters.hpf --hub URL --member hpf --key hpf.private.pem --keyid=KID \
        --routes routes.json --data-dir var/adapter-hpf [--interval 0.2] [--push-port P] \
        [--callback-port P] [--callback-url URL]

Pull is the default; with `--push-port` a receiver takes the hub's signed pushes (register the
member with `--push-url http://HOST:P/hub/events`) and the feed is still read every
`--catch-up-s` seconds, so nothing pushed while the adapter was down is missed.
"""
from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.base import Unit
from adapters.engine import Adapter
from adapters.push import create_push_app
from adapters.routing import RoutingError, RoutingTable
from adapters.state import State
from hub.client import HubClient
from hub.logs import install as install_log_redaction
from hub.security import keys
from hub.security.jwks import HubKeys

log = logging.getLogger("adapter")

CALLBACK_PATHS = {"hpf": "/hpf/callback"}


class Server:
    """A WSGI app on a loopback port in a daemon thread (werkzeug's threaded server)."""

    def __init__(self, app: Any, host: str, port: int) -> None:
        from werkzeug.serving import make_server

        self.server = make_server(host, port, app, threaded=True)
        self.port = int(self.server.server_port)
        self.url = f"http://{host}:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(5)


@dataclass
class Running:
    """An adapter with its servers; `stop()` ends them all."""

    adapter: Adapter
    servers: dict[str, Server] = field(default_factory=dict)
    thread: threading.Thread | None = None

    def start_loop(self) -> Running:
        self.thread = threading.Thread(target=self.adapter.run, daemon=True,
                                       name=f"adapter-{self.adapter.member}")
        self.thread.start()
        return self

    def stop(self) -> None:
        self.adapter.stop()
        if self.thread is not None:
            self.thread.join(10)
        for s in self.servers.values():
            s.stop()
        self.adapter.connector.close()
        self.adapter.state.close()


def build(unit: Unit, *, hub: str, member: str, key: Any, keyid: str,
          routes: RoutingTable | str | Path, data_dir: str | Path, interval: float = 0.2,
          push_port: int | None = None, callback_port: int | None = None,
          callback_url: str | None = None, host: str = "127.0.0.1",
          options: dict[str, Any] | None = None, catch_up_s: float = 30.0,
          retry_schedule: tuple[float, ...] | None = None) -> Running:
    """Wire one unit's adapter: client, routing, state, connector, receivers (not yet looping)."""
    table = routes if isinstance(routes, RoutingTable) else RoutingTable.load(routes, unit.name)
    client = HubClient(hub, member, key, keyid)
    servers: dict[str, Server] = {}
    # the connector reads its options when it forwards, so the callback address bound below
    # (port 0 = any free port) reaches it
    opts: dict[str, Any] = {"data_dir": str(data_dir), **(options or {})}
    if callback_url:
        opts["callback_url"] = callback_url
    connector = unit.connector(opts)
    connector.validate(table)
    state = State(data_dir)
    kwargs: dict[str, Any] = {}
    if retry_schedule:
        kwargs["retry_schedule"] = retry_schedule
    adapter = Adapter(unit, client, table, state, connector, interval=interval,
                      pull=push_port is None, catch_up_s=catch_up_s, **kwargs)
    if unit.callback_app is not None and callback_port is not None:
        servers["callback"] = Server(unit.callback_app(adapter), host, callback_port)
        opts.setdefault("callback_url", servers["callback"].url + CALLBACK_PATHS.get(
            unit.name, "/callback"))
    if push_port is not None:
        servers["push"] = Server(create_push_app(adapter, HubKeys(hub)), host, push_port)
    return Running(adapter, servers)


def main(unit: Unit, argv: list[str] | None = None,
         extra: Callable[[argparse.ArgumentParser], None] | None = None) -> int:
    p = argparse.ArgumentParser(prog=f"python -m adapters.{unit.name}",
                                description=f"Provincial {unit.name} unit adapter ({unit.item})")
    p.add_argument("--hub", required=True, help="hub base URL")
    p.add_argument("--member", default=unit.name, help=f"member id (default {unit.name})")
    p.add_argument("--key", required=True, help="the member's Ed25519 private key (PEM)")
    p.add_argument("--keyid", required=True)
    p.add_argument("--routes", required=True, help="routing table, .json or .toml")
    p.add_argument("--data-dir", required=True, help="local state (SQLite) lives here")
    p.add_argument("--interval", type=float, default=0.2, help="seconds between rounds")
    p.add_argument("--host", default="127.0.0.1", help="address for the receivers")
    p.add_argument("--push-port", type=int, help="take the hub's signed pushes on this port")
    p.add_argument("--catch-up-s", type=float, default=30.0,
                   help="in push mode, read the feed this often anyway")
    if unit.callback_app is not None:
        p.add_argument("--callback-port", type=int, default=0,
                       help="port of the receiver for the city's callbacks (0: any free one)")
        p.add_argument("--callback-url", help="the callback address given to the city "
                                              "(default http://HOST:PORT/hpf/callback)")
    p.add_argument("-v", "--verbose", action="store_true")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if a.verbose else logging.INFO,
                        format=f"%(asctime)s %(levelname)s adapter:{a.member} %(message)s")
    install_log_redaction()
    try:
        running = build(unit, hub=a.hub, member=a.member, key=keys.load_private_key(a.key),
                        keyid=a.keyid, routes=a.routes, data_dir=a.data_dir,
                        interval=a.interval, push_port=a.push_port,
                        callback_port=getattr(a, "callback_port", None),
                        callback_url=getattr(a, "callback_url", None), host=a.host,
                        catch_up_s=a.catch_up_s)
    except (RoutingError, OSError, ValueError) as exc:
        p.exit(2, f"{p.prog}: {exc}\n")
    for name, srv in running.servers.items():
        log.info("%s receiver listening on %s", name, srv.url)
    signal.signal(signal.SIGTERM, lambda *_: running.adapter.stop())
    signal.signal(signal.SIGINT, lambda *_: running.adapter.stop())
    try:
        running.adapter.run()
    finally:
        running.stop()
    log.info("%s: stopped", a.member)
    return 0
