"""Reading source files into records: CSV, JSON Lines, JSON, XML and XLSX.

Each reader yields ``(payload, position, fields, problem)``: the record's own bytes, where
it starts (a line for CSV and JSON Lines, a record number for JSON and XML, a row for
XLSX), its fields, and — when the record cannot be parsed — why, so the engine can send
it to the dead letters instead of stopping the whole file.

CSV text may be UTF-8 (with or without a byte-order mark) or GB18030/GBK, the usual
encoding of Chinese ERP exports; ``encoding: auto`` tells them apart per file.

>>> detect_encoding("物料编码,批号".encode("gb18030"))
'gb18030'
>>> detect_encoding(b"\\xef\\xbb\\xbfMATNR,CHARG"), detect_encoding("批号".encode())
('utf-8-sig', 'utf-8')
"""

from __future__ import annotations

import codecs
import csv
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, BinaryIO

from tracebridge.errors import MappingError

FORMATS = ("csv", "jsonl", "json", "xml", "xlsx")
# GBK and GB2312 are subsets of GB18030: decoding as GB18030 never loses a GBK file's text.
_ALIASES = {"gbk": "gb18030", "gb2312": "gb18030", "cp936": "gb18030", "utf8": "utf-8"}
DETECT_BYTES = 1 << 20

Chunk = tuple[bytes, int, dict[str, Any], str | None]


@dataclass(frozen=True)
class SourceFormat:
    """How one kind of file is laid out (the mapping's ``format`` and its options)."""

    kind: str = "csv"
    encoding: str = "utf-8"  # a Python codec name, or "auto"
    delimiter: str = ","
    records: str = ""  # json: dotted path to the list of records; xml: element path
    sheet: str | None = None  # xlsx: worksheet name (default: the first)
    header_row: int = 1  # xlsx: the row holding the column names


def normalise_encoding(name: str, where: str) -> str:
    """A codec name Python knows (``auto`` kept), or ``MappingError`` naming ``where``."""
    wanted = _ALIASES.get(name.lower(), name.lower())
    if wanted == "auto":
        return wanted
    try:
        codecs.lookup(wanted)
    except LookupError:
        raise MappingError(f"{where}: unknown encoding '{name}'; expected e.g. utf-8, "
                           "utf-8-sig, gb18030, gbk or auto") from None
    return wanted


