"""Keeping history through Alembic's own table ops: no drop of an audit table or of its
columns unless asked, no narrowing of an audit column, a renamed audit table renamed,
not recreated, and the timestamps of an audit table made by sqlalchemy-postgresql-audit
(``timestamp`` without time zone) not converted by a guess.

Audit tables are normally kept out of Alembic's table comparison altogether
(:mod:`alembic_audit.autogen.tables`); :func:`keep_history` is the guard for whatever
Alembic still writes about them (every run strips our ``audit.*`` info from its
``create_table`` ops).

Example::

    keep_history(upgrade_ops, scope, audit_tables, keep_drops=set(), found_types={})
"""

from __future__ import annotations

from typing import Any

from alembic.operations import ops
from sqlalchemy import DateTime

from ..core.constants import (
    ID_COLUMN,
    INFO_PREFIX,
    MAINTENANCE_LOG_TABLE,
    META_COLUMNS,
    TIMESTAMP_COLUMN,
)
from ..core.spec import AuditSpec
from ..reflection.inspector import PGAdvancedInspector
from .scope import QualifiedName, Scope, log
from .tables import log_kept_seed_timestamp, widen_only


def _table_key(op: Any, scope: Scope) -> QualifiedName:
    return scope.qualified(op.schema, op.table_name)


def _is_audit_shaped(op: ops.DropTableOp) -> bool:
    names = {c.name for c in op.to_table().columns}
    return set(META_COLUMNS) <= names


def keep_history(
    upgrade_ops: ops.UpgradeOps,
    scope: Scope,
    audit_tables: set[QualifiedName],
    *,
    keep_drops: set[QualifiedName],
    found_types: dict[QualifiedName, dict[str, str]],
) -> None:
    """Strip ``audit.*`` info, keep history: no drop of an audit table or its columns, no
    narrowing of an audit column's type.

    ``keep_drops`` are audit tables whose drop was asked for (``drop_history``);
    ``found_types`` the audit columns' types in the database, for widen-only.  The
    indexes of a kept audit table stay too: its history is still read.

    Example::

        keep_history(upgrade_ops, scope, {("public", "item_audit")}, keep_drops=set(),
                     found_types={})
    """
    kept_tables = {
        _table_key(op, scope)
        for op in upgrade_ops.ops
        if isinstance(op, ops.DropTableOp)
        and (_table_key(op, scope) in audit_tables or _is_audit_shaped(op))
        and _table_key(op, scope) not in keep_drops
    }
    kept: list[ops.MigrateOperation] = []
    for op in upgrade_ops.ops:
        if isinstance(op, ops.DropIndexOp) and _table_key(op, scope) in kept_tables:
            continue
        if isinstance(op, ops.CreateTableOp) and op.info:
            # Alembic renders info= into create_table; ours holds Column and Table
            # objects (a NameError in the migration) and means nothing to a migration.
            op.info = {k: v for k, v in op.info.items() if not str(k).startswith(INFO_PREFIX)}
        elif isinstance(op, ops.DropTableOp):
            key = _table_key(op, scope)
            if (key in audit_tables or _is_audit_shaped(op)) and key not in keep_drops:
                log.info("Kept audit table %r and its rows (no drop_table)", ".".join(key))
                continue
        elif isinstance(op, ops.ModifyTableOps) and _table_key(op, scope) in (
            audit_tables | kept_tables
        ):
            key = _table_key(op, scope)
            types = found_types.get(key, {})
            inner: list[ops.MigrateOperation] = []
            for sub in op.ops:
                if isinstance(sub, ops.DropIndexOp) and key in kept_tables:
                    continue
                if isinstance(sub, ops.DropColumnOp):
                    log.info(
                        "Kept column %r of audit table %r (old rows keep their values)",
                        sub.column_name,
                        ".".join(key),
                    )
                    continue
                if isinstance(sub, ops.AlterColumnOp) and _is_seed_timestamp(sub):
                    sub.modify_type = None
                    log_kept_seed_timestamp(key, op.schema, op.table_name)
                    if not sub.has_changes():
                        continue
                if isinstance(sub, ops.AlterColumnOp) and sub.column_name in types:
                    widened = widen_only(sub, types[sub.column_name])
                    if widened is None:
                        continue
                    sub = widened
                inner.append(sub)
            op.ops = inner
            if not inner:
                continue
        kept.append(op)
    upgrade_ops.ops = kept


