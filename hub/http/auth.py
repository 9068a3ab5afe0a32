"""Every /v1 request is signed (RFC 9421); the verified key names the member."""
from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import current_app, g, request

from hub.bootstrap import Hub
from hub.domain.errors import DomainError
from hub.security.signing import SignatureError, verify_flask_request
from hub.security.sm2 import SM2PublicKey
from hub.services import members


def hub_of_app() -> Hub:
    return current_app.extensions["retirement_hub"]  # type: ignore[no-any-return]


def signed(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        hub = hub_of_app()
        owners: dict[str, str] = {}

        def resolve(keyid: str) -> Any:
            found = members.key_owner(hub, keyid)
            if found is None:
                return None
            owners[keyid] = found[0]
            key = found[1]
            if isinstance(key, SM2PublicKey):  # the deployment's distinguishing identifier
                key = key.with_distid(hub.config.sm2_distid)
            return key

        def remember(keyid: str, nonce: str, expires: datetime) -> bool:
            return members.remember_nonce(hub, keyid, nonce, expires)

        try:
            verified = verify_flask_request(request, resolve, remember,
                                            authority=hub.config.accepts_authority,
                                            window=hub.config.signature_window_s)
        except SignatureError as exc:
            raise DomainError(exc.code, exc.message, exc.message_zh, status=exc.status) from exc
        g.member_id = owners[verified.keyid]
        g.keyid = verified.keyid
        return view(*args, **kwargs)

    return wrapper
