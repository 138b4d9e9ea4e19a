"""Install and uninstall trigger functions and triggers outside of Alembic."""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.engine import Connection, Engine

from ..schema.builder import audited_tables, get_audit_spec
from ..sql.objects import create_statements, drop_statements
from .connection import metadata_bind, run


def install_audit_triggers(
    metadata: MetaData, engine: Engine | Connection | None = None
) -> str | None:
    """Create (or replace) every audit function and trigger of ``metadata``.

    With an Engine or Connection the DDL runs in one transaction; otherwise the
    SQL script is returned.  Idempotent: running it twice leaves one trigger set.
    A ``metadata.bind`` left by a script written for SQLAlchemy 1.x is used (with a
    ``DeprecationWarning``), as sqlalchemy-postgresql-audit did.

    The script runs unchanged through ``conn.execute(text(...))``,
    ``conn.exec_driver_sql(...)``, ``DDL(...)``, ``op.execute(...)`` and psql.

    Example::

        metadata.create_all(engine)
        install_audit_triggers(metadata, engine)
        print(install_audit_triggers(metadata))  # the SQL, for review
    """
    bind = metadata_bind(metadata, engine, "install_audit_triggers")
    statements = [
        stmt
        for table in audited_tables(metadata)
        for stmt in create_statements(get_audit_spec(table), replace_triggers=True)
    ]
    return run(statements, bind)


def uninstall_audit_triggers(
    metadata: MetaData, engine: Engine | Connection | None = None
) -> str | None:
    """Drop every audit function (and with it its triggers) of ``metadata``.

    Audit tables and their rows are left alone.  Idempotent: it also runs where
    nothing is installed.  Without a bind (nor ``metadata.bind``), the SQL script is
    returned.

    Example::

        uninstall_audit_triggers(metadata, engine)
    """
    bind = metadata_bind(metadata, engine, "uninstall_audit_triggers")
    statements = [
        stmt
        for table in reversed(audited_tables(metadata))
        for stmt in drop_statements(get_audit_spec(table), if_exists=True)
    ]
    return run(statements, bind)


__all__ = ["install_audit_triggers", "uninstall_audit_triggers"]
