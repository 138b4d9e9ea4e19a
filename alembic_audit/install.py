"""Install and uninstall trigger functions and triggers outside of Alembic."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import MetaData
from sqlalchemy.engine import Connection, Engine

from . import ddl
from .builder import audited_tables, get_audit_spec


@contextmanager
def _connection(bind: Engine | Connection) -> Iterator[Connection]:
    if isinstance(bind, Engine):
        with bind.begin() as conn:
            yield conn
    elif bind.in_transaction():
        # The caller owns the transaction; all statements join it.
        yield bind
    else:
        with bind.begin():
            yield bind


def _run(statements: list[str], bind: Engine | Connection | None) -> str | None:
    if bind is None:
        return ddl.script(statements)
    with _connection(bind) as conn:
        for stmt in statements:
            conn.execute(ddl.AuditDDL(stmt))
    return None


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
        for stmt in ddl.create_statements(get_audit_spec(table), replace_triggers=True)
    ]
    return _run(statements, engine)


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
        for stmt in ddl.drop_statements(get_audit_spec(table), if_exists=True)
    ]
    return _run(statements, engine)
