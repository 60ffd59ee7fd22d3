"""ERP/WMS reconciliation: the use case behind ``tracebridge reconcile`` and ``/reconciliation``.

A run reads both systems' views of the lots in scope (every lot, or those changed since
a time plus those with open findings), compares them (``compare.py``) and, in one
transaction, opens a finding for each new difference, refreshes the ones still there
and closes the ones a later record resolved — naming that record. Findings are never
deleted; a difference that comes back after closing is a new finding. Each run is kept
with the consistency KPI: the share of lots on which both systems agree.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, text, update

from tracebridge.errors import FindingNotFound
from tracebridge.reconcile import queries
from tracebridge.reconcile.compare import (
    CODES,
    FindingKey,
    Measure,
    Side,
    consistency,
    differs,
    group,
)
from tracebridge.reconcile.tolerances import Tolerances, load_tolerances
from tracebridge.store import tables as t
from tracebridge.store.event_log import utc

# A scheduled run re-checks from a little before the previous one started: a record whose
# record time is just before that start may have committed just after the run read.
SCHEDULE_OVERLAP = timedelta(minutes=10)
MEASURE_OF: dict[str, Measure] = {code: measure for measure, code in CODES.items()}


@dataclass(frozen=True, slots=True)
class RunReport:
    run_id: int
    started_at: str
    since: str | None
    lots_checked: int
    opened: list[int]
    closed: list[int]
    open_total: int
    lots_total: int
    lots_agreeing: int
    consistency: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ReconcileService:
    def __init__(
        self,
        engine: Engine,
        *,
        tolerances: Tolerances | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.engine = engine
        self.tolerances = tolerances or load_tolerances()
        self._clock = clock

    # ---------------------------------------------------------------- runs
    def run(self, *, since: datetime | None = None) -> RunReport:
        """Compare the two systems and update the findings; the caller gets the summary."""
        systems = (self.tolerances.left, self.tolerances.right)
        now = utc(self._clock())
        with self.engine.begin() as conn:
            _serialise_runs(conn)
            run_id = _start_run(conn, now, since)
            scope: set[queries.LotKey] | None = None
            if since is not None:
                scope = queries.lots_changed_since(conn, since)
                scope |= {(r.gtin, r.lot) for r in queries.open_findings(conn, None)}
            observed = group(queries.observations(conn, lots=scope, systems=systems),
                             self.tolerances)
            opened, closed = self._update_findings(conn, run_id, now, scope, observed)
            lots_total = len(queries.lots_known(conn, systems))
            f = t.reconciliation_finding.c
            open_total = conn.execute(
                select(func.count()).select_from(t.reconciliation_finding)
                .where(f.status == "open")
            ).scalar_one()
            disagreeing = conn.execute(
                select(func.count()).select_from(
                    select(f.gtin, f.lot).distinct().where(f.status == "open").subquery()
                )
            ).scalar_one()
            lots_checked = len(scope) if scope is not None else lots_total
            agreeing = max(lots_total - disagreeing, 0)
            conn.execute(
                update(t.reconciliation_run)
                .where(t.reconciliation_run.c.id == run_id)
                .values(
                    finished_at=utc(self._clock()), lots_checked=lots_checked,
                    opened=len(opened), closed=len(closed), open_total=open_total,
                    lots_total=lots_total, lots_agreeing=agreeing,
                )
            )
        return RunReport(
            run_id=run_id, started_at=now.isoformat(),
            since=None if since is None else utc(since).isoformat(),
            lots_checked=lots_checked, opened=opened, closed=closed, open_total=open_total,
            lots_total=lots_total, lots_agreeing=agreeing,
            consistency=consistency(lots_total, disagreeing),
        )

    def run_scheduled(self) -> RunReport:
        """One scheduled run: lots changed since shortly before the previous run (or all)."""
        with self.engine.connect() as conn:
            r = t.reconciliation_run.c
            last = conn.execute(select(func.max(r.started_at))).scalar_one_or_none()
        return self.run(since=None if last is None else utc(last) - SCHEDULE_OVERLAP)

    def run_every(
        self,
        interval: timedelta,
        *,
        keep_going: Callable[[], bool] = lambda: True,
        on_run: Callable[[RunReport], None] = lambda report: None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Run, then every ``interval``, while ``keep_going()`` says so (the scheduled job)."""
        while keep_going():
            on_run(self.run_scheduled())
            if not keep_going():
                return
            sleep(interval.total_seconds())

    def _update_findings(
        self,
        conn: Connection,
        run_id: int,
        now: datetime,
        scope: set[queries.LotKey] | None,
        observed: dict[FindingKey, dict[str, Side]],
    ) -> tuple[list[int], list[int]]:
        left_name, right_name = self.tolerances.left, self.tolerances.right
        current: dict[FindingKey, tuple[Side, Side]] = {}
        for key, sides in observed.items():
            left, right = sides.get(left_name, Side()), sides.get(right_name, Side())
            if differs(MEASURE_OF[key.code], left, right, self.tolerances):
                current[key] = (left, right)
        table = t.reconciliation_finding
        opened: list[int] = []
        closed: list[int] = []
        still_open: set[FindingKey] = set()
        for row in queries.open_findings(conn, scope):
            key = FindingKey(row.code, row.gtin, row.lot, row.location, row.reference)
            if key in current and key not in still_open:
                still_open.add(key)
                left, right = current[key]
                conn.execute(
                    update(table).where(table.c.id == row.id).values(
                        last_checked_at=now, last_run_id=run_id,
                        **_values(MEASURE_OF[key.code], left, right),
                    )
                )
                continue
            sides = observed.get(key, {})
            seqs = [int(r["seq"]) for r in (*row.left_records, *row.right_records)]
            seqs += [s for side in sides.values() for s in side.records]
            resolver = queries.resolving_record(conn, seqs)
            conn.execute(
                update(table).where(table.c.id == row.id).values(
                    status="closed", closed_at=now, last_checked_at=now, last_run_id=run_id,
                    closed_by_seq=None if resolver is None else resolver[0],
                    closed_by_record=None if resolver is None else resolver[1],
                )
            )
            closed.append(int(row.id))
        for key, (left, right) in sorted(current.items(), key=lambda kv: _order(kv[0])):
            if key in still_open:
                continue
            new_id = conn.execute(
                insert(table).values(
                    code=key.code, measure=MEASURE_OF[key.code].value, gtin=key.gtin,
                    lot=key.lot, location=key.location, reference=key.reference,
                    left_system=left_name, right_system=right_name, status="open",
                    first_seen_at=now, last_checked_at=now, first_run_id=run_id,
                    last_run_id=run_id, **_values(MEASURE_OF[key.code], left, right),
                )
            ).inserted_primary_key
            assert new_id is not None
            opened.append(int(new_id[0]))
        return opened, closed

    # ---------------------------------------------------------------- reads
    def summary(self, *, status: str | None = "open", limit: int = 200) -> dict[str, Any]:
        """The latest run's KPI and the findings with ``status`` (all when None)."""
        r, f = t.reconciliation_run.c, t.reconciliation_finding.c
        with self.engine.connect() as conn:
            last = conn.execute(
                select(t.reconciliation_run).order_by(r.id.desc()).limit(1)
            ).first()
            query = select(t.reconciliation_finding).order_by(f.id).limit(limit)
            if status is not None:
                query = query.where(f.status == status)
            rows = conn.execute(query).all()
            counts = {
                str(row[0]): int(row[1])
                for row in conn.execute(select(f.status, func.count()).group_by(f.status))
            }
        kpi = None
        if last is not None:
            kpi = {
                "run_id": int(last.id),
                "started_at": utc(last.started_at).isoformat(),
                "lots_total": last.lots_total,
                "lots_agreeing": last.lots_agreeing,
                "consistency": consistency(last.lots_total, last.lots_total - last.lots_agreeing),
            }
        return {
            "last_run": kpi,
            "open": int(counts.get("open", 0)),
            "closed": int(counts.get("closed", 0)),
            "findings": [_finding(row) for row in rows],
        }

    def show(self, finding_id: int) -> dict[str, Any]:
        """One finding with the source records of both sides and their raw payloads."""
        f = t.reconciliation_finding.c
        with self.engine.connect() as conn:
            row = conn.execute(
                select(t.reconciliation_finding).where(f.id == finding_id)
            ).first()
            if row is None:
                highest = conn.execute(select(func.max(f.id))).scalar_one_or_none()
                raise FindingNotFound(
                    f"no reconciliation finding {finding_id}; findings are numbered 1 to "
                    f"{highest or 0} (see `tracebridge reconcile --json`)"
                )
            out = _finding(row)
            for side in ("left", "right"):
                seqs = [int(r["seq"]) for r in row._mapping[f"{side}_records"]]
                out[f"{side}_sources"] = queries.source_records(conn, seqs)
        return out


