"""Values no source system meant: numbers JSON or a spreadsheet mangled on the way.

Each check returns a sentence saying what happened and what to do, or None. Rows refuse such
values (with the field named) instead of storing a wrong phone, id, amount or date.
"""

from __future__ import annotations

import math
import re
from datetime import date, timedelta
from typing import Any

INT64 = 2**63
# Excel's day 1 is 1900-01-01 and it counts a 1900-02-29 that never was: day 0 is 1899-12-30.
_EXCEL_EPOCH = date(1899, 12, 30)
_EXCEL_LAST = 2958465  # 9999-12-31
_SCIENTIFIC = re.compile(r"^[+-]?\d+(\.\d+)?[eE][+-]?\d+$")
_SERIAL = re.compile(r"^\d{1,7}(\.\d+)?$")
_DIGITS = re.compile(r"^\d+$")
# Free text may look like anything; every other field is a code, an id, an amount or a time.
FREE_TEXT = frozenset(
    {"name", "customer_name", "item_name", "reason", "remark", "city", "target_tag", "email"}
)


def check(name: str, value: Any) -> str | None:
    """The damage one raw cell shows, if any (the fast path is a plain string or None)."""
    if type(value) is str:
        if name in FREE_TEXT or not value:
            return None
        if name == "phone":
            return scientific(value) or phone_lost_zero(value)
        return scientific(value) if ("e" in value or "E" in value) else None
    return bad_number(value)


def bad_number(value: Any) -> str | None:
    """NaN, ±Infinity (JSON's 1e999999 reads as infinity) and integers beyond 64 bits."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value} is not a number a store can hold; send a finite value"
    if isinstance(value, int) and not isinstance(value, bool) and not -INT64 <= value < INT64:
        digits = len(str(abs(value))) if abs(value) < 10**4000 else 4000
        return f"a {digits}-digit integer is too large; check the value"
    if isinstance(value, BadLiteral):
        return f"{value.text[:40]} is not a number a store can hold; send a finite value"
    return None


def scientific(value: Any) -> str | None:
    if isinstance(value, str) and _SCIENTIFIC.match(value.strip()):
        return (
            f"{value.strip()!r} is in scientific notation: Excel rounded the number and its last "
            "digits are lost. Format the column as Text in Excel, restore the numbers from the "
            "source system and export again"
        )
    return None


def excel_serial_date(value: Any) -> str | None:
    """A date cell Excel exported as its serial number (45627 for 2024-12-01)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and _SERIAL.match(value.strip()):
        number = float(value.strip())
    elif isinstance(value, int | float) and math.isfinite(value):
        number = float(value)
    else:
        return None
    if not 1 <= number < _EXCEL_LAST + 1:
        return None
    day = _EXCEL_EPOCH + timedelta(days=int(number))
    return (
        f"{value} looks like a date Excel turned into a serial number ({day.isoformat()}); "
        "format the column as a date (yyyy-mm-dd hh:mm) and export again"
    )


def phone_lost_zero(raw: str) -> str | None:
    """A landline whose trunk 0 a spreadsheet dropped (021 6288 8888 read as a number).

    Only a bare number is suspect: one written with + or separators was typed as text."""
    text = raw.strip()
    if not _DIGITS.match(text) or text[0] in "01" or text.startswith("86"):
        return None
    if 9 <= len(text) <= 11:
        return (
            f"{text} looks like a phone number that lost its leading 0 in a spreadsheet "
            "(area codes start with 0, e.g. 021…); format the column as Text and export again, "
            "or write a foreign number with its + country code"
        )
    return None


class BadLiteral(str):
    """A JSON literal no store can hold (NaN, Infinity, a huge integer), kept to be refused
    by the row it is in rather than failing the whole request."""

    @property
    def text(self) -> str:
        return str(self)


def _constant(text: str) -> BadLiteral:
    return BadLiteral(text)


def _int(text: str) -> Any:
    # Python refuses to parse integers over 4300 digits (a ValueError for the whole body).
    return int(text) if len(text.lstrip("-")) <= 19 else BadLiteral(text)


def _float(text: str) -> Any:
    value = float(text)
    return value if math.isfinite(value) else BadLiteral(text)


JSON_HOOKS: dict[str, Any] = {"parse_constant": _constant, "parse_int": _int, "parse_float": _float}
