"""Install and uninstall trigger functions and triggers outside of Alembic."""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.engine import Connection, Engine

from ..schema.builder import audited_tables, get_audit_spec
from ..sql.objects import create_statements, drop_statements
from .connection import run


def install_audit_triggers(
    metadata: MetaData, engine: Engine | Connection | None = None
) -> str | None:
    """Create (or replace) every audit function and trigger of ``metadata``.

    With an Engine or Connection the DDL runs in one transaction; otherwise the
    SQL script is returned.  Idempotent: running it twice leaves one trigger set.

    Example::

        metadata.create_all(engine)
        install_audit_triggers(metadata, engine)
        print(install_audit_triggers(metadata))  # the SQL, for review
    """
    statements = [
        stmt
        for table in audited_tables(metadata)
        for stmt in create_statements(get_audit_spec(table), replace_triggers=True)
    ]
    return run(statements, engine)


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
