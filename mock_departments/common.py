"""Small helpers shared by the stand-in departments: time, keys, the hub's JWKS, safe logging."""
from __future__ import annotations

import logging
import uuid
from typing import Any

from hub.domain.clock import CST as CST  # re-exported: the one clock module
from hub.domain.clock import now_iso as now_iso
from hub.logs import install as install_log_redaction
from hub.security.jwks import HubKeys as HubKeys  # re-exported: the one JWKS fetcher

# Stable namespace for deterministic event ids (a resend after a failure keeps its id).
EVENT_NS = uuid.UUID("5d0c9b5e-2f7e-4d7a-9a53-6a1f3c0e8b21")


def event_id(*parts: str) -> str:
    return str(uuid.uuid5(EVENT_NS, "|".join(parts)))


def setup_logging(name: str, verbose: bool = False) -> logging.Logger:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format=f"%(asctime)s %(levelname)s {name} %(message)s")
    install_log_redaction()
    # werkzeug's access log would print the request line only; keep it, it holds no personal data.
    return logging.getLogger(name)


def masked_id(value: Any) -> str:
    from hub.domain.idnumber import mask

    return mask(str(value)) if value else ""
