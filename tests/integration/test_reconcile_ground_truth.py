"""Reconciliation against the simulator's ground truth, on SQLite and PostgreSQL.

The simulator injects quantity mismatches into ERP copies of WMS facts (goods issue for
delivery 601, scrap 551, count differences 701/702) and lists the faulty ERP records in
``truth/faults.json``; every other fault kind (duplicates, late and out-of-order records,
missing fields and unknown codes followed by re-sends, clock skew) is on at its default
rate. Recall: every injected mismatch is found, by a finding of its own measure that
names the faulty record. Precision: every finding names an injected faulty record — no
finding where the data agree. A corrected re-send of a faulty record closes its finding.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from tracebridge.bootstrap import Container
from tracebridge.mapping.engine import load_mapping
from tracebridge.reconcile.service import ReconcileService
from tracebridge.sim.faults import FaultRates
from tracebridge.sim.generator import generate
from tracebridge.sim.truth import load_truth

pytestmark = pytest.mark.slow

# Codes a 601, 551, 701 or 702 mismatch raises besides on-hand.
MEASURE_CODES = {"quantity-mismatch-shipped", "quantity-mismatch-scrapped",
                 "quantity-mismatch-adjusted"}


@pytest.fixture(scope="module")
def faulty_plant(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("faulty-plant")
    generate(out, seed=20261125, scale=0.3, faults=FaultRates(quantity_mismatch=0.3))
    return out


@pytest.fixture(scope="module")
def clean_plant(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("clean-plant")
    generate(out, seed=7, scale=0.2, faults=FaultRates(quantity_mismatch=0))
    return out


def ingest(app: Container, plant: Path) -> ReconcileService:
    for source in ("erp", "wms"):
        app.ingest.ingest_paths(load_mapping(source), [plant / source])
    return ReconcileService(app.engine)


def test_every_injected_quantity_mismatch_is_found_and_nothing_else(
    container: Container, faulty_plant: Path, tmp_path: Path
) -> None:
    injected = {record.split(":", 1)[1]
                for record in load_truth(faulty_plant).faults["quantity_mismatch"]["records"]}
    assert len(injected) >= 50, "too few injected mismatches to measure anything"
    service = ingest(container, faulty_plant)
    report = service.run()
    findings = service.summary(limit=100_000)["findings"]
    assert len(findings) == report.open_total

    found = {record for f in findings if f["code"] in MEASURE_CODES
             for record in f["left"]["records"] if record in injected}
    true_findings = [f for f in findings if set(f["left"]["records"]) & injected]
    recall = len(found) / len(injected)
    precision = len(true_findings) / len(findings)
    print(f"\nreconciliation on a simulated plant: {len(injected)} injected mismatches, "
          f"{len(findings)} findings, recall {recall:.3f}, precision {precision:.3f}, "
          f"consistency KPI {report.consistency}")
    assert sorted(injected - found) == []
    assert [f for f in findings if f not in true_findings] == []
    assert report.consistency is not None and 0 < report.consistency < 1

    shipped = next(f for f in findings if f["code"] == "quantity-mismatch-shipped")
    corrected = corrected_resend(service, shipped["id"], tmp_path)
    container.ingest.ingest_paths(load_mapping("erp"), [corrected])
    after = service.run()
    assert shipped["id"] in after.closed
    closed = service.show(shipped["id"])
    [faulty_record] = shipped["left"]["records"]
    assert (closed["status"], closed["closed_by_record"]) == ("closed", f"erp:{faulty_record}")
    assert after.opened == []


def corrected_resend(service: ReconcileService, finding_id: int, directory: Path) -> Path:
    """The ERP line of a shipped finding re-sent with the WMS quantity, as the ERP would."""
    detail = service.show(finding_id)
    [source] = detail["left_sources"]
    header, row = list(csv.reader(io.StringIO(source["raw_payload"])))[:2]
    line = dict(zip(header, row, strict=True))
    per_unit = 50 if line["MEINS"] == "BOX" else 1
    line["MENGE"] = f"{detail['right']['value'] / per_unit:.3f}"
    folder = directory / "correction"
    folder.mkdir()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerow([line[c] for c in header])
    (folder / "goods_movements_202601.csv").write_text(out.getvalue(), encoding="utf-8")
    return folder


def test_no_finding_on_a_plant_whose_systems_agree(
    container: Container, clean_plant: Path
) -> None:
    service = ingest(container, clean_plant)
    report = service.run()
    assert service.summary()["findings"] == []
    assert report.lots_total > 50 and report.consistency == 1.0
