"""The audit-maintenance log: made when first needed, written by every maintenance action,
read by :func:`maintenance_log` and ``alembic-audit maintenance-log``.

Example::

    ensure_log(conn, "public")
    log_id = write_log(conn, "public", LogEntry("drop", spec.qualified_audit_table, ...))
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection, Engine

from ..core.constants import MAINTENANCE_LOG_TABLE
from ..reflection.inspector import PGAdvancedInspector
from ..sql.maintenance import (
    advisory_lock_query,
    create_log_statements,
    insert_log_query,
    read_log_query,
)
from ..sql.statement import AuditDDL
from .session import connected


@dataclass(frozen=True)
class LogEntry:
    """What one log row says (the time, transaction, role and settings are the trigger's).

    Example::

        LogEntry("drop", ("public", "item_audit"), relation="public.item_audit_p2025_01",
                 time_from=None, time_to=datetime(2025, 2, 1, tzinfo=timezone.utc),
                 row_count=412)
    """

    action: str
    audit_table: tuple[str, str]
    relation: str | None = None
    time_from: datetime | None = None
    time_to: datetime | None = None
    row_count: int = 0
    row_count_exact: bool = True
    destination: str | None = None
    row_key: dict[str, Any] | None = None
    columns: list[str] | None = None
    note: str | None = None


def ensure_log(conn: Connection, schema: str) -> None:
    """Make the maintenance log of ``schema`` if it does not exist (in the caller's
    transaction; concurrent first runs take turns on an advisory lock).

    Example::

        ensure_log(conn, "public")
    """
    conn.execute(advisory_lock_query(f"alembic_audit log {schema}"))
    if PGAdvancedInspector(conn).relation_exists(schema, MAINTENANCE_LOG_TABLE):
        return
    for statement in create_log_statements(schema):
        conn.execute(AuditDDL(statement))


def write_log(conn: Connection, entry: LogEntry) -> int:
    """Append ``entry`` to the log of its audit table's schema (made if needed); the
    row's id.  In the transaction of the action it records, before the action: it is
    also the permission the append-only guard asks for.

    Example::

        write_log(conn, LogEntry("delete", ("public", "item_audit"), row_count=10))
    """
    schema = entry.audit_table[0]
    ensure_log(conn, schema)
    values = asdict(entry)
    values["audit_schema"], values["audit_table"] = entry.audit_table
    row = conn.execute(insert_log_query(schema), values).one()
    return int(row.id)


def maintenance_log(
    bind: Engine | Connection, *, schema: str | None = None, limit: int | None = 50
) -> list[dict[str, Any]]:
    """The rows of the audit-maintenance logs (of ``schema``, or of every schema), newest
    first: ``id``, ``logged_at``, ``transaction_id``, ``database_role``,
    ``session_settings``, ``action``, ``audit_schema``, ``audit_table``, ``relation``,
    ``time_from``, ``time_to``, ``row_count``, ``row_count_exact``, ``destination``,
    ``row_key``, ``columns``, ``note``.

    Example::

        for row in alembic_audit.maintenance_log(engine, limit=10):
            print(row["logged_at"], row["action"], row["audit_table"], row["row_count"])
    """
    with connected(bind) as work:
        conn = work.conn
        schemas = PGAdvancedInspector(conn).maintenance_logs(MAINTENANCE_LOG_TABLE)
        rows: list[dict[str, Any]] = []
        for found in schemas:
            if schema is None or found == schema:
                rows += [dict(r) for r in conn.execute(read_log_query(found, limit)).mappings()]
    rows.sort(key=lambda r: (r["logged_at"], r["id"]), reverse=True)
    return rows[:limit] if limit is not None else rows


__all__ = ["LogEntry", "ensure_log", "maintenance_log", "write_log"]
