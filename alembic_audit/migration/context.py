"""What every op needs from the running migration: offline or not, the connection,
a way to emit statements, and how to name itself in a message.

Example::

    if not is_offline(operations):
        inspector = PGAdvancedInspector(connection(operations))
    emit(operations, create_statements(spec))
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from alembic.operations import Operations

from ..core.naming import label
from ..sql.statement import AuditDDL


def is_offline(operations: Operations) -> bool:
    """Whether the migration writes SQL (``alembic upgrade --sql``) instead of running it.

    Example::

        is_offline(op)  # False in an online run
    """
    return bool(operations.get_context().as_sql)


def connection(operations: Operations) -> sa.Connection:
    """The migration's connection (online runs only).

    Example::

        connection(op).execute(sa.text("SELECT 1"))
    """
    bind = operations.get_bind()
    assert bind is not None, "online only"
    return bind


def emit(operations: Operations, statements: Iterable[str]) -> None:
    """Run statements online, or write them verbatim into the offline script.

    Offline, the statements are written as they are: compiling them through a
    pyformat dialect would double the ``%`` of ``format()`` calls in a function body,
    and the script goes to psql, not to a driver.

    Example::

        emit(op, create_statements(spec))
    """
    impl = operations.migration_context.impl
    if impl.as_sql:
        for stmt in statements:
            impl.static_output(stmt.strip() + impl.command_terminator)
    else:
        for stmt in statements:
            operations.execute(AuditDDL(stmt))


def where(opname: str, table_name: str, schema: str | None) -> str:
    """How an op names itself in an error message: ``op.create_audit_trigger('item')``.

    Example::

        where("drop_audit_trigger", "item", "sales")  # "op.drop_audit_trigger('sales.item')"
    """
    return f"op.{opname}({label(schema, table_name)!r})"


__all__ = ["connection", "emit", "is_offline", "where"]
