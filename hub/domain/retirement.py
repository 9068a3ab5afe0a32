"""Statutory retirement age since 2025-01-01 and the parameters behind it (DOMAIN.md §2).

Every number lives in `RetirementRules` so that a Jiangsu/Changzhou value that differs from the
default is configuration (`RetirementRules.from_mapping`), not a code change.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

AgeGroup = Literal["male", "female_55", "female_50"]
AGE_GROUPS: tuple[str, ...] = ("male", "female_55", "female_50")
SEXES: tuple[str, ...] = ("male", "female")
CATEGORIES: tuple[str, ...] = (
    "normal",
    "illness_retirement",
    "illness_resignation",
    "special_job_type_early",
)
ILLNESS_CATEGORIES: tuple[str, ...] = ("illness_retirement", "illness_resignation")

_YEAR_MONTH = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")


def _by_group(male: Any, female_55: Any, female_50: Any) -> Any:
    return field(
        default_factory=lambda: {"male": male, "female_55": female_55, "female_50": female_50}
    )


def _by_sex(male: Any, female: Any) -> Any:
    return field(default_factory=lambda: {"male": male, "female": female})


@dataclass
class RetirementRules:
    """The parameters of DOMAIN.md §2; ages in years, delays and durations in months."""

    # The three original categories and their cohort-by-cohort delay.
    original_age_years: dict[str, int] = _by_group(60, 55, 50)
    first_delayed_cohort: dict[str, str] = _by_group("1965-01", "1970-01", "1975-01")
    delay_step_months: dict[str, int] = _by_group(4, 4, 2)
    max_delay_months: dict[str, int] = _by_group(36, 36, 60)

    # Older categories (ages are parameters; whether they are delayed was not confirmed).
    special_job_age_years: dict[str, int] = _by_sex(55, 45)
    special_job_delayed: bool = False
    illness_age_years: dict[str, int] = _by_sex(50, 45)
    illness_delayed: bool = False
    illness_min_service_years: int = 10
    special_job_min_years: dict[str, int] = field(
        default_factory=lambda: {
            "high_altitude": 10,
            "heavy_labour": 10,
            "underground": 9,
            "high_temperature": 9,
            "harmful": 8,
        }
    )

    # Flexible retirement (category normal only).
    flexible_early_max_months: int = 36
    flexible_late_max_months: int = 36

    # Minimum contribution: base through base_last_year, then + step a year up to max.
    min_contribution_base_months: int = 180
    min_contribution_base_last_year: int = 2029
    min_contribution_step_months: int = 6
    min_contribution_max_months: int = 240

    def __post_init__(self) -> None:
        _validate(self)

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> RetirementRules:
        """Defaults overridden by any subset of fields; a dict field is merged key by key.

        Unknown fields raise ValueError, so a typo in a configuration file is not ignored.
        """
        defaults = cls()
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(mapping) - known)
        if unknown:
            raise ValueError(f"unknown retirement rule parameter(s): {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for name, value in mapping.items():
            default = getattr(defaults, name)
            if isinstance(default, dict):
                if not isinstance(value, Mapping):
                    raise ValueError(f"{name}: expected an object")
                values[name] = {**default, **value}
            else:
                values[name] = value
        return dataclasses.replace(defaults, **values)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _validate(rules: RetirementRules) -> None:
    by_group: dict[str, Mapping[str, object]] = {
        "original_age_years": rules.original_age_years,
        "first_delayed_cohort": rules.first_delayed_cohort,
        "delay_step_months": rules.delay_step_months,
        "max_delay_months": rules.max_delay_months,
    }
    for name, table in by_group.items():
        if set(table) != set(AGE_GROUPS):
            raise ValueError(f"{name}: expected exactly the keys {', '.join(AGE_GROUPS)}")
    for name, table in {
        "special_job_age_years": rules.special_job_age_years,
        "illness_age_years": rules.illness_age_years,
    }.items():
        if set(table) != set(SEXES):
            raise ValueError(f"{name}: expected exactly the keys male, female")
    for group, cohort in rules.first_delayed_cohort.items():
        if not isinstance(cohort, str) or not _YEAR_MONTH.fullmatch(cohort):
            raise ValueError(f"first_delayed_cohort.{group}: expected YYYY-MM")
    int_tables = {
        "original_age_years": rules.original_age_years,
        "delay_step_months": rules.delay_step_months,
        "max_delay_months": rules.max_delay_months,
        "special_job_age_years": rules.special_job_age_years,
        "illness_age_years": rules.illness_age_years,
        "special_job_min_years": rules.special_job_min_years,
    }
    for name, table in int_tables.items():
        for key, value in table.items():
            if not _is_int(value) or value < 0:
                raise ValueError(f"{name}.{key}: expected a non-negative integer")
    for group, step in rules.delay_step_months.items():
        if step < 1:
            raise ValueError(f"delay_step_months.{group}: must be at least 1")
    for name in (
        "illness_min_service_years",
        "flexible_early_max_months",
        "flexible_late_max_months",
        "min_contribution_base_months",
        "min_contribution_base_last_year",
        "min_contribution_step_months",
        "min_contribution_max_months",
    ):
        value = getattr(rules, name)
        if not _is_int(value) or value < 0:
            raise ValueError(f"{name}: expected a non-negative integer")
    for name in ("special_job_delayed", "illness_delayed"):
        if not isinstance(getattr(rules, name), bool):
            raise ValueError(f"{name}: expected true or false")


# --- year-month arithmetic ---------------------------------------------------------------


def parse_year_month(value: str) -> tuple[int, int]:
    """("YYYY-MM") -> (year, month); ValueError otherwise."""
    match = _YEAR_MONTH.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"expected YYYY-MM, got {value!r}")
    return int(match.group(1)), int(match.group(2))


def format_year_month(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


def _index(value: str) -> int:
    year, month = parse_year_month(value)
    return year * 12 + (month - 1)


def add_months(year_month: str, n: int) -> str:
    """A "YYYY-MM" month moved by n months (n may be negative)."""
    index = _index(year_month) + n
    return format_year_month(index // 12, index % 12 + 1)


def months_between(a: str, b: str) -> int:
    """Months from a to b (b - a): months_between("2025-01", "2025-03") == 2."""
    return _index(b) - _index(a)


# --- statutory retirement age -----------------------------------------------------------


def age_group(sex: str, identity: str, post_type: str) -> AgeGroup:
    """Women are in the 55 group as cadres or in a management/technical post, else the 50 group."""
    if sex == "male":
        return "male"
    if sex != "female":
        raise ValueError(f"unknown sex {sex!r}")
    if identity == "cadre" or post_type == "management_technical":
        return "female_55"
    return "female_50"


def delay_months(group: str, birth_year: int, birth_month: int, rules: RetirementRules) -> int:
    """The cohort delay: one month per `step` birth months after the first cohort, capped."""
    first_year, first_month = parse_year_month(rules.first_delayed_cohort[group])
    if not 1 <= birth_month <= 12:
        raise ValueError(f"birth month out of range: {birth_month}")
    i = (birth_year - first_year) * 12 + (birth_month - first_month)
    if i < 0:
        return 0
    return min(i // rules.delay_step_months[group] + 1, rules.max_delay_months[group])


def original_age_months(sex: str, identity: str, post_type: str, rules: RetirementRules) -> int:
    """The pre-2025 age of the normal category, the floor for flexible early retirement."""
    return rules.original_age_years[age_group(sex, identity, post_type)] * 12


def legal_age_months(
    category: str,
    sex: str,
    identity: str,
    post_type: str,
    birth_year: int,
    birth_month: int,
    rules: RetirementRules | None = None,
) -> int:
    """The statutory retirement age in months for a category and a birth cohort.

    When a special-job or illness category is configured as delayed, it is delayed by the same
    months as the person's normal age group (an assumption: the rule was not confirmed).
    """
    rules = rules or RetirementRules()
    group = age_group(sex, identity, post_type)
    if category == "normal":
        return rules.original_age_years[group] * 12 + delay_months(
            group, birth_year, birth_month, rules
        )
    if category == "special_job_type_early":
        base, delayed = rules.special_job_age_years[sex], rules.special_job_delayed
    elif category in ILLNESS_CATEGORIES:
        base, delayed = rules.illness_age_years[sex], rules.illness_delayed
    else:
        raise ValueError(f"unknown retirement category {category!r}")
    extra = delay_months(group, birth_year, birth_month, rules) if delayed else 0
    return base * 12 + extra


def retirement_month(birth: str, age_months: int) -> str:
    """The month a person born in `birth` ("YYYY-MM") reaches an age of `age_months`."""
    return add_months(birth, age_months)


def min_contribution_months(year: int, rules: RetirementRules | None = None) -> int:
    """Minimum contribution months for someone reaching the legal age in `year`."""
    rules = rules or RetirementRules()
    if year <= rules.min_contribution_base_last_year:
        return rules.min_contribution_base_months
    raised = rules.min_contribution_base_months + rules.min_contribution_step_months * (
        year - rules.min_contribution_base_last_year
    )
    return min(raised, rules.min_contribution_max_months)
