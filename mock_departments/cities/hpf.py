"""Housing provident fund centre stand-in: pinyin JSON, `202` at once, the result by callback.

    python -m mock_departments.cities.hpf --port P --data-dir D --secret S [--city 320400]
        [--callback-url URL] [--callback-delay-s 0.3] [--balance 86543.21]
        [--not-eligible ID_NUMBER:no_account|arrears|frozen ...] [--mode ...]

The decision is taken when the request is accepted and revealed after `callback_delay_s`, by a
callback to the request's `hdurl` (or the configured URL) and by the query endpoint; callbacks
run on one background thread, retried on failure, and held while the centre is `down`.

Every message both ways is signed with the city's secret (HMAC-SHA256 over method, path,
timestamp and body; INTERFACES.md §1): the centre checks the adapter's signature before it reads
a request and signs each callback. A centre without a secret does not start.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from flask import Flask, Response, request

from hub.domain.idnumber import is_valid, mask
from mock_departments.cities import serve
from mock_departments.cities.base import CityStandIn, json_response, local_now, make_app

REQUIRED = ("ywlsh", "xzqh", "zjlx", "zjhm", "xm", "dwmc", "dwzh", "txny", "spsj")
OPTIONAL = ("hdurl",)
NOT_ELIGIBLE = {
    "no_account": ("E01", "未查询到住房公积金账户"),
    "arrears": ("E02", "住房公积金账户存在欠缴"),
    "frozen": ("E03", "住房公积金账户已冻结"),
}
CALLBACK_RETRY_S = (0.5, 1.0, 2.0, 4.0, 8.0)
SIGNATURE_WINDOW_S = 300
MIN_SECRET_BYTES = 16
_YYYYMM = re.compile(r"^\d{4}(0[1-9]|1[0-2])$")
_STAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


def parse_not_eligible(spec: dict[str, str] | list[str]) -> dict[str, tuple[str, str]]:
    """`{id_number: reason}` or `["ID:reason", ...]`; reason by name or by code (E01..E03)."""
    items = spec.items() if isinstance(spec, dict) else (s.split(":", 1) for s in spec)
    by_code = {code: (code, msg) for code, msg in NOT_ELIGIBLE.values()}
    out = {}
    for pair in items:
        if len(pair) != 2:
            raise ValueError(f"not eligible expects ID_NUMBER:REASON, got {pair!r}")
        id_number, reason = pair
        found = NOT_ELIGIBLE.get(reason) or by_code.get(reason)
        if found is None:
            raise ValueError(f"unknown reason {reason!r}: one of {', '.join(NOT_ELIGIBLE)}")
        out[id_number.strip().upper()] = found
    return out


class BadRequest(ValueError):
    pass


def parse_application(raw: str, city: str) -> dict[str, str]:
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise BadRequest(f"报文不是合法JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise BadRequest("报文应为JSON对象")
    unknown = sorted(set(doc) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise BadRequest(f"未知字段: {', '.join(unknown)}")
    for name in REQUIRED + OPTIONAL:
        if name in doc and not (isinstance(doc[name], str) and doc[name].strip()):
            raise BadRequest(f"{name} 应为非空字符串")
    missing = [name for name in REQUIRED if name not in doc]
    if missing:
        raise BadRequest(f"缺少字段: {', '.join(missing)}")
    checks = [
        (doc["xzqh"] == city, f"xzqh 行政区划不符（本中心为{city}）"),
        (doc["zjlx"] == "01", "zjlx 证件类型应为01（居民身份证）"),
        (len(doc["zjhm"]) == 18 and is_valid(doc["zjhm"]), "zjhm 证件号码无效"),
        (bool(_YYYYMM.match(doc["txny"])), "txny 退休年月应为YYYYMM"),
        (bool(_STAMP.match(doc["spsj"])), "spsj 审批时间应为YYYY-MM-DD HH:MM:SS"),
        (len(doc["ywlsh"]) <= 64, "ywlsh 业务流水号过长"),
        (doc.get("hdurl", "http://").startswith(("http://", "https://")), "hdurl 回调地址无效"),
    ]
    for ok, message in checks:
        if not ok:
            raise BadRequest(message)
    return doc


@dataclass
class Callback:
    due: float
    attempt: int
    slbh: str
    url: str


class Centre(CityStandIn):
    system = "hpf"
    default_reason = ("E08", "系统维护，暂停受理")

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        secret = config.get("secret")
        if not isinstance(secret, str) or len(secret.encode("utf-8")) < MIN_SECRET_BYTES:
            raise ValueError(f"the centre needs a secret of at least {MIN_SECRET_BYTES} bytes "
                             f"(config 'secret', option --secret)")
        self.secret = secret.encode("utf-8")
        self.callback_url: str | None = config.get("callback_url")
        self.callback_delay_s = float(config.get("callback_delay_s", 0.3))
        self.balance = str(config.get("balance", "86543.21"))
        self.not_eligible = parse_not_eligible(config.get("not_eligible") or {})
        # slbh -> {"receipt", "result", "ready_at"}; rebuilt from the dedupe store on restart.
        self.records: dict[str, dict[str, Any]] = {
            a.reference: {**a.answer, "ready_at": 0.0} for a in self.applied.values()}
        self.callbacks_sent = 0
        self._pending: list[Callback] = []
        self._cond = threading.Condition(self.lock)
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="hpf-callbacks", daemon=True)
        self._thread.start()

    # ----- applying --------------------------------------------------------------------
    def accept(self, event_id: str, doc: dict[str, str]) -> dict[str, Any]:
        with self.lock:
            slbh = f"GJJ{self.city}-{len(self.records) + 1:06d}"
            receipt = {"fhm": "01", "fhxx": "已受理", "slbh": slbh, "ywlsh": doc["ywlsh"]}
            result = {"slbh": slbh, "ywlsh": doc["ywlsh"], "sjid": event_id, "blzt": "02",
                      "blztmc": "办结", "tqje": self.balance, "bjsj": "", "yydm": "", "yyxx": ""}
            reason = self.not_eligible.get(doc["zjhm"].upper())
            if reason is not None:
                result.update(blzt="09", blztmc="不符合", tqje="", yydm=reason[0], yyxx=reason[1])
            answer = {"receipt": receipt, "result": result}
            self.records[slbh] = {**answer, "ready_at": time.time() + self.callback_delay_s}
            self.remember(event_id, slbh, "completed" if reason is None else "not_eligible",
                          answer)
            url = doc.get("hdurl") or self.callback_url
            if url:
                self._pending.append(Callback(time.monotonic() + self.callback_delay_s, 0, slbh,
                                              url))
                self._cond.notify_all()
        self.log.info("hpf: accepted %s (%s) for %s, result %s", slbh, doc["ywlsh"],
                      mask(doc["zjhm"]), result["blzt"])
        return receipt

    def query(self, slbh: str | None, ywlsh: str | None) -> dict[str, Any] | None:
        with self.lock:
            rec = self.records.get(slbh or "")
            if rec is None and ywlsh:
                rec = next((r for r in reversed(self.records.values())
                            if r["receipt"]["ywlsh"] == ywlsh), None)
            if rec is None:
                return None
            if time.time() < rec["ready_at"]:
                return {**rec["result"], "blzt": "01", "blztmc": "受理", "tqje": "", "yydm": "",
                        "yyxx": ""}
            return self._final(rec)

    @staticmethod
    def _final(rec: dict[str, Any]) -> dict[str, Any]:
        result = dict(rec["result"])
        if not result["bjsj"]:
            result["bjsj"] = rec["result"]["bjsj"] = local_now()
        return result

    # ----- callbacks -------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                if self._stop:
                    return
                now = time.monotonic()
                job = None
                if self.mode != "down":
                    job = next((c for c in self._pending if c.due <= now), None)
                if job is None:
                    self._cond.wait(0.05)
                    continue
                self._pending.remove(job)
                body = self._final(self.records[job.slbh])
            self._send(job, body)

    def _send(self, job: Callback, body: dict[str, Any]) -> None:
        self.pause_if_slow()
        raw = json.dumps(body, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json; charset=utf-8",
                   "X-Hub-Event-Id": body["sjid"],
                   **self.signed_headers("POST", urlsplit(job.url).path or "/", raw)}
        try:
            resp = requests.post(job.url, data=raw, headers=headers, timeout=5)
            ok, what = 200 <= resp.status_code < 300, str(resp.status_code)
        except requests.RequestException as exc:
            ok, what = False, type(exc).__name__
        with self._cond:
            if ok:
                self.callbacks_sent += 1
                self.log.info("hpf: callback for %s delivered (%s)", job.slbh, what)
            elif job.attempt < len(CALLBACK_RETRY_S) and not self._stop:
                self.log.warning("hpf: callback for %s failed (%s), retry in %.1fs", job.slbh,
                                 what, CALLBACK_RETRY_S[job.attempt])
                self._pending.append(Callback(time.monotonic() + CALLBACK_RETRY_S[job.attempt],
                                              job.attempt + 1, job.slbh, job.url))
            else:
                self.log.error("hpf: callback for %s given up (%s); query still answers",
                               job.slbh, what)

    # ----- signatures ------------------------------------------------------------------
    def signature(self, method: str, path: str, timestamp: str, body: bytes) -> str:
        base = "\n".join((method.upper(), path, timestamp, hashlib.sha256(body).hexdigest()))
        return "v1=" + hmac.new(self.secret, base.encode("utf-8"), hashlib.sha256).hexdigest()

    def signed_headers(self, method: str, path: str, body: bytes) -> dict[str, str]:
        ts = str(int(time.time()))
        return {"X-GJJ-Xzqh": self.city, "X-GJJ-Timestamp": ts,
                "X-GJJ-Signature": self.signature(method, path, ts, body)}

    def verify(self, method: str, path: str, headers: Any, body: bytes) -> bool:
        """The adapter's signature over this very request, made within the window."""
        ts = headers.get("X-GJJ-Timestamp", "")
        if not (ts.isascii() and ts.isdigit() and len(ts) <= 12):
            return False
        if abs(time.time() - int(ts)) > SIGNATURE_WINDOW_S:
            return False
        given = headers.get("X-GJJ-Signature", "").encode("utf-8", "replace")
        return hmac.compare_digest(given, self.signature(method, path, ts, body).encode())

    def pending_callbacks(self) -> int:
        with self.lock:
            return len(self._pending)

    def on_reset(self) -> None:
        self._pending.clear()
        self.records.clear()

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join(timeout=10)


