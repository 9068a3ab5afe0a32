import copy

import pytest

from hub.domain.errors import Problem
from hub.domain.idnumber import check_character
from hub.domain.retirement import RetirementRules
from hub.domain.rules import check_application

RULES = RetirementRules()


def make_id(first17: str) -> str:
    return first17 + check_character(first17)


MAN_ID = make_id("32040219660515123")  # born 1966-05, 17th digit 3: male
WOMAN_ID = make_id("32040219760610124")  # born 1976-06, 17th digit 4: female


def man(**retirement):
    """A man born 1966-05, worker: legal age 60y5m, legal retirement month 2026-10."""
    app = {
        "applicant": {
            "id_number": MAN_ID,
            "name": "张三",
            "sex": "male",
            "identity": "worker",
            "post_type": "other",
            "birth_month": "1966-05",
        },
        "retirement": {
            "category": "normal",
            "month": "2026-10",
            "legal_age": {"years": 60, "months": 5},
            "flexible": "none",
        },
    }
    app["retirement"].update(retirement)
    return app


def woman_special_job(kind="underground", years=9):
    """A woman born 1976-06 retiring early from a special job type at 45 (2021-06)."""
    return {
        "applicant": {
            "id_number": WOMAN_ID,
            "sex": "female",
            "identity": "worker",
            "post_type": "other",
            "birth_month": "1976-06",
        },
        "retirement": {
            "category": "special_job_type_early",
            "month": "2021-06",
            "legal_age": {"years": 45, "months": 0},
        },
        "special_job": {"kind": kind, "special_work_years": years},
    }


def codes(problems: list[Problem]) -> list[str]:
    return [p.code for p in problems]


def only(problems: list[Problem], code: str) -> Problem:
    matching = [p for p in problems if p.code == code]
    assert len(matching) == 1, problems
    return matching[0]


def test_valid_application_has_no_problems():
    assert check_application(man(), RULES) == []
    assert check_application(woman_special_job(), RULES) == []


def test_rules_default_when_omitted():
    assert check_application(man()) == []


def test_flexible_absent_means_none():
    app = man()
    del app["retirement"]["flexible"]
    assert check_application(app, RULES) == []


# --- ID number ------------------------------------------------------------------------------


def test_lower_case_x_passes():
    app = man()
    app["applicant"].update(
        id_number="11010519491231002x", sex="female", birth_month="1949-12"
    )
    app["retirement"].update(month="2004-12", legal_age={"years": 55, "months": 0})
    app["applicant"]["identity"] = "cadre"
    assert check_application(app, RULES) == []


def test_id_number_check_character():
    app = man()
    wrong = "0" if MAN_ID[-1] != "0" else "1"
    app["applicant"]["id_number"] = MAN_ID[:17] + wrong
    problems = check_application(app, RULES)
    assert codes(problems) == ["id_number_check_character"]
    problem = problems[0]
    assert problem.path == "$.applicant.id_number"
    assert problem.message and problem.message_zh


def test_malformed_id_skips_cross_checks():
    app = man()
    app["applicant"]["id_number"] = "11010519491231002Y"
    app["applicant"]["sex"] = "female"  # would mismatch a valid ID's sex
    app["retirement"]["legal_age"] = {"years": 50, "months": 0}
    app["retirement"]["month"] = "2016-05"
    app["applicant"]["birth_month"] = "1966-05"
    found = codes(check_application(app, RULES))
    assert "id_number_check_character" in found
    assert "id_number_sex_mismatch" not in found
    assert "id_number_birth_mismatch" not in found


def test_id_number_birth_mismatch():
    app = man()
    app["applicant"]["birth_month"] = "1966-06"
    app["retirement"].update(month="2026-11", legal_age={"years": 60, "months": 5})
    problem = only(check_application(app, RULES), "id_number_birth_mismatch")
    assert problem.path == "$.applicant.birth_month"
    assert "1966-05" in problem.message and "1966-06" in problem.message
    assert codes(check_application(app, RULES)) == ["id_number_birth_mismatch"]


