"""The one log filter: personal data masked and control characters escaped in every record."""
from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

import contracts
from hub.logs import RedactingFilter, escape_controls, install, installed, redact

APPLICANT = contracts.example("application")["applicant"]
INFO = contracts.example("application")["socialized_management"]
ID = APPLICANT["id_number"]
MOBILE = APPLICANT["mobile"]
ADDRESS = APPLICANT["household_address"]
LANDLINE = INFO["residence"]["phone"]
DETAIL = INFO["residence"]["address"]["detail"]


@pytest.fixture
def logged() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(RedactingFilter())
    lg = logging.getLogger("test.redaction")
    lg.addHandler(handler)
    lg.setLevel(logging.DEBUG)
    lg.propagate = False
    yield lg, buf
    lg.removeHandler(handler)


def test_the_example_applicants_data_is_masked_in_free_text() -> None:
    text = redact(f"person {ID} mobile {MOBILE} home {ADDRESS} tel {LANDLINE} at {DETAIL}")
    for clear in (ID, MOBILE, ADDRESS, LANDLINE, DETAIL):
        assert clear not in text
    assert "3204**********0033" in text and "138****0001" in text


def test_a_number_that_is_not_an_id_or_a_card_is_kept() -> None:
    # an 18-digit number with a wrong check character, an employer number, a case id
    text = "n 320402196605150034 emp 32040000001234 case RT320400-20261125-000001"
    assert redact(text) == text


def test_bank_cards_passing_luhn_are_masked() -> None:
    assert redact("card 6222 0212 3456 7894 end") == "card 6222********7894 end"
    assert redact("card 4111111111111111") == "card 4111********1111"
    assert redact("n 4111111111111112") == "n 4111111111111112"


def test_structured_arguments_mask_address_and_name_fields(
        logged: tuple[logging.Logger, io.StringIO]) -> None:
    lg, buf = logged
    lg.info("payload %s", {"name": APPLICANT["name"], "address": {"detail": "某处"},
                           "residence": "任意文字", "phone": MOBILE})
    out = buf.getvalue()
    assert APPLICANT["name"] not in out and "任意文字" not in out and MOBILE not in out
    assert "某处" not in out


def test_a_newline_in_an_argument_cannot_forge_a_line(
        logged: tuple[logging.Logger, io.StringIO]) -> None:
    lg, buf = logged
    lg.warning("case %s refused", "RT1\nINFO forged line\r")
    assert buf.getvalue() == "WARNING case RT1\\x0aINFO forged line\\x0d refused\n"
    assert escape_controls("a\u2028b") == "a\\u2028b"


def test_exception_text_is_masked_and_keeps_its_traceback(
        logged: tuple[logging.Logger, io.StringIO]) -> None:
    lg, buf = logged
    try:
        raise ValueError(f"bad body {{'zjhm': '{ID}', 'tel': '{MOBILE}'}}")
    except ValueError:
        lg.exception("conversion failed for %s", ID)
    out = buf.getvalue()
    assert ID not in out and MOBILE not in out
    assert "Traceback" in out and "ValueError" in out


def test_install_puts_the_filter_on_the_root_handlers() -> None:
    root = logging.getLogger()
    handler = logging.StreamHandler(io.StringIO())
    root.addHandler(handler)
    try:
        install()
        assert installed(handler)
        install()  # idempotent
        assert handler.filters.count(handler.filters[0]) == 1
    finally:
        root.removeHandler(handler)


@pytest.mark.parametrize(("text", "masked"), [
    ("320404900101003", "3204*******1003"),                 # the old 15-digit ID form
    ("sfzh32040419900101001X", "sfzh3204**********001X"),   # glued to a field name
    ("138-0000-0001", "138******0001"),
    ("+86 138 0000 0001", "+86**********0001"),
    ("0519-8888-0001", "0519-****-0001"),
    ("051988880001", "0519****0001"),
])
def test_separated_glued_old_and_mistyped_forms_are_masked(text: str, masked: str) -> None:
    assert redact(text) == masked
