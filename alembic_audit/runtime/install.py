"""Install and uninstall trigger functions and triggers outside of Alembic."""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.engine import Connection, Engine

from ..core.spec import AuditSpec
from ..reflection.inspector import PGAdvancedInspector
from ..schema.builder import audited_tables, get_audit_spec
from ..sql.function import audit_function
from ..sql.objects import create_statements, drop_statements, snapshot_statement
from .connection import run, transaction


def install_audit_triggers(
    metadata: MetaData,
    engine: Engine | Connection | None = None,
    *,
    snapshot: bool = False,
) -> str | None:
    """Create (or replace) every audit function and trigger of ``metadata``.

    With an Engine or Connection the DDL runs in one transaction; otherwise the
    SQL script is returned.  Idempotent: running it twice leaves one trigger set.

    ``snapshot=True`` records the rows of every table whose auditing begins now (its
    audit function did not exist) as ``'S'`` audit rows, in the same transaction:
    the baseline of the rows that existed before auditing.  A table already audited
    gets no second snapshot.  The returned script (no bind) snapshots every table.

    Example::

        metadata.create_all(engine)
        install_audit_triggers(metadata, engine, snapshot=True)
        print(install_audit_triggers(metadata))  # the SQL, for review
    """
    specs = [get_audit_spec(table) for table in audited_tables(metadata)]
    if engine is None or not snapshot:
        statements = [s for spec in specs for s in _install_statements(spec, snapshot)]
        return run(statements, engine)
    with transaction(engine) as conn:
        inspector = PGAdvancedInspector(conn)
        statements = [
            stmt
            for spec in specs
            for stmt in _install_statements(
                spec, not inspector.function_exists(audit_function(spec).signature)
            )
        ]
        run(statements, conn)
    return None


def _install_statements(spec: AuditSpec, snapshot: bool) -> list[str]:
    statements = create_statements(spec, replace_triggers=True)
    return statements + [snapshot_statement(spec)] if snapshot else statements


def uninstall_audit_triggers(
    metadata: MetaData, engine: Engine | Connection | None = None
) -> str | None:
    """Drop every audit function (and with it its triggers) of ``metadata``.

    Audit tables and their rows are left alone.  Idempotent.

    Example::

        uninstall_audit_triggers(metadata, engine)
    """
    statements = [
        stmt
        for table in reversed(audited_tables(metadata))
        for stmt in drop_statements(get_audit_spec(table), if_exists=True)
    ]
    return run(statements, engine)


__all__ = ["install_audit_triggers", "uninstall_audit_triggers"]
