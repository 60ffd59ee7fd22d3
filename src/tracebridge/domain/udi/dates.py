"""Dates as barcodes carry them, and as labels must print them.

Labels print ``YYYY-MM-DD`` (21 CFR 801.18); GS1 barcodes carry ``YYMMDD``. Two rules make
the short form unambiguous (GS1 General Specifications §7.12):

* a two-digit year lies between 49 years in the past and 50 years in the future of the
  year it is read in (the sliding century window);
* day ``00`` means the last day of the month.

Both directions are exact for every date the window can express; only ``DD=00`` is
deliberately one-way, which is why decoded UDIs also keep the raw text.

>>> today = date(2026, 11, 25)
>>> gs1_date_to_iso("991200", today=today)
'1999-12-31'
>>> gs1_date_to_iso("760229", today=today)
'2076-02-29'
>>> iso_to_gs1_date("2076-02-29", today=today)
'760229'
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta

from tracebridge.errors import InvalidIdentifier


def full_year(two_digit_year: int, *, today: date | None = None) -> int:
    """Resolve a two-digit year with the GS1 sliding window (-49 … +50 years)."""
    current = (today or date.today()).year
    candidate = current - current % 100 + two_digit_year
    if candidate > current + 50:
        candidate -= 100
    elif candidate < current - 49:
        candidate += 100
    return candidate


def _digits(text: str, length: int, what: str) -> str:
    if len(text) != length or not text.isascii() or not text.isdigit():
        raise InvalidIdentifier(f"Invalid {what} {text!r}: expected {length} digits")
    return text


def yymmdd_to_date(text: str, *, today: date | None = None) -> date:
    """Decode GS1 ``YYMMDD`` (``DD=00`` = last day of the month)."""
    _digits(text, 6, "GS1 date (YYMMDD)")
    year = full_year(int(text[:2]), today=today)
    month, day = int(text[2:4]), int(text[4:6])
    if not 1 <= month <= 12:
        raise InvalidIdentifier(f"Invalid GS1 date {text!r}: month {month:02d}, expected 01-12")
    if day == 0:
        day = calendar.monthrange(year, month)[1]
    try:
        return date(year, month, day)
    except ValueError:
        raise InvalidIdentifier(
            f"Invalid GS1 date {text!r}: {year}-{month:02d} has no day {day:02d}"
        ) from None


def date_to_yymmdd(value: date, *, today: date | None = None) -> str:
    """Encode a date as GS1 ``YYMMDD``; refuses dates the century window cannot carry."""
    if full_year(value.year % 100, today=today) != value.year:
        raise InvalidIdentifier(
            f"Date {value.isoformat()} cannot be written as YYMMDD: outside the GS1 century "
            f"window around {(today or date.today()).year}"
        )
    return value.strftime("%y%m%d")


def gs1_date_to_iso(text: str, *, today: date | None = None) -> str:
    """``YYMMDD`` → ``YYYY-MM-DD``."""
    return yymmdd_to_date(text, today=today).isoformat()


def iso_to_gs1_date(text: str, *, today: date | None = None) -> str:
    """``YYYY-MM-DD`` → ``YYMMDD``."""
    try:
        value = date.fromisoformat(text)
    except ValueError:
        raise InvalidIdentifier(f"Invalid label date {text!r}: expected YYYY-MM-DD") from None
    if text != value.isoformat():
        raise InvalidIdentifier(f"Invalid label date {text!r}: expected YYYY-MM-DD")
    return date_to_yymmdd(value, today=today)


def ordinal_date(year: int, day_of_year: int, *, source: str) -> date:
    """The date of day ``day_of_year`` (1-based, "Julian" in HIBC and ISBT 128 terms)."""
    days_in_year = 366 if calendar.isleap(year) else 365
    if not 1 <= day_of_year <= days_in_year:
        raise InvalidIdentifier(
            f"Invalid date {source!r}: day of year {day_of_year}, expected 1-{days_in_year}"
        )
    return date(year, 1, 1) + timedelta(days=day_of_year - 1)


def calendar_date(year: int, month: int, day: int, *, source: str) -> date:
    """``date(year, month, day)`` with an error that names the text it came from."""
    try:
        return date(year, month, day)
    except ValueError:
        raise InvalidIdentifier(
            f"Invalid date {source!r}: {year:04d}-{month:02d}-{day:02d} does not exist"
        ) from None
