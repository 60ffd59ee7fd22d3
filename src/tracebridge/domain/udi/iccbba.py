"""ISBT 128 (ICCBBA) UDIs, used for medical devices containing human tissue or cells (HCT/P).

An ISBT 128 UDI is a run of fixed-length *data structures*, each opened by a data
identifier of two or three characters starting with ``=`` or ``&``:

========  ==========================================  =================================
``=/``    Processor Product Identification Code (034)  16 characters: the UDI-DI
``=A``…   Donation Identification Number (001)         15 characters: distinct identification code
``=,``    Product Divisions (032)                      6 characters: the serial number
``=>``    Expiration Date (004)                        ``cyyjjj``
``&>``    Expiration Date and Time (005)               ``cyyjjjhhmm``
``=}``    Production Date (008)                        ``cyyjjj``
``&}``    Production Date and Time (009)               ``cyyjjjhhmm``
``&,1``   MPHO Lot Number (035)                        18 characters
``=+``    Compound Message header (023)                5 digits
========  ==========================================  =================================

Dates are ``c`` (the last digit of the century, 0 for 20xx), ``yy`` and ``jjj`` the day of
the year. The DIN's data identifier is ``=`` followed directly by its first character, which
is a letter or a digit 1-9 and so never clashes with the punctuation of the others.

>>> data = decode_iccbba("=/A9999XYZ100T0944=,000025=A99971312345600=>014032=}013032")
>>> data.di, data.serial, data.expiry_date, data.production_date
('A9999XYZ100T0944', '000025', datetime.date(2014, 2, 1), datetime.date(2013, 2, 1))
>>> data.distinct_identification_code
'A99971312345600'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from tracebridge.domain.udi.dates import ordinal_date
from tracebridge.domain.udi.model import ParsedValue, UdiElement, UdiResult
from tracebridge.errors import InvalidIdentifier


@dataclass(frozen=True)
class _Structure:
    identifier: str
    name: str
    width: int
    pattern: re.Pattern[str]
    slot: str | None


_ALNUM = re.compile("[A-Z0-9]+")
_DIGITS = re.compile("[0-9]+")
_STRUCTURES = (
    _Structure("=/", "PROCESSOR PRODUCT IDENTIFICATION CODE", 16, _ALNUM, "di"),
    _Structure("=,", "PRODUCT DIVISIONS (SERIAL)", 6, _ALNUM, "serial"),
    _Structure("=>", "EXPIRATION DATE", 6, _DIGITS, "expiry"),
    _Structure("&>", "EXPIRATION DATE AND TIME", 10, _DIGITS, "expiry"),
    _Structure("=}", "PRODUCTION DATE", 6, _DIGITS, "production"),
    _Structure("&}", "PRODUCTION DATE AND TIME", 10, _DIGITS, "production"),
    _Structure("&,1", "MPHO LOT NUMBER", 18, _ALNUM, "lot"),
    _Structure("=+", "COMPOUND MESSAGE", 5, _DIGITS, None),
)
# The DIN: facility (a letter or 1-9, then 4 more), year (2 digits), sequence (6), flags (2).
_DIN = _Structure(
    "=",
    "DONATION IDENTIFICATION NUMBER",
    15,
    re.compile("[A-NP-Z1-9][A-Z0-9]{4}[0-9]{8}[A-Z0-9]{2}"),
    "din",
)
_DATE_SLOTS = ("expiry", "production")


@dataclass(frozen=True)
class IccbbaData:
    """The decoded ISBT 128 data structures of one UDI."""

    di: str
    serial: str | None
    lot: str | None
    expiry_date: date | None
    production_date: date | None
    distinct_identification_code: str | None
    elements: tuple[UdiElement, ...]
    data: str


def decode_iccbba(text: str) -> IccbbaData:
    """Decode concatenated ISBT 128 data structures; the ``=/`` DI is required."""
    data = text.rstrip("\r\n")
    if data.startswith("]") and len(data) >= 3:
        data = data[3:]
    position = 0
    values: dict[str, ParsedValue] = {}
    elements: list[UdiElement] = []
    while position < len(data):
        structure = _structure_at(data, position)
        start = position + len(structure.identifier)
        width = structure.width
        raw = data[start : start + width]
        if len(raw) != width or structure.pattern.fullmatch(raw) is None:
            raise InvalidIdentifier(
                f"Invalid ISBT 128 {text!r}: {structure.name} at position {position + 1} "
                f"is {raw!r}, expected {width} characters matching {structure.pattern.pattern!r}"
            )
        value = _interpret(text, structure, raw)
        if structure.slot is not None:
            if structure.slot in values:
                raise InvalidIdentifier(
                    f"Invalid ISBT 128 {text!r}: {structure.name} at position {position + 1} "
                    "repeats a value already given; expected it once"
                )
            values[structure.slot] = value
        elements.append(UdiElement(structure.identifier, structure.name, raw, value))
        position = start + width
    if "di" not in values:
        raise InvalidIdentifier(
            f"Invalid ISBT 128 {text!r}: no '=/' Processor Product Identification Code; "
            "a UDI needs it as the device identifier"
        )
    return IccbbaData(
        di=str(values["di"]),
        serial=_text(values.get("serial")),
        lot=_text(values.get("lot")),
        expiry_date=_as_date(values.get("expiry")),
        production_date=_as_date(values.get("production")),
        distinct_identification_code=_text(values.get("din")),
        elements=tuple(elements),
        data=data,
    )


def _structure_at(data: str, position: int) -> _Structure:
    for structure in _STRUCTURES:
        if data.startswith(structure.identifier, position):
            return structure
    if data[position] == "=" and position + 1 < len(data) and data[position + 1].isalnum():
        return _DIN
    identifier = data[position : position + 2]
    raise InvalidIdentifier(
        f"Invalid ISBT 128 {data!r}: unknown data identifier {identifier!r} at position "
        f"{position + 1}; expected one of =/ =, => &> =}} &}} &,1 =+ or a DIN"
    )


def _interpret(text: str, structure: _Structure, raw: str) -> ParsedValue:
    if structure.slot not in _DATE_SLOTS:
        return raw
    century = 19 + (int(raw[0]) - 9) % 10
    year = century * 100 + int(raw[1:3])
    try:
        day = ordinal_date(year, int(raw[3:6]), source=raw)
    except InvalidIdentifier as exc:
        raise InvalidIdentifier(
            f"Invalid ISBT 128 {text!r}: {structure.name}: {exc.message}"
        ) from exc
    if len(raw) == 6:
        return day
    hour, minute = int(raw[6:8]), int(raw[8:10])
    if hour > 23 or minute > 59:
        raise InvalidIdentifier(
            f"Invalid ISBT 128 {text!r}: {structure.name} {raw!r} has time {hour:02d}:{minute:02d}"
            ", expected hhmm within 00:00-23:59"
        )
    return datetime(day.year, day.month, day.day, hour, minute)


def _text(value: ParsedValue) -> str | None:
    return value if isinstance(value, str) else None


def _as_date(value: ParsedValue) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else None


def udi_from_iccbba(data: IccbbaData) -> UdiResult:
    """Read decoded ISBT 128 data as a UDI; the DIN is the distinct identification code."""
    return UdiResult(
        agency="ICCBBA",
        di=data.di,
        lot=data.lot,
        serial=data.serial,
        production_date=data.production_date,
        expiry_date=data.expiry_date,
        elements=data.elements,
        human_readable=data.data,
        distinct_identification_code=data.distinct_identification_code,
    )
