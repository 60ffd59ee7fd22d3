"""The database schema, as SQLAlchemy Core tables.

Three kinds of table:

* **history** — ``raw_record``, ``event``, ``master_record``: append-only; the database
  itself refuses UPDATE and DELETE on them (see ``store/guards.py``).
* **work queues** — ``dead_letter``, ``ingest_run``: operational state.
* **projections** — everything else: derived from ``event`` and rebuilt by
  ``tracebridge rebuild``. *Fact* projections keep one row per thing an event said,
  with ``recorded_at`` (the event's record time) and ``retracted_at`` (when a newer
  version or an error declaration withdrew it), so any question can be asked *as of*
  an earlier record time. *State* projections (``lot``, ``stock``, ``serial``) are the
  current fold of the facts.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

metadata = MetaData()

_ID = BigInteger().with_variant(Integer, "sqlite")  # SQLite only autoincrements INTEGER


def _ts(name: str, nullable: bool = False) -> Column[object]:
    return Column(name, DateTime(timezone=True), nullable=nullable)


def _validity() -> list[Column[object]]:
    """Columns every fact projection carries: its event and its validity in record time."""
    return [
        Column("event_seq", _ID, nullable=False, index=True),
        _ts("event_time"),
        _ts("recorded_at"),
        _ts("retracted_at", nullable=True),
    ]


# ---------------------------------------------------------------- history (append-only)

raw_record = Table(
    "raw_record",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("source_system", String(64), nullable=False),
    Column("record_type", String(64), nullable=False),
    Column("record_key", String(200), nullable=True),
    Column("origin", String(500), nullable=False),  # file:line, connector, request id
    _ts("received_at"),
    Column("payload", LargeBinary, nullable=False),  # the bytes exactly as received
    Column("payload_hash", String(64), nullable=False),
    Index("ix_raw_record_hash", "source_system", "payload_hash"),
)

event = Table(
    "event",
    metadata,
    Column("seq", _ID, primary_key=True, autoincrement=False),
    Column("event_id", String(64), nullable=False, unique=True),
    Column("kind", String(40), nullable=False),
    _ts("event_time"),
    Column("event_time_zone_offset", String(6), nullable=False),
    _ts("record_time"),
    Column("source_system", String(64), nullable=False),
    Column("source_record_id", String(200), nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("supersedes_seq", _ID, nullable=True),
    Column("raw_record_id", _ID, nullable=True),
    Column("mapping_id", String(100), nullable=False),
    Column("mapping_version", String(40), nullable=False),
    Column("body", Text, nullable=False),  # canonical JSON of the event
    Column("prev_hash", String(64), nullable=False),
    Column("row_hash", String(64), nullable=False),
    UniqueConstraint("source_system", "source_record_id", "content_hash", name="uq_event_identity"),
    Index("ix_event_source_record", "source_system", "source_record_id"),
    Index("ix_event_record_time", "record_time"),
)

master_record = Table(
    "master_record",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("entity", String(40), nullable=False),  # product, supplier, party, location ...
    Column("key", String(200), nullable=False),
    Column("version", Integer, nullable=False),
    Column("attributes", JSON, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("source_system", String(64), nullable=False),
    Column("raw_record_id", _ID, nullable=True),
    _ts("recorded_at"),
    UniqueConstraint("entity", "key", "version", name="uq_master_version"),
    Index("ix_master_entity_key", "entity", "key"),
)

chain_head = Table(
    "chain_head",
    metadata,
    # One row: where the event chain ends. Writers lock it, so appends are serialised
    # and the chain is one well-defined sequence even with concurrent writers.
    Column("id", Integer, primary_key=True),
    Column("seq", _ID, nullable=False),
    Column("row_hash", String(64), nullable=False),
    _ts("record_time", nullable=True),
)

# ---------------------------------------------------------------- work queues

dead_letter = Table(
    "dead_letter",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("raw_record_id", _ID, ForeignKey("raw_record.id"), nullable=False),
    Column("source_system", String(64), nullable=False),
    Column("reason", String(64), nullable=False),  # stable error code
    Column("errors", JSON, nullable=False),  # [{"field": ..., "message": ...}]
    Column("attempts", Integer, nullable=False, default=1),
    Column("status", String(16), nullable=False, default="open"),  # open|retried|discarded
    _ts("created_at"),
    Index("ix_dead_letter_status", "status"),
)

ingest_run = Table(
    "ingest_run",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("source_system", String(64), nullable=False),
    Column("origin", String(500), nullable=False),
    _ts("started_at"),
    _ts("finished_at", nullable=True),
    Column("summary", JSON, nullable=True),
)

# ---------------------------------------------------------------- projections

projection_position = Table(
    "projection_position",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("position", _ID, nullable=False),
)

lot = Table(
    "lot",
    metadata,
    Column("gtin", String(14), primary_key=True),
    Column("lot", String(20), primary_key=True),
    Column("origin", String(20), nullable=False),  # produced | received | opening_balance | seen
    Column("status", String(20), nullable=False),
    Column("status_conflicts", Integer, nullable=False, default=0),
    Column("manufactured", String(10), nullable=True),
    Column("expiry", String(10), nullable=True),
    Column("quantity", Float, nullable=True),  # produced / received quantity
    Column("uom", String(10), nullable=True),
    Column("work_order", String(64), nullable=True),
    Column("supplier", String(64), nullable=True),
    Column("supplier_lot", String(40), nullable=True),
    _ts("first_event_time", nullable=True),
    _ts("last_event_time", nullable=True),
    Index("ix_lot_lot", "lot"),
)

lot_event = Table(
    "lot_event",
    metadata,
    # Everything an event said about one lot: the lot state projection is a fold of these.
    Column("gtin", String(14), nullable=False),
    Column("lot", String(20), nullable=False),
    Column("role", String(10), nullable=False),  # subject | input | output
    Column("kind", String(40), nullable=False),
    Column("quantity", Float, nullable=True),
    Column("uom", String(10), nullable=True),
    Column("manufactured", String(10), nullable=True),
    Column("expiry", String(10), nullable=True),
    Column("location", String(64), nullable=True),
    Column("party", String(64), nullable=True),
    Column("supplier_lot", String(40), nullable=True),
    Column("work_order", String(64), nullable=True),
    Column("actor", String(64), nullable=True),
    Column("reason", String(200), nullable=True),
    Column("source_system", String(64), nullable=False),
    *_validity(),
    Index("ix_lot_event_lot", "gtin", "lot", "event_time"),
    Index("ix_lot_event_kind", "gtin", "lot", "kind"),  # receipts and status changes (trace)
)

event_correction = Table(
    "event_correction",
    metadata,
    # Source records declared in error; an original that arrives after its error
    # declaration (out-of-order delivery) is retracted as soon as it is appended.
    Column("source_system", String(64), nullable=False),
    Column("source_record_id", String(200), nullable=False),
    Column("declared_by_seq", _ID, nullable=False),
    Column("reason", String(64), nullable=True),
    _ts("recorded_at"),
    Index("ix_event_correction_record", "source_system", "source_record_id"),
)

material_flow = Table(
    "material_flow",
    metadata,
    # One lot going into (consumed) or out of (produced) a work order. Genealogy edges
    # are the join of a work order's inputs with its outputs (view ``genealogy_edge``),
    # so a consumption and a finished-goods receipt may come from separate records.
    Column("work_order", String(64), nullable=False),
    Column("direction", String(3), nullable=False),  # in | out
    Column("gtin", String(14), nullable=False),
    Column("lot", String(20), nullable=False),
    Column("quantity", Float, nullable=True),
    Column("uom", String(10), nullable=True),
    Column("operation", String(64), nullable=True),
    *_validity(),
    Index("ix_material_flow_lot", "gtin", "lot", "direction"),
    Index("ix_material_flow_wo", "work_order", "direction"),
)

# Created as a view by the migration; declared here so queries can use it as a table.
genealogy_edge_view = Table(
    "genealogy_edge",
    MetaData(),
    Column("in_gtin", String(14)),
    Column("in_lot", String(20)),
    Column("out_gtin", String(14)),
    Column("out_lot", String(20)),
    Column("quantity", Float),
    Column("uom", String(10)),
    Column("work_order", String(64)),
    Column("operation", String(64)),
    Column("in_recorded_at", DateTime(timezone=True)),
    Column("in_retracted_at", DateTime(timezone=True)),
    Column("out_recorded_at", DateTime(timezone=True)),
    Column("out_retracted_at", DateTime(timezone=True)),
)

GENEALOGY_EDGE_VIEW_SQL = """
CREATE VIEW genealogy_edge AS
SELECT i.gtin AS in_gtin, i.lot AS in_lot, o.gtin AS out_gtin, o.lot AS out_lot,
       i.quantity AS quantity, i.uom AS uom, i.work_order AS work_order,
       i.operation AS operation,
       i.recorded_at AS in_recorded_at, i.retracted_at AS in_retracted_at,
       o.recorded_at AS out_recorded_at, o.retracted_at AS out_retracted_at
