"""The least-privilege role setup: let an application role write audited tables
while it can neither change nor forge audit rows.

Run it as the role that owns the tables and trigger functions (the migration role)
after the triggers are installed.  See the README section "Security model".
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection, Engine

from . import ddl, ddl_grants
from .builder import audited_tables, get_audit_spec
from .install import _connection, _run
from .spec import AuditSpec


def owned_sequences(conn: Connection, schema: str, table: str) -> tuple[tuple[str, str], ...]:
    """``(schema, name)`` of the sequences feeding a table's serial/identity columns.

    Example::

        owned_sequences(conn, "public", "item")  # (('public', 'item_id_seq'),)
    """
    rows = conn.execute(text(ddl_grants.OWNED_SEQUENCES_SQL), {"table": ddl.qualify(schema, table)})
    return tuple((str(s), str(n)) for s, n in rows)


def _for_audited_tables(
    metadata: MetaData,
    role: str,
    bind: Engine | Connection | None,
    table_sqls: Callable[[AuditSpec], list[str]],
    sequence_sql: Callable[[str, str, str], str],
) -> str | None:
    """Statements for every audited table; sequence statements need the catalog,
    so they are only part of an online run (the returned script leaves them out)."""
    ddl_grants.validate_role_name(role)
    specs = [get_audit_spec(t) for t in audited_tables(metadata)]
    if bind is None:
        return _run([stmt for spec in specs for stmt in table_sqls(spec)], None)
    with _connection(bind) as conn:
        statements: list[str] = []
        for spec in specs:
            statements += table_sqls(spec)
            statements += [
                sequence_sql(schema, name, role)
                for schema, name in owned_sequences(conn, *spec.qualified_table)
            ]
        _run(statements, conn)
    return None


def grant_audit_access(
    metadata: MetaData,
    role: str,
    bind: Engine | Connection | None = None,
    *,
    read_history: bool = False,
) -> str | None:
    """Grant ``role`` what it needs to write every audited table of ``metadata``.

    The role gets USAGE on the tables' schemas, SELECT/INSERT/UPDATE/DELETE on the
    audited tables and USAGE on the sequences of their serial columns; any privilege
    it held on the audit tables is revoked (``read_history=True`` gives back SELECT).
    With the default ``SECURITY DEFINER`` trigger functions that is all: audit rows
    are written by the function's owner.  A table audited with
    ``"security_definer": False`` also grants INSERT on its audit table, which lets
    the role insert forged rows: prefer the default.

    With a bind, everything runs in one transaction; without one, the SQL script is
    returned (sequence grants need the catalog, so the script leaves them out; the
    Alembic op ``op.grant_audit_access`` takes them as ``sequences=[...]``).

    Example::

        install_audit_triggers(metadata, owner_engine)
        grant_audit_access(metadata, "app_writer", owner_engine, read_history=True)
    """
    return _for_audited_tables(
        metadata,
        role,
        bind,
        lambda spec: ddl_grants.grant_writer_sqls(spec, role, read_history=read_history),
        ddl_grants.grant_sequence_sql,
    )


def revoke_audit_access(
    metadata: MetaData, role: str, bind: Engine | Connection | None = None
) -> str | None:
    """Revoke what :func:`grant_audit_access` granted (schema USAGE is kept).

    Example::

        revoke_audit_access(metadata, "app_writer", owner_engine)
    """
    return _for_audited_tables(
        metadata,
        role,
        bind,
        lambda spec: ddl_grants.revoke_writer_sqls(spec, role),
        ddl_grants.revoke_sequence_sql,
    )


__all__ = ["grant_audit_access", "revoke_audit_access"]
