"""The command line every city stand-in shares: common options, config file, serving."""
from __future__ import annotations

import argparse
import json
import signal
import threading
from collections.abc import Callable
from typing import Any

from flask import Flask

from mock_departments.cities.base import MODES
from mock_departments.common import setup_logging


def parser(system: str, description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"python -m mock_departments.cities.{system}",
                                description=description)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True, help="0 picks a free port")
    p.add_argument("--data-dir", required=True)
    p.add_argument("--city", default=None, help="行政区划代码 this system serves (default 320400)")
    p.add_argument("--mode", choices=MODES, default=None)
    p.add_argument("--delay-s", type=float, default=None, help="how slow `slow` is")
    p.add_argument("--reason-code", default=None, help="reason code for `refuse`")
    p.add_argument("--reason-message", default=None, help="reason message for `refuse`")
    p.add_argument("--config", help="a JSON file with more config keys (options win)")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def config_from(args: argparse.Namespace, extra: dict[str, Any]) -> dict[str, Any]:
    """Config file first, then every option given on the command line."""
    config: dict[str, Any] = {}
    if args.config:
        with open(args.config, encoding="utf-8") as f:
            config.update(json.load(f))
    given = {"city": args.city, "data_dir": args.data_dir, "mode": args.mode,
             "delay_s": args.delay_s, "reason_code": args.reason_code,
             "reason_message": args.reason_message, **extra}
    config.update({k: v for k, v in given.items() if v is not None})
    return config


def serve(system: str, args: argparse.Namespace, config: dict[str, Any],
          create_app: Callable[[dict[str, Any]], Flask]) -> int:
    from werkzeug.serving import make_server

    log = setup_logging(f"city.{system}", args.verbose)
    app = create_app(config)
    server = make_server(args.host, args.port, app, threaded=True)

    def stop(*_: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    standin = app.extensions["city"]
    log.info("listening on http://%s:%s (%s, city %s, mode %s, data %s)", args.host, server.port,
             system, standin.city, standin.mode, standin.data_dir)
    try:
        server.serve_forever()
    finally:
        standin.close()
    return 0
