"""Sync and async callers: one implementation for ``Connection``, ``Session``,
``AsyncConnection`` and ``AsyncSession``.

The reading functions are written once, for a sync ``Connection``.  A ``Session``
lends its connection (and its transaction); an ``AsyncConnection`` or
``AsyncSession`` runs the same code through its ``run_sync``, which is how
SQLAlchemy's asyncio extension runs sync code on asyncpg or psycopg's async
connection.  Nothing here imports the asyncio extension (it needs greenlet, which
sync-only users need not install): an async connection is recognised by its
``run_sync`` method.

Example::

    def _count(conn: Connection) -> int: ...

    def count(conn):
        return call(conn, _count)  # a value, or an awaitable with async connections
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ..core.errors import AuditError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

    AnyConnection = Connection | Session | AsyncConnection | AsyncSession
    SyncConnection = Connection | Session

T = TypeVar("T")


def is_async(conn: object) -> bool:
    """Whether ``conn`` is an ``AsyncConnection`` or ``AsyncSession``.

    Example::

        is_async(engine.connect())  # False
    """
    return callable(getattr(conn, "run_sync", None))


def connection_of(conn: Connection | Session, what: str) -> Connection:
    """The ``Connection`` to run on: the connection itself, or the one a ``Session``
    uses for its current transaction (begun if need be, as ``Session.execute`` does).

    Example::

        connection_of(session, "history").execute(...)
    """
    if isinstance(conn, Connection):
        return conn
    if isinstance(conn, Session):
        return conn.connection()
    raise AuditError(
        f"{what}: expected a Connection, Session, AsyncConnection or AsyncSession, "
        f"got {type(conn).__name__}; pass engine.connect() or a Session"
    )


def call(conn: Any, fn: Callable[..., T], *args: Any, what: str) -> T | Awaitable[T]:
    """``fn(connection, *args)`` on the sync ``Connection`` behind ``conn``: its value,
    or, for an async connection or session, an awaitable of it.

    Example::

        versions = call(conn, read_history, source, key, what="history")
    """
    if is_async(conn):

        def run(sync: Connection | Session) -> T:
            return fn(connection_of(sync, what), *args)

        result: Awaitable[T] = conn.run_sync(run)
        return result
    return fn(connection_of(conn, what), *args)


__all__ = ["call", "connection_of", "is_async"]
