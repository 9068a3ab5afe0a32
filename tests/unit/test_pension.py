from decimal import Decimal

import pytest

from hub.domain.pension import PAYOUT_MONTHS, account_pension, basic_pension


def test_payout_table_is_complete():
    assert sorted(PAYOUT_MONTHS) == list(range(40, 71))
    assert PAYOUT_MONTHS[40] == 233
    assert PAYOUT_MONTHS[50] == 195
    assert PAYOUT_MONTHS[55] == 170
    assert PAYOUT_MONTHS[60] == 139
    assert PAYOUT_MONTHS[63] == 117
    assert PAYOUT_MONTHS[70] == 56
    months = [PAYOUT_MONTHS[age] for age in range(40, 71)]
    assert months == sorted(months, reverse=True)


def test_payout_table_is_read_only():
    with pytest.raises(TypeError):
        PAYOUT_MONTHS[60] = 1


def test_basic_pension_domain_example():
    assert basic_pension(8000, 1.0, 30 * 12) == Decimal("2400.00")
    assert basic_pension(Decimal("8000"), Decimal("1"), 360) == Decimal("2400.00")


def test_basic_pension_partial_years_and_rounding():
    # 9123.45 x 1.65 / 2 x (185 / 12) x 1% = 1160.3887... -> 1160.39
    assert basic_pension("9123.45", "0.65", 185) == Decimal("1160.39")
    # 8000 x 1.8 / 2 x (181 / 12) / 100 = 1086.00
    assert basic_pension(8000, "0.8", 181) == Decimal("1086.00")


def test_basic_pension_half_up():
    # 100 x 2 / 2 x (1 / 12) / 100 = 0.08333 -> 0.08; 1005 x 1 / 2 x 1 / 100 = 5.025 -> 5.03
    assert basic_pension(100, 1, 1) == Decimal("0.08")
    assert basic_pension(1005, 0, 12) == Decimal("5.03")


def test_account_pension_domain_example():
    assert account_pension(150000, 60) == Decimal("1079.14")
    assert account_pension("150000.00", 60) == Decimal("1079.14")


def test_account_pension_other_ages():
    assert account_pension(195000, 50) == Decimal("1000.00")
    assert account_pension(100000, 63) == Decimal("854.70")  # 854.700854...
    assert account_pension(1, 55) == Decimal("0.01")  # 0.00588 -> 0.01


def test_account_pension_half_up():
    # 0.695 / 139 exactly 0.005 -> rounds up to 0.01
    assert account_pension(Decimal("0.695"), 60) == Decimal("0.01")


@pytest.mark.parametrize("age", [39, 71])
def test_account_pension_outside_table(age):
    with pytest.raises(ValueError):
        account_pension(100000, age)


def test_bad_inputs():
    with pytest.raises(TypeError):
        basic_pension(8000, 1, 30.0)
    with pytest.raises(ValueError):
        basic_pension(8000, 1, -1)
    with pytest.raises(TypeError):
        account_pension(150000, 60.5)
    with pytest.raises(ValueError):
        basic_pension("NaN", 1, 12)
