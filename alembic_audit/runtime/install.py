"""Install and uninstall trigger functions and triggers outside of Alembic."""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.engine import Connection, Engine

from ..reflection.checks import check_audit_targets
from ..reflection.inspector import PGAdvancedInspector
from ..schema.builder import audited_tables, get_audit_spec
from ..sql.objects import create_statements, drop_statements
from .connection import run, transaction


def install_audit_triggers(
    metadata: MetaData, engine: Engine | Connection | None = None
) -> str | None:
    """Create (or replace) every audit function and trigger of ``metadata``.

    With an Engine or Connection the DDL runs in one transaction, after checking (one
    catalog query) that every audit table and the schemas of the audit tables and
    functions belong to the installing role or a superuser, and that each table is
    partitioned exactly when its model says so and takes no part in table inheritance;
    an :class:`~alembic_audit.AuditError` names the culprit otherwise.  Without a bind
    the SQL script is returned (and nothing is checked).  Idempotent: running it twice
    leaves one trigger set.

    Example::

        metadata.create_all(engine)
        install_audit_triggers(metadata, engine)
        print(install_audit_triggers(metadata))  # the SQL, for review
    """
    specs = [get_audit_spec(table) for table in audited_tables(metadata)]
    statements = [stmt for spec in specs for stmt in create_statements(spec, replace_triggers=True)]
    if engine is None:
        return run(statements, None)
    with transaction(engine) as conn:
        # Before any DDL: whose audit table, which schema owners, what kind of table.
        check_audit_targets(
            PGAdvancedInspector(conn), specs, where=lambda spec: "install_audit_triggers"
        )
        run(statements, conn)
    return None


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
