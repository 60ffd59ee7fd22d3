r"""GS1 barcodes and UDIs, decoded with biip.

A GS1 barcode carries element strings: an Application Identifier (AI) and its data,
e.g. ``(01)`` GTIN, ``(17)`` expiry ``YYMMDD``, ``(10)`` lot. Fixed-length AIs end where
their length says; variable-length ones (lot, serial) end at a group separator (GS,
ASCII 29, which is how scanners transmit FNC1) or at the end of the data. The same data
can reach us as the AIDC form (GS-separated, often behind a symbology identifier such as
``]d2``), as the plain-text HRI with parentheses, or as a GS1 Digital Link URI. All three
decode to the same elements, and the AI grammar is biip's, never ours.

>>> data = decode_gs1("]d2010950600013435210A1\x1d17261200")
>>> data.hri
'(01)09506000134352(10)A1(17)261200'
>>> data.elements[2].value
datetime.date(2026, 12, 31)
>>> decode_gs1("0109506000134353").gtin  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
tracebridge.errors.InvalidIdentifier: Invalid GTIN '09506000134353': check digit 3, expected 2 ...
>>> udi_from_gs1(decode_gs1("(01)09506000134352(10)A1"), text="(01)09506000134352(10)A1").lot
'A1'
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

import biip
from biip import EncodeError, ParseConfig, ParseError
from biip.gs1_application_identifiers import GS1ApplicationIdentifier
from biip.gs1_element_strings import GS1ElementString, GS1ElementStrings
from biip.gs1_messages import GS1Message
from biip.symbology import SymbologyIdentifier

from tracebridge.domain.identifiers import Gln, Gtin, GtinFormat, Sscc
from tracebridge.domain.udi.model import ParsedValue, UdiElement, UdiResult
from tracebridge.errors import InvalidIdentifier

GS = "\x1d"
Gs1Form = Literal["scan", "element_string"]

_GTIN_AIS = ("01", "02", "03")
_COUNT_AIS = ("30", "37")
# The AIs whose data biip decodes as a date (optionally with a time).
_DATE_AIS = frozenset(
    (
        "11",
        "12",
        "13",
        "15",
        "16",
        "17",
        "4324",
        "4325",
        "4326",
        "7003",
        "7006",
        "7007",
        "7011",
        "8008",
    )
)


@dataclass(frozen=True)
class Gs1Data:
    """Everything a GS1 barcode said, before deciding whether it is a UDI.

    ``gtin`` is the GTIN as carried (the whole payload of an EAN/UPC/ITF symbol, or the
    value of ``(01)``); ``element_string`` is the canonical AIDC form (GS after each
    variable-length element except the last); ``digital_link_uri`` is the URI as scanned,
    or the canonical ``id.gs1.org`` URI built from the elements.
    """

    symbology_identifier: str | None
    symbology: str | None
    gtin: str | None
    gtin_format: GtinFormat | None
    sscc: str | None
    elements: tuple[UdiElement, ...]
    element_string: str | None
    hri: str | None
    digital_link_uri: str | None


def decode_gs1(
    text: str,
    *,
    form: Gs1Form = "scan",
    separators: Iterable[str] = (GS,),
    verify_dates: bool = True,
) -> Gs1Data:
    """Decode a GS1 barcode string (AIDC, HRI or Digital Link URI).

    ``form="scan"`` accepts whatever a scanner may deliver, including a bare EAN/UPC/ITF
    GTIN or SSCC; ``form="element_string"`` is for data known to be element strings (an
    ERP field, a GS1-128 payload), where e.g. ``11120230`` is an impossible production
    date and not an EAN-8. Raises :class:`InvalidIdentifier` when nothing decodes, or when
    a decoded element fails validation (check digit of a GTIN, GLN or SSCC; impossible
    date; one AI with two values).
    """
    config = ParseConfig(
        separator_chars=tuple(separators), gs1_element_strings_verify_date=verify_dates
    )
    body = text.strip().strip(GS)
    symbology: SymbologyIdentifier | None = None
    if body.startswith("]"):
        try:
            symbology = SymbologyIdentifier.extract(body)
        except ParseError as exc:
            raise InvalidIdentifier(f"Invalid GS1 data {text!r}: {exc}") from exc
        body = body[len(symbology) :].strip(GS)
    try:
        if body.startswith("("):
            message = GS1Message.parse_hri(body.replace(GS, ""), config=config)
            data = _from_elements(text, symbology, list(message.element_strings), None)
        elif form == "element_string":
            message = GS1Message.parse(body, config=config)
            data = _from_elements(text, symbology, list(message.element_strings), None)
        else:
            data = _from_biip(text, config)
    except ParseError as exc:
        raise InvalidIdentifier(f"Invalid GS1 data {text!r}: {exc}") from exc
    _reject_conflicting_duplicates(text, data.elements)
    return data


def _from_biip(text: str, config: ParseConfig) -> Gs1Data:
    result = biip.parse(text, config=config)
    symbology = result.symbology_identifier
    if result.gs1_digital_link_uri is not None:
        uri = result.gs1_digital_link_uri
        return _from_elements(text, symbology, list(uri.element_strings), uri.value)
    if result.gs1_message is not None:
        data = _from_elements(text, symbology, list(result.gs1_message.element_strings), None)
        if data.gtin is None and result.gtin is not None:
            # A bare EAN/UPC that happens to read as element strings too, e.g. "96385074".
            return _with_bare_gtin(data, result.gtin.value)
        if data.sscc is None and result.sscc is not None:
            return _with_bare_sscc(data, result.sscc.value)
        return data
    empty = _from_elements(text, symbology, [], None)
    if result.gtin is not None:
        return _with_bare_gtin(empty, result.gtin.value)
    if result.sscc is not None:
        return _with_bare_sscc(empty, result.sscc.value)
    reason = (
        result.gs1_digital_link_uri_error
        or result.gs1_message_error
        or result.gtin_error
        or result.sscc_error
        or "not a GS1 element string, GTIN, SSCC or Digital Link URI"
    )
    raise InvalidIdentifier(f"Invalid GS1 data {text!r}: {reason}")


def _with_bare_gtin(data: Gs1Data, gtin: str) -> Gs1Data:
    return _replace(data, gtin=gtin, gtin_format=Gtin.parse(gtin).format)


def _with_bare_sscc(data: Gs1Data, sscc: str) -> Gs1Data:
    return _replace(data, sscc=Sscc.parse(sscc).value)


def _replace(data: Gs1Data, **changes: object) -> Gs1Data:
    fields = {**data.__dict__, **changes}
    return Gs1Data(**fields)


def _from_elements(
    text: str,
    symbology: SymbologyIdentifier | None,
    element_strings: list[GS1ElementString],
    digital_link_uri: str | None,
) -> Gs1Data:
    elements = tuple(_element(text, es) for es in element_strings)
    gtin = next((e.raw for e in elements if e.key == "01"), None)
    sscc = next((e.raw for e in elements if e.key == "00"), None)
    message = GS1Message.from_element_strings(biip_strings(element_strings))
    return Gs1Data(
        symbology_identifier=symbology.value if symbology else None,
        symbology=symbology.gs1_symbology.name if symbology and symbology.gs1_symbology else None,
        gtin=gtin,
        gtin_format=Gtin.parse(gtin).format if gtin else None,
        sscc=sscc,
        elements=elements,
        element_string=message.value if element_strings else None,
        hri=message.as_hri() if element_strings else None,
        digital_link_uri=digital_link_uri or _canonical_uri(message),
    )


def _canonical_uri(message: GS1Message) -> str | None:
    # Only data with exactly one primary key (GTIN, SSCC, GLN …) has a Digital Link URI.
    try:
        return message.as_gs1_digital_link_uri().as_uri()
    except EncodeError:
        return None


def biip_strings(element_strings: list[GS1ElementString]) -> GS1ElementStrings:
    """Wrap a plain list in biip's element-string collection type."""
    collection = GS1ElementStrings()
    collection.extend(element_strings)
    return collection


