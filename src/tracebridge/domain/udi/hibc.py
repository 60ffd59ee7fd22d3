"""HIBC LIC (HIBCC) UDIs: the primary and secondary data structures of ANSI/HIBC 2.x.

The *primary* structure identifies the device: ``+``, the 4-character Labeler
Identification Code (first character a letter), the product or catalogue number (1-18
characters), a one-digit unit of measure, and a mod-43 check character. ``+`` LIC PCN U/M
is the UDI-DI.

The *secondary* structure carries the production identifiers: a flag says what follows —
``$$`` expiry then lot (``$$`` + MMYY, ``$$2`` MMDDYY, ``$$3`` YYMMDD, ``$$4`` YYMMDDHH,
``$$5`` YYJJJ, ``$$6`` YYJJJHH, ``$$7`` no date, ``$$8``/``$$9`` a 2/5-digit quantity
first), ``$$+`` the same with a serial instead of a lot, ``$`` / ``$+`` lot / serial
only, and five digits (legacy) a YYJJJ date then lot. Supplemental fields follow after
``/``: ``S`` serial, ``16D`` manufacturing date and ``14D`` expiry (YYYYMMDD), ``Q``
quantity.

Two layouts exist. In linear (1D) symbols the primary and each secondary are separate
symbols; a secondary ends with a *link character* (the primary's check character) and its
own check character. In 2D symbols everything is concatenated with ``/`` and one check
character at the end covers the whole string.

The check character is the sum of the character values (``0``-``9`` = 0-9, ``A``-``Z`` =
10-35, then ``-`` ``.`` space ``$`` ``/`` ``+`` ``%``) modulo 43, so any single misread
character is caught.

>>> hibc_check_character("+A123BJC5D6E71")
'G'
>>> data = decode_hibc("+A123BJC5D6E71/$$3231231BC34567/S4012O")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
tracebridge.errors.InvalidIdentifier: Invalid HIBC '+A123...': check character 'O', expected 'E'
>>> data = decode_hibc("+A123BJC5D6E71/$$3231231BC34567/S4012E")
>>> data.udi_di, data.lot, data.serial, data.expiry_date
('+A123BJC5D6E71', 'BC34567', '4012', datetime.date(2023, 12, 31))
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial
from itertools import combinations, pairwise

from tracebridge.domain.udi.dates import calendar_date, full_year, ordinal_date
from tracebridge.domain.udi.model import ParsedValue, UdiElement, UdiResult
from tracebridge.errors import InvalidIdentifier

HIBC_CHARACTERS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-. $/+%"
_VALUE = {character: position for position, character in enumerate(HIBC_CHARACTERS)}
_PRIMARY = re.compile(r"(?P<lic>[A-Z][A-Z0-9]{3})(?P<pcn>[A-Z0-9]{1,18})(?P<uom>[0-9])")
_FIELD_TEXT = re.compile(r"[A-Z0-9\-. ]{1,18}")
_MAX_SPLIT_POINTS = 8

# Expiry date formats after "$$": flag -> (format name, length).
_DATE_FORMATS = {
    "2": ("MMDDYY", 6),
    "3": ("YYMMDD", 6),
    "4": ("YYMMDDHH", 8),
    "5": ("YYJJJ", 5),
    "6": ("YYJJJHH", 7),
}


def hibc_check_character(data: str) -> str:
    """The mod-43 check character of ``data`` (all characters, the leading ``+`` included)."""
    unknown = [character for character in data if character not in _VALUE]
    if unknown:
        raise InvalidIdentifier(
            f"Invalid HIBC {data!r}: character {unknown[0]!r} is not in the HIBC character set"
        )
    return HIBC_CHARACTERS[sum(_VALUE[character] for character in data) % 43]


@dataclass(frozen=True)
class HibcData:
    """A decoded HIBC LIC primary plus whatever secondary data came with it."""

    labeler_identification_code: str
    product_or_catalog_number: str
    unit_of_measure: int
    lot: str | None
    serial: str | None
    expiry_date: date | None
    expiry_raw: str | None
    expiry_raw_format: str | None
    production_date: date | None
    quantity: int | None
    elements: tuple[UdiElement, ...]
    data: str

    @property
    def udi_di(self) -> str:
        return (
            f"+{self.labeler_identification_code}{self.product_or_catalog_number}"
            f"{self.unit_of_measure}"
        )


_Reader = Callable[[str, date | None], HibcData]


@dataclass
class _Fields:
    """Secondary fields collected while reading; each may be given only once."""

    text: str
    today: date | None
    values: dict[str, object] = field(default_factory=dict)
    elements: list[UdiElement] = field(default_factory=list)

    def add(self, key: str, name: str, raw: str, value: ParsedValue, slot: str | None) -> None:
        if slot is not None:
            if slot in self.values:
                raise InvalidIdentifier(
                    f"Invalid HIBC {self.text!r}: {slot.replace('_', ' ')} given twice "
                    f"(again as {key} {raw!r}); expected it once"
                )
            self.values[slot] = value
        self.elements.append(UdiElement(key, name, raw, value))

    def fail(self, why: str) -> InvalidIdentifier:
        return InvalidIdentifier(f"Invalid HIBC {self.text!r}: {why}")


def decode_hibc(text: str, *, today: date | None = None) -> HibcData:
    """Decode an HIBC LIC string (1D pair/sequence or 2D concatenated), checks verified."""
    data = _strip_symbology(text)
    if len(data) >= 2 and data[0] == data[-1] == "*":
        data = data[1:-1]  # the Code 39 caption's start/stop asterisks, typed along
    if not data.startswith("+"):
        raise InvalidIdentifier(f"Invalid HIBC {text!r}: expected it to start with '+'")
    hibc_check_character(data)  # rejects characters outside the HIBC set
    first_error: InvalidIdentifier | None = None
    for reader in _candidate_readings(data):
        try:
            return reader(data, today)
        except InvalidIdentifier as exc:
            first_error = first_error or exc
    assert first_error is not None
    if data[1:2] == "$" or data[1:2].isdigit():
        raise InvalidIdentifier(
            f"Invalid HIBC {text!r}: secondary data without a primary; a UDI needs the "
            "primary structure (+, labeler code, product number, unit of measure)"
        ) from first_error
    raise first_error


def _strip_symbology(text: str) -> str:
    text = text.rstrip("\r\n")
    if text.startswith("]") and len(text) >= 3:
        return text[3:]
    return text


def _candidate_readings(data: str) -> list[_Reader]:
    """Ways to read ``data``, the most plausible first; the first that validates wins."""
    readers: list[_Reader] = []
    if "/" in data[1:-1]:
        readers.append(_read_concatenated)
    plus_positions = [i for i in range(8, len(data) - 3) if data[i] == "+"]
    splits: list[tuple[int, ...]] = []
    for count in range(min(len(plus_positions), _MAX_SPLIT_POINTS), 0, -1):
        splits.extend(combinations(plus_positions[:_MAX_SPLIT_POINTS], count))
    # A secondary's link character repeats the primary's check character: splits where
    # that holds are tried (and reported) before the ones where it does not.
    splits.sort(key=lambda cut: not _links_agree(data, cut))
    readers.extend(partial(_read_split, cut) for cut in splits)
    if not splits:
        readers.append(_read_primary_only)
    return readers


def _links_agree(data: str, cut: tuple[int, ...]) -> bool:
    check = data[cut[0] - 1]
    ends = [*cut[1:], len(data)]
    return all(
        len(data[start:end]) >= 4 and data[end - 2] == check
        for start, end in zip(cut, ends, strict=False)
    )


def _read_split(cut: tuple[int, ...], data: str, today: date | None) -> HibcData:
    """Read ``data`` as linear symbols: a primary, then secondaries starting at ``cut``."""
    bounds = [0, *cut, len(data)]
    primary, *secondaries = [data[start:end] for start, end in pairwise(bounds)]
    fields = _Fields(data, today)
    _verify_check(fields, primary)
    _read_primary(fields, primary[1:-1])
    for symbol in secondaries:
        _verify_check(fields, symbol)
        link = symbol[-2]
        if link != primary[-1]:
            raise fields.fail(f"link character {link!r}, expected {primary[-1]!r}")
        _read_secondary(fields, symbol[1:-2])
    return _result(fields)


def _read_primary_only(data: str, today: date | None) -> HibcData:
    fields = _Fields(data, today)
    _verify_check(fields, data)
    _read_primary(fields, data[1:-1])
    return _result(fields)


def _read_concatenated(data: str, today: date | None) -> HibcData:
    fields = _Fields(data, today)
    _verify_check(fields, data)
    primary, *secondaries = data[1:-1].split("/")
    _read_primary(fields, primary)
    for segment in secondaries:
        _read_secondary(fields, segment)
    return _result(fields)


def _verify_check(fields: _Fields, symbol: str) -> None:
    expected = hibc_check_character(symbol[:-1])
    if symbol[-1] != expected:
        raise fields.fail(f"check character {symbol[-1]!r}, expected {expected!r}")


def _read_primary(fields: _Fields, body: str) -> None:
    match = _PRIMARY.fullmatch(body)
    if match is None:
        raise fields.fail(
            f"primary data {body!r} is not a labeler code (a letter and 3 letters/digits), "
            "a product number (1-18 letters/digits) and a one-digit unit of measure"
        )
    fields.add("+", "LABELER IDENTIFICATION CODE", match["lic"], match["lic"], "lic")
    fields.add("+", "PRODUCT/CATALOG NUMBER", match["pcn"], match["pcn"], "pcn")
    fields.add("+", "UNIT OF MEASURE", match["uom"], int(match["uom"]), "uom")


def _read_secondary(fields: _Fields, segment: str) -> None:
    if segment.startswith("$$"):
        _read_quantity_date_line(fields, segment)
    elif segment.startswith("$"):
        is_serial = segment.startswith("$+")
        _add_lot_or_serial(
            fields, segment[: 2 if is_serial else 1], segment[2 if is_serial else 1 :], is_serial
        )
    elif segment.startswith(("16D", "14D")):
        is_expiry = segment.startswith("14D")
        raw = segment[3:]
        value = _yyyymmdd(fields, raw)
        if is_expiry:
            _add_expiry(fields, "/14D", raw, "YYYYMMDD", value)
        else:
            fields.add("/16D", "MANUFACTURE DATE (YYYYMMDD)", raw, value, "production_date")
    elif segment.startswith("S"):
        _add_lot_or_serial(fields, "/S", segment[1:], True)
    elif segment.startswith("Q") and segment[1:].isdigit():
        fields.add("/Q", "QUANTITY", segment[1:], int(segment[1:]), "quantity")
    elif segment[:5].isdigit():
        # Legacy secondary without a flag: a YYJJJ expiry, then the lot.
        _add_expiry(fields, "+", segment[:5], "YYJJJ", _expiry(fields, "YYJJJ", segment[:5]))
        _add_lot_or_serial(fields, "+", segment[5:], False)
    else:
        raise fields.fail(f"secondary data {segment!r} starts with no known HIBC flag")


def _read_quantity_date_line(fields: _Fields, segment: str) -> None:
    is_serial = segment.startswith("$$+")
    flag = "$$+" if is_serial else "$$"
    rest = segment[len(flag) :]
    if not rest:
        raise fields.fail(f"nothing after the {flag} flag in {segment!r}")
    if rest[0] in "89":
        digits = 2 if rest[0] == "8" else 5
        raw_quantity = rest[1 : 1 + digits]
        if len(raw_quantity) != digits or not raw_quantity.isdigit():
            raise fields.fail(
                f"{flag}{rest[0]} needs a {digits}-digit quantity, got {raw_quantity!r}"
            )
        fields.add(f"{flag}{rest[0]}", "QUANTITY", raw_quantity, int(raw_quantity), "quantity")
        rest = rest[1 + digits :]
        # After a quantity the date is optional; an unflagged MMYY is taken only when it
        # is a real month, otherwise the characters are the lot (as in "$$8 12 10X3").
        if rest[:1] in ("0", "1") and not _is_mmyy(rest[:4]):
            _add_lot_or_serial(fields, flag, rest, is_serial)
            return
    if rest[0] in "01":
        date_flag, (date_format, length) = "", ("MMYY", 4)
    elif rest[0] in _DATE_FORMATS:
        date_flag, (date_format, length) = rest[0], _DATE_FORMATS[rest[0]]
        rest = rest[1:]
    elif rest[0] == "7":
        _add_lot_or_serial(fields, f"{flag}7", rest[1:], is_serial)
        return
    else:
        raise fields.fail(f"unknown date format flag {rest[0]!r} after {flag} in {segment!r}")
    raw = rest[:length]
    _add_expiry(fields, f"{flag}{date_flag}", raw, date_format, _expiry(fields, date_format, raw))
    _add_lot_or_serial(fields, f"{flag}{date_flag}", rest[length:], is_serial)


def _is_mmyy(raw: str) -> bool:
    return len(raw) == 4 and raw.isdigit() and 1 <= int(raw[:2]) <= 12


def _add_expiry(
    fields: _Fields, key: str, raw: str, date_format: str, value: date | datetime
) -> None:
    fields.add(key, f"EXPIRY ({date_format})", raw, value, "expiry")
    fields.values["expiry_raw"] = raw
    fields.values["expiry_raw_format"] = date_format


def _add_lot_or_serial(fields: _Fields, key: str, raw: str, is_serial: bool) -> None:
    if not raw:
        return
    name = "SERIAL" if is_serial else "LOT"
    if _FIELD_TEXT.fullmatch(raw) is None:
        raise fields.fail(f"{name.lower()} {raw!r} is not 1-18 letters, digits, '-', '.' or space")
    fields.add(key, name, raw, raw, name.lower())


def _expiry(fields: _Fields, date_format: str, raw: str) -> date | datetime:
    length = {"MMYY": 4, **{name: size for name, size in _DATE_FORMATS.values()}}[date_format]
    if len(raw) != length or not raw.isdigit():
        raise fields.fail(f"expiry {raw!r} does not match {date_format}")
    source = f"{raw} ({date_format})"

    def year(two_digits: str) -> int:
        return full_year(int(two_digits), today=fields.today)

    try:
        if date_format == "MMYY":
            # Month precision only: the first day of the month is the conservative reading.
            return calendar_date(year(raw[2:]), int(raw[:2]), 1, source=source)
        if date_format == "MMDDYY":
            return calendar_date(year(raw[4:]), int(raw[:2]), int(raw[2:4]), source=source)
        if date_format.startswith("YYMMDD"):
            day = calendar_date(year(raw[:2]), int(raw[2:4]), int(raw[4:6]), source=source)
        else:
            day = ordinal_date(year(raw[:2]), int(raw[2:5]), source=source)
    except InvalidIdentifier as exc:
        raise fields.fail(exc.message) from exc
    if not date_format.endswith("HH"):
        return day
    hour = int(raw[-2:])
    if hour > 23:
        raise fields.fail(f"expiry {raw!r} has hour {hour}, expected 00-23")
    return datetime(day.year, day.month, day.day, hour)


def _yyyymmdd(fields: _Fields, raw: str) -> date:
    if len(raw) != 8 or not raw.isdigit():
        raise fields.fail(f"date {raw!r} is not YYYYMMDD")
    try:
        return calendar_date(int(raw[:4]), int(raw[4:6]), int(raw[6:]), source=raw)
    except InvalidIdentifier as exc:
        raise fields.fail(exc.message) from exc


def _as_date(value: object) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else None


def _result(fields: _Fields) -> HibcData:
    values = fields.values
    quantity = values.get("quantity")
    return HibcData(
        labeler_identification_code=str(values["lic"]),
        product_or_catalog_number=str(values["pcn"]),
        unit_of_measure=int(str(values["uom"])),
        lot=_optional_text(values.get("lot")),
        serial=_optional_text(values.get("serial")),
        expiry_date=_as_date(values.get("expiry")),
        expiry_raw=_optional_text(values.get("expiry_raw")),
        expiry_raw_format=_optional_text(values.get("expiry_raw_format")),
        production_date=_as_date(values.get("production_date")),
        quantity=quantity if isinstance(quantity, int) else None,
        elements=tuple(fields.elements),
        data=fields.text,
    )


def _optional_text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def udi_from_hibc(data: HibcData) -> UdiResult:
    """Read decoded HIBC data as a UDI; the DI is ``+`` LIC PCN U/M."""
    return UdiResult(
        agency="HIBCC",
        di=data.udi_di,
        lot=data.lot,
        serial=data.serial,
        production_date=data.production_date,
        expiry_date=data.expiry_date,
        elements=data.elements,
        human_readable=data.data,
        quantity=data.quantity,
    )