def test_id_number_sex_mismatch():
    app = man()
    app["applicant"]["sex"] = "female"  # woman worker born 1966-05: 50, retired 2016-05
    app["retirement"].update(month="2016-05", legal_age={"years": 50, "months": 0})
    problems = check_application(app, RULES)
    assert codes(problems) == ["id_number_sex_mismatch"]
    assert problems[0].path == "$.applicant.sex"


# --- legal age and retirement month ------------------------------------------------------------


def test_legal_age_mismatch_states_the_computed_value():
    app = man(legal_age={"years": 60, "months": 0})
    problems = check_application(app, RULES)
    assert codes(problems) == ["legal_age_mismatch"]
    assert problems[0].path == "$.retirement.legal_age"
    assert "expected 60 years 5 months" in problems[0].message
    assert "60岁5个月" in problems[0].message_zh


def test_women_55_legal_age():
    app = man()
    app["applicant"].update(id_number=WOMAN_ID, sex="female", birth_month="1976-06",
                            identity="cadre")
    # 55 group born 1976-06: i = 77, delay 77 // 4 + 1 = 20 months -> 56y8m, 2033-02
    app["retirement"].update(month="2033-02", legal_age={"years": 56, "months": 8})
    assert check_application(app, RULES) == []
    app["applicant"]["identity"] = "worker"  # then she is in the 50 group: 50y9m
    assert codes(check_application(app, RULES)) == ["legal_age_mismatch"]


def test_retirement_before_legal_age():
    problems = check_application(man(month="2026-09"), RULES)
    assert codes(problems) == ["retirement_before_legal_age"]
    assert problems[0].path == "$.retirement.month"
    assert "2026-10" in problems[0].message


def test_retirement_after_legal_age_without_flexible_is_not_a_problem():
    assert check_application(man(month="2027-01"), RULES) == []


# --- flexible retirement -----------------------------------------------------------------------


def test_flexible_early_within_limits():
    # legal 60y5m: early by at most 5 months here, because never below the original age 60
    assert check_application(man(flexible="early", month="2026-05"), RULES) == []
    assert check_application(man(flexible="early", month="2026-09"), RULES) == []


def test_flexible_early_below_original_age():
    problems = check_application(man(flexible="early", month="2026-04"), RULES)
    assert codes(problems) == ["flexible_early_too_early"]
    assert problems[0].path == "$.retirement.month"
    assert "2026-05" in problems[0].message


def test_flexible_early_more_than_36_months():
    # woman 50 group born 1984-12: legal age 55y0m (delay 60) -> 2039-12; original age 50
    app = man(flexible="early", legal_age={"years": 55, "months": 0})
    woman_1984 = make_id("32040219841201124")
    app["applicant"].update(id_number=woman_1984, sex="female", birth_month="1984-12")
    app["retirement"]["month"] = "2036-12"  # exactly 36 months early
    assert check_application(app, RULES) == []
    app["retirement"]["month"] = "2036-11"  # 37 months early, still above 50
    problems = check_application(app, RULES)
    assert codes(problems) == ["flexible_early_too_early"]
    assert "2036-12" in problems[0].message


def test_flexible_late_within_limit():
    assert check_application(man(flexible="late", month="2029-10"), RULES) == []


def test_flexible_late_too_late():
    problems = check_application(man(flexible="late", month="2029-11"), RULES)
    assert codes(problems) == ["flexible_late_too_late"]
    assert problems[0].path == "$.retirement.month"
    assert "2029-10" in problems[0].message


def test_flexible_late_still_cannot_retire_before_legal_age():
    assert codes(check_application(man(flexible="late", month="2026-09"), RULES)) == [
        "retirement_before_legal_age"
    ]


def test_flexible_limits_come_from_the_rules():
    rules = RetirementRules.from_mapping({"flexible_late_max_months": 12})
    assert codes(check_application(man(flexible="late", month="2027-11"), rules)) == [
        "flexible_late_too_late"
    ]


