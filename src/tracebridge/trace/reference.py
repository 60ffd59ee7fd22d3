"""From what a user typed or scanned to the lot or serialised unit it names.

People start a trace from whatever they hold: a GS1 Digital Link from a label's QR code,
a scanned GS1 or HIBCC barcode, ``gtin:lot`` copied from a report, or just a lot number
read off a box. :func:`parse_reference` recognises the form without touching the database:

>>> parse_reference("https://id.example.com/01/09506000134352/10/A%2F1?17=261231")
Reference(form='GS1 Digital Link', gtin='09506000134352', lot='A/1', serial=None, text=None)
>>> parse_reference("9506000134352:L7")
Reference(form='gtin:lot', gtin='09506000134352', lot='L7', serial=None, text=None)
>>> parse_reference(" L7 ")
Reference(form='lot or serial number', gtin=None, lot=None, serial=None, text='L7')

:func:`resolve` then finds it in the store. A bare number that several lots share is
:class:`~tracebridge.errors.Ambiguous` (with the candidates); one that matches nothing
is :class:`~tracebridge.errors.NotFound` with the nearest lot and serial numbers.
Candidates and suggestions are Digital Link paths, which :func:`resolve` accepts back.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from sqlalchemy import ColumnElement, Connection, Table, and_, select

from tracebridge.domain.identifiers import Gtin
from tracebridge.domain.udi.parse import parse_udi
from tracebridge.errors import Ambiguous, InvalidIdentifier, NotFound
from tracebridge.store import tables as t
from tracebridge.trace.sql import mark, run

GS = "\x1d"
_SHORTHAND = re.compile(r"^(\d{8,14}):(.+)$")
_RAW_ELEMENT_STRING = re.compile(r"^01\d{14}.")
_UDI_START = ("(", "]", "+", "=", "&", "\u00e8")  # GS1 HRI, symbology id, HIBCC, ICCBBA, FNC1
_DL_KEYS = {"01": "01", "gtin": "01", "10": "10", "lot": "10", "21": "21", "ser": "21"}
_MAX_SUGGESTIONS = 5
_PROBE_LIMIT = 200
_TOP = "\U0010ffff"  # sorts after every character, so [p, p+_TOP) is "starts with p"
_RESERVED = frozenset("%/?#")  # escaped in Digital Link path segments


def lot_link(gtin: str, lot: str) -> str:
    """The GS1 Digital Link path of a lot."""
    return f"/01/{gtin}/10/{_quote(lot)}"


def serial_link(gtin: str, serial: str) -> str:
    """The GS1 Digital Link path of a serialised unit."""
    return f"/01/{gtin}/21/{_quote(serial)}"


def _quote(value: str) -> str:
    if not _RESERVED.intersection(value):
        return value
    return value.replace("%", "%25").replace("/", "%2F").replace("?", "%3F").replace("#", "%23")


@dataclass(frozen=True)
class Reference:
    """A recognised identifier: ``gtin`` with ``lot`` and/or ``serial``, or a bare ``text``."""

    form: str
    gtin: str | None = None
    lot: str | None = None
    serial: str | None = None
    text: str | None = None


@dataclass(frozen=True)
class Resolved:
    """The lot or unit a reference names in the store."""

    kind: Literal["lot", "serial"]
    gtin: str
    lot: str
    serial: str | None
    form: str
    notes: list[str] = field(default_factory=list)


def parse_reference(given: str) -> Reference:
    """Recognise the form of ``given``; raises ``InvalidIdentifier`` for a malformed key."""
    text = given.strip()
    if not text:
        raise InvalidIdentifier("Empty trace reference: expected a lot number, serial, UDI or "
                                "GS1 Digital Link such as /01/{gtin}/10/{lot}")
    if _looks_like_digital_link(text):
        return _digital_link(text)
    if text.startswith(_UDI_START) or GS in text or _RAW_ELEMENT_STRING.match(text):
        return _udi(text)
    shorthand = _SHORTHAND.match(text)
    if shorthand:
        return Reference("gtin:lot", gtin=Gtin.parse(shorthand[1]).value, lot=shorthand[2])
    return Reference("lot or serial number", text=text)


def _looks_like_digital_link(text: str) -> bool:
    if "://" in text:
        return True
    path = text if text.startswith("/") else "/" + text
    return path.startswith(("/01/", "/gtin/")) or ("/01/" in path and text.startswith("/"))


def _digital_link(text: str) -> Reference:
    path = urlsplit(text).path if "://" in text else text.split("?", 1)[0].split("#", 1)[0]
    segments = [s for s in path.split("/") if s]
    start = next((i for i, s in enumerate(segments) if _DL_KEYS.get(s) == "01"), None)
    if start is None:
        raise InvalidIdentifier(f"GS1 Digital Link {text!r} has no GTIN: expected a path such as "
                                "/01/{gtin}/10/{lot} or /01/{gtin}/21/{serial}")
    pairs: dict[str, str] = {}
    rest = segments[start:]
    if len(rest) % 2:
        raise InvalidIdentifier(f"GS1 Digital Link {text!r}: segment {rest[-1]!r} has no value; "
                                "expected /{ai}/{value} pairs")
    for key, value in zip(rest[::2], rest[1::2], strict=True):
        ai = _DL_KEYS.get(key)
        if ai is not None:
            pairs[ai] = unquote(value)
    gtin = Gtin.parse(pairs["01"]).value
    if "10" not in pairs and "21" not in pairs:
        raise _needs_pi(text)
    return Reference("GS1 Digital Link", gtin=gtin, lot=pairs.get("10"), serial=pairs.get("21"))


def _udi(text: str) -> Reference:
    udi = parse_udi(text)
    gtin: str | None = None
    if udi.agency == "GS1":
        gtin = Gtin.parse(udi.di).value
    if udi.lot is None and udi.serial is None:
        raise _needs_pi(text)
    if gtin is None:
        # HIBCC and ICCBBA DIs are not GTINs: the lot or serial number alone must find it.
        return Reference(f"{udi.agency} UDI", lot=udi.lot, serial=udi.serial)
    return Reference(f"{udi.agency} UDI", gtin=gtin, lot=udi.lot, serial=udi.serial)


def _needs_pi(text: str) -> InvalidIdentifier:
    return InvalidIdentifier(f"{text!r} names a product, not a lot or unit: expected a lot (10) "
                             "or serial (21) as well, e.g. /01/{gtin}/10/{lot}")


# ------------------------------------------------------------------------ resolution


def resolve(conn: Connection, given: str, *, as_of: datetime | None = None) -> Resolved:
    """The lot or serialised unit ``given`` names; ``Ambiguous`` or ``NotFound`` otherwise."""
    try:
        reference = parse_reference(given)
    except InvalidIdentifier:
        # A lot number may look like a malformed barcode; the store decides.
        found = _bare(conn, given.strip(), as_of=as_of)
        if len(found) == 1:
            return found[0]
        raise
    if reference.text is not None:
        return _one(given, _bare(conn, reference.text, as_of=as_of), conn, reference.text)
    if reference.gtin is None:
        return _without_gtin(conn, given, reference, as_of=as_of)
    return _keyed(conn, given, reference)


def _keyed(conn: Connection, given: str, ref: Reference) -> Resolved:
    assert ref.gtin is not None
    if ref.serial is not None:
        lot = _lot_of_serial(conn, ref.gtin, ref.serial)
        if lot is not None:
            return Resolved("serial", ref.gtin, lot, ref.serial, ref.form)
        if ref.lot is not None and _lot_exists(conn, ref.gtin, ref.lot):
            note = f"Serial {ref.serial!r} is not in the system; traced its lot instead."
            return Resolved("lot", ref.gtin, ref.lot, None, ref.form, [note])
        raise _not_found(conn, given, ref.serial, gtin=ref.gtin)
    assert ref.lot is not None
    if _lot_exists(conn, ref.gtin, ref.lot):
        return Resolved("lot", ref.gtin, ref.lot, None, ref.form)
    if ref.form == "gtin:lot":
        lot = _lot_of_serial(conn, ref.gtin, ref.lot)
        if lot is not None:
            return Resolved("serial", ref.gtin, lot, ref.lot, ref.form)
    raise _not_found(conn, given, ref.lot, gtin=ref.gtin)


def _without_gtin(conn: Connection, given: str, ref: Reference, *, as_of: datetime | None
                  ) -> Resolved:
    if ref.serial is not None:
        serials = [r for r in _bare(conn, ref.serial, as_of=as_of) if r.kind == "serial"]
        if serials:
            return _one(given, [Resolved(r.kind, r.gtin, r.lot, r.serial, ref.form)
                                for r in serials], conn, ref.serial)
    assert ref.lot is not None or ref.serial is not None
    number = ref.lot if ref.lot is not None else ref.serial
    assert number is not None
    lots = [Resolved(r.kind, r.gtin, r.lot, r.serial, ref.form)
            for r in _bare(conn, number, as_of=as_of) if r.kind == "lot"]
    return _one(given, lots, conn, number)


def _one(given: str, found: list[Resolved], conn: Connection, number: str) -> Resolved:
    if len(found) == 1:
        return found[0]
    if not found:
        raise _not_found(conn, given, number)
    candidates = sorted(_link(r) for r in found)
    raise Ambiguous(f"{given!r} matches {len(found)} lots or units: {', '.join(candidates)}; "
                    "expected exactly one — give the GTIN too, e.g. "
                    f"{candidates[0]}", candidates)


def _link(r: Resolved) -> str:
    return serial_link(r.gtin, r.serial) if r.serial is not None else lot_link(r.gtin, r.lot)


def _bare(conn: Connection, number: str, *, as_of: datetime | None) -> list[Resolved]:
    """Every lot and serialised unit whose number is exactly ``number``."""
    form = "lot or serial number"
    lc = t.lot.c
    keys = {(g, lot) for g, lot in conn.execute(select(lc.gtin, lc.lot).where(lc.lot == number))}
    if not keys and as_of is not None:
        # A lot whose every record was withdrawn since ``as_of`` has no current state row.
        le = t.lot_event.c
        keys = {(g, lot) for g, lot in conn.execute(
            select(le.gtin, le.lot).where(le.lot == number).distinct())}
    found = [Resolved("lot", g, lot, None, form) for g, lot in sorted(keys)]
    sf = t.serial_fact.c
    rows = conn.execute(select(sf.gtin, sf.lot, sf.kind, sf.retracted_at)
                        .where(sf.serial == number).order_by(sf.gtin, sf.event_time)).all()
    for gtin in sorted({r.gtin for r in rows}):
        lot = _pick_lot([r for r in rows if r.gtin == gtin])
        found.append(Resolved("serial", gtin, lot, number, form))
    return found


def _pick_lot(rows: Sequence[Any]) -> str:
    """A unit's lot: the one it was produced in, from the valid facts if there are any."""
    valid = [r for r in rows if r.retracted_at is None] or rows
    produced = [r for r in valid if r.kind == "produced"]
    return str((produced or valid)[-1].lot)


