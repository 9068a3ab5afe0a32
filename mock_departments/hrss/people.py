"""The stand-in HRSS's own records: applicants, their contributions, and the rules it applies.

Nothing here talks to the network. `build_application` fills the application contract from the
contract's example, `decide` computes the phase-2 approval result (DOMAIN.md §2 and §3).
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import contracts
from hub.domain.pension import PAYOUT_MONTHS, account_pension, basic_pension
from hub.domain.retirement import (
    RetirementRules,
    add_months,
    legal_age_months,
    min_contribution_months,
    months_between,
    original_age_months,
    parse_year_month,
)

OPTIONAL_ITEMS = tuple(d["code"] for d in contracts.items() if d.get("chosen") == "optional")
DEFAULT_BASE_WAGE = 8000.0  # previous year's average monthly on-post wage (parameter)


@dataclass(frozen=True)
class Person:
    """What the HRSS's own social-insurance records say about one insured person."""

    key: str
    name: str
    id_number: str
    sex: str
    birth_month: str
    identity: str = "worker"
    post_type: str = "other"
    personal_number: str = "3204000000000001"
    mobile: str = "13800000001"
    work_start_month: str = "1984-07"
    # Benefit-verification data (the HRSS's fixtures):
    average_index: float = 1.0
    contribution_months: int | None = None  # None: from work start to retirement, minus gaps
    account_balance: float = 100000.0
    paper_certificate: bool = True
    only_child_certificate: bool = False
    # Where the person lives and retires (socialized management, annex 5) and who employs them;
    # None keeps the contract example's (Changzhou) values.
    city_code: str = "320400"
    city_name: str = "常州市"
    county: str = "天宁区"
    agency: tuple[str, str] | None = ("示例街道", "示例社区")  # (street, community) wished for
    employer: tuple[str, str] | None = None  # (name, unit number)


PEOPLE: dict[str, Person] = {
    p.key: p
    for p in (
        # The contract example's applicant: man born 1966-05 -> 60y5m, retires 2026-10.
        Person("wang", "王示例", "320402196605150033", "male", "1966-05",
               personal_number="3204001966051501", mobile="13800000001",
               work_start_month="1984-07", average_index=0.85, contribution_months=495,
               account_balance=180000.0, paper_certificate=True, only_child_certificate=True),
        # Woman worker (original age 50) born 1976-06 -> 50y9m, retires 2027-03.
        Person("chen", "陈示例", "320411197606150028", "female", "1976-06",
               personal_number="3204001976061501", mobile="13800000011",
               work_start_month="1995-07", average_index=1.2, contribution_months=380,
               account_balance=95000.0, paper_certificate=False),
        # Man born 1965-03 -> 60y1m, retires 2025-04 with only 150 contribution months: refused.
        Person("zhou", "周示例", "320404196503200012", "male", "1965-03",
               personal_number="3204001965032001", mobile="13800000021",
               work_start_month="2012-11", average_index=0.6, contribution_months=150,
               account_balance=30000.0),
        # Changzhou woman cadre (55 group) born 1971-04 -> 55y4m, retires 2026-08; her housing
        # fund account has arrears (the demo's hpf stand-in is told so): hpf becomes standalone.
        Person("sun", "孙示例", "320402197104120041", "female", "1971-04", identity="cadre",
               personal_number="3204001971041201", mobile="13800000031",
               work_start_month="1992-08", average_index=1.4, contribution_months=400,
               account_balance=150000.0, paper_certificate=True, only_child_certificate=True,
               county="钟楼区", agency=None,
               employer=("常州市示例局（机关）", "32040000002345")),
        # Wuxi special-job-type early retirement (annex 4: underground), man born 1971-09 -> 55y,
        # retires 2026-09 with 300 contribution months: enough for the pension (>= 180) but short
        # of the medical bureau's 30 years: medical transfer becomes standalone.
        Person("zhao", "赵示例", "320211197109080056", "male", "1971-09",
               personal_number="3202001971090801", mobile="13900000001",
               work_start_month="1989-09", average_index=0.9, contribution_months=300,
               account_balance=88000.0, paper_certificate=False, city_code="320200",
               city_name="无锡市", county="滨湖区", agency=None,
               employer=("无锡示例矿业有限公司", "32020000005678")),
        # Suzhou (a city added by configuration only), man born 1966-03 -> 60y4m, retires 2026-07.
        Person("wu", "吴示例", "32050819660318003X", "male", "1966-03",
               personal_number="3205001966031801", mobile="13900000011",
               work_start_month="1985-09", average_index=1.1, contribution_months=490,
               account_balance=160000.0, city_code="320500", city_name="苏州市",
               county="姑苏区", agency=("示例街道", "示例社区"),
               employer=("苏州示例电子有限公司", "32050000003456")),
    )
}