def detect_encoding(head: bytes) -> str:
    """``utf-8-sig`` (BOM), ``utf-8`` (decodes cleanly), else ``gb18030``."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return "gb18030"
    return "utf-8"


def resolve_encoding(path: Path, fmt: SourceFormat) -> SourceFormat:
    """``fmt`` with ``encoding: auto`` replaced by the encoding detected in ``path``."""
    if fmt.encoding != "auto":
        return fmt
    with path.open("rb") as probe:
        return replace(fmt, encoding=detect_encoding(probe.read(DETECT_BYTES)))


def read_source(path: Path, fmt: SourceFormat) -> Iterator[Chunk]:
    """Every record of one file, in file order."""
    fmt = resolve_encoding(path, fmt)
    encoding = fmt.encoding
    if fmt.kind == "csv":
        yield from _csv(path, encoding, fmt.delimiter)
    elif fmt.kind == "jsonl":
        yield from _jsonl(path, encoding)
    elif fmt.kind == "json":
        yield from _json(path, encoding, fmt.records)
    elif fmt.kind == "xml":
        yield from _xml(path, fmt.records)
    else:
        yield from _xlsx(path, fmt.sheet, fmt.header_row)


def split_csv_line(text: str, delimiter: str) -> list[str] | None:
    if '"' not in text:
        return text.split(delimiter)
    rows = list(csv.reader([text], delimiter=delimiter))
    return rows[0] if len(rows) == 1 else None


def _csv(path: Path, encoding: str, delimiter: str) -> Iterator[Chunk]:
    with path.open("rb") as source:
        yield from csv_chunks(source, encoding, delimiter)


def csv_chunks(source: BinaryIO, encoding: str, delimiter: str) -> Iterator[Chunk]:
    """The records of CSV text (a file, or a posted body), each kept with the header line."""
    header = source.readline().rstrip(b"\r\n")
    if header.startswith(codecs.BOM_UTF8):
        header = header[3:]
    header_problem = None
    try:
        columns = [c.strip() for c in split_csv_line(header.decode(encoding), delimiter) or []]
    except UnicodeDecodeError as e:
        columns, header_problem = [], (f"the header line is not {encoding} text ({e.reason} "
                                       f"at byte {e.start}); declare the file's encoding")
    width = len(columns)
    for number, payload, problem in _csv_records(source, encoding, delimiter, first=2):
        problem = header_problem or problem
        fields: dict[str, Any] = {}
        values = None
        if problem is None:
            try:
                values = split_csv_line(payload.decode(encoding), delimiter)
            except UnicodeDecodeError as e:
                problem = f"not {encoding} text ({e.reason} at byte {e.start})"
        if problem is None and values is not None and len(values) == width:
            fields = dict(zip(columns, values, strict=True))
        elif problem is None:
            got = "unbalanced quotes" if values is None else f"{len(values)} values"
            problem = f"expected {width} values separated by '{delimiter}', got {got}"
        yield header + b"\n" + payload, number, fields, problem


MAX_RECORD_LINES = 200  # a quoted field open longer than this is a stray quote, not a note


def _csv_records(lines: Iterable[bytes], encoding: str, delimiter: str, *, first: int
                 ) -> Iterator[tuple[int, bytes, str | None]]:
    """``(first line number, record bytes, problem)`` per CSV record.

    A quoted field may hold line breaks (RFC 4180), as free-text notes in ERP exports
    do, so a record runs on until its quotes are closed. One whose quote stays open
    for :data:`MAX_RECORD_LINES` lines or to the end of the file is taken to be a stray
    quote: its first line alone becomes a bad record, and reading resumes on the next
    line, so one typo cannot swallow the records after it.
    """
    pending: list[bytes] = []  # lines read ahead and handed back after a stray quote
    # A blank line is skipped; a line of delimiters only (",," or tabs) is a record.
    blank = bytes(b for b in b" \t\r\n\x0b\x0c" if bytes([b]) != delimiter.encode())
    source = iter(lines)
    number = first
    while True:
        line = pending.pop() if pending else next(source, None)
        if line is None:
            return
        block = [line]
        try:
            open_quote = _quote_open(line, encoding, delimiter, False)
        except UnicodeDecodeError as e:
            yield number, line.rstrip(b"\r\n"), (
                f"not {encoding} text ({e.reason} at byte {e.start})")
            number += 1
            continue
        while open_quote and len(block) < MAX_RECORD_LINES:
            more = pending.pop() if pending else next(source, None)
            if more is None:
                break
            block.append(more)
            try:
                open_quote = _quote_open(more, encoding, delimiter, True)
            except UnicodeDecodeError:
                break  # reported when the line is read again on its own
        if open_quote:
            pending.extend(reversed(block[1:]))
            yield number, line.rstrip(b"\r\n"), (
                "unbalanced quotes: a quoted field is not closed on this line or within "
                f"the next {MAX_RECORD_LINES - 1}")
            number += 1
            continue
        payload = b"".join(block).rstrip(b"\r\n")
        if payload.strip(blank):
            yield number, payload, None
        number += len(block)


def _quote_open(line: bytes, encoding: str, delimiter: str, open_quote: bool) -> bool:
    """Whether a quoted field is still open at the end of ``line``, read as :mod:`csv` does:
    a quote opens a field only at its start, and ``""`` inside one is a literal quote.

    A line without a quote byte is not decoded: in UTF-8 and GB18030 the byte of ``"``
    is never part of another character.
    """
    if b'"' not in line:
        return open_quote
    text = line.decode(encoding)
    field_start = not open_quote
    i, size = 0, len(text)
    while i < size:
        char = text[i]
        if open_quote:
            if char == '"':
                if i + 1 < size and text[i + 1] == '"':
                    i += 1
                else:
                    open_quote = False
        elif char == '"' and field_start:
            open_quote = True
        field_start = not open_quote and char == delimiter
        i += 1
    return open_quote


def _jsonl(path: Path, encoding: str) -> Iterator[Chunk]:
    with path.open("rb") as source:
        for number, line in enumerate(source, start=1):
            payload = line.rstrip(b"\r\n")
            if payload.strip():
                fields, problem = _json_object(payload, encoding)
                yield payload, number, fields, problem


def _json_object(payload: bytes, encoding: str) -> tuple[dict[str, Any], str | None]:
    try:
        value = json.loads(payload.decode(encoding))
    except UnicodeDecodeError as e:
        return {}, f"not {encoding} text ({e.reason} at byte {e.start})"
    except ValueError as e:
        return {}, f"not valid JSON: {e}"
    if not isinstance(value, dict):
        return {}, f"expected a JSON object, got {type(value).__name__}"
    return value, None


def _json(path: Path, encoding: str, records: str) -> Iterator[Chunk]:
    data = path.read_bytes()
    try:
        document = json.loads(data.decode(encoding))
    except (UnicodeDecodeError, ValueError) as e:
        yield data, 1, {}, f"the file is not valid {encoding} JSON: {e}"
        return
    items: Any = document
    for part in records.split(".") if records else []:
        items = items.get(part) if isinstance(items, dict) else None
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        yield data, 1, {}, f"expected a list of records at '{records or '<top>'}'"
        return
    for number, item in enumerate(items, start=1):
        payload = json.dumps(item, ensure_ascii=False, sort_keys=True).encode()
        if isinstance(item, dict):
            yield payload, number, item, None
        else:
            yield payload, number, {}, f"expected a JSON object, got {type(item).__name__}"


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def element_fields(element: ET.Element) -> dict[str, Any]:
    """An element as nested fields: attributes and leaf children as text, repeats as lists.

    >>> element_fields(ET.fromstring('<L no="1"><Lot>A</Lot><S>1</S><S>2</S></L>'))
    {'no': '1', 'Lot': 'A', 'S': ['1', '2']}
    """
    fields: dict[str, Any] = {_local(k): v for k, v in element.attrib.items()}
    for child in element:
        name = _local(child.tag)
        value: Any = element_fields(child) if len(child) or child.attrib else (child.text or "")
        if isinstance(value, dict) and not len(child) and (child.text or "").strip():
            value["text"] = (child.text or "").strip()
        if name in fields:
            existing = fields[name]
            fields[name] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            fields[name] = value
    return fields


def _xml(path: Path, records: str) -> Iterator[Chunk]:
    data = path.read_bytes()
    try:
        root = ET.fromstring(data)
    except ET.ParseError as e:
        yield data, 1, {}, f"the file is not well-formed XML: {e}"
        return
    _strip_namespaces(root)
    found = [root] if not records or records in (".", _local(root.tag)) else \
        root.findall(records)
    for number, element in enumerate(found, start=1):
        yield ET.tostring(element, encoding="utf-8"), number, element_fields(element), None


def _strip_namespaces(root: ET.Element) -> None:
    # Paths in a mapping name elements by their local names; namespaces only get in the way.
    for element in root.iter():
        element.tag = _local(element.tag)


def cell_text(value: Any) -> Any:
    """An XLSX cell as a mapping field: dates as ISO text, whole floats as ints."""
    if isinstance(value, datetime):
        if value.time() == time(0):
            return value.date().isoformat()
        return value.replace(microsecond=0).isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.isoformat()
    return value


def _xlsx(path: Path, sheet: str | None, header_row: int) -> Iterator[Chunk]:
    from openpyxl import load_workbook  # type: ignore[import-untyped]  # heavy: only on use

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as e:  # openpyxl raises zipfile, KeyError and its own errors alike
        yield path.read_bytes()[:4096], 1, {}, f"not a readable XLSX workbook: {e}"
        return
    try:
        if sheet is not None and sheet not in book.sheetnames:
            raise MappingError(f"{path.name}: no worksheet '{sheet}'; the workbook has "
                               f"{', '.join(book.sheetnames)}")
        rows = (book[sheet] if sheet is not None else book.worksheets[0]).iter_rows(
            min_row=header_row, values_only=True)
        header = next(rows, None)
        columns = [str(c).strip() if c is not None else "" for c in header or ()]
        for number, row in enumerate(rows, start=header_row + 1):
            values = [cell_text(v) for v in row]
            if all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
                continue
            fields = {c: v for c, v in zip(columns, values, strict=False) if c and v is not None}
            payload = json.dumps({"row": number, "cells": fields}, ensure_ascii=False,
                                 sort_keys=True, default=str).encode()
            yield payload, number, fields, None
    finally:
        book.close()


def parse_payload(payload: bytes, fmt: SourceFormat) -> tuple[dict[str, Any], str | None]:
    """The fields of one kept payload, parsed again the way :func:`read_source` cut it.

    >>> parse_payload(b"lot;qty\\nL1;5", SourceFormat(kind="csv", delimiter=";"))
    ({'lot': 'L1', 'qty': '5'}, None)
    >>> parse_payload(b'<L no="1"><lot>A</lot></L>', SourceFormat(kind="xml"))
    ({'no': '1', 'lot': 'A'}, None)
    """
    encoding = detect_encoding(payload) if fmt.encoding == "auto" else fmt.encoding
    if fmt.kind == "csv":
        header, _, line = payload.partition(b"\n")
        if header.startswith(codecs.BOM_UTF8):
            header = header[3:]
        try:
            columns = split_csv_line(header.decode(encoding), fmt.delimiter) or []
            values = split_csv_line(line.decode(encoding), fmt.delimiter)
        except UnicodeDecodeError as e:
            return {}, f"not {encoding} text ({e.reason} at byte {e.start})"
        if values is None or len(values) != len(columns):
            return {}, f"expected {len(columns)} values separated by '{fmt.delimiter}'"
        return dict(zip((c.strip() for c in columns), values, strict=True)), None
    if fmt.kind == "xml":
        try:
            element = ET.fromstring(payload)
        except ET.ParseError as e:
            return {}, f"not well-formed XML: {e}"
        _strip_namespaces(element)
        return element_fields(element), None
    fields, problem = _json_object(payload, "utf-8" if fmt.kind in ("json", "xlsx")
                                   else encoding)
    if fmt.kind == "xlsx" and problem is None:
        cells = fields.get("cells")
        return (cells, None) if isinstance(cells, dict) else ({}, "no cells in the payload")
    return fields, problem
