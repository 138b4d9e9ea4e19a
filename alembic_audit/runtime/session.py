"""Runtime context: the session settings that enrich audit rows."""

from __future__ import annotations

import datetime
import inspect
import uuid
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, overload

from sqlalchemy import bindparam, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql import Select

if TYPE_CHECKING:
    # Annotations only: a Core application does not pay for importing the ORM.
    # Not imported at run time: SQLAlchemy's asyncio extension needs greenlet,
    # which sync-only users need not install.
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
    from sqlalchemy.orm import Session

from ..core.constants import SETTING_NAMESPACE
from ..core.errors import AuditError
from ..core.options import validate_setting_name


def _text_value(name: str, value: object) -> str:
    if value is None:
        return ""  # read as unset by the trigger
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and "\x00" in value:
        # PostgreSQL text cannot hold NUL; say which setting instead of a driver error.
        raise AuditError(f"set_session_vars: value of {name!r} contains a NUL character")
    if isinstance(value, (str, int, float, uuid.UUID)):
        return str(value)
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    raise TypeError(
        f"set_session_vars: value of {name!r} must be str, int, float, bool, UUID, date, "
        f"time or None, got {type(value).__name__}"
    )


def session_vars_statement(**values: object) -> tuple[Select[Any], dict[str, str]]:
    """The ``SELECT set_config(...)`` statement and its bind parameters.

    Names and values are bind parameters; nothing is formatted into the SQL.

    Example::

        stmt, params = session_vars_statement(username="alice")
        connection.execute(stmt, params)
    """
    if not values:
        raise AuditError("set_session_vars: give at least one setting, e.g. username='alice'")
    columns = []
    params: dict[str, str] = {}
    for i, (name, value) in enumerate(values.items()):
        validate_setting_name(name, where="set_session_vars")
        params[f"name_{i}"] = f"{SETTING_NAMESPACE}.{name}"
        params[f"value_{i}"] = _text_value(name, value)
        columns.append(
            func.pg_catalog.set_config(bindparam(f"name_{i}"), bindparam(f"value_{i}"), True)
        )
    return select(*columns), params


@overload
def set_session_vars(conn: Connection | Session, **values: object) -> None: ...
@overload
def set_session_vars(conn: AsyncConnection | AsyncSession, **values: object) -> Awaitable[None]: ...
def set_session_vars(
    conn: Connection | Session | AsyncConnection | AsyncSession, **values: object
) -> Awaitable[None] | None:
    """Set transaction-local ``audit.*`` settings read by the audit triggers.

    Settings last until the transaction ends (``set_config(..., true)``), so they
    never leak to the next user of a pooled connection.  ``None`` unsets a value.
    With an ``AsyncConnection`` or ``AsyncSession``, await the result.

    Example::

        with engine.begin() as conn:
            set_session_vars(conn, username="alice", request_id=uuid.uuid4())
            conn.execute(item.insert().values(name="pen"))

        async with async_engine.begin() as aconn:
            await set_session_vars(aconn, username="alice")
    """
    stmt, params = session_vars_statement(**values)
    if inspect.iscoroutinefunction(conn.execute):
        return _async_execute(conn, stmt, params)  # type: ignore[arg-type]
    conn.execute(stmt, params)
    return None


async def _async_execute(
    conn: AsyncConnection | AsyncSession, stmt: Select[Any], params: dict[str, str]
) -> None:
    await conn.execute(stmt, params)


def set_session_var_stmt(**values: object) -> tuple[Select[Any], dict[str, str]]:
    """Compatibility name from sqlalchemy-postgresql-audit.

    The seed returned SQL text with the values formatted in; this returns the
    statement and its parameters instead, so values are never part of the SQL.

    Example::

        stmt, params = set_session_var_stmt(username="alice")
        conn.execute(stmt, params)
    """
    return session_vars_statement(**values)