def _order(key: FindingKey) -> tuple[str, str, str, str, str]:
    return (key.gtin, key.lot, key.code, key.location, key.reference)


def _values(measure: Measure, left: Side, right: Side) -> dict[str, Any]:
    left_value, right_value = left.value, right.value
    if measure is Measure.SERIALS:
        # Only the serials one side has and the other lacks: the full sets can be thousands.
        mine = set(left.value if isinstance(left.value, list) else [])
        theirs = set(right.value if isinstance(right.value, list) else [])
        left_value, right_value = sorted(mine - theirs), sorted(theirs - mine)
    return {
        "left_value": left_value,
        "right_value": right_value,
        "left_records": _records(left),
        "right_records": _records(right),
    }


def _records(side: Side) -> list[dict[str, Any]]:
    return [{"seq": seq, "record": record} for seq, record in sorted(side.records.items())]


def _serialise_runs(conn: Connection) -> None:
    """One run at a time, or two overlapping runs would open the same finding twice.

    SQLite already allows one writer; PostgreSQL gets a transaction-scoped advisory lock.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('tracebridge.reconcile'))"))


def _start_run(conn: Connection, now: datetime, since: datetime | None) -> int:
    key = conn.execute(
        insert(t.reconciliation_run).values(
            started_at=now, since=None if since is None else utc(since), lots_checked=0,
            opened=0, closed=0, open_total=0, lots_total=0, lots_agreeing=0,
        )
    ).inserted_primary_key
    assert key is not None
    return int(key[0])


def _finding(row: Any) -> dict[str, Any]:
    def stamp(value: datetime | None) -> str | None:
        return None if value is None else utc(value).isoformat()

    return {
        "id": int(row.id),
        "code": row.code,
        "measure": row.measure,
        "gtin": row.gtin,
        "lot": row.lot,
        "location": row.location,
        "reference": row.reference,
        "status": row.status,
        "left": {"system": row.left_system, "value": row.left_value,
                 "records": [r["record"] for r in row.left_records]},
        "right": {"system": row.right_system, "value": row.right_value,
                  "records": [r["record"] for r in row.right_records]},
        "first_seen_at": stamp(row.first_seen_at),
        "last_checked_at": stamp(row.last_checked_at),
        "closed_at": stamp(row.closed_at),
        "closed_by_record": row.closed_by_record,
    }
