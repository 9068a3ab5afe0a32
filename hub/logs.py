"""One redaction filter for every log line: personal data masked, control characters escaped.

Installed by every entry point (hub CLI, adapters, stand-ins) on the root logger's handlers, so
records from any library logger (werkzeug, SQLAlchemy, APScheduler) pass through it as well.

What is masked, wherever it appears in a message, its arguments or an exception's text:
- 18-character resident ID numbers whose check character is valid (`3204**********0033`);
- mobile numbers (`138****0001`, with or without +86) and landlines with an area code
  (`0519-****0001`);
- bank card numbers: 16 to 19 digits (optionally grouped by four) passing the Luhn check;
- addresses: a Chinese street address (a road, street or lane with a house number) keeps its
  first three characters (`江苏省***`); in structured arguments (dicts) every value under a
  known address or name key is masked whatever it looks like.
Control characters (CR, LF and the other C0/C1 codes) in a message are written as `\\xNN`, so a
newline inside a case id or a file name cannot forge a log line.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from hub.domain.idnumber import is_valid, mask, mask_phone, mask_text

# keys whose values are addresses or names, in the hub's, the cities' and the forms' spellings
ADDRESS_KEYS = frozenset({
    "address", "household_address", "residence", "detail", "street_address", "addr", "dz",
    "hjdz", "jzdz", "zz"})
NAME_KEYS = frozenset({"name", "xm", "psnname", "fullname", "person_name", "contact"})

# ID numbers: 18 characters (and the old 15-digit form), also glued to letters ("sfzh3204...")
_ID18 = re.compile(r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9])")
_ID15 = re.compile(r"(?<![0-9])[0-9]{15}(?![0-9])")
_MOBILE = re.compile(
    r"(?<![0-9])(?:(?:\+|00)?86[- ]?)?1[3-9][0-9][- ]?[0-9]{4}[- ]?[0-9]{4}(?![0-9])")
_LANDLINE = re.compile(
    r"(?<![0-9])(?P<area>\(0[0-9]{2,3}\)|0[0-9]{2,3}[- ]?)(?P<local>[0-9]{3,4}[- ]?[0-9]{4})"
    r"(?![0-9])")
_CARD = re.compile(r"(?<![0-9])(?:[0-9]{4}[ -]){3,4}[0-9]{1,7}(?![0-9])|(?<![0-9])[0-9]{16,19}"
                   r"(?![0-9])")
_CJK = "\u3400-\u9fff"
_ADDRESS = re.compile(
    rf"[{_CJK}]{{0,24}}(?:路|街|道|巷|弄|胡同|村|组|苑|小区|花园|公寓)"
    rf"[0-9０-９一二三四五六七八九十百零〇]+[号號]"
    rf"(?:[0-9０-９A-Za-z{_CJK}\-－]{{0,24}}(?:室|户|号|幢|栋|楼|单元))*")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_WITH_NL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card(m: re.Match[str]) -> str:
    digits = re.sub(r"[ -]", "", m.group(0))
    if not 16 <= len(digits) <= 19 or not _luhn(digits):
        return m.group(0)
    return digits[:4] + "*" * (len(digits) - 8) + digits[-4:]


def _dated(digits: str) -> bool:
    """Is ``digits`` (YYYYMMDD) a plausible birth date? (An old 15-digit ID has no check
    character, so its birth date is what tells it from another number.)"""
    y, m, d = int(digits[:4]), int(digits[4:6]), int(digits[6:8])
    return 1900 <= y <= 2100 and 1 <= m <= 12 and 1 <= d <= 31


def _id(m: re.Match[str]) -> str:
    value = m.group(0)
    return mask(value) if is_valid(value.upper()) else value


def _id15(m: re.Match[str]) -> str:
    value = m.group(0)
    return mask(value) if _dated("19" + value[6:12]) else value


def _landline(m: re.Match[str]) -> str:
    local = m.group("local")
    return m.group("area") + re.sub(r"[0-9]", "*", local[:-4]) + local[-4:]


def redact(text: str) -> str:
    """Personal data in free text masked (see the module docstring for the rules)."""
    if not text:
        return text
    text = _ID18.sub(_id, text)
    text = _ID15.sub(_id15, text)
    text = _CARD.sub(_card, text)
    text = _MOBILE.sub(lambda m: mask_phone(m.group(0)), text)
    text = _LANDLINE.sub(_landline, text)
    return _ADDRESS.sub(lambda m: mask_text(m.group(0)), text)


def escape_controls(text: str, *, keep_newlines: bool = False) -> str:
    """Control characters as `\\xNN` (or `\\uNNNN`), so one record stays one line."""
    pattern = _CONTROL if keep_newlines else _CONTROL_WITH_NL

    def esc(m: re.Match[str]) -> str:
        c = ord(m.group(0))
        return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"

    return pattern.sub(esc, text)


def redact_structure(value: Any, depth: int = 0) -> Any:
    """A copy of dicts and lists with address and name fields masked, strings redacted."""
    if depth > 20:
        return "…"
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        for k, v in value.items():
            key = str(k).lower()
            if key in ADDRESS_KEYS and v is not None:
                out[k] = mask_text(str(v)) if not isinstance(v, Mapping) else "***"
            elif key in NAME_KEYS and isinstance(v, str):
                out[k] = mask_text(v)
            else:
                out[k] = redact_structure(v, depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        return type(value)(redact_structure(v, depth + 1) for v in value)
    if isinstance(value, str):
        return redact(value)
    return value


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (and exception text) masked and on one line."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_redacted", False):
            return True
        try:
            if isinstance(record.args, Mapping):
                record.args = redact_structure(record.args)
            elif isinstance(record.args, tuple):
                record.args = tuple(redact_structure(a) if isinstance(a, (Mapping, list, tuple))
                                    else a for a in record.args)
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string still gets logged, masked
            message = f"{record.msg!r} {record.args!r}"
        record.msg = escape_controls(redact(message))
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = escape_controls(redact(record.exc_text), keep_newlines=True)
        if record.stack_info:
            record.stack_info = escape_controls(redact(record.stack_info), keep_newlines=True)
        record._redacted = True  # noqa: SLF001 - our own mark on the record, read by us
        return True


_FILTER = RedactingFilter()


def install(*loggers: logging.Logger) -> RedactingFilter:
    """Put the filter on every handler of the root logger (and of the loggers given).

    Idempotent; call it after the handlers are configured (`logging.basicConfig`). Python's
    last-resort handler (used when nothing is configured) gets it too.
    """
    targets = [logging.getLogger(), *loggers]
    handlers: list[logging.Handler] = []
    for lg in targets:
        handlers.extend(lg.handlers)
    if logging.lastResort is not None:
        handlers.append(logging.lastResort)
    for h in handlers:
        if _FILTER not in h.filters:
            h.addFilter(_FILTER)
    return _FILTER


def installed(handler: logging.Handler) -> bool:
    return _FILTER in handler.filters
