"""What a decoded UDI looks like, whichever agency issued it.

A UDI is a device identifier (DI) plus production identifiers (PI): lot, serial,
expiry and manufacturing dates and, for HCT/P, a distinct identification code
(21 CFR 801.3). Each value is kept exactly as printed in :class:`UdiElement` ``raw``;
the typed fields of :class:`UdiResult` are the interpretation.

>>> from datetime import date
>>> udi = UdiResult(
...     agency="GS1",
...     di="09506000134352",
...     lot="A1",
...     serial=None,
...     production_date=None,
...     expiry_date=date(2026, 12, 31),
...     elements=(
...         UdiElement("01", "GTIN", "09506000134352", "09506000134352"),
...         UdiElement("17", "USE BY or EXPIRY", "261231", date(2026, 12, 31)),
...         UdiElement("10", "BATCH/LOT", "A1", "A1"),
...     ),
...     human_readable="(01)09506000134352(17)261231(10)A1",
... )
>>> udi.as_dict()["expiry_date"]
'2026-12-31'
>>> udi.has_pi
True
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

Agency = Literal["GS1", "HIBCC", "ICCBBA"]
ParsedValue = str | int | date | datetime | Decimal | None


def json_value(value: ParsedValue) -> str | int | None:
    """A parsed value as JSON wants it: dates as ISO ``YYYY-MM-DD``, decimals as text."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


@dataclass(frozen=True)
class UdiElement:
    """One data element of a UDI, in the order it was found.

    ``key`` is the GS1 Application Identifier (``"17"``), the HIBC field flag (``"$$3"``,
    ``"/16D"``) or the ISBT 128 data identifier (``"=>"``); ``raw`` is the text as
    printed; ``value`` is its interpretation (a date, a normalised GTIN, a number …).
    """

    key: str
    name: str
    raw: str
    value: ParsedValue

    def as_dict(self) -> dict[str, object]:
        return {
            "key": self.key,
            "name": self.name,
            "raw": self.raw,
            "value": json_value(self.value),
        }


@dataclass(frozen=True)
class UdiResult:
    """A decoded UDI: the DI, the production identifiers and every element found."""

    agency: Agency
    di: str
    lot: str | None
    serial: str | None
    production_date: date | None
    expiry_date: date | None
    elements: tuple[UdiElement, ...]
    human_readable: str
    sscc: str | None = None
    quantity: int | None = None
    distinct_identification_code: str | None = None

    @property
    def has_pi(self) -> bool:
        """Whether any production identifier is present."""
        return any(
            value is not None
            for value in (
                self.lot,
                self.serial,
                self.production_date,
                self.expiry_date,
                self.distinct_identification_code,
            )
        )

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form; dates as ISO ``YYYY-MM-DD``."""
        return {
            "agency": self.agency,
            "di": self.di,
            "lot": self.lot,
            "serial": self.serial,
            "production_date": json_value(self.production_date),
            "expiry_date": json_value(self.expiry_date),
            "sscc": self.sscc,
            "quantity": self.quantity,
            "distinct_identification_code": self.distinct_identification_code,
            "human_readable": self.human_readable,
            "elements": [element.as_dict() for element in self.elements],
        }
