"""Rules an application must meet beyond its JSON schema (DOMAIN.md §1-2).

`check_application` expects a dict already valid against `application/1`; it returns every
problem it finds, so that a clerk can correct a form in one go.
"""

from __future__ import annotations

from typing import Any, TypeGuard

from hub.domain import idnumber
from hub.domain.errors import Problem
from hub.domain.retirement import (
    ILLNESS_CATEGORIES,
    RetirementRules,
    add_months,
    legal_age_months,
    months_between,
    original_age_months,
    parse_year_month,
)

SEX_ZH = {"male": "男", "female": "女"}


def _years_months(total: int) -> tuple[int, int]:
    return divmod(total, 12)


def _age_en(total: int) -> str:
    years, months = _years_months(total)
    return f"{years} years {months} months"


def _age_zh(total: int) -> str:
    years, months = _years_months(total)
    return f"{years}岁{months}个月"


def check_application(app: dict[str, Any], rules: RetirementRules | None = None) -> list[Problem]:
    """All problems found in a schema-valid application, in a stable order; [] when none."""
    rules = rules or RetirementRules()
    problems: list[Problem] = []
    applicant = app.get("applicant") or {}
    retirement = app.get("retirement") or {}
    problems += _check_id_number(applicant)
    annex5 = app.get("socialized_management")
    if isinstance(annex5, dict):
        problems += _check_annex5(applicant, annex5)
    problems += _check_retirement(applicant, retirement, rules)
    if retirement.get("category") == "special_job_type_early":
        problems += _check_special_job(app.get("special_job") or {}, rules)
    if retirement.get("category") in ILLNESS_CATEGORIES:
        problems += _check_illness_service(app, rules)
    return problems


def _check_id_number(applicant: dict[str, Any]) -> list[Problem]:
    number = applicant.get("id_number")
    if not isinstance(number, str):
        return []
    if not idnumber.is_valid(number):
        return [
            Problem(
                "id_number_check_character",
                "$.applicant.id_number",
                "the citizen ID number is not valid: its check character does not match "
                "(ISO 7064 MOD 11-2) or its birth date is not a real date",
                "公民身份号码无效：校验码不符（ISO 7064 MOD 11-2）或出生日期不存在",
            )
        ]
    problems: list[Problem] = []
    born = idnumber.birth_date(number)
    born_month = f"{born.year:04d}-{born.month:02d}"
    declared_birth = applicant.get("birth_month")
    if isinstance(declared_birth, str) and declared_birth != born_month:
        problems.append(
            Problem(
                "id_number_birth_mismatch",
                "$.applicant.birth_month",
                f"birth month {declared_birth} differs from the ID number's {born_month}",
                f"出生年月 {declared_birth} 与公民身份号码中的 {born_month} 不一致",
            )
        )
    id_sex = idnumber.sex(number)
    declared_sex = applicant.get("sex")
    if isinstance(declared_sex, str) and declared_sex != id_sex:
        problems.append(
            Problem(
                "id_number_sex_mismatch",
                "$.applicant.sex",
                f"sex {declared_sex} differs from the ID number's {id_sex}",
                f"性别（{SEX_ZH.get(declared_sex, declared_sex)}）与公民身份号码中的性别"
                f"（{SEX_ZH[id_sex]}）不一致",
            )
        )
    return problems


# Annex 5 (社会化管理服务基本信息采集表) describes the applicant, never another person: each
# field the form repeats must equal the applicant's, each mismatch with its own code.
ANNEX5_FIELDS = (
    ("id_number", "annex5_id_number_mismatch", "ID number", "公民身份号码"),
    ("name", "annex5_name_mismatch", "name", "姓名"),
    ("birth_month", "annex5_birth_month_mismatch", "birth month", "出生年月"),
    ("sex", "annex5_sex_mismatch", "sex", "性别"),
)


def _same(field: str, a: Any, b: Any) -> bool:
    if field == "id_number":
        return idnumber.normalise(a) == idnumber.normalise(b)
    if field == "name":
        return str(a).strip() == str(b).strip()
    return bool(a == b)