def _element(text: str, es: GS1ElementString) -> UdiElement:
    ai = es.ai.ai
    where = f" in GS1 element ({ai}) of {text!r}"
    value: ParsedValue = es.value
    try:
        if es.gtin is not None or es.gtin_error is not None or ai in _GTIN_AIS:
            value = Gtin.parse(es.value).value
        elif es.sscc is not None or es.sscc_error is not None:
            value = Sscc.parse(es.value).value
        elif es.gln is not None or es.gln_error is not None:
            value = Gln.parse(es.value).value
    except InvalidIdentifier as exc:
        raise InvalidIdentifier(exc.message + where) from exc
    if es.datetime is not None:
        value = es.datetime
    elif es.date is not None:
        value = es.date
    elif ai in _DATE_AIS:
        # With date verification off, biip leaves impossible dates (e.g. "000000") undecoded.
        value = None
    elif es.decimal is not None:
        value = es.decimal
    elif ai in _COUNT_AIS:
        value = int(es.value)
    return UdiElement(key=ai, name=es.ai.data_title, raw=es.value, value=value)


def _reject_conflicting_duplicates(text: str, elements: tuple[UdiElement, ...]) -> None:
    seen: dict[str, str] = {}
    for element in elements:
        earlier = seen.setdefault(element.key, element.raw)
        if earlier != element.raw:
            raise InvalidIdentifier(
                f"Invalid GS1 data {text!r}: AI ({element.key}) appears twice with different "
                f"values {earlier!r} and {element.raw!r}; expected one value per AI"
            )