def leave_partitions_alone(
    upgrade_ops: ops.UpgradeOps,
    scope: Scope,
    audit_tables: set[QualifiedName],
    inspector: PGAdvancedInspector,
) -> None:
    """Remove what Alembic proposes for the partitions of audit tables and for the
    audit-maintenance log: tables of the database the models do not declare, made and
    dropped by maintenance (partitions are dropped by ``prune``), never by a migration.
    Also leave ``audit_id``'s identity or serial to the conversion ops.

    The partitions are asked for (one catalog query) only when Alembic proposes to drop
    a table the models do not have.

    Example::

        leave_partitions_alone(upgrade_ops, scope, {("public", "item_audit")}, inspector)
    """
    drops = [
        op
        for op in upgrade_ops.ops
        if isinstance(op, (ops.DropTableOp, ops.ModifyTableOps, ops.DropIndexOp))
        and _table_key(op, scope) not in audit_tables
    ]
    children: set[QualifiedName] = set()
    if drops and audit_tables:
        children = set(inspector.children(sorted(audit_tables)))
    ignored = children | {
        _table_key(op, scope)
        for op in drops
        if isinstance(op, ops.DropTableOp) and _is_maintenance_log(op)
    }
    kept: list[ops.MigrateOperation] = []
    for op in upgrade_ops.ops:
        key = _table_key(op, scope) if hasattr(op, "table_name") else None
        if key is not None and key in ignored:
            continue
        if isinstance(op, ops.ModifyTableOps) and key in audit_tables:
            op.ops = [sub for sub in op.ops if not _is_id_default_change(sub)]
            if not op.ops:
                continue
        kept.append(op)
    upgrade_ops.ops = kept


def _is_maintenance_log(op: ops.DropTableOp) -> bool:
    names = {c.name for c in op.to_table().columns}
    return (
        op.table_name == MAINTENANCE_LOG_TABLE and {"action", "row_count", "audit_table"} <= names
    )


def _is_id_default_change(op: ops.MigrateOperation) -> bool:
    """An ``alter_column`` of ``audit_id`` whose only change is its identity or default:
    an identity on a plain audit table, a serial on a partitioned one; the conversion
    ops change it with the table."""
    if not isinstance(op, ops.AlterColumnOp) or op.column_name != ID_COLUMN:
        return False
    if op.modify_server_default is False:
        return False
    op.modify_server_default = False
    return not op.has_changes()


def _is_seed_timestamp(op: ops.AlterColumnOp) -> bool:
    """``audit_operation_timestamp`` found as ``timestamp`` without time zone (what
    sqlalchemy-postgresql-audit made), the model wanting ``timestamptz``."""
    existing, wanted = op.existing_type, op.modify_type
    return (
        op.column_name == TIMESTAMP_COLUMN
        and isinstance(existing, DateTime)
        and not existing.timezone
        and isinstance(wanted, DateTime)
        and bool(wanted.timezone)
    )


def renames_audit_table(
    old: AuditSpec | None, new: AuditSpec, existing: set[QualifiedName] | dict[QualifiedName, Any]
) -> bool:
    """Whether the audit table moves to a new name in the same schema (a rename): the old
    table exists and the new one does not (``existing``: the audit tables found).

    Example::

        renames_audit_table(old_spec, old_spec.replace(audit_table_name="x"), found_tables)
    """
    if old is None or old.qualified_audit_table == new.qualified_audit_table:
        return False
    old_key, new_key = old.qualified_audit_table, new.qualified_audit_table
    return old_key[0] == new_key[0] and old_key in existing and new_key not in existing


__all__ = ["keep_history", "leave_partitions_alone", "log", "renames_audit_table"]
