"""The end of `make demo`: one more application left open with one item past its promised
date, the 督办 check run once, a demo login, and the console served on loopback."""
from __future__ import annotations

import os
import secrets
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import contracts
from hub.bootstrap import bootstrap
from hub.client import make_event
from hub.config import Config
from hub.console import accounts
from hub.console.levels import beijing_date
from hub.console.supervision import check_deadlines
from hub.services.publish import publish
from hub.store.models import CaseItemRow

DEMO_ITEM = "socialized_management"


def prepare(env: dict[str, str]) -> tuple[Any, str, str]:
    """The hub (stopped processes' database), the overdue case and the demo password."""
    os.environ["HUB_CONSOLE_INSECURE_COOKIE"] = "1"  # plain http on loopback only
    hub = bootstrap(Config.from_env({**env, "HUB_RUN_WORKER": "0"}))
    now = datetime.now(UTC)
    cid = f"RT320400-{beijing_date(now):%Y%m%d}-{secrets.token_hex(4)}"
    publish(hub, "hrss", make_event("hrss", "application_submitted", cid,
                                    contracts.example("application")), batch=False)
    # The demo cannot wait five working days: its one open item is given yesterday as its
    # promised date, so the warnings have something to show.
    with hub.transaction() as s:
        row = s.get(CaseItemRow, (cid, DEMO_ITEM))
        if row is not None:
            row.promised_by = beijing_date(now) - timedelta(days=1)
    check_deadlines(hub, now)
    password = secrets.token_urlsafe(12)
    accounts.add_user(hub, "demo", "supervisor", password, actor="demo")
    return hub, cid, password


def show(env: dict[str, str], print_: Any) -> None:
    hub, cid, password = prepare(env)
    from werkzeug.serving import make_server

    from hub.http.app import create_app

    server = make_server("127.0.0.1", 0, create_app(hub=hub), threaded=True)
    url = f"http://127.0.0.1:{server.server_port}/console/"
    print_(f"督办: case {cid}, item {DEMO_ITEM} is overdue (see the overview and notices)")
    print_(f"console: {url}   login: demo / {password} (supervisor)")
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        server.server_close()
        hub.engine.dispose()
        return
    print_("serving the console until Ctrl-C")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        hub.engine.dispose()