def udi_from_gs1(data: Gs1Data, *, text: str) -> UdiResult:
    """Read the decoded GS1 data as a UDI: the GTIN is the DI, the other AIs the PI."""
    by_ai = {element.key: element for element in data.elements}
    elements = data.elements
    human_readable = data.hri
    if "01" not in by_ai:
        if data.gtin is None:
            found = data.hri or data.sscc or "nothing"
            raise InvalidIdentifier(
                f"GS1 data {text!r} is not a UDI: no GTIN (01) device identifier (found {found})"
            )
        gtin14 = Gtin.parse(data.gtin).value
        elements = (UdiElement("01", "GTIN", data.gtin, gtin14),)
        by_ai = {"01": elements[0]}
        human_readable = f"(01){gtin14}"
    di = by_ai["01"].value
    assert isinstance(di, str)
    return UdiResult(
        agency="GS1",
        di=di,
        lot=_text(by_ai.get("10")),
        serial=_text(by_ai.get("21")),
        production_date=_date(by_ai.get("11")),
        expiry_date=_date(by_ai.get("17")),
        elements=elements,
        human_readable=human_readable or "",
        sscc=data.sscc,
        quantity=_count(by_ai.get("30") or by_ai.get("37")),
    )


def _text(element: UdiElement | None) -> str | None:
    return element.raw if element else None


def _date(element: UdiElement | None) -> date | None:
    if element is None or element.value is None:
        return None
    value = element.value
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else None


def _count(element: UdiElement | None) -> int | None:
    return element.value if element and isinstance(element.value, int) else None


def gs1_element_string(udi: UdiResult) -> str:
    """The AIDC form of a GS1 UDI: element strings with GS after variable-length ones.

    >>> udi = udi_from_gs1(decode_gs1("(01)09506000134352(10)A1(17)261231"), text="")
    >>> gs1_element_string(udi).replace(GS, "<GS>")
    '010950600013435210A1<GS>17261231'
    """
    if udi.agency != "GS1":
        raise InvalidIdentifier(f"UDI {udi.human_readable!r} is {udi.agency}, expected GS1")
    parts: list[str] = []
    for element in udi.elements:
        ai = GS1ApplicationIdentifier.extract(element.key)
        parts.append(f"{element.key}{element.raw}")
        if ai.separator_required:
            parts.append(GS)
    return "".join(parts).removesuffix(GS)
