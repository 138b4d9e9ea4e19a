"""Running statements on an Engine or a Connection, or returning them as a script.

Example::

    run(statements, engine)  # one transaction
    print(run(statements, None))  # the SQL script
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import MetaData
from sqlalchemy.engine import Connection, Engine

from ..core.errors import AuditError
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


def metadata_bind(
    metadata: MetaData, bind: Engine | Connection | None, caller: str, *, depth: int = 1
) -> Engine | Connection | None:
    """``bind``, else what a script written for SQLAlchemy 1.x left in ``metadata.bind``.

    SQLAlchemy 2.0 removed bound metadata, but ``meta.bind = engine`` (the seed's
    documented setup) still sets a plain attribute.  Such a script meant "run it
    there", as sqlalchemy-postgresql-audit did: the DDL runs on that bind (with a
    ``DeprecationWarning`` saying to pass it), never a script returned in silence.
    Anything else there is refused before any DDL.  ``depth``: how many calls of ours
    lie between the user's code and this function (where the warning points).

    Example::

        metadata.bind = engine  # a half-ported script
        metadata_bind(metadata, None, "install_audit_triggers")  # engine, and a warning
    """
    if bind is not None:
        return bind
    legacy = getattr(metadata, "bind", None)
    if legacy is None:
        return None
    if isinstance(legacy, (Engine, Connection)):
        warnings.warn(
            f"{caller}(metadata) runs on metadata.bind, which SQLAlchemy 2.0 no longer "
            f"has; pass the engine instead: {caller}(metadata, engine)",
            DeprecationWarning,
            stacklevel=2 + depth,
        )
        return legacy
    raise AuditError(
        f"{caller}(metadata): metadata.bind is a {type(legacy).__name__}, not an Engine or "
        f"a Connection, so nothing can run on it; pass the engine: {caller}(metadata, engine)"
        " (with asyncio: await conn.run_sync(lambda sync_conn: "
        f"{caller}(metadata, sync_conn)))"
    )


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


__all__ = ["metadata_bind", "run", "transaction"]
