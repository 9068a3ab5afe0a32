"""python -m mock_departments.sscard --port P --hub URL --member ID --key PRIV.pem --keyid=KID"""

from __future__ import annotations

import argparse
import logging

from werkzeug.serving import make_server

from hub.logs import install as install_log_redaction
from hub.security import keys
from mock_departments.sscard.app import Config, create_app


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--hub", required=True)
    p.add_argument("--member", default="sscard")
    p.add_argument("--key", required=True)
    p.add_argument("--keyid", required=True)
    p.add_argument("--item", default="social_security_card_mailing")
    p.add_argument("--progress-schema", required=True)
    a = p.parse_args()
    logging.basicConfig(level=logging.INFO)
    install_log_redaction()
    app = create_app(
        Config(a.hub, a.member, keys.load_private_key(a.key), a.keyid, a.item, a.progress_schema)
    )
    make_server("127.0.0.1", a.port, app, threaded=True).serve_forever()


if __name__ == "__main__":
    main()