def _answer(fhm: str, fhxx: str, status: int, **extra: Any) -> Response:
    return json_response({"fhm": fhm, "fhxx": fhxx, **extra}, status)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    centre = Centre(dict(config or {}))
    app = make_app("mock_departments.cities.hpf", centre,
                   lambda: _answer("95", "系统暂停服务", 503))

    def signed() -> bool:
        path = request.path + (f"?{request.query_string.decode('latin-1')}"
                               if request.query_string else "")
        return centre.verify(request.method, path, request.headers, request.get_data())

    @app.post("/gjj/api/txtq/sq")
    def apply() -> Response:
        raw = request.get_data(as_text=True)
        event_id = request.headers.get("X-Hub-Event-Id", "").strip() or None
        centre.journal(path=request.path, fmt="json", content_type=request.content_type,
                       event_id=event_id, body=raw)
        if not signed():
            return _answer("98", "签名无效", 401)
        if event_id is None:
            return _answer("97", "缺少事件编号（X-Hub-Event-Id）", 400)
        if centre.mode == "error":
            return _answer("96", "系统内部错误", 500)
        centre.pause_if_slow()
        before = centre.seen(event_id)
        if before is not None:
            return json_response({**before.answer["receipt"], "cf": "1"}, 202)
        if centre.mode == "refuse":
            code, message = centre.refusal()
            return _answer("08", message, 200, yydm=code, slbh=None)
        try:
            doc = parse_application(raw, centre.city)
        except BadRequest as exc:
            return _answer("99", f"报文格式错误: {exc}", 400)
        return json_response(centre.accept(event_id, doc), 202)

    @app.get("/gjj/api/txtq/cx")
    def query() -> Response:
        if not signed():
            return _answer("98", "签名无效", 401)
        found = centre.query(request.args.get("slbh"), request.args.get("ywlsh"))
        if found is None:
            return _answer("94", "未找到", 404)
        return json_response(found)

    return app