def _check_annex5(applicant: dict[str, Any], annex5: dict[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    for field, code, en, zh in ANNEX5_FIELDS:
        theirs, ours = annex5.get(field), applicant.get(field)
        if not isinstance(theirs, str) or not isinstance(ours, str) or _same(field, theirs, ours):
            continue
        # the values themselves may be personal data: the messages never repeat them
        problems.append(Problem(
            code, f"$.socialized_management.{field}",
            f"annex 5's {en} differs from the applicant's ($.applicant.{field}): the annex "
            "must describe the applicant",
            f"附件5（社会化管理服务基本信息）的{zh}与申请人的{zh}不一致，附件5须为申请人本人信息"))
    return problems


def application_warnings(app: dict[str, Any], rules: RetirementRules | None = None
                         ) -> list[Problem]:
    """What an accepted application should tell its sender (returned on the receipt).

    A retirement month later than the legal one without ``flexible: late`` is accepted: a person
    short of the minimum contribution years at the legal age may extend contributions to reach
    them and retire later (DOMAIN.md §2; the 2024 measures, art. 3), and the application form's
    own note 4 defines a flexibly employed person's retirement month as the month HRSS approves
    (the pension starting the month after), not the legal month. HRSS decides at approval;
    the sender is told in case ``flexible: late`` was meant.
    """
    rules = rules or RetirementRules()
    applicant = app.get("applicant") or {}
    retirement = app.get("retirement") or {}
    try:
        birth = applicant["birth_month"]
        birth_year, birth_month = parse_year_month(birth)
        category = retirement["category"]
        expected = legal_age_months(category, applicant["sex"], applicant["identity"],
                                    applicant["post_type"], birth_year, birth_month, rules)
        month = retirement["month"]
        parse_year_month(month)
    except (KeyError, TypeError, ValueError):
        return []
    legal_month = add_months(birth, expected)
    if (retirement.get("flexible") or "none") != "none" or month <= legal_month:
        return []
    late_by = months_between(legal_month, month)
    return [Problem(
        "retirement_after_legal_month", "$.retirement.month",
        f"retirement month {month} is {late_by} months after the legal month {legal_month} "
        "without flexible: late; accepted as extended contributions to reach the minimum "
        "contribution years (set flexible: late if a flexible late retirement is meant)",
        f"退休时间 {month} 晚于法定退休时间 {legal_month} {late_by} 个月且未选择弹性延迟退休，"
        "按延长缴费至最低缴费年限受理（如为弹性延迟退休，请将 flexible 设为 late）")]


def _check_retirement(
    applicant: dict[str, Any], retirement: dict[str, Any], rules: RetirementRules
) -> list[Problem]:
    """The declared legal age and the retirement month against the computed legal age.

    Uses the form's own birth month and sex (a mismatch with the ID is reported separately).
    """
    try:
        birth = applicant["birth_month"]
        birth_year, birth_month = parse_year_month(birth)
        sex, identity, post_type = applicant["sex"], applicant["identity"], applicant["post_type"]
        category = retirement["category"]
        expected = legal_age_months(
            category, sex, identity, post_type, birth_year, birth_month, rules
        )
    except (KeyError, TypeError, ValueError):
        return []  # the schema reports what is missing or malformed

    problems: list[Problem] = []
    declared = retirement.get("legal_age")
    declared = declared if isinstance(declared, dict) else {}
    years, months = declared.get("years"), declared.get("months")
    if isinstance(years, int) and isinstance(months, int):
        declared_total = years * 12 + months
        if declared_total != expected:
            problems.append(
                Problem(
                    "legal_age_mismatch",
                    "$.retirement.legal_age",
                    f"legal retirement age {_age_en(declared_total)} is wrong: "
                    f"expected {_age_en(expected)}",
                    f"法定退休年龄 {_age_zh(declared_total)} 有误：应为{_age_zh(expected)}",
                )
            )

    month = retirement.get("month")
    if not isinstance(month, str):
        return problems
    try:
        parse_year_month(month)
    except ValueError:
        return problems
    legal_month = add_months(birth, expected)
    flexible = retirement.get("flexible") or "none"
    if category != "normal" and flexible != "none":
        problems.append(
            Problem(
                "flexible_not_applicable",
                "$.retirement.flexible",
                f"flexible retirement applies only to category normal, not {category}",
                "弹性退休仅适用于正常退休",
            )
        )
        flexible = "none"

    if flexible == "early":
        floor_month = add_months(birth, original_age_months(sex, identity, post_type, rules))
        early_by = months_between(month, legal_month)
        if early_by > rules.flexible_early_max_months or month < floor_month:
            earliest = max(add_months(legal_month, -rules.flexible_early_max_months), floor_month)
            problems.append(
                Problem(
                    "flexible_early_too_early",
                    "$.retirement.month",
                    f"flexible early retirement in {month} is too early: the earliest is "
                    f"{earliest} (at most {rules.flexible_early_max_months} months before "
                    f"{legal_month} and never below the original age)",
                    f"弹性提前退休时间 {month} 过早：最早为 {earliest}（最多提前"
                    f"{rules.flexible_early_max_months}个月，且不得低于原法定退休年龄）",
                )
            )
    elif month < legal_month:
        problems.append(
            Problem(
                "retirement_before_legal_age",
                "$.retirement.month",
                f"retirement month {month} is before the legal retirement month {legal_month}",
                f"退休时间 {month} 早于法定退休时间 {legal_month}",
            )
        )
    elif flexible == "late":
        late_by = months_between(legal_month, month)
        if late_by > rules.flexible_late_max_months:
            latest = add_months(legal_month, rules.flexible_late_max_months)
            problems.append(
                Problem(
                    "flexible_late_too_late",
                    "$.retirement.month",
                    f"flexible late retirement in {month} is too late: the latest is {latest} "
                    f"(at most {rules.flexible_late_max_months} months after {legal_month})",
                    f"弹性延迟退休时间 {month} 过晚：最晚为 {latest}（最多延迟"
                    f"{rules.flexible_late_max_months}个月）",
                )
            )
    return problems


def _check_illness_service(app: dict[str, Any], rules: RetirementRules) -> list[Problem]:
    """Illness retirement or resignation needs `illness_min_service_years` of continuous
    service (DOMAIN §2). Service runs from the start of work, or from the month after the
    latest declared interruption, up to the retirement month."""
    month = (app.get("retirement") or {}).get("month")
    since = (app.get("applicant") or {}).get("work_start_month")
    if not (_is_year_month(month) and _is_year_month(since)):
        return []  # the schema reports a missing or malformed month
    path = "$.applicant.work_start_month"
    gaps = app.get("contribution_gaps")
    for i, gap in enumerate(gaps if isinstance(gaps, list) else []):
        end = gap.get("to_month") if isinstance(gap, dict) else None
        if _is_year_month(end) and since <= end < month:
            since, path = add_months(end, 1), f"$.contribution_gaps[{i}].to_month"
    served = months_between(since, month)
    required = rules.illness_min_service_years * 12
    if served >= required:
        return []
    return [
        Problem(
            "illness_service_years_short",
            path,
            f"illness retirement needs {rules.illness_min_service_years} years of continuous "
            f"service; from {since} to {month} is {_age_en(served)}",
            f"因病退休（退职）须连续工龄满 {rules.illness_min_service_years} 年；"
            f"自 {since} 至 {month} 仅 {served // 12}年{served % 12}个月",
        )
    ]


def _is_year_month(value: Any) -> TypeGuard[str]:
    try:
        parse_year_month(value)
    except ValueError:
        return False
    return True


def _check_special_job(special_job: dict[str, Any], rules: RetirementRules) -> list[Problem]:
    kind = special_job.get("kind")
    years = special_job.get("special_work_years")
    minimum = rules.special_job_min_years.get(kind) if isinstance(kind, str) else None
    if minimum is None or isinstance(years, bool) or not isinstance(years, (int, float)):
        return []
    if years < minimum:
        return [
            Problem(
                "special_job_years_short",
                "$.special_job.special_work_years",
                f"{years} years in the special job ({kind}) is short of the {minimum} required",
                f"从事特殊工种（{kind}）年限 {years} 年，不足规定的 {minimum} 年",
            )
        ]
    return []
