"""Basic pension and personal-account pension (国发〔2005〕38号), for the benefit verification.

Money is Decimal throughout and rounded once, at the end, to 0.01 yuan with ROUND_HALF_UP;
floats given as input are read through their shortest repr so 1.1 means 1.1.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from types import MappingProxyType

Number = Decimal | int | str | float

CENT = Decimal("0.01")

# 计发月数 by whole age at retirement: the annex of 国发〔2005〕38号.
PAYOUT_MONTHS: Mapping[int, int] = MappingProxyType(
    {
        40: 233, 41: 230, 42: 226, 43: 223, 44: 220, 45: 216, 46: 212, 47: 207, 48: 204,
        49: 199, 50: 195, 51: 190, 52: 185, 53: 180, 54: 175, 55: 170, 56: 164, 57: 158,
        58: 152, 59: 145, 60: 139, 61: 132, 62: 125, 63: 117, 64: 109, 65: 101, 66: 93,
        67: 84, 68: 75, 69: 65, 70: 56,
    }
)


def _decimal(value: Number, name: str) -> Decimal:
    if isinstance(value, bool):
        raise TypeError(f"{name}: expected a number")
    if isinstance(value, float):
        value = repr(value)
    result = Decimal(value)
    if not result.is_finite():
        raise ValueError(f"{name}: expected a finite number")
    return result


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def basic_pension(base_wage: Number, average_index: Number, contribution_months: int) -> Decimal:
    """base wage x (1 + average index) / 2 x contribution years x 1%."""
    if isinstance(contribution_months, bool) or not isinstance(contribution_months, int):
        raise TypeError("contribution_months: expected an integer")
    if contribution_months < 0:
        raise ValueError("contribution_months: must not be negative")
    wage = _decimal(base_wage, "base_wage")
    index = _decimal(average_index, "average_index")
    # years = months / 12 and 1% = / 100: one division at the end keeps the result exact.
    return _money(wage * (1 + index) * contribution_months / Decimal(2 * 12 * 100))


def account_pension(balance: Number, age_years: int) -> Decimal:
    """Personal account balance / payout months for the whole age at retirement."""
    if isinstance(age_years, bool) or not isinstance(age_years, int):
        raise TypeError("age_years: expected an integer")
    months = PAYOUT_MONTHS.get(age_years)
    if months is None:
        raise ValueError(
            f"no payout months for age {age_years}: the table covers "
            f"{min(PAYOUT_MONTHS)} to {max(PAYOUT_MONTHS)}"
        )
    return _money(_decimal(balance, "balance") / months)