def main(argv: list[str] | None = None) -> int:
    p = serve.parser("hpf", "Stand-in housing provident fund centre (city level)")
    p.add_argument("--callback-url", default=None, help="used when a request has no hdurl")
    p.add_argument("--secret", default=None,
                   help="this city's signing secret, shared with the provincial adapter")
    p.add_argument("--secret-file", default=None, help="read the secret from this file")
    p.add_argument("--callback-delay-s", type=float, default=None)
    p.add_argument("--balance", default=None, help="提取金额 reported on completion")
    p.add_argument("--not-eligible", action="append", default=[],
                   metavar="ID_NUMBER:no_account|arrears|frozen")
    a = p.parse_args(argv)
    secret = a.secret
    if secret is None and a.secret_file:
        with open(a.secret_file, encoding="utf-8") as f:
            secret = f.read().strip()
    extra: dict[str, Any] = {"callback_url": a.callback_url, "secret": secret,
                             "callback_delay_s": a.callback_delay_s, "balance": a.balance}
    config = serve.config_from(a, extra)
    if a.not_eligible:
        merged = dict(config.get("not_eligible") or {})
        merged.update(dict(s.split(":", 1) for s in a.not_eligible if ":" in s))
        bad = [s for s in a.not_eligible if ":" not in s]
        if bad:
            p.error(f"--not-eligible expects ID_NUMBER:REASON, got {bad[0]!r}")
        config["not_eligible"] = merged
    try:
        parse_not_eligible(config.get("not_eligible") or {})
    except ValueError as exc:
        p.error(str(exc))
    secret = config.get("secret")
    if not isinstance(secret, str) or len(secret.encode("utf-8")) < MIN_SECRET_BYTES:
        p.error(f"the centre needs --secret (or --secret-file) of at least {MIN_SECRET_BYTES} "
                f"bytes")
    return serve.serve("hpf", a, config, create_app)


if __name__ == "__main__":
    sys.exit(main())
