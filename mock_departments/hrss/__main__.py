"""python -m mock_departments.hrss --port P --hub URL --key PRIV.pem --keyid KID --data-dir DIR"""
from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from typing import Any

from mock_departments.common import setup_logging


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mock_departments.hrss",
                                description="Stand-in HRSS entrance platform")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--hub", required=True, help="the hub's base URL")
    p.add_argument("--key", required=True, help="hrss private key (PEM)")
    p.add_argument("--keyid", required=True)
    p.add_argument("--data-dir", required=True)
    p.add_argument("--member-id", default="hrss")
    p.add_argument("--city-code", default="320400")
    p.add_argument("--base-wage", type=float, default=8000.0)
    p.add_argument("--approve-on", choices=("push", "submit", "manual"), default="push")
    p.add_argument("--refuse", action="append", default=[], metavar="ID_NUMBER:CODE:MESSAGE_ZH",
                   help="refuse this applicant (repeatable)")
    p.add_argument("--config", help="a JSON file with more config keys")
    p.add_argument("-v", "--verbose", action="store_true")
    a = p.parse_args(argv)
    log = setup_logging("hrss", a.verbose)

    config: dict[str, Any] = json.load(open(a.config, encoding="utf-8")) if a.config else {}
    refuse = dict(config.get("refuse") or {})
    for spec in a.refuse:
        id_number, code, message = (spec.split(":", 2) + ["", ""])[:3]
        refuse[id_number] = {"code": code or "refused", "message_zh": message or "经审核不予批准"}
    config.update(hub_url=a.hub, key_path=a.key, keyid=a.keyid, data_dir=a.data_dir,
                  member_id=a.member_id, city_code=a.city_code, base_wage=a.base_wage,
                  approve_on=a.approve_on, refuse=refuse)

    from werkzeug.serving import make_server

    from mock_departments.hrss import create_app

    app = create_app(config)
    server = make_server(a.host, a.port, app, threaded=True)

    def stop(*_: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("listening on http://%s:%s (hub %s, approve on %s)", a.host, server.port, a.hub,
             a.approve_on)
    try:
        server.serve_forever()
    finally:
        app.extensions["hrss"].executor.shutdown(wait=False, cancel_futures=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
