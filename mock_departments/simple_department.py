"""A simple pull subscriber standing in for a department member until real adapters exist.

    python -m mock_departments.simple_department --hub URL --member ID --key PRIV.pem --keyid KID \
        [--interval 0.2] [--not-eligible ITEM:REASON_CODE[:MESSAGE_ZH]] [--not-eligible-cases GLOB]

It pulls its feed, validates each request payload against the item's contract, reports progress
received -> in_progress -> completed (or not_eligible with a reason for the items configured so,
or failed when the payload breaks its contract), acknowledges the cursor and loops. Events are
handled once per id; progress events get deterministic ids, so a resend is a duplicate at the hub.
"""
from __future__ import annotations

import argparse
import fnmatch
import logging
import signal
import sys
import threading
from dataclasses import dataclass, field
from typing import Any

import requests

import contracts
from hub.client import HubClient, HubHTTPError, make_event
from hub.domain.idnumber import mask
from hub.security import keys
from mock_departments.common import event_id, now_iso, setup_logging

log = logging.getLogger("department")

CANCELLED_TYPE = contracts.event_type("item_cancelled")

HANDLERS = {
    "community": "社区服务经办员（模拟）",
    "hpf": "公积金经办员（模拟）",
    "medical": "医保经办员（模拟）",
    "health": "卫健经办员（模拟）",
}

# Reasons a stand-in can give, by code (DOMAIN.md §4); an unknown code gets a generic text.
REASONS = {
    "medical_contribution_years_short": (
        "医保累计缴费年限不足，需补缴后办理，转为单独事项",
        "Medical insurance contribution years short; handled as a standalone matter after top-up"),
    "hpf_arrears": ("住房公积金账户存在欠缴，转为单独事项办理",
                    "The HPF account has arrears; handled as a standalone matter"),
    "hpf_no_account": ("未查询到住房公积金账户，转为单独事项办理",
                       "No HPF account found; handled as a standalone matter"),
    "hpf_frozen": ("住房公积金账户已冻结，转为单独事项办理",
                   "The HPF account is frozen; handled as a standalone matter"),
}


@dataclass
class NotEligible:
    item: str
    code: str
    message_zh: str
    message_en: str | None = None

    @classmethod
    def parse(cls, spec: str) -> NotEligible:
        parts = spec.split(":", 2)
        if len(parts) < 2 or not parts[0] or not parts[1]:
            raise ValueError(f"--not-eligible expects ITEM:REASON_CODE[:MESSAGE_ZH], got {spec!r}")
        item, code = parts[0], parts[1]
        contracts.item(item)  # KeyError for an unknown item code
        zh, en = REASONS.get(code, ("不符合联办条件，转为单独事项办理",
                                    "Conditions for the linked handling not met"))
        return cls(item, code, parts[2] if len(parts) > 2 and parts[2] else zh, en)

    def reason(self) -> dict[str, str]:
        out = {"code": self.code, "message_zh": self.message_zh}
        if self.message_en:
            out["message_en"] = self.message_en
        return out


