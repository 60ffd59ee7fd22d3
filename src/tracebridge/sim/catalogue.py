"""The simulated plant's fixed master data: what it makes, from what, with whom.

A sterile single-use device plant in Suzhou (plant ``1000``): IV infusion sets and
syringes (lot-controlled, sold in boxes of 50) and implantable ports and PICC kits
(serialised, class III). The catalogue does not depend on the seed, so the built-in
ERP mapping can name each material's unit conversions.

>>> product = PRODUCTS["FG-1201"]
>>> product.serialised, product.device_class
(True, 'III')
>>> [line.material for line in product.bom][:2]
['SA-2002', 'RM-3203']
"""

from __future__ import annotations

from dataclasses import dataclass

from tracebridge.sim.identifiers import gln, gtin14

OWN_PREFIX = "6901234"  # the plant's GS1 company prefix (fictitious)
PLANT = "1000"
SITE = "SZ01"
TIME_ZONE = "Asia/Shanghai"


@dataclass(frozen=True, slots=True)
class BomLine:
    material: str
    per_unit: float  # component units per unit made


@dataclass(frozen=True, slots=True)
class Product:
    """A finished good (``FERT``) or sub-assembly (``HALB``) made in a work order."""

    material: str
    name: str
    material_type: str  # FERT | HALB
    gtin: str
    serialised: bool
    device_class: str
    shelf_life_months: int
    erp_unit: str  # the ERP's unit for this material (BOX = 50 EA)
    lot_size: tuple[int, int]  # min, max units per work order
    bom: tuple[BomLine, ...]
    sterile: bool = True


@dataclass(frozen=True, slots=True)
class Component:
    """A purchased material (``ROH`` raw / ``VERP`` packaging) with its supplier's GTIN."""

    material: str
    name: str
    material_type: str
    gtin: str
    supplier: str
    erp_unit: str  # CAR (carton) for purchased parts
    per_erp_unit: int  # EA per ERP unit
    receipt_size: tuple[int, int]  # EA per purchase receipt


@dataclass(frozen=True, slots=True)
class Party:
    """A supplier, distributor or hospital."""

    code: str
    name: str
    kind: str  # supplier | distributor | hospital
    street: str
    city: str
    postcode: str
    country: str
    gln: str
    phone: str
    # a customer's contract: fewest days of shelf life left on the ship date (None: any)
    min_remaining_shelf_life_days: int | None = None


@dataclass(frozen=True, slots=True)
class Equipment:
    code: str
    name: str
    equipment_type: str


@dataclass(frozen=True, slots=True)
class Operator:
    code: str  # personnel number
    name: str
    role: str
    wms_user: str


def _own_gtin(item: int) -> str:
    return gtin14(OWN_PREFIX, item)


def _products() -> dict[str, Product]:
    items = [
        Product("SA-2001", "Precision filter drip chamber assembly", "HALB", _own_gtin(2001),
                False, "II", 36, "EA", (4000, 9000),
                (BomLine("RM-3003", 1), BomLine("RM-3008", 1))),
        Product("SA-2002", "Titanium port body assembly", "HALB", _own_gtin(2002),
                False, "III", 60, "EA", (150, 300),
                (BomLine("RM-3201", 1), BomLine("RM-3202", 1))),
        Product("FG-1001", "IV infusion set, gravity, 20 drops/ml", "FERT", _own_gtin(1001),
                False, "II", 36, "BOX", (5000, 12000),
                (BomLine("RM-3001", 1.5), BomLine("RM-3002", 1), BomLine("RM-3003", 1),
                 BomLine("RM-3004", 1), BomLine("RM-3005", 1), BomLine("RM-3006", 1),
                 BomLine("PK-4001", 1))),
        Product("FG-1002", "IV infusion set with 5 µm precision filter", "FERT", _own_gtin(1002),
                False, "II", 36, "BOX", (3000, 8000),
                (BomLine("SA-2001", 1), BomLine("RM-3001", 1.5), BomLine("RM-3002", 1),
                 BomLine("RM-3004", 1), BomLine("RM-3005", 1), BomLine("PK-4001", 1))),
        Product("FG-1003", "IV extension set, 30 cm, luer lock", "FERT", _own_gtin(1003),
                False, "II", 36, "BOX", (4000, 10000),
                (BomLine("RM-3001", 0.3), BomLine("RM-3005", 2), BomLine("PK-4001", 1))),
        Product("FG-1101", "Syringe 5 ml luer lock, sterile", "FERT", _own_gtin(1101),
                False, "II", 60, "BOX", (8000, 20000),
                (BomLine("RM-3101", 1), BomLine("RM-3102", 1), BomLine("RM-3006", 1),
                 BomLine("PK-4002", 1))),
        Product("FG-1102", "Syringe 10 ml luer lock, sterile", "FERT", _own_gtin(1102),
                False, "II", 60, "BOX", (6000, 15000),
                (BomLine("RM-3101", 1), BomLine("RM-3102", 1), BomLine("PK-4002", 1))),
        Product("FG-1201", "Implantable port system, titanium, 8 Fr", "FERT", _own_gtin(1201),
                True, "III", 60, "EA", (40, 120),
                (BomLine("SA-2002", 1), BomLine("RM-3203", 1), BomLine("PK-4003", 1))),
        Product("FG-1202", "PICC catheter kit, 4 Fr, single lumen", "FERT", _own_gtin(1202),
                True, "III", 36, "EA", (60, 160),
                (BomLine("RM-3203", 1), BomLine("RM-3006", 1), BomLine("PK-4003", 1))),
    ]
    return {p.material: p for p in items}