def _lot_of_serial(conn: Connection, gtin: str, serial: str) -> str | None:
    m = mark(conn)
    rows = run(conn, "SELECT gtin, lot, kind, retracted_at FROM serial_fact "
               f"WHERE gtin = {m} AND serial = {m} ORDER BY event_time", (gtin, serial))
    return _pick_lot(rows) if rows else None


def _lot_exists(conn: Connection, gtin: str, lot: str) -> bool:
    m = mark(conn)
    sql = f"SELECT 1 FROM lot_event WHERE gtin = {m} AND lot = {m} LIMIT 1"
    return bool(run(conn, sql, (gtin, lot), named=False))


# ------------------------------------------------------------------------ suggestions


def _not_found(conn: Connection, given: str, number: str, *, gtin: str | None = None) -> NotFound:
    suggestions = nearest(conn, number, gtin=gtin)
    hint = f"; nearest: {', '.join(suggestions)}" if suggestions else ""
    where = f" for GTIN {gtin}" if gtin else ""
    return NotFound(f"No lot or serial {number!r}{where} matches {given!r}: expected a lot or "
                    f"serial number known to TraceBridge{hint}", suggestions)


def nearest(conn: Connection, number: str, *, gtin: str | None = None) -> list[str]:
    """Lots and units whose numbers look most like ``number`` (as Digital Link paths).

    Candidates come from bounded, indexed probes (same GTIN; numbers sharing the longest
    prefix; the same number under another GTIN), ranked by ``difflib`` similarity.
    """
    lots: set[tuple[str, str]] = set()
    serials: set[tuple[str, str]] = set()
    if gtin is not None:
        lots |= _pairs(conn, t.lot, "lot", t.lot.c.gtin == gtin)
        lots |= _pairs(conn, t.lot, "lot", t.lot.c.lot == number)
        serials |= _pairs(conn, t.serial, "serial", t.serial.c.gtin == gtin)
    for length in range(len(number), 0, -1):
        prefix = number[:length]
        lots |= _pairs(conn, t.lot, "lot", _starts_with(t.lot.c.lot, prefix))
        serials |= _pairs(conn, t.serial, "serial", _starts_with(t.serial.c.serial, prefix))
        if lots or serials:
            break
    scored: list[tuple[float, str]] = []
    for kind, pairs in (("lot", lots), ("serial", serials)):
        for g, value in pairs:
            score = difflib.SequenceMatcher(None, number.upper(), value.upper()).ratio()
            if gtin is not None and g == gtin:
                score += 0.05
            link = lot_link(g, value) if kind == "lot" else serial_link(g, value)
            scored.append((score, link))
    scored.sort(key=lambda item: (-item[0], item[1]))
    return [link for score, link in scored if score >= 0.5][:_MAX_SUGGESTIONS]


def _starts_with(column: ColumnElement[str], prefix: str) -> ColumnElement[bool]:
    return and_(column >= prefix, column < prefix + _TOP)


def _pairs(conn: Connection, table: Table, column: str, condition: ColumnElement[bool]
           ) -> set[tuple[str, str]]:
    query = select(table.c.gtin, table.c[column]).where(condition).limit(_PROBE_LIMIT)
    return {(str(g), str(v)) for g, v in conn.execute(query)}
