"""The HRSS stand-in decides flexible retirement like HRSS: the actual month drives the pension."""
from __future__ import annotations

from dataclasses import replace

import contracts
from hub.domain.rules import check_application
from mock_departments.hrss.people import PEOPLE, Person, build_application, decide


def _decide(person: Person, month: str, flexible: str):
    app = build_application(person, flexible=flexible, retirement_month=month)
    assert app["retirement"]["month"] == month and app["retirement"]["flexible"] == flexible
    assert check_application(app) == []  # the hub accepts it as it is
    result = decide(app, person, decided_at="2026-11-29T09:00:00+08:00",
                    certificate_number="JS-TX-TEST")
    assert not list(contracts.validator("approval-result").iter_errors(result))
    return result


def test_36_months_late():
    # Wang: man born 1966-05, legal age 60y5m, legal month 2026-10; late by 36 -> 2029-10
    wang = PEOPLE["wang"]
    r = _decide(wang, "2029-10", "late")
    assert r["decision"] == "approved"
    assert r["legal_age"] == {"years": 60, "months": 5}
    assert r["retirement_month"] == "2029-10"
    p = r["pension"]
    assert p["start_month"] == "2029-11"
    assert p["contribution_months"] == 495 + 36
    # 8000 x (1 + 0.85) / 2 x 531/12 years x 1% = 3274.50
    assert p["basic_pension"] == 3274.50
    # whole age at 2029-10 is 63: 117 payout months; 180000 / 117 = 1538.46
    assert p["payout_months"] == 117 and p["account_pension"] == 1538.46
    assert p["monthly_total"] == 4812.96


def test_36_months_early():
    # a man born 1977-01: legal age 63y0m (the full 36-month delay), legal month 2040-01;
    # early by 36 -> 2037-01, at the original age 60
    person = replace(PEOPLE["wang"], key="early", id_number="320402197701150011",
                     birth_month="1977-01", work_start_month="1995-07", average_index=1.0,
                     contribution_months=420, account_balance=150000.0)
    r = _decide(person, "2037-01", "early")
    assert r["decision"] == "approved"
    assert r["legal_age"] == {"years": 63, "months": 0}
    assert r["retirement_month"] == "2037-01"
    p = r["pension"]
    assert p["start_month"] == "2037-02"
    assert p["contribution_months"] == 420 - 36
    # 8000 x (1 + 1.0) / 2 x 384/12 years x 1% = 2560.00
    assert p["basic_pension"] == 2560.00
    # age 60: 139 payout months; 150000 / 139 = 1079.14 (DOMAIN.md §3's own example)
    assert p["payout_months"] == 139 and p["account_pension"] == 1079.14
    assert p["monthly_total"] == 3639.14


def test_early_needs_the_minimum_years_at_the_early_month():
    # 2040's minimum is 240 months; 250 at the legal month is 214 at 36 months early
    person = replace(PEOPLE["wang"], key="short", id_number="320402197701150011",
                     birth_month="1977-01", contribution_months=250)
    r = _decide(person, "2037-01", "early")
    assert r["decision"] == "refused"
    assert r["refusal_reason"]["code"] == "insufficient_contributions"


def test_no_flexible_retires_at_the_legal_month_as_before():
    r = _decide(PEOPLE["wang"], "2026-10", "none")
    assert r["retirement_month"] == "2026-10" and r["pension"]["start_month"] == "2026-11"
    assert r["pension"]["contribution_months"] == 495 and r["pension"]["payout_months"] == 139