PRODUCTS: dict[str, Product] = _products()

SUPPLIERS: dict[str, Party] = {
    p.code: p
    for p in [
        Party("V1001", "江苏康达医用高分子有限公司", "supplier", "工业园区星湖街 88 号", "苏州",
              "215000", "CN", gln("6923456", 1), "+86 512 6555 0101"),
        Party("V1002", "Zhejiang Precision Plastics Co., Ltd.", "supplier",
              "No. 17 Binhai Road", "Ningbo", "315000", "CN", gln("6934567", 1),
              "+86 574 8777 0202"),
        Party("V1003", "Terumo-like Needle Works K.K.", "supplier", "2-44-1 Hatagaya",
              "Tokyo", "151-0072", "JP", gln("4987654", 1), "+81 3 3374 0303"),
        Party("V1004", "Medi-Pack Sterile Barrier GmbH", "supplier", "Industriestraße 12",
              "Erlangen", "91058", "DE", gln("4012345", 1), "+49 9131 4040 04"),
        Party("V1005", "Baoji Titanium Medical Materials Co.", "supplier", "高新大道 9 号", "宝鸡",
              "721013", "CN", gln("6945678", 1), "+86 917 3380 0505"),
        Party("V1006", "Silicone Solutions Inc.", "supplier", "2100 Commerce Drive", "Carson City",
              "89706", "US", gln("0812345", 1), "+1 775 555 0606"),
    ]
}


def _components() -> dict[str, Component]:
    rows = [
        ("RM-3001", "Medical PVC tubing 3.0 x 4.1 mm (per 1 m cut)", "ROH", "V1001", 500, 3001),
        ("RM-3002", "ABS spike with air vent", "ROH", "V1002", 1000, 3002),
        ("RM-3003", "Drip chamber 20 drops/ml", "ROH", "V1002", 1000, 3003),
        ("RM-3004", "Roller clamp", "ROH", "V1002", 2000, 3004),
        ("RM-3005", "Luer lock connector", "ROH", "V1002", 2000, 3005),
        ("RM-3006", "Hypodermic needle 21G x 1 1/2", "ROH", "V1003", 2000, 3006),
        ("RM-3008", "Precision filter membrane 5 µm", "ROH", "V1006", 2500, 3008),
        ("RM-3101", "Syringe barrel, PP, moulded", "ROH", "V1001", 2000, 3101),
        ("RM-3102", "Plunger with rubber gasket", "ROH", "V1001", 2000, 3102),
        ("RM-3201", "Titanium port housing", "ROH", "V1005", 100, 3201),
        ("RM-3202", "Silicone self-sealing septum", "ROH", "V1006", 200, 3202),
        ("RM-3203", "Polyurethane catheter 8 Fr", "ROH", "V1006", 100, 3203),
        ("PK-4001", "Medical paper/film pouch 120 x 250 mm", "VERP", "V1004", 2000, 4001),
        ("PK-4002", "Blister pack for syringes", "VERP", "V1004", 2000, 4002),
        ("PK-4003", "Tyvek double sterile barrier tray", "VERP", "V1004", 100, 4003),
    ]
    prefixes = {"V1001": "6923456", "V1002": "6934567", "V1003": "4987654",
                "V1004": "4012345", "V1005": "6945678", "V1006": "0812345"}
    out: dict[str, Component] = {}
    for material, name, mtype, supplier, per_carton, item in rows:
        receipt_min = per_carton * 10
        out[material] = Component(
            material, name, mtype, gtin14(prefixes[supplier], item, indicator="1"), supplier,
            "CAR", per_carton, (receipt_min, receipt_min * 4),
        )
    return out


COMPONENTS: dict[str, Component] = _components()