def person_by_id(id_number: str, people: dict[str, Person] | None = None) -> Person | None:
    for p in (people or PEOPLE).values():
        if p.id_number == id_number.upper():
            return p
    return None


def legal_age(application: dict[str, Any]) -> tuple[int, str]:
    """(legal age in months, retirement month) by DOMAIN.md §2 for the application's applicant."""
    a = application["applicant"]
    year, month = parse_year_month(a["birth_month"])
    months = legal_age_months(application["retirement"]["category"], a["sex"], a["identity"],
                              a["post_type"], year, month)
    return months, add_months(a["birth_month"], months)


def build_application(person: Person, *, city_code: str | None = None,
                      linked_items: list[str] | None = None, variant: str = "annex3",
                      paper_certificate: bool | None = None, flexible: str | None = None,
                      retirement_month: str | None = None) -> dict[str, Any]:
    """An application for `person`, from the contract's example, with age and month computed.

    `city_code` defaults to the person's city (the pilot Changzhou 320400 unless set).
    `flexible` ("early" or "late") with `retirement_month` asks for flexible retirement; a
    `retirement_month` alone is a later month for extended contributions.
    """
    app = contracts.example("application-annex4" if variant == "annex4" else "application")
    app["city_code"] = city_code or person.city_code
    if person.employer is not None:
        app["employer"] = {"name": person.employer[0], "number": person.employer[1]}
    applicant = app["applicant"]
    applicant.update(name=person.name, id_number=person.id_number, sex=person.sex,
                     birth_month=person.birth_month, identity=person.identity,
                     post_type=person.post_type, personal_number=person.personal_number,
                     mobile=person.mobile, work_start_month=person.work_start_month)
    chosen = list(OPTIONAL_ITEMS) if linked_items is None else list(linked_items)
    app["linked_items"] = chosen
    app["paper_certificate"] = (person.paper_certificate if paper_certificate is None
                                else paper_certificate)
    app["only_child_certificate"] = person.only_child_certificate
    if "socialized_management" in chosen:
        info = app.get("socialized_management") or contracts.example("socialized-management-info")
        info.update(name=person.name, sex=person.sex, birth_month=person.birth_month,
                    id_number=person.id_number)
        info["service_agency"] = {"city": person.city_name, "county": person.county}
        if person.agency is not None:
            info["service_agency"].update(street=person.agency[0], community=person.agency[1])
        address = (info.get("residence") or {}).get("address")
        if isinstance(address, dict):
            address.update(city=person.city_name, county=person.county)
        if person.city_name != "常州市" or person.county != "天宁区":
            info["file_location"] = f"{person.city_name}{person.county}人才服务中心（示例）"
        if person.employer is not None:
            info["employer"] = person.employer[0]
            if isinstance(info.get("filler"), dict):
                info["filler"]["unit"] = person.employer[0]
        app["socialized_management"] = info
    else:
        app.pop("socialized_management", None)
    if app["work_history"]:
        app["work_history"][0]["from_month"] = person.work_start_month
    months, month = legal_age(app)
    app["retirement"]["legal_age"] = {"years": months // 12, "months": months % 12}
    app["retirement"]["month"] = month = retirement_month or month
    if flexible:
        app["retirement"]["flexible"] = flexible
    # Keep the work history and gaps inside the working life (the example's dates are Wang's).
    app["contribution_gaps"] = [g for g in app.get("contribution_gaps", [])
                                if g["from_month"] >= person.work_start_month]
    app["work_history"] = [w for w in app["work_history"]
                           if w["to_month"] >= person.work_start_month]
    for w in app["work_history"]:
        w["from_month"] = max(w["from_month"], person.work_start_month)
    if app["work_history"]:
        app["work_history"][-1]["to_month"] = add_months(month, -1)
    return app


def approved_month(application: dict[str, Any]) -> tuple[str, dict[str, str] | None]:
    """The month HRSS approves, or a refusal: flexible early or late retirement is taken as
    asked within its limits (DOMAIN.md §2); a later month without ``flexible`` is extended
    contributions (延长缴费) and is approved as asked too; otherwise the legal month."""
    rules = RetirementRules()
    a = application["applicant"]
    retirement = application["retirement"]
    _, legal_month = legal_age(application)
    asked = retirement.get("month") or legal_month
    flexible = retirement.get("flexible") or "none"
    if retirement.get("category") != "normal" or flexible == "none":
        return (asked if asked > legal_month else legal_month), None
    if flexible == "early":
        floor = add_months(a["birth_month"], original_age_months(a["sex"], a["identity"],
                                                                 a["post_type"], rules))
        if months_between(asked, legal_month) > rules.flexible_early_max_months or asked < floor:
            return legal_month, {
                "code": "flexible_early_not_allowed",
                "message_zh": f"弹性提前退休时间 {asked} 超出允许范围（最多提前"
                              f"{rules.flexible_early_max_months}个月且不低于原法定退休年龄）",
                "message_en": f"flexible early retirement in {asked} is outside the limits"}
        return asked, None
    if months_between(legal_month, asked) > rules.flexible_late_max_months:
        return legal_month, {
            "code": "flexible_late_not_allowed",
            "message_zh": f"弹性延迟退休时间 {asked} 超出允许范围（最多延迟"
                          f"{rules.flexible_late_max_months}个月）",
            "message_en": f"flexible late retirement in {asked} is outside the limits"}
    return max(asked, legal_month), None


def contribution_months(application: dict[str, Any], person: Person | None,
                        month: str | None = None) -> int:
    """Contribution months up to the actual retirement `month` (default: the legal month).

    A fixture's count is its records at the legal month: a person retiring later has
    contributed for the months in between, one retiring early has not.
    """
    _, legal_month = legal_age(application)
    month = month or legal_month
    if person is not None and person.contribution_months is not None:
        return max(person.contribution_months + months_between(legal_month, month), 0)
    start = application["applicant"]["work_start_month"]
    total = months_between(start, month)
    for gap in application.get("contribution_gaps", []):
        total -= months_between(gap["from_month"], gap["to_month"]) + 1
    return max(total, 0)


def _money(value: Decimal) -> float:
    return float(value)


def decide(application: dict[str, Any], person: Person | None, *, decided_at: str,
           certificate_number: str, base_wage: float = DEFAULT_BASE_WAGE,
           refusal: dict[str, str] | None = None) -> dict[str, Any]:
    """The approval-result document: refused with `refusal`, or by the rules, else approved.

    The pension follows the actual retirement month: it starts the month after, contributions
    run to it, and the payout months are those of the whole-year age at it (DOMAIN.md §3).
    """
    months, legal_month = legal_age(application)
    month, limits = approved_month(application)
    refusal = refusal or limits
    contrib = contribution_months(application, person, month)
    # the minimum is that of the year the legal age is reached, met by the actual month
    needed = min_contribution_months(parse_year_month(legal_month)[0])
    if refusal is None and contrib < needed:
        refusal = {
            "code": "insufficient_contributions",
            "message_zh": f"累计缴费{contrib}个月，不足{needed}个月，不符合按月领取基本养老金条件",
            "message_en": f"{contrib} contribution months, fewer than the {needed} required; "
                          "not entitled to a monthly pension",
        }
    if refusal is not None:
        return {"decision": "refused", "decided_at": decided_at, "refusal_reason": refusal}
    age_years = months_between(application["applicant"]["birth_month"], month) // 12
    index = person.average_index if person else 1.0
    balance = person.account_balance if person else 100000.0
    basic = basic_pension(base_wage, index, contrib)
    account = account_pension(balance, age_years)
    return {
        "decision": "approved",
        "decided_at": decided_at,
        "legal_age": {"years": months // 12, "months": months % 12},
        "retirement_month": month,
        "pension": {
            "start_month": add_months(month, 1),
            "contribution_months": contrib,
            "base_wage": float(base_wage),
            "average_index": index,
            "basic_pension": _money(basic),
            "account_balance": float(balance),
            "payout_months": PAYOUT_MONTHS[age_years],
            "account_pension": _money(account),
            "monthly_total": _money(basic + account),
        },
        "certificate": {"number": certificate_number,
                        "paper_copy": bool(application.get("paper_certificate"))},
    }
