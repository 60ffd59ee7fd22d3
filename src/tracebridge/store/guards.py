"""Database-level guards that make history append-only.

The application never updates or deletes history, but that is not enough for an
auditor: the database itself must refuse, whoever connects. SQLite gets BEFORE
UPDATE/DELETE triggers that abort; PostgreSQL gets a trigger function that raises
(and refuses TRUNCATE too).
"""

from __future__ import annotations

APPEND_ONLY_TABLES = (
    "raw_record",
    "event",
    "master_record",
    "dead_letter_action",
    "rule_firing",
    "alert_action",
    "recall_transition",
    "recall_consignee",
)
APPEND_ONLY_MESSAGE = "append-only: history cannot be changed, append a correction instead"


def sqlite_statements(tables: tuple[str, ...]) -> list[str]:
    statements = []
    for table in tables:
        for operation in ("UPDATE", "DELETE"):
            statements.append(
                f"CREATE TRIGGER IF NOT EXISTS {table}_no_{operation.lower()} "
                f"BEFORE {operation} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is {APPEND_ONLY_MESSAGE}'); END"
            )
    return statements


def postgresql_statements(tables: tuple[str, ...]) -> list[str]:
    statements = [
        "CREATE OR REPLACE FUNCTION tracebridge_refuse_change() RETURNS trigger AS $$ "
        "BEGIN RAISE EXCEPTION '% is " + APPEND_ONLY_MESSAGE + "', TG_TABLE_NAME "
        "USING ERRCODE = 'insufficient_privilege'; END; $$ LANGUAGE plpgsql"
    ]
    for table in tables:
        statements.append(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION tracebridge_refuse_change()"
        )
        statements.append(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION tracebridge_refuse_change()"
        )
    return statements


def install_statements(dialect: str, tables: tuple[str, ...]) -> list[str]:
    """Statements that make ``tables`` append-only; migrations name their tables explicitly."""
    if dialect == "postgresql":
        return postgresql_statements(tables)
    return sqlite_statements(tables)
