"""Typed access to the audit operations, for type checkers and editors.

``op.create_audit_trigger(...)`` works in any migration that imports
:mod:`alembic_audit.operations`, but ``alembic.op`` is a stub-typed module that
type checkers cannot extend, so they flag it and editors cannot complete it.
These functions are the same operations with full signatures and docstrings; they
run through the current migration's ``op``.

Example (a hand-written migration)::

    from alembic_audit import op as audit_op

    def upgrade() -> None:
        audit_op.create_audit_trigger("item", create_audit_table=True)

    def downgrade() -> None:
        audit_op.drop_audit_trigger("item", drop_audit_table=True)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from alembic import op as _alembic_op

from . import operations as _operations  # registers the ops with Alembic

__all__ = [
    "create_audit_trigger",
    "drop_audit_trigger",
    "grant_audit_access",
    "replace_audit_trigger",
    "revoke_audit_access",
]


def _proxy() -> Any:
    # The Operations object of the running migration (alembic.op forwards to it).
    return _alembic_op


def create_audit_trigger(
    table_name: str,
    *,
    schema: str | None = None,
    columns: Sequence[tuple[str, str]] | None = None,
    exclude: Sequence[str] = (),
    session_settings: Sequence[Any] | None = None,
    level: str | None = None,
    skip_unchanged: bool | None = None,
    record_truncate: bool | None = None,
    primary_key: Sequence[str] | None = None,
    audit_table_name: str | None = None,
    audit_schema: str | None = None,
    function_name: str | None = None,
    function_schema: str | None = None,
    trigger_name: str | None = None,
    create_audit_table: bool = False,
    **spec_fields: Any,
) -> None:
    """Create the audit trigger function and triggers of ``table_name``.

    Online, without ``columns``, the columns (minus ``exclude``) and the primary
    key are read from the live table; offline pass them.  Session settings are
    ``(name, type, required)`` tuples (or ``Column``/``SessionSetting`` objects).
    ``create_audit_table=True`` also creates the audit table.  See
    :meth:`alembic_audit.operations.CreateAuditTrigger.create_audit_trigger`.

    Example::

        audit_op.create_audit_trigger(
            "item", session_settings=[("username", "VARCHAR(50)", True)],
            create_audit_table=True,
        )
    """
    _proxy().create_audit_trigger(
        table_name,
        schema=schema,
        columns=columns,
        exclude=exclude,
        session_settings=session_settings,
        level=level,
        skip_unchanged=skip_unchanged,
        record_truncate=record_truncate,
        primary_key=primary_key,
        audit_table_name=audit_table_name,
        audit_schema=audit_schema,
        function_name=function_name,
        function_schema=function_schema,
        trigger_name=trigger_name,
        create_audit_table=create_audit_table,
        **spec_fields,
    )


def drop_audit_trigger(
    table_name: str,
    *,
    schema: str | None = None,
    columns: Sequence[tuple[str, str]] | None = None,
    session_settings: Sequence[Any] | None = None,
    level: str | None = None,
    skip_unchanged: bool | None = None,
    record_truncate: bool | None = None,
    primary_key: Sequence[str] | None = None,
    audit_table_name: str | None = None,
    audit_schema: str | None = None,
    function_name: str | None = None,
    function_schema: str | None = None,
    trigger_name: str | None = None,
    drop_audit_table: bool = False,
    **spec_fields: Any,
) -> None:
    """Drop the audit trigger function and triggers of ``table_name``.

    Without ``columns`` (online) the definition is read from the installed
    function.  ``drop_audit_table=True`` also drops the audit table and its rows.

    Example::

        audit_op.drop_audit_trigger("item")
    """
    _proxy().drop_audit_trigger(
        table_name,
        schema=schema,
        columns=columns,
        session_settings=session_settings,
        level=level,
        skip_unchanged=skip_unchanged,
        record_truncate=record_truncate,
        primary_key=primary_key,
        audit_table_name=audit_table_name,
        audit_schema=audit_schema,
        function_name=function_name,
        function_schema=function_schema,
        trigger_name=trigger_name,
        drop_audit_table=drop_audit_table,
        **spec_fields,
    )


def replace_audit_trigger(
    table_name: str,
    *,
    schema: str | None = None,
    old: Mapping[str, Any] | None = None,
    new: Mapping[str, Any] | None = None,
    old_function_sql: str | None = None,
    old_trigger_sqls: Sequence[str] | None = None,
    function_sql: str | None = None,
    trigger_sqls: Sequence[str] | None = None,
    **changes: Any,
) -> None:
    """Replace the audit function and triggers of ``table_name``.

    Online, ``old`` may be left out (read from the installed function) and the
    new definition given as changes.

    Example::

        audit_op.replace_audit_trigger("item", level="row")
    """
    _proxy().replace_audit_trigger(
        table_name,
        schema=schema,
        old=old,
        new=new,
        old_function_sql=old_function_sql,
        old_trigger_sqls=old_trigger_sqls,
        function_sql=function_sql,
        trigger_sqls=trigger_sqls,
        **changes,
    )


def grant_audit_access(
    table_name: str,
    role: str,
    *,
    schema: str | None = None,
    read_history: bool = False,
    schema_usage: bool = True,
    sequences: Sequence[Sequence[str]] | None = None,
    audit_table_name: str | None = None,
    audit_schema: str | None = None,
    security_definer: bool | None = None,
) -> None:
    """Grant ``role`` the least-privilege writer pattern on the audited ``table_name``.

    Online, refuses a role that already holds part of it (the downgrade could not
    restore that exactly); offline, pass ``sequences``.  See
    :meth:`alembic_audit.grant_operations.GrantAuditAccess.grant_audit_access`.

    Example::

        audit_op.grant_audit_access("item", "app_writer", read_history=True)
    """
    _proxy().grant_audit_access(
        table_name,
        role,
        schema=schema,
        read_history=read_history,
        schema_usage=schema_usage,
        sequences=sequences,
        audit_table_name=audit_table_name,
        audit_schema=audit_schema,
        security_definer=security_definer,
    )


def revoke_audit_access(
    table_name: str,
    role: str,
    *,
    schema: str | None = None,
    read_history: bool = False,
    schema_usage: bool = True,
    sequences: Sequence[Sequence[str]] | None = None,
    audit_table_name: str | None = None,
    audit_schema: str | None = None,
    security_definer: bool | None = None,
) -> None:
    """Revoke exactly what :func:`grant_audit_access` with the same arguments granted.

    Example::

        audit_op.revoke_audit_access("item", "app_writer", read_history=True)
    """
    _proxy().revoke_audit_access(
        table_name,
        role,
        schema=schema,
        read_history=read_history,
        schema_usage=schema_usage,
        sequences=sequences,
        audit_table_name=audit_table_name,
        audit_schema=audit_schema,
        security_definer=security_definer,
    )


# Keep the import visibly used: it is what makes alembic.op know the ops.
_ = _operations
