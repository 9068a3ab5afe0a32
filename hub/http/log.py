"""The message log over HTTP: signed checkpoints, inclusion and consistency proofs."""
from __future__ import annotations

from flask import Blueprint, Response, g, request

from hub.domain.errors import DomainError, Problem
from hub.http.api import MAX_INT, _bad, _int_arg, _json, _parse_json
from hub.http.auth import hub_of_app, signed
from hub.messagelog import checkpoints, proofs

bp = Blueprint("log", __name__, url_prefix="/v1/log")


def _checkpoint(size: int | None) -> Response:
    hub = hub_of_app()
    cp = None if size is not None and size > MAX_INT else checkpoints.get(hub, size)
    if cp is None and size is None:
        checkpoints.sign(hub)  # the very first checkpoint (of however many leaves there are)
        cp = checkpoints.get(hub)
    if cp is None:
        what = "no checkpoint yet" if size is None else f"no checkpoint of size {size}"
        raise DomainError("checkpoint_not_found", what,
                          "尚无检查点" if size is None else f"没有大小为 {size} 的检查点",
                          status=404, problems=[Problem("checkpoint_not_found", "$", what,
                                                        "检查点不存在")])
    return _json(cp)


@bp.get("/checkpoints/latest")
@signed
def latest_checkpoint() -> Response:
    return _checkpoint(None)


@bp.get("/checkpoints/<int:size>")
@signed
def checkpoint(size: int) -> Response:
    return _checkpoint(size)


@bp.get("/inclusion")
@signed
def inclusion() -> Response:
    event_id = request.args.get("event", "")
    if not event_id or len(event_id) > 200:
        raise _bad("invalid_query", "$.query.event", "'event' must be an event id (1-200 chars)",
                   "参数“event”必须是事件编号（1 至 200 个字符）")
    return _json(proofs.inclusion_for_event(hub_of_app(), g.member_id, event_id))


@bp.get("/consistency")
@signed
def consistency() -> Response:
    old = _int_arg("from", None)
    new = _int_arg("to", None)
    if old is None or new is None:
        raise _bad("invalid_query", "$.query", "'from' and 'to' are both required",
                   "参数“from”和“to”均为必填")
    return _json(proofs.consistency(hub_of_app(), old, new))


@bp.post("/checkpoints/<int:size>/cosignatures")
@signed
def cosign(size: int) -> Response:
    body = _parse_json()
    sig = body.get("signature") if isinstance(body, dict) else None
    if not isinstance(sig, str) or not 0 < len(sig) <= 200:
        raise _bad("invalid_cosignature", "$.signature",
                   "'signature' must be the base64 Ed25519 signature of the checkpoint's note",
                   "“signature”必须是对检查点内容的 base64 Ed25519 签名", status=422)
    if size > MAX_INT:
        raise DomainError("checkpoint_not_found", f"no checkpoint of size {size}",
                          f"没有大小为 {size} 的检查点", status=404)
    return _json(checkpoints.cosign(hub_of_app(), g.member_id, g.keyid, size, sig))
