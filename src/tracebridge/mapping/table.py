"""The source → canonical field table of a mapping, with data-dictionary labels.

Integration engineers review a mapping with the business side as a table: for each
record type and route case, which canonical field each source field fills, and what the
data dictionary calls that field in Chinese and English.

>>> from tracebridge.mapping.engine import load_mapping
>>> rows = field_table(load_mapping("wms"))
>>> row = next(r for r in rows if r.target == "received.lots[].lot")
>>> row.source, row.dictionary, row.label_zh_cn, row.label_en
('lot_no', 'lot.lot_number', '批号', 'lot number')
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from typing import Any

from tracebridge.dictionary.loader import load_dictionary
from tracebridge.dictionary.model import Dictionary
from tracebridge.errors import NotFound
from tracebridge.mapping.engine import Mapping
from tracebridge.mapping.yaml_source import LineDict

_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
_LOT_FIELDS = {"gtin": "gtin", "lot": "lot_number", "expiry": "expiry_date",
               "manufactured": "manufacture_date", "quantity": "quantity",
               "uom": "unit_of_measure", "serials": None}
# canonical event field -> (dictionary entity, field), for the fields the dictionary names
_EVENT_FIELDS = {"work_order": ("lot", "work_order"), "source_party": ("lot", "supplier"),
                 "destination_party": ("shipment", "consignee")}


@dataclass(frozen=True)
class FieldRow:
    record_type: str
    case: str  # the route condition, or "" when the record type does not route
    target: str  # canonical field, e.g. "received.lots[].expiry" or "product.name"
    source: str  # source field(s) or expression
    dictionary: str  # "entity.field" in the data dictionary, or ""
    label_zh_cn: str
    label_en: str
    where: str  # file:line of the mapping entry


COLUMNS = tuple(f.name for f in fields(FieldRow))


def source_of(spec: Any) -> str:
    """The source fields a value expression reads, as the mapping file names them."""
    if isinstance(spec, str):
        found = _PLACEHOLDER.findall(spec)
        return ", ".join(found) if found else spec
    if isinstance(spec, dict):
        if "const" in spec:
            return f"(constant {spec['const']!r})"
        if "expr" in spec:
            return f"CEL: {spec['expr']}"
        parts = [str(spec[k]) for k in ("field", "date", "quantity", "unit", "material")
                 if k in spec]
        extra = f" via code list {spec['map']}" if "map" in spec else ""
        return ", ".join(parts) + extra
    return repr(spec)


def field_table(mapping: Mapping, dictionary: Dictionary | None = None) -> list[FieldRow]:
    dictionary = dictionary or load_dictionary()
    rows: list[FieldRow] = []
    types = mapping.document["record_types"]
    for name, spec in types.items():
        for case, node in _cases(spec):
            for target, source, entry, where in _targets(node, spec):
                label = _label(dictionary, entry)
                rows.append(FieldRow(name, case, target, source_of(source),
                                     "" if entry is None else ".".join(entry),
                                     label[0], label[1], where))
    return rows


def _cases(spec: LineDict) -> Iterator[tuple[str, LineDict]]:
    if "route" not in spec:
        yield "", spec
        return
    for case in spec["route"]["cases"]:
        when = case["when"]
        text = when if isinstance(when, str) else ", ".join(f"{k} = {v}" for k, v in
                                                             when.items())
        yield text, case


def _targets(node: LineDict, record_type: LineDict) -> Iterator[
        tuple[str, Any, tuple[str, str] | None, str]]:
    if "time" in record_type:
        time = record_type["time"]
        sources = ", ".join(str(time[k]) for k in ("date", "time", "field", "epoch_ms",
                                                    "epoch_s") if k in time)
        yield "event_time", sources, None, record_type.where("time")
    for event in node.get("events", []) or []:
        kind = str(event.get("kind"))
        for key, value in event.items():
            if key in ("kind", "when", "time"):
                continue
            where = event.where(key)
            if key in ("lots", "inputs"):
                lots = value if isinstance(value, list) else [value]
                for lot in lots:
                    for lot_key, lot_value in lot.items():
                        if lot_key in ("each", "optional"):
                            continue
                        entry = _LOT_FIELDS.get(lot_key)
                        yield (f"{kind}.{key}[].{lot_key}", lot_value,
                               None if entry is None else ("lot", entry), lot.where(lot_key))
            elif key in ("details", "inspection") and isinstance(value, dict):
                for sub, sub_value in value.items():
                    yield f"{kind}.{key}.{sub}", sub_value, None, _where(value, sub, where)
            elif isinstance(value, list) and key in ("biz_transactions", "sensor"):
                for item in value:
                    yield f"{kind}.{key}[]", item.get("id", item.get("value")), None, where
            else:
                yield f"{kind}.{key}", value, _EVENT_FIELDS.get(key), where
    for master in node.get("master", []) or []:
        entity = str(master.get("entity"))
        yield f"{entity} (key)", master.get("key"), None, master.where("key")
        attributes = master.get("attributes", {}) or {}
        for attr, value in attributes.items():
            yield (f"{entity}.{attr}", value, (entity, attr),
                   _where(attributes, attr, master.where()))


def _where(node: Any, key: str, fallback: str) -> str:
    return node.where(key) if isinstance(node, LineDict) else fallback


def _label(dictionary: Dictionary, entry: tuple[str, str] | None) -> tuple[str, str]:
    if entry is None:
        return "", ""
    try:
        spec = dictionary.field(*entry)
    except NotFound:
        return "", ""
    return spec.label.zh_cn, spec.label.en


def to_markdown(rows: list[FieldRow]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cell(str(v)) for v in asdict(row).values()) + " |"
              for row in rows]
    return "\n".join(lines) + "\n"


def to_csv(rows: list[FieldRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(asdict(row).values() for row in rows)
    return out.getvalue()


def to_xlsx(rows: list[FieldRow]) -> bytes:
    from openpyxl import Workbook  # type: ignore[import-untyped]  # heavy: only on use

    book = Workbook()
    sheet = book.active
    if sheet is None:  # a new workbook always has one sheet; this narrows the type
        sheet = book.create_sheet("mapping")
    sheet.title = "mapping"
    sheet.append(list(COLUMNS))
    for row in rows:
        sheet.append(list(asdict(row).values()))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