# Customers' contracts ask for shelf life left on delivery: hospitals 6-12 months, two
# distributors 90 days, the other two nothing (the ERP customer master's MHDRZ).
CUSTOMERS: dict[str, Party] = {
    p.code: p
    for p in [
        Party("C2001", "国药控股苏州有限公司", "distributor", "姑苏区人民路 1888 号", "苏州",
              "215002", "CN", gln("6956789", 11), "+86 512 6520 1001", 90),
        Party("C2002", "上海医药分销有限公司", "distributor", "浦东新区张江路 92 号", "上海",
              "201203", "CN", gln("6956789", 12), "+86 21 5080 1002"),
        Party("C2003", "华润医药商业集团有限公司", "distributor", "西城区北展北街 7 号", "北京",
              "100044", "CN", gln("6956789", 13), "+86 10 6831 1003", 90),
        Party("C2004", "MedLink Asia Pacific Pte. Ltd.", "distributor", "10 Anson Road #21-02",
              "Singapore", "079903", "SG", gln("8881234", 14), "+65 6222 1004"),
        Party("C3001", "苏州大学附属第一医院", "hospital", "十梓街 188 号", "苏州", "215006", "CN",
              gln("6967890", 21), "+86 512 6778 3001", 365),
        Party("C3002", "复旦大学附属中山医院", "hospital", "徐汇区枫林路 180 号", "上海",
              "200032", "CN", gln("6967890", 22), "+86 21 6404 3002", 365),
        Party("C3003", "浙江大学医学院附属邵逸夫医院", "hospital", "庆春东路 3 号", "杭州",
              "310016", "CN", gln("6967890", 23), "+86 571 8600 3003", 270),
        Party("C3004", "南京鼓楼医院", "hospital", "中山路 321 号", "南京", "210008", "CN",
              gln("6967890", 24), "+86 25 8310 3004", 180),
        Party("C3005", "无锡市人民医院", "hospital", "清扬路 299 号", "无锡", "214023", "CN",
              gln("6967890", 25), "+86 510 8535 3005", 180),
        Party("C3006", "常州市第一人民医院", "hospital", "局前街 185 号", "常州", "213003", "CN",
              gln("6967890", 26), "+86 519 6887 3006", 180),
    ]
}

EQUIPMENT: dict[str, Equipment] = {
    e.code: e
    for e in [
        Equipment("AL-01", "Infusion set assembly line 1", "assembly_line"),
        Equipment("AL-02", "Infusion set assembly line 2", "assembly_line"),
        Equipment("AL-03", "Syringe assembly line", "assembly_line"),
        Equipment("CR-01", "ISO 7 clean-room bench (implantables)", "assembly_line"),
        Equipment("SL-01", "Pouch sealer 1", "sealer"),
        Equipment("SL-02", "Tray sealer 2", "sealer"),
        Equipment("EO-01", "EO sterilisation chamber 1 (20 m³)", "eo_steriliser"),
        Equipment("EO-02", "EO sterilisation chamber 2 (8 m³)", "eo_steriliser"),
        Equipment("QC-01", "Final inspection station", "inspection"),
    ]
}

OPERATORS: dict[str, Operator] = {
    o.code: o
    for o in [
        Operator("00010011", "张伟", "production", "wms.zhangw"),
        Operator("00010012", "王芳", "production", "wms.wangf"),
        Operator("00010013", "李娜", "production", "wms.lin"),
        Operator("00010014", "刘洋", "production", "wms.liuy"),
        Operator("00010021", "陈静", "quality_inspector", "wms.chenj"),
        Operator("00010022", "杨磊", "quality_inspector", "wms.yangl"),
        Operator("00010031", "赵敏", "qualified_person", "wms.zhaom"),
        Operator("00010041", "黄强", "warehouse", "wms.huangq"),
        Operator("00010042", "周杰", "warehouse", "wms.zhouj"),
        Operator("00010043", "吴霞", "warehouse", "wms.wux"),
    ]
}

# ERP storage locations of plant 1000 and the WMS bins that hold each kind of stock.
ERP_STORAGE_LOCATIONS: dict[str, str] = {
    "RM01": "Raw materials store",
    "WP01": "Work-in-process / sub-assemblies",
    "FG01": "Finished goods warehouse",
    "QI01": "Quarantine (awaiting release)",
    "RT01": "Customer returns",
}

WMS_ZONES: dict[str, str] = {
    "DOCK": "Receiving and dispatch dock",
    "RM": "Raw materials, 15-25 °C",
    "WIP": "Sub-assembly store",
    "QRT": "Quarantine, awaiting batch release",
    "FG": "Finished goods, 15-25 °C, RH < 60 %",
    "RET": "Returns, segregated",
}


def wms_bins() -> list[tuple[str, str]]:
    """Every WMS location as (bin code, zone)."""
    bins: list[tuple[str, str]] = [("DOCK-01", "DOCK"), ("RET-01", "RET")]
    for zone, rows in (("RM", 4), ("WIP", 2), ("QRT", 2), ("FG", 6)):
        for row in range(1, rows + 1):
            for level in range(1, 4):
                bins.append((f"{zone}-{row:02d}-{level:02d}", zone))
    return bins


def products_in_order() -> list[Product]:
    """Products in a fixed order (sub-assemblies first)."""
    return sorted(PRODUCTS.values(), key=lambda p: (p.material_type != "HALB", p.material))
