"""SQL text used only by the Alembic operations (:mod:`alembic_audit.operations`).

Kept next to :mod:`alembic_audit.ddl` (which owns the trigger function and trigger
text): the audit table DDL an op emits when asked to create the audit table of an
existing table, and the catalog lookups an op makes online before it runs any DDL.
Identifiers go through :func:`alembic_audit.ddl.quote`; every value is a bind
parameter.  Column types are PostgreSQL type text taken from the spec (as written by
SQLAlchemy's type compiler or by a migration), never user values.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import TextClause, bindparam, text

from .ddl import qualify, quote
from .spec import OPERATION_COLUMN, TIMESTAMP_COLUMN, USER_COLUMN, AuditSpec

#: Types of the audit table's own columns, as the builder declares them
#: (``String(1)``, ``DateTime(timezone=True)``, ``String()``), so that autogenerate
#: sees no difference between a table made by this op and one made by create_table.
_META_TYPES = {
    OPERATION_COLUMN: "VARCHAR(1)",
    TIMESTAMP_COLUMN: "TIMESTAMP WITH TIME ZONE",
    USER_COLUMN: "VARCHAR",
}


def create_audit_table_sql(spec: AuditSpec) -> str:
    """``CREATE TABLE`` for the audit table of ``spec``, shaped like the builder's.

    Copies of the audited columns are nullable and carry no default or constraint,
    so any historical row version fits; the three meta columns are NOT NULL; one
    nullable ``audit_<name>`` column per session setting.

    Example::

        create_audit_table_sql(spec)
        # 'CREATE TABLE "public"."item_audit" (\\n    "id" INTEGER,\\n ...)'
    """
    lines = [f"    {quote(c.name)} {c.type}" for c in spec.columns]
    lines += [f"    {quote(name)} {type_} NOT NULL" for name, type_ in _META_TYPES.items()]
    lines += [f"    {quote(s.column_name)} {s.type}" for s in spec.session_settings]
    body = ",\n".join(lines)
    return f"CREATE TABLE {qualify(*spec.qualified_audit_table)} (\n{body}\n)"


def drop_audit_table_sql(spec: AuditSpec) -> str:
    """``DROP TABLE`` of the audit table (its rows go with it).

    Example::

        drop_audit_table_sql(spec)  # 'DROP TABLE "public"."item_audit"'
    """
    return f"DROP TABLE {qualify(*spec.qualified_audit_table)}"


def function_exists_query(spec: AuditSpec) -> TextClause:
    """One row, one boolean: does the spec's trigger function exist?

    The function signature is a bind parameter, resolved by ``to_regprocedure``,
    which returns NULL instead of raising for a missing function or schema.

    Example::

        connection.execute(function_exists_query(spec)).scalar()  # True or False
    """
    signature = qualify(*spec.qualified_function) + "()"
    return text("SELECT pg_catalog.to_regprocedure(:signature) IS NOT NULL").bindparams(
        bindparam("signature", signature)
    )


def trigger_function_sources_query(schema: str, table_name: str) -> TextClause:
    """``prosrc`` of every function called by a user trigger on the table, by trigger name.

    Used to read back the spec embedded in an installed audit function, so a
    hand-written ``op.drop_audit_trigger("item")`` knows exactly what to drop.

    Example::

        sources = connection.execute(trigger_function_sources_query("public", "item")).scalars()
    """
    return text(
        "SELECT p.prosrc FROM pg_catalog.pg_trigger AS t"
        " JOIN pg_catalog.pg_proc AS p ON p.oid = t.tgfoid"
        " WHERE t.tgrelid = pg_catalog.to_regclass(:relation) AND NOT t.tgisinternal"
        " ORDER BY t.tgname"
    ).bindparams(bindparam("relation", qualify(schema, table_name)))


def function_source_query(spec: AuditSpec) -> TextClause:
    """``prosrc`` of the spec's trigger function (no row if it does not exist).

    Example::

        source = connection.execute(function_source_query(spec)).scalar()  # None if missing
    """
    signature = qualify(*spec.qualified_function) + "()"
    return text(
        "SELECT p.prosrc FROM pg_catalog.pg_proc AS p"
        " WHERE p.oid = pg_catalog.to_regprocedure(:signature)"
    ).bindparams(bindparam("signature", signature))


# pg_get_triggerdef() starts with CREATE [CONSTRAINT] TRIGGER and the name, quoted by
# quote_ident: either a plain lower-case identifier or "..." with "" for a quote.
_TRIGGER_NAME = re.compile(r'^\s*CREATE\s+(?:CONSTRAINT\s+)?TRIGGER\s+("(?:[^"]|"")+"|[^\s"]+)\s')


def trigger_name_from_sql(trigger_sql: str) -> str:
    """The trigger name in a ``pg_get_triggerdef`` text, unquoted.

    Example::

        trigger_name_from_sql('CREATE TRIGGER "My T" AFTER INSERT ON t ...')  # 'My T'
    """
    match = _TRIGGER_NAME.match(trigger_sql)
    if match is None:
        raise ValueError(f"not a CREATE TRIGGER statement: {trigger_sql[:80]!r}")
    name = match.group(1)
    if name.startswith('"'):
        return name[1:-1].replace('""', '"')
    return name


def trigger_names_from_sqls(statements: Sequence[str]) -> list[str]:
    """Names of the triggers created by ``statements``, skipping the other
    statements among them (``ALTER TABLE ... DISABLE TRIGGER`` restoring a state).

    Example::

        trigger_names_from_sqls(['CREATE TRIGGER t AFTER ...', 'ALTER TABLE x DISABLE TRIGGER t'])
        # ['t']
    """
    return [trigger_name_from_sql(s) for s in statements if _TRIGGER_NAME.match(s)]


def drop_trigger_by_name_sql(spec: AuditSpec, trigger_name: str) -> str:
    """``DROP TRIGGER`` for a trigger on the spec's table, by name.

    Example::

        drop_trigger_by_name_sql(spec, "old_trigger")
        # 'DROP TRIGGER "old_trigger" ON "public"."item"'
    """
    return f"DROP TRIGGER {quote(trigger_name)} ON {qualify(*spec.qualified_table)}"


__all__ = [
    "create_audit_table_sql",
    "drop_audit_table_sql",
    "drop_trigger_by_name_sql",
    "function_exists_query",
    "function_source_query",
    "trigger_function_sources_query",
    "trigger_name_from_sql",
    "trigger_names_from_sqls",
]