def test_flexible_only_for_category_normal():
    app = woman_special_job()
    app["retirement"]["flexible"] = "early"
    app["retirement"]["month"] = "2021-05"
    problems = check_application(app, RULES)
    # flexible is ignored for this category: the ordinary legal-age check applies
    assert codes(problems) == ["flexible_not_applicable", "retirement_before_legal_age"]
    assert problems[0].path == "$.retirement.flexible"


# --- special job type --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind, minimum",
    [("high_altitude", 10), ("heavy_labour", 10), ("underground", 9),
     ("high_temperature", 9), ("harmful", 8)],
)
def test_special_job_years(kind, minimum):
    assert check_application(woman_special_job(kind, minimum), RULES) == []
    problems = check_application(woman_special_job(kind, minimum - 1), RULES)
    assert codes(problems) == ["special_job_years_short"]
    assert problems[0].path == "$.special_job.special_work_years"
    assert str(minimum) in problems[0].message


def test_special_job_fractional_years():
    assert codes(check_application(woman_special_job("harmful", 7.5), RULES)) == [
        "special_job_years_short"
    ]


def test_special_job_not_checked_for_other_categories():
    app = man()
    app["special_job"] = {"kind": "underground", "special_work_years": 1}
    assert check_application(app, RULES) == []


# --- several problems ----------------------------------------------------------------------


def test_all_problems_are_reported():
    app = woman_special_job("high_altitude", 3)
    app["applicant"]["sex"] = "male"  # the ID says female
    app["applicant"]["birth_month"] = "1976-07"  # the ID says 1976-06
    app["retirement"]["legal_age"] = {"years": 50, "months": 0}  # a man's is 55
    app["retirement"]["month"] = "2031-06"  # before 1976-07 + 55y = 2031-07
    problems = check_application(app, RULES)
    assert codes(problems) == [
        "id_number_birth_mismatch",
        "id_number_sex_mismatch",
        "legal_age_mismatch",
        "retirement_before_legal_age",
        "special_job_years_short",
    ]
    assert all(p.message and p.message_zh and p.path.startswith("$.") for p in problems)


def test_check_does_not_modify_the_application():
    app = man(flexible="late", month="2040-01")
    before = copy.deepcopy(app)
    check_application(app, RULES)
    assert app == before


def ill(work_start, gaps=None, category="illness_retirement"):
    """A man born 1966-05 retiring on grounds of illness at 50 (legal age 50y0m, 2016-05)."""
    app = man(category=category, month="2016-05", legal_age={"years": 50, "months": 0})
    app["applicant"]["work_start_month"] = work_start
    if gaps is not None:
        app["contribution_gaps"] = gaps
    return app


@pytest.mark.parametrize("category", ["illness_retirement", "illness_resignation"])
def test_illness_retirement_needs_ten_years_of_service(category):
    assert check_application(ill("2006-05", category=category), RULES) == []
    p = only(check_application(ill("2006-06", category=category), RULES),
             "illness_service_years_short")
    assert p.path == "$.applicant.work_start_month"
    assert "9 years 11 months" in p.message and "9年11个月" in p.message_zh


def test_illness_service_is_continuous_after_the_latest_interruption():
    gaps = [{"from_month": "2000-01", "to_month": "2000-12", "reason": "下岗"},
            {"from_month": "2008-01", "to_month": "2008-06", "reason": "待业"}]
    p = only(check_application(ill("1990-07", gaps), RULES), "illness_service_years_short")
    assert p.path == "$.contribution_gaps[1].to_month"  # 2008-07 .. 2016-05: 7 years 10 months
    assert "7 years 10 months" in p.message
    early = [{"from_month": "2000-01", "to_month": "2005-12", "reason": "下岗"}]
    assert check_application(ill("1990-07", early), RULES) == []


def test_illness_minimum_comes_from_the_rules():
    rules = RetirementRules(illness_min_service_years=5)
    assert check_application(ill("2011-05"), rules) == []
    assert codes(check_application(ill("2011-06"), rules)) == ["illness_service_years_short"]


def test_illness_service_not_checked_for_other_categories():
    app = man()
    app["applicant"]["work_start_month"] = "2020-01"
    assert check_application(app, RULES) == []
