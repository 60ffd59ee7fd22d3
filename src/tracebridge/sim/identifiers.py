"""GS1 numbers for the simulated plant: GTINs, GLNs and SSCCs with valid check digits.

>>> gtin14("950600", 13435)
'09506000134352'
>>> sscc(company_prefix="6901234", serial_reference=1, extension=3)
'369012340000000017'
"""

from __future__ import annotations

from tracebridge.domain.identifiers import gs1_check_digit


def _with_check_digit(body: str) -> str:
    return f"{body}{gs1_check_digit(body)}"


def gtin14(company_prefix: str, item_reference: int, *, indicator: str = "0") -> str:
    """A GTIN-14 from a company prefix and an item reference (the rest of the 12 digits)."""
    width = 12 - len(company_prefix)
    body = f"{indicator}{company_prefix}{item_reference:0{width}d}"
    return _with_check_digit(body)


def gln(company_prefix: str, location_reference: int) -> str:
    """A 13-digit Global Location Number."""
    width = 12 - len(company_prefix)
    body = f"{company_prefix}{location_reference:0{width}d}"
    return _with_check_digit(body)


def sscc(*, company_prefix: str, serial_reference: int, extension: int = 0) -> str:
    """An 18-digit Serial Shipping Container Code."""
    width = 16 - len(company_prefix)
    body = f"{extension}{company_prefix}{serial_reference:0{width}d}"
    return _with_check_digit(body)
