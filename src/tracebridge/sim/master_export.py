"""Master data of the simulated plant as the ERP exports it (materials, suppliers,
customers, equipment, operators, storage locations). Written once per run, fault free.
"""

from __future__ import annotations

from pathlib import Path

from tracebridge.sim.catalogue import (
    COMPONENTS,
    CUSTOMERS,
    EQUIPMENT,
    ERP_STORAGE_LOCATIONS,
    OPERATORS,
    PLANT,
    PRODUCTS,
    SUPPLIERS,
)
from tracebridge.sim.streams import csv_line


def _write(path: Path, columns: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(csv_line(columns))
        for row in rows:
            out.write(csv_line(row))
    return path


def write_master_data(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    materials = [
        [p.material, p.name, p.material_type, p.gtin, "EA", p.erp_unit,
         "50" if p.erp_unit == "BOX" else "1", str(p.shelf_life_months),
         "X" if p.sterile else "", p.device_class, "ZSER" if p.serialised else "", ""]
        for p in PRODUCTS.values()
    ] + [
        [c.material, c.name, c.material_type, c.gtin, "EA", c.erp_unit, str(c.per_erp_unit),
         "60", "", "", "", c.supplier]
        for c in COMPONENTS.values()
    ]
    party_columns = ["NAME1", "STRAS", "ORT01", "PSTLZ", "LAND1", "TELF1", "GLN"]
    return [
        _write(directory / "materials.csv",
               ["MATNR", "MAKTX", "MTART", "EAN11", "MEINS", "AUSME", "UMREZ", "MHDHB",
                "STERIL", "GKLASSE", "SERNP", "LIFNR"], materials),
        _write(directory / "suppliers.csv", ["LIFNR", *party_columns],
               [[s.code, s.name, s.street, s.city, s.postcode, s.country, s.phone, s.gln]
                for s in SUPPLIERS.values()]),
        # MHDRZ: minimum remaining shelf life in days, the name SAP gives it on the material
        # master; here the customer's own minimum, empty when its contract sets none
        _write(directory / "customers.csv", ["KUNNR", *party_columns, "KTOKD", "MHDRZ"],
               [[c.code, c.name, c.street, c.city, c.postcode, c.country, c.phone, c.gln,
                 "ZDIS" if c.kind == "distributor" else "ZHOS",
                 "" if c.min_remaining_shelf_life_days is None
                 else str(c.min_remaining_shelf_life_days)] for c in CUSTOMERS.values()]),
        _write(directory / "equipment.csv", ["EQUNR", "EQKTX", "EQTYP", "WERKS"],
               [[e.code, e.name, e.equipment_type, PLANT] for e in EQUIPMENT.values()]),
        _write(directory / "operators.csv", ["PERNR", "ENAME", "ROLLE", "WMS_USER"],
               [[o.code, o.name, o.role, o.wms_user] for o in OPERATORS.values()]),
        _write(directory / "storage_locations.csv", ["WERKS", "LGORT", "LGOBE"],
               [[PLANT, code, name] for code, name in ERP_STORAGE_LOCATIONS.items()]),
    ]
