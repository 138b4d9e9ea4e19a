"""The least-privilege role setup: let an application role write audited tables
while it can neither change nor forge audit rows.

Run it as the role that owns the tables and trigger functions (the migration role)
after the triggers are installed.  See the README section "Security model".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import MetaData
from sqlalchemy.engine import Connection, Engine

from ..core.errors import AuditError
from ..core.spec import AuditSpec
from ..reflection.checks import check_audit_targets, check_held_elsewhere, check_read_history
from ..reflection.inspector import PGAdvancedInspector
from ..schema.builder import audited_tables, get_audit_spec
from ..sql.grants import (
    privilege_sql,
    revoke_all_sql,
    revoke_function_sql,
    validate_role_name,
    writer_privileges,
)
from .connection import metadata_bind, run, transaction

#: Statements for one audited table, given the sequences feeding its columns.
_TableStatements = Callable[[AuditSpec, Sequence[tuple[str, str]]], list[str]]


#: Checks before any statement runs (online only), given the specs.
_Check = Callable[[PGAdvancedInspector, list[AuditSpec]], None]


def _for_audited_tables(
    metadata: MetaData,
    role: str,
    bind: Engine | Connection | None,
    statements: _TableStatements,
    caller: str,
    check: _Check | None = None,
) -> str | None:
    """Statements for every audited table.  Sequences need the catalog, so they are
    only part of an online run (the returned script leaves them out)."""
    validate_role_name(role)
    bind = metadata_bind(metadata, bind, caller, depth=2)
    specs = [get_audit_spec(t) for t in audited_tables(metadata)]
    if bind is None:
        return run([stmt for spec in specs for stmt in statements(spec, ())], None)
    with transaction(bind) as conn:
        inspector = PGAdvancedInspector(conn)
        if check is not None:
            check(inspector, specs)
        all_statements = [
            stmt
            for spec in specs
            for stmt in statements(spec, inspector.owned_sequences(*spec.qualified_table))
        ]
        run(all_statements, conn)
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

    Online, before any statement, it refuses (:class:`~alembic_audit.AuditError`) an
    audit table or an audit or function schema not owned by the function's owner (or
    a superuser), a privilege on the audit table or the function that the role would
    keep through PUBLIC, another role or ownership (the error names that role: a
    REVOKE from ``role`` cannot remove it), and ``read_history`` where the table has
    row-level security and its audit table does not.

    With a bind, everything runs in one transaction; without one, the SQL script is
    returned (sequence grants need the catalog, so the script leaves them out; the
    Alembic op ``op.grant_audit_access`` takes them as ``sequences=[...]``).

    Example::

        install_audit_triggers(metadata, owner_engine)
        grant_audit_access(metadata, "app_writer", owner_engine, read_history=True)
    """

    def statements(spec: AuditSpec, sequences: Sequence[tuple[str, str]]) -> list[str]:
        privileges = writer_privileges(
            spec.qualified_table,
            spec.qualified_audit_table,
            security_definer=spec.security_definer,
            read_history=read_history,
            sequences=sequences,
        )
        # Whatever was granted on the audit table and the audit function before (e.g.
        # ALL TABLES IN SCHEMA, ALTER DEFAULT PRIVILEGES) goes first: the writer must not
        # be able to change or forge history.
        return [
            revoke_all_sql("TABLE", *spec.qualified_audit_table, role),
            revoke_function_sql(spec.qualified_function, role),
        ] + [privilege_sql("GRANT", p, role) for p in privileges]

    def check(inspector: PGAdvancedInspector, specs: list[AuditSpec]) -> None:
        place = "grant_audit_access"
        check_audit_targets(inspector, specs, where=lambda spec: place, table_shape=False)
        for spec in specs:
            if not inspector.function_exists(*spec.qualified_function):
                raise AuditError(
                    f"{place}: table {'.'.join(spec.qualified_table)!r} has no audit function "
                    f"{'.'.join(spec.qualified_function)!r}; install the audit triggers first "
                    "(install_audit_triggers, or alembic upgrade)"
                )
        for spec in specs:
            check_held_elsewhere(
                inspector,
                place,
                role,
                spec.qualified_audit_table,
                spec.qualified_function,
                security_definer=spec.security_definer,
                read_history=read_history,
            )
            check_read_history(
                inspector,
                place,
                spec.qualified_table,
                spec.qualified_audit_table,
                read_history=read_history,
            )

    return _for_audited_tables(metadata, role, bind, statements, "grant_audit_access", check)


def revoke_audit_access(
    metadata: MetaData, role: str, bind: Engine | Connection | None = None
) -> str | None:
    """Revoke what :func:`grant_audit_access` granted (schema USAGE is kept, it may be
    shared).

    Example::

        revoke_audit_access(metadata, "app_writer", owner_engine)
    """

    def statements(spec: AuditSpec, sequences: Sequence[tuple[str, str]]) -> list[str]:
        return [
            revoke_all_sql("TABLE", *spec.qualified_table, role),
            revoke_all_sql("TABLE", *spec.qualified_audit_table, role),
            *(revoke_all_sql("SEQUENCE", schema, name, role) for schema, name in sequences),
        ]

    return _for_audited_tables(metadata, role, bind, statements, "revoke_audit_access")


__all__ = ["grant_audit_access", "revoke_audit_access"]
