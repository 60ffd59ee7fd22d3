r"""Decode any UDI: find the issuing agency, then let that agency's parser read it.

The first character after an optional symbology identifier (``]d2``, ``]C1`` …) tells
the agencies apart: GS1 data starts with a digit (an AI), ``(`` (plain text) or ``http``
(Digital Link); HIBCC data with ``+``; ISBT 128 (ICCBBA) data with ``=`` or ``&``. Anything
else is not a UDI from an FDA-accredited issuing agency and is refused.

>>> udi = parse_udi("(01)09506000134352(17)261231(10)A1")
>>> udi.agency, udi.di, udi.lot, udi.expiry_date.isoformat()
('GS1', '09506000134352', 'A1', '2026-12-31')
>>> parse_udi("]d2010950600013435217261231" + "10A1") == udi
True
>>> parse_udi("+A123BJC5D6E71G").di
'+A123BJC5D6E71'
>>> parse_udi("UDI-12345")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
tracebridge.errors.InvalidIdentifier: 'UDI-12345' is not a UDI of any issuing agency: ...
>>> check_label_consistency(udi, has_lot=True, has_serial=True, has_expiry=True,
...                         has_manufacture_date=False)
['label shows a serial number but the UDI carries none (GS1 AI (21))']
"""

from __future__ import annotations

import re

from tracebridge.domain.udi.gs1 import decode_gs1, udi_from_gs1
from tracebridge.domain.udi.hibc import decode_hibc, udi_from_hibc
from tracebridge.domain.udi.iccbba import decode_iccbba, udi_from_iccbba
from tracebridge.domain.udi.model import Agency, UdiResult
from tracebridge.errors import InvalidIdentifier

GS = "\x1d"
_TYPED_GS = re.compile(r"\\x1d|\\u001d|<GS>", re.IGNORECASE)

# Where each agency carries each production identifier, for readable findings.
_PI_CARRIER: dict[Agency, dict[str, str]] = {
    "GS1": {"lot": "AI (10)", "serial": "AI (21)", "expiry": "AI (17)", "manufacture": "AI (11)"},
    "HIBCC": {
        "lot": "secondary lot field",
        "serial": "$+/$$+ or /S serial field",
        "expiry": "$$ or /14D expiry field",
        "manufacture": "/16D field",
    },
    "ICCBBA": {
        "lot": "&,1 MPHO lot number",
        "serial": "=, product divisions",
        "expiry": "=> or &> expiration date",
        "manufacture": "=} or &} production date",
    },
}


def expand_typed_separators(text: str) -> str:
    r"""Turn a group separator typed by a person (``\x1d``, ``\u001d``, ``<GS>``) into GS.

    >>> expand_typed_separators(r"10A1\x1d17261231") == "10A1" + GS + "17261231"
    True
    """
    return _TYPED_GS.sub(GS, text)


def detect_agency(text: str) -> Agency:
    """The issuing agency whose syntax ``text`` uses (REQ-46); refuses anything else."""
    body = text.lstrip(GS + " ")
    if body.startswith("]") and len(body) >= 3:
        body = body[3:].lstrip(GS)
    if body.startswith("+"):
        return "HIBCC"
    if body.startswith(("=", "&")):
        return "ICCBBA"
    if body[:1].isdigit() or body.startswith("(") or body.lower().startswith("http"):
        return "GS1"
    raise InvalidIdentifier(
        f"{text!r} is not a UDI of any issuing agency: expected GS1 (digits, '(01)…' or a "
        "Digital Link URI), HIBCC (starting with '+') or ICCBBA (starting with '=' or '&')"
    )


def parse_udi(text: str) -> UdiResult:
    """Decode a UDI in any agency's syntax; raises :class:`InvalidIdentifier` with the reason."""
    agency = detect_agency(text)
    if agency == "GS1":
        return udi_from_gs1(decode_gs1(text), text=text)
    if agency == "HIBCC":
        return udi_from_hibc(decode_hibc(text))
    return udi_from_iccbba(decode_iccbba(text))


def check_label_consistency(
    udi: UdiResult,
    *,
    has_lot: bool,
    has_serial: bool,
    has_expiry: bool,
    has_manufacture_date: bool,
) -> list[str]:
    """Problems where the label shows a production identifier the UDI does not carry (REQ-43)."""
    carrier = _PI_CARRIER[udi.agency]
    shown_but_missing = [
        (has_lot and udi.lot is None, "a lot number", "lot"),
        (has_serial and udi.serial is None, "a serial number", "serial"),
        (has_expiry and udi.expiry_date is None, "an expiry date", "expiry"),
        (
            has_manufacture_date and udi.production_date is None,
            "a manufacturing date",
            "manufacture",
        ),
    ]
    return [
        f"label shows {what} but the UDI carries none ({udi.agency} {carrier[key]})"
        for missing, what, key in shown_but_missing
        if missing
    ]


def compare_udi_forms(plain_text: str, aidc: str) -> list[str]:
    """Differences between a label's plain-text UDI and its barcode data (REQ-44).

    An empty list means both decode to identical data.
    """
    printed, encoded = parse_udi(plain_text), parse_udi(aidc)
    printed_fields, encoded_fields = printed.as_dict(), encoded.as_dict()
    differences = [
        f"{name}: plain text {printed_fields[name]!r} vs AIDC {encoded_fields[name]!r}"
        for name in printed_fields
        if name not in ("elements", "human_readable")
        and printed_fields[name] != encoded_fields[name]
    ]
    printed_elements = [(e.key, e.raw) for e in printed.elements]
    encoded_elements = [(e.key, e.raw) for e in encoded.elements]
    if not differences and sorted(printed_elements) != sorted(encoded_elements):
        differences.append(f"elements: plain text {printed_elements} vs AIDC {encoded_elements}")
    return differences
