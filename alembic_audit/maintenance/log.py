"""The audit-maintenance log: made when first needed, written by every maintenance action,
read by :func:`maintenance_log` and ``alembic-audit maintenance-log``.

Example::

    ensure_log(conn, "public")
    log_id = write_log(conn, "public", LogEntry("drop", spec.qualified_audit_table, ...))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection, Engine

from ..core.constants import MAINTENANCE_LOG_TABLE
from ..core.errors import AuditError
from ..core.spec import AuditSpec
from ..reflection.inspector import PGAdvancedInspector
from ..sql.maintenance import (
    advisory_lock_query,
    create_log_statements,
    insert_log_query,
    log_name,
    read_log_query,
    settings_query,
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


def setting_names(spec: AuditSpec) -> list[str]:
    """The ``audit.*`` settings a log row about ``spec``'s audit table records.

    Example::

        setting_names(spec)  # ['audit.username']
    """
    return [s.setting_name for s in spec.session_settings]


def ensure_log(conn: Connection, schema: str) -> None:
    """Make the maintenance log of ``schema`` if it does not exist (in the caller's
    transaction; concurrent first runs take turns on an advisory lock).

    Example::

        ensure_log(conn, "public")
    """
    conn.execute(advisory_lock_query(f"alembic_audit log {schema}"))
    inspector = PGAdvancedInspector(conn)
    found = inspector.relations([log_name(schema)]).get(log_name(schema))
    if found is not None:
        me = inspector.current_user()
        if found.owner != me:
            # The append-only guard trusts only a log of the audit table's owner, and
            # anyone with CREATE on the schema could have made this one.
            raise AuditError(
                f"the audit-maintenance log {schema}.{MAINTENANCE_LOG_TABLE} is owned by role "
                f"{found.owner!r}, not by {me!r} (who maintains the audit tables): it is not "
                "the log; rename or drop it, then run again"
            )
        return
    for statement in create_log_statements(schema):
        conn.execute(AuditDDL(statement))


def write_log(conn: Connection, entry: LogEntry, settings: Sequence[str] = ()) -> int:
    """Append ``entry`` to the log of its audit table's schema (made if needed); the
    row's id.  In the transaction of the action it records, before the action: it is
    also the permission the append-only guard asks for.  ``settings``: names of the
    ``audit.*`` settings to record, as this session has them (``set_session_vars``).

    Example::

        write_log(conn, LogEntry("delete", ("public", "item_audit"), row_count=10))
    """
    schema = entry.audit_table[0]
    ensure_log(conn, schema)
    values = asdict(entry)
    values["audit_schema"], values["audit_table"] = entry.audit_table
    found = conn.execute(settings_query(list(settings))).all() if settings else []
    values["session_settings"] = {str(n): str(v) for n, v in found} or None
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


__all__ = ["LogEntry", "ensure_log", "maintenance_log", "setting_names", "write_log"]
