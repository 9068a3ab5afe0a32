import pytest

from hub.domain.retirement import (
    RetirementRules,
    add_months,
    age_group,
    legal_age_months,
    min_contribution_months,
    months_between,
    retirement_month,
)

RULES = RetirementRules()


@pytest.mark.parametrize(
    "sex, identity, post_type, group",
    [
        ("male", "worker", "other", "male"),
        ("male", "cadre", "management_technical", "male"),
        ("female", "cadre", "other", "female_55"),
        ("female", "worker", "management_technical", "female_55"),
        ("female", "cadre", "management_technical", "female_55"),
        ("female", "worker", "other", "female_50"),
    ],
)
def test_age_group(sex, identity, post_type, group):
    assert age_group(sex, identity, post_type) == group


def test_age_group_rejects_unknown_sex():
    with pytest.raises(ValueError):
        age_group("x", "worker", "other")


# DOMAIN.md §2 examples: (sex, identity, post_type, birth, (years, months), retirement month)
EXAMPLES = [
    ("male", "worker", "other", "1964-12", (60, 0), "2024-12"),
    ("male", "worker", "other", "1965-01", (60, 1), "2025-02"),
    ("male", "worker", "other", "1966-05", (60, 5), "2026-10"),
    ("female", "cadre", "other", "1970-01", (55, 1), "2025-02"),
    ("female", "worker", "other", "1975-01", (50, 1), "2025-02"),
    ("female", "worker", "other", "1976-06", (50, 9), "2027-03"),
]


@pytest.mark.parametrize("sex, identity, post_type, birth, age, month", EXAMPLES)
def test_domain_examples(sex, identity, post_type, birth, age, month):
    year, mon = int(birth[:4]), int(birth[5:])
    total = legal_age_months("normal", sex, identity, post_type, year, mon, RULES)
    assert divmod(total, 12) == age
    assert retirement_month(birth, total) == month
    assert add_months(birth, total) == month


@pytest.mark.parametrize(
    "sex, identity, post_type, birth, total",
    [
        # step boundaries: men one more month per 4 birth months
        ("male", "worker", "other", (1965, 4), 60 * 12 + 1),
        ("male", "worker", "other", (1965, 5), 60 * 12 + 2),
        # men capped at 36 months (age 63) from born 1976-09 onwards
        ("male", "worker", "other", (1976, 8), 60 * 12 + 35),
        ("male", "worker", "other", (1976, 9), 63 * 12),
        ("male", "worker", "other", (1990, 1), 63 * 12),
        # women 55 capped at 58
        ("female", "cadre", "other", (1981, 12), 58 * 12),
        ("female", "worker", "management_technical", (1969, 12), 55 * 12),
        # women 50: one month per 2 birth months, capped at 60 months (age 55)
        ("female", "worker", "other", (1974, 12), 50 * 12),
        ("female", "worker", "other", (1975, 2), 50 * 12 + 1),
        ("female", "worker", "other", (1975, 3), 50 * 12 + 2),
        ("female", "worker", "other", (1984, 12), 55 * 12),
        ("female", "worker", "other", (1995, 1), 55 * 12),
    ],
)
def test_formula_boundaries(sex, identity, post_type, birth, total):
    assert legal_age_months("normal", sex, identity, post_type, *birth, RULES) == total


@pytest.mark.parametrize(
    "category, sex, years",
    [
        ("special_job_type_early", "male", 55),
        ("special_job_type_early", "female", 45),
        ("illness_retirement", "male", 50),
        ("illness_retirement", "female", 45),
        ("illness_resignation", "male", 50),
        ("illness_resignation", "female", 45),
    ],
)
def test_older_categories_are_not_delayed_by_default(category, sex, years):
    assert legal_age_months(category, sex, "worker", "other", 1975, 6, RULES) == years * 12


def test_older_categories_delayed_when_configured():
    rules = RetirementRules.from_mapping({"special_job_delayed": True})
    # a man born 1966-05 is delayed 5 months in the normal schedule
    total = legal_age_months("special_job_type_early", "male", "worker", "other", 1966, 5, rules)
    assert total == 55 * 12 + 5


def test_unknown_category():
    with pytest.raises(ValueError):
        legal_age_months("retired_already", "male", "worker", "other", 1966, 5, RULES)


def test_default_rules_when_omitted():
    assert legal_age_months("normal", "male", "worker", "other", 1966, 5) == 60 * 12 + 5


def test_month_arithmetic():
    assert add_months("2024-12", 1) == "2025-01"
    assert add_months("2025-01", -1) == "2024-12"
    assert add_months("1966-05", 725) == "2026-10"
    assert add_months("2025-03", 0) == "2025-03"
    assert months_between("2025-01", "2025-03") == 2
    assert months_between("2025-03", "2024-12") == -3
    with pytest.raises(ValueError):
        add_months("2025-13", 1)
    with pytest.raises(ValueError):
        months_between("2025-1", "2025-02")


@pytest.mark.parametrize(
    "year, months",
    [(2025, 180), (2029, 180), (2030, 186), (2031, 192), (2038, 234), (2039, 240), (2050, 240)],
)
def test_min_contribution_months(year, months):
    assert min_contribution_months(year, RULES) == months
    assert min_contribution_months(year) == months


def test_from_mapping_overrides_a_subset():
    rules = RetirementRules.from_mapping(
        {
            "special_job_min_years": {"underground": 10},
            "original_age_years": {"male": 61},
            "flexible_early_max_months": 24,
        }
    )
    assert rules.special_job_min_years["underground"] == 10
    assert rules.special_job_min_years["harmful"] == 8
    assert rules.original_age_years == {"male": 61, "female_55": 55, "female_50": 50}
    assert rules.flexible_early_max_months == 24
    assert rules.flexible_late_max_months == 36
    assert RetirementRules().original_age_years["male"] == 60  # defaults not shared


def test_defaults():
    rules = RetirementRules()
    assert rules.first_delayed_cohort == {
        "male": "1965-01", "female_55": "1970-01", "female_50": "1975-01"
    }
    assert rules.delay_step_months == {"male": 4, "female_55": 4, "female_50": 2}
    assert rules.max_delay_months == {"male": 36, "female_55": 36, "female_50": 60}
    assert rules.special_job_age_years == {"male": 55, "female": 45}
    assert rules.illness_age_years == {"male": 50, "female": 45}
    assert rules.special_job_delayed is False and rules.illness_delayed is False
    assert rules.special_job_min_years == {
        "high_altitude": 10, "heavy_labour": 10, "underground": 9,
        "high_temperature": 9, "harmful": 8,
    }


@pytest.mark.parametrize(
    "mapping",
    [
        {"no_such_parameter": 1},
        {"original_age_years": {"female_45": 45}},
        {"original_age_years": 60},
        {"delay_step_months": {"male": 0}},
        {"first_delayed_cohort": {"male": "1965-1"}},
        {"flexible_early_max_months": "36"},
        {"special_job_delayed": "no"},
        {"min_contribution_max_months": True},
    ],
)
def test_from_mapping_rejects_bad_values(mapping):
    with pytest.raises(ValueError):
        RetirementRules.from_mapping(mapping)