@dataclass
class Department:
    client: HubClient
    member_id: str
    interval: float = 0.2
    not_eligible: list[NotEligible] = field(default_factory=list)
    not_eligible_cases: str = "*"
    seen: set[str] = field(default_factory=set)
    cancelled: set[tuple[str, str]] = field(default_factory=set)
    stop: threading.Event = field(default_factory=threading.Event)
    cursor: int | None = None
    reported: int = 0

    def __post_init__(self) -> None:
        self.requests = {d["request_type"]: d for d in contracts.items() if d.get("request_type")}

    # ----- the loop ------------------------------------------------------------------
    def run(self) -> None:
        log.info("%s: pulling every %.2fs", self.member_id, self.interval)
        while not self.stop.is_set():
            try:
                more = self.poll_once()
            except (requests.RequestException, HubHTTPError) as exc:
                log.warning("%s: poll failed: %s", self.member_id, exc)
                more = False
            if not more:
                self.stop.wait(self.interval)

    def poll_once(self) -> bool:
        """One page: handle new events, acknowledge; True when the feed has more."""
        page = self.client.feed(after=self.cursor)
        for entry in page["items"]:
            ev = entry["event"]
            if ev["id"] in self.seen:
                log.info("%s: event %s seen before, skipped", self.member_id, ev["id"])
                continue
            self.handle(ev)
            self.seen.add(ev["id"])
        if page["items"]:
            self.client.ack(page["next_cursor"])
            self.cursor = page["next_cursor"]
        return bool(page.get("has_more"))

    # ----- events --------------------------------------------------------------------
    def handle(self, ev: dict[str, Any]) -> None:
        case_id = ev.get("subject") or ""
        if ev.get("type") == CANCELLED_TYPE:
            data = ev.get("data") or {}
            self.cancelled.add((case_id, data.get("item", "")))
            log.info("%s: case %s item %s cancelled: %s", self.member_id, case_id,
                     data.get("item"), (data.get("reason") or {}).get("code"))
            return
        d = self.requests.get(ev.get("type", ""))
        if d is None:
            log.info("%s: ignoring event type %s", self.member_id, ev.get("type"))
            return
        code = d["code"]
        payload = ev.get("data") or {}
        errors = [f"{'/'.join(map(str, e.absolute_path)) or '$'}: {e.validator}"
                  for e in contracts.validator(d["payload_contract"]).iter_errors(payload)]
        person = (payload.get("person") or payload.get("info") or {}).get("id_number", "")
        log.info("%s: case %s item %s for %s", self.member_id, case_id, code, mask(person))
        if errors:
            log.warning("%s: case %s payload breaks %s: %s", self.member_id, case_id,
                        d["payload_contract"], errors)
            self.report(ev, code, "received")
            self.report(ev, code, "failed", reason={
                "code": "payload_invalid", "message_zh": "推送数据不符合数据合同，无法办理",
                "message_en": ("; ".join(errors))[:500]})
            return
        rule = self._not_eligible(code, case_id)
        for status in ("received", "in_progress"):
            if not self.report(ev, code, status):
                return
        if rule is not None:
            self.report(ev, code, "not_eligible", reason=rule.reason())
        else:
            self.report(ev, code, "completed", result=self._result(code, case_id, payload))

    def _not_eligible(self, code: str, case_id: str) -> NotEligible | None:
        if not fnmatch.fnmatchcase(case_id, self.not_eligible_cases):
            return None
        return next((r for r in self.not_eligible if r.item == code), None)

    @staticmethod
    def _result(code: str, case_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        ref = f"{code[:3].upper()}-{case_id[-15:]}"
        if code == "hpf_withdrawal":
            return {"note_zh": "住房公积金已销户并提取至本人银行卡",
                    "note_en": "Account closed; balance paid to the retiree's bank card",
                    "amount": 86543.21, "reference": ref}
        if code == "medical_transfer":
            return {"note_zh": "已办理在职转退休医疗保险，停止缴费",
                    "note_en": "Transferred to retiree medical insurance", "reference": ref}
        if code == "socialized_management":
            return {"note_zh": "已纳入社区社会化管理服务",
                    "note_en": "Enrolled in socialized management", "reference": ref}
        if code == "only_child_certificate":
            held = payload.get("holds_certificate")
            note_zh = "已登记：" + ("持有" if held else "未持有") + "独生子女父母光荣证"
            return {"note_zh": note_zh,
                    "note_en": "Recorded: certificate held" if held else "Recorded: not held",
                    "reference": ref}
        return {"note_zh": "已办结", "reference": ref}

    def report(self, request_event: dict[str, Any], code: str, status: str, *,
               reason: dict[str, str] | None = None,
               result: dict[str, Any] | None = None) -> bool:
        """Publish one progress event; False when the item can no longer move (e.g. cancelled)."""
        case_id = request_event["subject"]
        if (case_id, code) in self.cancelled:
            return False
        data: dict[str, Any] = {"item": code, "status": status, "occurred_at": now_iso(),
                                "handler": HANDLERS.get(self.member_id, "经办员（模拟）"),
                                "department_reference": f"{self.member_id.upper()}-{case_id}"[:64]}
        if reason:
            data["reason"] = reason
        if result:
            data["result"] = result
        errors = [e.message for e in contracts.validator("progress").iter_errors(data)]
        if errors:
            raise ValueError(f"progress breaks its contract: {errors}")
        ev = make_event(self.member_id, "item_progressed", case_id, data,
                        event_id=event_id(self.member_id, request_event["id"], status))
        delay = 0.2
        for attempt in range(1, 6):
            try:
                receipt = self.client.publish(ev)
                self.reported += 1
                log.info("%s: case %s %s -> %s (%s)", self.member_id, case_id, code, status,
                         receipt.get("status"))
                return True
            except HubHTTPError as exc:
                problem = exc.problem.get("code")
                if exc.status < 500:  # refused for good (e.g. 409: item cancelled meanwhile)
                    log.warning("%s: case %s %s -> %s not accepted: %s %s", self.member_id,
                                case_id, code, status, exc.status, problem)
                    return False
            except requests.RequestException as exc:
                log.warning("%s: publish failed (attempt %d): %s", self.member_id, attempt, exc)
            if self.stop.wait(delay):
                return False
            delay *= 2
        return False


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mock_departments.simple_department")
    p.add_argument("--hub", required=True)
    p.add_argument("--member", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--keyid", required=True)
    p.add_argument("--interval", type=float, default=0.2)
    p.add_argument("--not-eligible", action="append", default=[],
                   metavar="ITEM:REASON_CODE[:MESSAGE_ZH]",
                   help="report this item not_eligible with that reason (repeatable)")
    p.add_argument("--not-eligible-cases", default="*", metavar="GLOB",
                   help="only for case ids matching this glob (default: all)")
    p.add_argument("-v", "--verbose", action="store_true")
    a = p.parse_args(argv)
    setup_logging(f"dept:{a.member}", a.verbose)
    dept = Department(
        client=HubClient(a.hub, a.member, keys.load_private_key(a.key), a.keyid),
        member_id=a.member, interval=a.interval,
        not_eligible=[NotEligible.parse(s) for s in a.not_eligible],
        not_eligible_cases=a.not_eligible_cases)
    signal.signal(signal.SIGTERM, lambda *_: dept.stop.set())
    signal.signal(signal.SIGINT, lambda *_: dept.stop.set())
    dept.run()
    log.info("%s: stopped after %d progress reports", a.member, dept.reported)
    return 0


if __name__ == "__main__":
    sys.exit(main())
