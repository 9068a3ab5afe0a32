"""Citizen ID numbers (GB 11643-1999), which double as social security numbers, and masking.

`is_valid` checks the shape, the ISO 7064 MOD 11-2 check character and that the birth date is a
real date. It deliberately does not check the region code against a table: many retirees' codes
predate today's districts (see DOMAIN.md §1).
"""

from __future__ import annotations

import datetime
import re
from typing import Any, Literal

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARACTERS = "10X98765432"

_FIRST17 = re.compile(r"[0-9]{17}")
_ID18 = re.compile(r"[0-9]{17}[0-9Xx]")
_ID15 = re.compile(r"[0-9]{15}")

Sex = Literal["male", "female"]


def check_character(first17: str) -> str:
    """The MOD 11-2 check character ("0"-"9" or "X") for the first 17 digits."""
    if not _FIRST17.fullmatch(first17):
        raise ValueError("expected exactly 17 digits")
    total = sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARACTERS[total % 11]


def _birth_date_or_none(yyyymmdd: str) -> datetime.date | None:
    try:
        return datetime.date(int(yyyymmdd[0:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        return None


def has_valid_check_character(id_number: str) -> bool:
    """18 characters, 17 digits then a digit or X/x, and the check character matches."""
    if not isinstance(id_number, str) or not _ID18.fullmatch(id_number):
        return False
    return check_character(id_number[:17]) == id_number[17].upper()


def is_valid(id_number: str) -> bool:
    """A well-formed 18-character number: check character and a real birth date."""
    return has_valid_check_character(id_number) and _birth_date_or_none(id_number[6:14]) is not None


def normalise(id_number: str) -> str:
    """The stored form: surrounding blanks removed, a lower-case x made upper case."""
    return id_number.strip().upper()


def normalise_in(doc: Any, _depth: int = 0) -> Any:
    """A copy of `doc` with every well-formed ID number under an "id_number" key in stored form.

    Applied to what a member sends before anything is stored or projected, so a lower-case x
    never leaves the hub. Values that are not ID-number shaped are left for validation to refuse.
    """
    if _depth > 64:
        return doc
    if isinstance(doc, dict):
        return {k: (v.upper() if k == "id_number" and isinstance(v, str) and _ID18.fullmatch(v)
                    else normalise_in(v, _depth + 1)) for k, v in doc.items()}
    if isinstance(doc, list):
        return [normalise_in(v, _depth + 1) for v in doc]
    return doc


def convert_15_to_18(old: str) -> str:
    """A legacy 15-digit number (YYMMDD, century 19) to its 18-character form."""
    old = old.strip()
    if not _ID15.fullmatch(old):
        raise ValueError("expected exactly 15 digits")
    first17 = old[:6] + "19" + old[6:]
    if _birth_date_or_none(first17[6:14]) is None:
        raise ValueError("the birth date in the number is not a real date")
    return first17 + check_character(first17)


def _as_18(id_number: str) -> str:
    id_number = normalise(id_number)
    if _ID15.fullmatch(id_number):
        return convert_15_to_18(id_number)
    if not is_valid(id_number):
        raise ValueError("not a valid citizen ID number")
    return id_number


def birth_date(id_number: str) -> datetime.date:
    """The birth date encoded in a valid 18-character (or legacy 15-digit) number."""
    number = _as_18(id_number)
    date = _birth_date_or_none(number[6:14])
    assert date is not None  # _as_18 checked it
    return date


def sex(id_number: str) -> Sex:
    """Male when the 17th digit (the sequence's last) is odd, else female."""
    number = _as_18(id_number)
    return "male" if int(number[16]) % 2 == 1 else "female"


def mask(id_number: str) -> str:
    """First 4 and last 4 characters kept: "3204**********1234"."""
    if len(id_number) <= 8:
        return "*" * len(id_number)
    return id_number[:4] + "*" * (len(id_number) - 8) + id_number[-4:]


def mask_phone(phone: str) -> str:
    """First 3 and last 4 digits kept: "138****5678"."""
    if len(phone) <= 7:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def mask_text(text: str) -> str:
    """First 3 characters then "***" (an address); a text of 3 or fewer keeps only its first."""
    if not text:
        return ""
    keep = 3 if len(text) > 3 else 1
    return text[:keep] + "***"
