import datetime

import pytest

from hub.domain import idnumber


@pytest.mark.parametrize("number", ["11010519491231002X", "360426199101010071"])
def test_valid_examples(number):
    assert idnumber.is_valid(number)
    assert idnumber.check_character(number[:17]) == number[17]


def test_lower_case_x_is_accepted_and_normalised():
    assert idnumber.is_valid("11010519491231002x")
    assert idnumber.normalise(" 11010519491231002x ") == "11010519491231002X"


@pytest.mark.parametrize(
    "number",
    [
        "110105194912310021",  # wrong check character
        "360426199101010070",
        "11010519491231002",  # 17 characters
        "1101051949123100211",  # 19 characters
        "11010519491231A02X",
        "X10105194912310021",
        "",
    ],
)
def test_invalid(number):
    assert not idnumber.is_valid(number)


def test_impossible_birth_date_is_invalid_even_with_right_check_character():
    first17 = "11010519490230002"  # 1949-02-30
    assert not idnumber.is_valid(first17 + idnumber.check_character(first17))
    assert idnumber.has_valid_check_character(first17 + idnumber.check_character(first17))


def test_invalid_non_string():
    assert not idnumber.is_valid(None)


def test_check_character_needs_17_digits():
    with pytest.raises(ValueError):
        idnumber.check_character("1234")


def test_convert_15_to_18():
    assert idnumber.convert_15_to_18("110105491231002") == "11010519491231002X"
    with pytest.raises(ValueError):
        idnumber.convert_15_to_18("11010549123100")
    with pytest.raises(ValueError):
        idnumber.convert_15_to_18("110105490230002")  # 1949-02-30


def test_birth_date_and_sex():
    assert idnumber.birth_date("11010519491231002X") == datetime.date(1949, 12, 31)
    assert idnumber.sex("11010519491231002X") == "female"  # 17th digit 2
    assert idnumber.birth_date("360426199101010071") == datetime.date(1991, 1, 1)
    assert idnumber.sex("360426199101010071") == "male"  # 17th digit 7
    assert idnumber.birth_date("110105491231002") == datetime.date(1949, 12, 31)


def test_birth_date_of_invalid_number_raises():
    with pytest.raises(ValueError):
        idnumber.birth_date("110105194912310021")
    with pytest.raises(ValueError):
        idnumber.sex("110105194912310021")


def test_masks():
    assert idnumber.mask("320400196505011234") == "3204**********1234"
    assert idnumber.mask("1234") == "****"
    assert idnumber.mask_phone("13812345678") == "138****5678"
    assert idnumber.mask_text("江苏省常州市天宁区某某路1号") == "江苏省***"
    assert idnumber.mask_text("常州") == "常***"
    assert idnumber.mask_text("") == ""
