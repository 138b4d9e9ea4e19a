"""The audit-maintenance log: its table, its two trigger functions, and its insert.

One log per schema holding audit tables (``<schema>.audit_maintenance_log``), made by
the first prune, partition move or redaction there.  Every such action writes a row:
who (the acting role and the ``audit.*`` settings of the session), when, which audit
table, which relation, which time range or key, how many rows, and how (``drop``,
``archive``, ``export``, ``delete``, ``move``, ``redact``).  The row is also what lets
the statement past the append-only guard (see
:func:`~alembic_audit.sql.plpgsql.guard_function_body`).  The log is itself
append-only, for everyone.

Example::

    for stmt in create_log_statements("public"):
        conn.execute(AuditDDL(stmt))
    conn.execute(insert_log_query("public"), {"action": "drop", ...})
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Text, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.sql.elements import TextClause

from ..core.constants import MAINTENANCE_LOG_TABLE
from .function import PINNED_SEARCH_PATH, FunctionDefinition
from .plpgsql import log_facts_function_body, log_guard_function_body
from .quoting import qualify, quote
from .triggers import TriggerDefinition

#: What a log row says was done.
ACTIONS = ("drop", "archive", "export", "delete", "move", "redact")

#: Columns of the log, in order, with their types.  ``logged_at``, ``transaction_id`` and
#: ``database_role`` are written by the insert trigger; ``session_settings`` holds the
#: audit table's ``audit.*`` settings of the session (what the application says).
LOG_COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY"),
    ("logged_at", "timestamptz NOT NULL"),
    ("transaction_id", "xid8 NOT NULL"),
    ("database_role", "text NOT NULL"),
    ("session_settings", "jsonb"),
    ("action", "text NOT NULL"),
    ("audit_schema", "text NOT NULL"),
    ("audit_table", "text NOT NULL"),
    ("relation", "text"),
    ("time_from", "timestamptz"),
    ("time_to", "timestamptz"),
    ("row_count", "bigint NOT NULL"),
    ("row_count_exact", "boolean NOT NULL DEFAULT true"),
    ("destination", "text"),
    ("row_key", "jsonb"),
    ("columns", "text[]"),
    ("note", "text"),
)

#: The columns an insert gives (the rest are the trigger's, or the identity).
INSERTED_COLUMNS = (
    "session_settings",
    "action",
    "audit_schema",
    "audit_table",
    "relation",
    "time_from",
    "time_to",
    "row_count",
    "row_count_exact",
    "destination",
    "row_key",
    "columns",
    "note",
)


def log_name(schema: str) -> tuple[str, str]:
    """``(schema, name)`` of the maintenance log of audit tables in ``schema``.

    Example::

        log_name("public")  # ('public', 'audit_maintenance_log')
    """
    return (schema, MAINTENANCE_LOG_TABLE)


def facts_function(schema: str) -> FunctionDefinition:
    """The log's insert trigger function (time, transaction, role, settings).

    Example::

        facts_function("public").name  # 'audit_maintenance_log_facts'
    """
    return FunctionDefinition(
        schema,
        f"{MAINTENANCE_LOG_TABLE}_facts",
        log_facts_function_body(),
        settings=(("search_path", PINNED_SEARCH_PATH),),
    )


def log_guard_function(schema: str) -> FunctionDefinition:
    """The log's own append-only guard function.

    Example::

        log_guard_function("public").name  # 'audit_maintenance_log_append_only'
    """
    return FunctionDefinition(
        schema,
        f"{MAINTENANCE_LOG_TABLE}_append_only",
        log_guard_function_body(),
        settings=(("search_path", PINNED_SEARCH_PATH),),
    )


def log_triggers(schema: str) -> tuple[TriggerDefinition, TriggerDefinition]:
    """The log's triggers: facts on every insert, refusal of UPDATE, DELETE, TRUNCATE.

    Example::

        [t.name for t in log_triggers("public")]
        # ['audit_maintenance_log_facts', 'audit_maintenance_log_append_only']
    """
    facts = facts_function(schema)
    guard = log_guard_function(schema)
    return (
        TriggerDefinition(
            schema,
            MAINTENANCE_LOG_TABLE,
            facts.name,
            facts.qualified_name,
            ("INSERT",),
            timing="BEFORE",
            for_each_row=True,
        ),
        TriggerDefinition(
            schema,
            MAINTENANCE_LOG_TABLE,
            guard.name,
            guard.qualified_name,
            ("UPDATE", "DELETE", "TRUNCATE"),
            timing="BEFORE",
        ),
    )


def create_log_statements(schema: str) -> list[str]:
    """The log table, its functions (EXECUTE revoked from PUBLIC) and triggers.

    Example::

        create_log_statements("public")[0].startswith('CREATE TABLE "public"')  # True
    """
    columns = ",\n".join(f"    {quote(name)} {type_}" for name, type_ in LOG_COLUMNS)
    table = qualify(*log_name(schema))
    statements = [
        f"CREATE TABLE {table} (\n{columns}\n)",
        f"COMMENT ON TABLE {table} IS 'alembic-audit log of every prune, partition move and "
        "redaction of the audit tables of this schema; append-only'",
        f"REVOKE ALL ON TABLE {table} FROM PUBLIC",
    ]
    for function in (facts_function(schema), log_guard_function(schema)):
        statements += [function.create_sql(), function.revoke_sql()]
    statements += [trigger.create_sql() for trigger in log_triggers(schema)]
    return statements


def insert_log_query(schema: str) -> TextClause:
    """``INSERT`` of one log row (values as bind parameters named after
    :data:`INSERTED_COLUMNS`), returning the row's id and transaction.

    Example::

        conn.execute(insert_log_query("public"), {"action": "drop", ...}).one()
    """
    names = ", ".join(quote(c) for c in INSERTED_COLUMNS)
    values = ", ".join(f":{c}" for c in INSERTED_COLUMNS)
    return text(
        f"INSERT INTO {qualify(*log_name(schema))} ({names}) VALUES ({values})"
        " RETURNING id, CAST(transaction_id AS text) AS transaction_id"
    ).bindparams(
        bindparam("session_settings", type_=JSONB),
        bindparam("row_key", type_=JSONB),
        bindparam("columns", type_=ARRAY(Text)),
    )


def settings_query(names: Sequence[str]) -> TextClause:
    """The values of the given ``audit.*`` settings in this session, those set (not empty).

    Example::

        conn.execute(settings_query(["audit.username"])).all()  # [('audit.username', 'alice')]
    """
    return text(
        "SELECT n, v FROM (SELECT n, NULLIF(pg_catalog.current_setting(n, true), '') AS v"
        " FROM pg_catalog.unnest(:names) AS n) AS s WHERE v IS NOT NULL ORDER BY n"
    ).bindparams(bindparam("names", list(names), type_=ARRAY(Text)))


def read_log_query(schema: str, limit: int | None) -> TextClause:
    """The log's rows, newest first (``limit`` of them, or all).

    Example::

        conn.execute(read_log_query("public", 20)).mappings().all()
    """
    columns = ", ".join(
        "CAST(transaction_id AS text) AS transaction_id"
        if name == "transaction_id"
        else quote(name)
        for name, _ in LOG_COLUMNS
    )
    tail = " LIMIT :limit" if limit is not None else ""
    query = text(f"SELECT {columns} FROM {qualify(*log_name(schema))} ORDER BY id DESC{tail}")
    return query.bindparams(limit=limit) if limit is not None else query


def advisory_lock_query(key: str) -> TextClause:
    """A transaction-level advisory lock on ``key``: two maintenance runs on the same
    audit table (or making the same log) take turns.

    Example::

        conn.execute(advisory_lock_query("alembic_audit prune public.item_audit"))
    """
    return text("SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext(:key))").bindparams(
        key=key
    )


__all__ = [
    "ACTIONS",
    "advisory_lock_query",
    "INSERTED_COLUMNS",
    "LOG_COLUMNS",
    "create_log_statements",
    "facts_function",
    "insert_log_query",
    "log_guard_function",
    "log_name",
    "log_triggers",
    "read_log_query",
    "settings_query",
]
