"""GS1 keys as value objects: GTIN, GLN and SSCC, each parsed and check-digit verified once.

Every GS1 key ends in a mod-10 check digit: weigh the other digits 3, 1, 3, 1 … from the
right, and the check digit tops the sum up to a multiple of ten. A wrong check digit means
a misread or mistyped key, so parsing refuses it instead of guessing.

GTINs come in four lengths (8, 12, 13, 14 digits). They are one number space, so we keep
every GTIN as 14 digits (left-padded with zeros) and remember the printed length only as
``format``.

>>> gs1_check_digit("0950600013435")
2
>>> Gtin.parse("9506000134352").value
'09506000134352'
>>> Gtin.parse("9506000134352").format
'GTIN-13'
>>> Gtin.parse("09506000134350")
Traceback (most recent call last):
...
tracebridge.errors.InvalidIdentifier: Invalid GTIN '09506000134350': check digit 0, expected 2
>>> Sscc.parse("106141412345678908").value
'106141412345678908'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tracebridge.errors import InvalidIdentifier

GtinFormat = Literal["GTIN-8", "GTIN-12", "GTIN-13", "GTIN-14"]

_GTIN_LENGTHS = (8, 12, 13, 14)


def gs1_check_digit(digits: str) -> int:
    """The GS1 mod-10 check digit for ``digits`` (the key without its check digit).

    >>> gs1_check_digit("10614141234567890")
    8
    """
    if not digits.isascii() or not digits.isdigit():
        raise InvalidIdentifier(f"Cannot compute a GS1 check digit of {digits!r}: expected digits")
    total = sum(
        int(digit) * (3 if position % 2 == 0 else 1)
        for position, digit in enumerate(reversed(digits))
    )
    return (10 - total % 10) % 10


def _verified_digits(kind: str, raw: str, lengths: tuple[int, ...]) -> str:
    value = raw.strip()
    expected_lengths = " or ".join(str(length) for length in lengths)
    if not value.isascii() or not value.isdigit():
        raise InvalidIdentifier(f"Invalid {kind} {raw!r}: expected {expected_lengths} digits")
    if len(value) not in lengths:
        raise InvalidIdentifier(
            f"Invalid {kind} {raw!r}: {len(value)} digits, expected {expected_lengths}"
        )
    expected = gs1_check_digit(value[:-1])
    if int(value[-1]) != expected:
        raise InvalidIdentifier(
            f"Invalid {kind} '{value}': check digit {value[-1]}, expected {expected}"
        )
    return value


@dataclass(frozen=True)
class Gtin:
    """A Global Trade Item Number, always held as 14 digits."""

    value: str

    @classmethod
    def parse(cls, raw: str) -> Gtin:
        """Accept a GTIN-8, -12, -13 or -14 and normalise it to 14 digits."""
        return cls(_verified_digits("GTIN", raw, _GTIN_LENGTHS).zfill(14))

    @property
    def format(self) -> GtinFormat:
        """The shortest GTIN length that can carry this number (as printed on a label)."""
        significant = self.value.lstrip("0")
        if len(significant) <= 8 and self.value.startswith("000000"):
            return "GTIN-8"
        if len(significant) <= 12:
            return "GTIN-12"
        if len(significant) == 13:
            return "GTIN-13"
        return "GTIN-14"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Gln:
    """A Global Location Number (13 digits)."""

    value: str

    @classmethod
    def parse(cls, raw: str) -> Gln:
        return cls(_verified_digits("GLN", raw, (13,)))

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Sscc:
    """A Serial Shipping Container Code (18 digits), the identity of a logistic unit."""

    value: str

    @classmethod
    def parse(cls, raw: str) -> Sscc:
        return cls(_verified_digits("SSCC", raw, (18,)))

    def __str__(self) -> str:
        return self.value