FROM material_flow i JOIN material_flow o
  ON o.work_order = i.work_order AND o.direction = 'out' AND i.direction = 'in'
"""

serial_fact = Table(
    "serial_fact",
    metadata,
    Column("gtin", String(14), nullable=False),
    Column("serial", String(20), nullable=False),
    Column("lot", String(20), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("location", String(64), nullable=True),
    Column("party", String(64), nullable=True),
    *_validity(),
    Index("ix_serial_fact_serial", "gtin", "serial"),
    Index("ix_serial_fact_serial_only", "serial"),
)

serial = Table(
    "serial",
    metadata,
    Column("gtin", String(14), primary_key=True),
    Column("serial", String(20), primary_key=True),
    Column("lot", String(20), nullable=False),
    Column("status", String(20), nullable=False),  # last movement kind seen
    Column("location", String(64), nullable=True),
    Column("party", String(64), nullable=True),
    # blocked by a hold of this unit (not of its lot: that is the lot's status)
    Column("on_hold", Boolean, nullable=False, server_default=false()),
    Index("ix_serial_lot", "gtin", "lot"),
    Index("ix_serial_serial", "serial"),
)

stock_move = Table(
    "stock_move",
    metadata,
    Column("gtin", String(14), nullable=False),
    Column("lot", String(20), nullable=False),
    Column("location", String(64), nullable=False),
    Column("delta", Float, nullable=False),
    Column("uom", String(10), nullable=True),
    Column("kind", String(40), nullable=False),
    Column("source_system", String(64), nullable=False),
    *_validity(),
    Index("ix_stock_move_lot", "gtin", "lot"),
)

stock = Table(
    "stock",
    metadata,
    Column("gtin", String(14), primary_key=True),
    Column("lot", String(20), primary_key=True),
    Column("location", String(64), primary_key=True),
    Column("source_system", String(64), primary_key=True),  # each system's own view
    Column("quantity", Float, nullable=False),
    Column("uom", String(10), nullable=True),
)

aggregation_edge = Table(
    "aggregation_edge",
    metadata,
    Column("parent", String(64), nullable=False),  # SSCC
    Column("child_type", String(10), nullable=False),  # sscc | serial | lot
    Column("child", String(64), nullable=False),  # SSCC, "gtin/serial" or "gtin/lot"
    Column("quantity", Float, nullable=True),
    *_validity(),
    Index("ix_aggregation_parent", "parent"),
    Index("ix_aggregation_child", "child"),
)

shipment_line = Table(
    "shipment_line",
    metadata,
    Column("shipment", String(64), nullable=False),  # delivery / despatch advice number
    Column("kind", String(40), nullable=False),  # shipped | delivered | returned
    Column("sscc", String(18), nullable=True),
    Column("gtin", String(14), nullable=False),
    Column("lot", String(20), nullable=False),
    Column("serial", String(20), nullable=True),
    Column("quantity", Float, nullable=True),
    Column("uom", String(10), nullable=True),
    Column("party", String(64), nullable=True),  # consignee (customer) or returning party
    Column("from_location", String(64), nullable=True),
    Column("source_system", String(64), nullable=False),
    *_validity(),
    Index("ix_shipment_line_lot", "gtin", "lot"),
    Index("ix_shipment_line_serial", "gtin", "serial"),
    Index("ix_shipment_line_shipment", "shipment"),
    Index("ix_shipment_line_sscc", "sscc"),  # a serial's shipments via its pallet (trace)
)

inspection_fact = Table(
    "inspection_fact",
    metadata,
    Column("gtin", String(14), nullable=False),
    Column("lot", String(20), nullable=False),
    Column("stage", String(20), nullable=False),
    Column("characteristic", String(100), nullable=False),
    Column("result", String(10), nullable=False),
    Column("measured", Float, nullable=True),
    Column("lower", Float, nullable=True),
    Column("upper", Float, nullable=True),
    Column("unit", String(20), nullable=True),
    Column("inspector", String(64), nullable=True),
    Column("inspection_id", String(64), nullable=True),
    *_validity(),
    Index("ix_inspection_lot", "gtin", "lot"),
)

operation_fact = Table(
    "operation_fact",
    metadata,
    Column("gtin", String(14), nullable=False),
    Column("lot", String(20), nullable=False),
    Column("work_order", String(64), nullable=True),
    Column("operation", String(64), nullable=True),
    Column("kind", String(40), nullable=False),  # processed | produced
    Column("equipment", String(64), nullable=True),
    Column("operator", String(64), nullable=True),
    Column("location", String(64), nullable=True),
    Column("sensor", JSON, nullable=True),
    *_validity(),
    Index("ix_operation_lot", "gtin", "lot"),
)

environment_fact = Table(
    "environment_fact",
    metadata,
    Column("location", String(64), nullable=False),
    Column("type", String(40), nullable=False),
    Column("value", Float, nullable=False),
    Column("uom", String(10), nullable=False),
    *_validity(),
    Index("ix_environment_location", "location", "event_time"),
)

quality_fact = Table(
    "quality_fact",
    metadata,
    Column("gtin", String(14), nullable=True),
    Column("lot", String(20), nullable=True),
    Column("serial", String(20), nullable=True),
    Column(
        "kind", String(40), nullable=False
    ),  # complaint_received | nonconformance_raised | recalled
    Column("reference", String(64), nullable=True),  # complaint / NC / recall number
    Column("party", String(64), nullable=True),
    Column("details", JSON, nullable=True),
    *_validity(),
    Index("ix_quality_fact_lot", "gtin", "lot"),
)

PROJECTION_TABLES = (
    lot,
    lot_event,
    event_correction,
    material_flow,
    serial_fact,
    serial,
    stock_move,
    stock,
    aggregation_edge,
    shipment_line,
    inspection_fact,
    operation_fact,
    environment_fact,
    quality_fact,
    projection_position,
)
HISTORY_TABLES = (raw_record, event, master_record)

# ---------------------------------------------------------------- outbox
# Messages to other systems (WMS, ERP), written in the same transaction as the decision or
# event that caused them, then sent by ``tracebridge.dispatch``. A message is sent only after
# every earlier message of the same (target, gtin, lot) was acknowledged, so ``sequence``
# numbers each lot's messages per target.

outbox = Table(
    "outbox",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    _ts("created_at"),
    Column("target", String(64), nullable=False),  # wms, erp … (a dispatch target's name)
    Column("kind", String(40), nullable=False),  # canonical event kind: held, hold_released …
    Column("gtin", String(14), nullable=False),
    Column("lot", String(20), nullable=False),
    Column("sequence", Integer, nullable=False),  # 1, 2, … per (target, gtin, lot)
    Column("idempotency_key", String(64), nullable=False, unique=True),
    Column("event_seq", _ID, nullable=True),  # the event that caused the message
    Column("payload", JSON, nullable=False),  # already in the target's own field names
    Column("status", String(16), nullable=False),  # pending | done | dead
    Column("attempts", Integer, nullable=False),
    _ts("next_attempt_at"),
    Column("last_error", Text, nullable=True),
    _ts("dispatched_at", nullable=True),
    UniqueConstraint("target", "gtin", "lot", "sequence", name="uq_outbox_lot_sequence"),
    Index("ix_outbox_ready", "status", "next_attempt_at"),
)

# ---------------------------------------------------------------- connector checkpoints
# Written by ``ingest/checkpoints.py`` in the same transaction as the batch it covers, so a
# connector restarted after a crash resumes exactly after the last committed batch.

connector_checkpoint = Table(
    "connector_checkpoint",
    metadata,
    Column("name", String(100), primary_key=True),  # connector instance, e.g. "amqp:wms.in"
    Column("position", Text, nullable=False),  # connector-specific, JSON text
    _ts("updated_at"),
)

# ---------------------------------------------------------------- connectors in: receipts, DLQ
# ``file_receipt``: one row per file a drop folder took in, so a file is never read twice — a
# watcher killed between commit and move finds the receipt on restart and only moves the file.
# ``raw_after_id`` is the newest raw record id before the file was ingested: a receipt still
# ``ingesting`` after a crash is resolved by looking for the file's first raw record above it.
# ``dead_letter_action``: append-only log of what people did with dead letters (who, when, why).

file_receipt = Table(
    "file_receipt",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("source_system", String(64), nullable=False),
    Column("file_name", String(255), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("status", String(16), nullable=False),  # ingesting | done | failed
    Column("raw_after_id", _ID, nullable=False),
    Column("records", Integer, nullable=True),
    Column("summary", JSON, nullable=True),
    Column("error", Text, nullable=True),
    _ts("started_at"),
    _ts("finished_at", nullable=True),
    UniqueConstraint("source_system", "file_name", "size", "sha256", name="uq_file_receipt"),
)

dead_letter_action = Table(
    "dead_letter_action",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("dead_letter_id", _ID, ForeignKey("dead_letter.id"), nullable=False),
    Column("action", String(16), nullable=False),  # retried | retry-failed | discarded
    Column("actor", String(100), nullable=False),
    Column("reason", Text, nullable=True),  # why (required for discard)
    Column("detail", JSON, nullable=True),  # mapping used, errors of a failed retry, events
    _ts("at"),
    Index("ix_dead_letter_action_letter", "dead_letter_id"),
)

CONNECTOR_TABLES = (file_receipt, dead_letter_action)

# ---------------------------------------------------------------- recall workflow
# A recall record (REQ 32, 39), every status change with who and when, and the consignee
# notifications and responses (REQ 37) — the last two append-only: a later row supersedes.

recall = Table(
    "recall",
    metadata,
    Column("id", String(32), primary_key=True),  # RCL-YYYYMMDD-NNN
    Column("recall_class", String(3), nullable=False),  # I | II | III
    Column("depth", String(10), nullable=False),  # consumer | retail | wholesale
    Column("public_warning", Boolean, nullable=False),
    Column("effectiveness_level", String(1), nullable=False),  # A … E
    Column("reason", Text, nullable=False),
    Column("product", String(200), nullable=True),
    Column("reportable_806", Boolean, nullable=False),  # to reduce a risk to health
    _ts("initiated_at"),
    Column("report_due", String(10), nullable=False),  # ISO date, 10 working days on
    Column("expected_completion", String(10), nullable=True),
    Column("scope", JSON, nullable=False),  # [{"kind": "lot", "gtin": …, "lot": …}, …]
    Column("status", String(16), nullable=False),  # open | contained | notified | closed
    Column("initiated_by", String(64), nullable=False),
    Column("close_reason", Text, nullable=True),
)

recall_transition = Table(
    "recall_transition",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("recall_id", String(32), ForeignKey("recall.id"), nullable=False),
    Column("action", String(16), nullable=False),  # start | contain | notify | respond | close
    Column("from_status", String(16), nullable=True),
    Column("to_status", String(16), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("reason", Text, nullable=True),
    Column("detail", JSON, nullable=True),
    _ts("at"),
    Index("ix_recall_transition_recall", "recall_id"),
)

recall_consignee = Table(
    "recall_consignee",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("recall_id", String(32), ForeignKey("recall.id"), nullable=False),
    Column("party", String(64), nullable=False),
    Column("kind", String(10), nullable=False),  # notified | response
    _ts("at"),  # notified at / responded at
    Column("method", String(40), nullable=True),  # letter, e-mail, phone, visit …
    Column("quantity_on_hand", Float, nullable=True),
    Column("quantity_returned", Float, nullable=True),  # returned or corrected
    Column("note", Text, nullable=True),
    Column("actor", String(64), nullable=False),
    _ts("recorded_at"),
    Index("ix_recall_consignee_recall", "recall_id", "party"),
)

RECALL_TABLES = (recall, recall_transition, recall_consignee)

# ---------------------------------------------------------------- ERP/WMS reconciliation
# Written by ``tracebridge.reconcile``. A finding is one difference between two systems'
# views of one measure of a lot (at a location, for a document); it stays open while the
# difference lasts and is closed — never deleted — when a later record resolves it. The
# same difference appearing again after closing is a new finding, so history is kept.

reconciliation_finding = Table(
    "reconciliation_finding",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("code", String(64), nullable=False),  # stable, e.g. quantity-mismatch-shipped
    Column("measure", String(32), nullable=False),
    Column("gtin", String(14), nullable=False),
    Column("lot", String(20), nullable=False),
    Column("location", String(64), nullable=False),  # "" when the measure is per lot
    Column("reference", String(64), nullable=False),  # shipment document, or ""
    Column("left_system", String(64), nullable=False),
    Column("right_system", String(64), nullable=False),
    Column("left_value", JSON, nullable=True),
    Column("right_value", JSON, nullable=True),
    Column("left_records", JSON, nullable=False),  # [{"seq": …, "record": source record id}]
    Column("right_records", JSON, nullable=False),
    Column("status", String(8), nullable=False),  # open | closed
    _ts("first_seen_at"),
    _ts("last_checked_at"),
    _ts("closed_at", nullable=True),
    Column("closed_by_seq", _ID, nullable=True),  # the later record that resolved it
    Column("closed_by_record", String(270), nullable=True),  # "system:source record id"
    Column("first_run_id", _ID, nullable=False),
    Column("last_run_id", _ID, nullable=False),
    Index("ix_reconciliation_finding_key", "gtin", "lot", "code", "status"),
    Index("ix_reconciliation_finding_status", "status"),
)

reconciliation_run = Table(
    "reconciliation_run",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    _ts("started_at"),
    _ts("finished_at", nullable=True),
    _ts("since", nullable=True),  # None: every lot was checked
    Column("lots_checked", Integer, nullable=False),
    Column("opened", Integer, nullable=False),
    Column("closed", Integer, nullable=False),
    Column("open_total", Integer, nullable=False),
    Column("lots_total", Integer, nullable=False),
    Column("lots_agreeing", Integer, nullable=False),
)

RECONCILIATION_TABLES = (reconciliation_run, reconciliation_finding)

# ---------------------------------------------------------------- quality rules and alerts
# ``rule_firing``: one row per rule that fired on an event (or on a scheduled run), with the
# exact CEL inputs its condition saw and the actions it took — the auditor's "why".
# ``alert``: the alert inbox; ``alert_action`` the append-only log of who did what with one.
# ``rule_watermark``: per source stream and subject (a lot, or a location for readings), the
# latest event time seen; the "late data" rule measures lateness against it, because a
# batch import's record time says nothing about when a record was due.

rule_firing = Table(
    "rule_firing",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("rule_id", String(100), nullable=False),
    Column("rule_version", Integer, nullable=False),
    Column("code", String(64), nullable=False),
    Column("severity", String(10), nullable=False),
    Column("event_seq", _ID, nullable=True),  # None: a scheduled run
    Column("gtin", String(14), nullable=True),
    Column("lot", String(20), nullable=True),
    Column("inputs", JSON, nullable=False),
    Column("actions", JSON, nullable=False),  # [{"type", "outcome", ...}]
    _ts("fired_at"),
    Index("ix_rule_firing_rule", "rule_id", "rule_version"),
    Index("ix_rule_firing_event", "event_seq"),
    Index("ix_rule_firing_lot", "gtin", "lot"),
)

alert = Table(
    "alert",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("code", String(64), nullable=False),
    Column("severity", String(10), nullable=False),  # info | warning | major | critical
    Column("title_en", String(300), nullable=False),
    Column("title_zh", String(300), nullable=False),
    Column("gtin", String(14), nullable=True),
    Column("lot", String(20), nullable=True),
    Column("rule_id", String(100), nullable=True),
    Column("rule_version", Integer, nullable=True),
    Column("event_seq", _ID, nullable=True),
    Column("firing_id", _ID, nullable=True),
    Column("detail", JSON, nullable=False),
    Column("status", String(16), nullable=False),  # open | acknowledged | assigned | resolved
    Column("assignee", String(100), nullable=True),
    _ts("created_at"),
    _ts("updated_at"),
    _ts("resolved_at", nullable=True),
    Index("ix_alert_status", "status", "severity"),
    Index("ix_alert_lot", "gtin", "lot"),
)

alert_action = Table(
    "alert_action",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("alert_id", _ID, ForeignKey("alert.id"), nullable=False),
    Column("action", String(16), nullable=False),  # raised | acknowledged | assigned | resolved
    Column("actor", String(100), nullable=False),
    Column("note", Text, nullable=True),
    Column("status_after", String(16), nullable=False),
    Column("assignee", String(100), nullable=True),
    _ts("at"),
    Index("ix_alert_action_alert", "alert_id"),
)

rule_watermark = Table(
    "rule_watermark",
    metadata,
    Column("source_system", String(64), primary_key=True),
    Column("stream", String(64), primary_key=True),  # raw record type (one export stream)
    Column("subject", String(120), primary_key=True),  # "gtin/lot" or "@location"
    _ts("high_water"),
)

RULE_TABLES = (rule_firing, alert, alert_action, rule_watermark)
