"""Running statements on an Engine or a Connection, or returning them as a script.

Example::

    run(statements, engine)  # one transaction
    print(run(statements, None))  # the SQL script
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Connection, Engine

from ..sql.statement import AuditDDL, script


@contextmanager
def transaction(bind: Engine | Connection) -> Iterator[Connection]:
    """A connection in a transaction: a new one for an Engine, the caller's if it has one.

    Example::

        with transaction(engine) as conn:
            conn.execute(...)
    """
    if isinstance(bind, Engine):
        with bind.begin() as conn:
            yield conn
    elif bind.in_transaction():
        # The caller owns the transaction; all statements join it.
        yield bind
    else:
        with bind.begin():
            yield bind


def run(statements: list[str], bind: Engine | Connection | None) -> str | None:
    """Run ``statements`` in one transaction, or return them as a script without a bind.

    Example::

        run(create_statements(spec), engine)
    """
    if bind is None:
        return script(statements)
    with transaction(bind) as conn:
        for stmt in statements:
            conn.execute(AuditDDL(stmt))
    return None


__all__ = ["run", "transaction"]
