"""Runtime context: the session settings that enrich audit rows."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, overload

from sqlalchemy import bindparam, func, select, true
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
from .values import text_value


def set_config_statement(count: int, *, prefix: str = "") -> Select[Any]:
    """``SELECT pg_catalog.set_config(:name_0, :value_0, true), ...`` for ``count``
    settings: names and values are bind parameters ``{prefix}name_{i}`` and
    ``{prefix}value_{i}``, each set for the current transaction only.

    Example::

        conn.execute(set_config_statement(1), {"name_0": "audit.username", "value_0": "al"})
    """
    return select(
        *(
            func.pg_catalog.set_config(
                bindparam(f"{prefix}name_{i}"), bindparam(f"{prefix}value_{i}"), true()
            )
            for i in range(count)
        )
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
    params: dict[str, str] = {}
    for i, (name, value) in enumerate(values.items()):
        validate_setting_name(name, where="set_session_vars")
        params[f"name_{i}"] = f"{SETTING_NAMESPACE}.{name}"
        params[f"value_{i}"] = text_value(name, value, where="set_session_vars")
    return set_config_statement(len(values)), params


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
