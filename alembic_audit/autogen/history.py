"""Keeping history through Alembic's own table ops: no drop of an audit table or of its
columns unless asked, a renamed audit table renamed, not recreated, and the timestamps
of an audit table made by sqlalchemy-postgresql-audit (``timestamp`` without time zone)
not converted by a guess.

Example::

    keep_history(autogen_context, upgrade_ops, scope, audit_tables, keep_drops=set())
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from alembic.operations import ops
from sqlalchemy import DateTime, MetaData, Table

from ..core.constants import (
    ID_COLUMN,
    INFO_PREFIX,
    MAINTENANCE_LOG_TABLE,
    META_COLUMNS,
    TIMESTAMP_COLUMN,
)
from ..core.spec import AuditSpec
from ..migration.ops import RenameAuditTable
from ..reflection.inspector import PGAdvancedInspector
from .scope import QualifiedName, Scope

if TYPE_CHECKING:
    from alembic.autogenerate.api import AutogenContext

# A child of Alembic's logger: what env.py's logging config shows for Alembic
# ("INFO  [alembic.autogenerate.audit] Detected ...") shows for us too.
log = logging.getLogger("alembic.autogenerate.audit")


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
) -> None:
    """Strip ``audit.*`` info, keep history: no drop of an audit table or its columns.

    ``keep_drops`` are audit tables whose drop was asked for (``drop_history``).  The
    indexes of a kept audit table stay too: its history is still read.

    Example::

        keep_history(upgrade_ops, scope, {("public", "item_audit")}, keep_drops=set())
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
            inner = []
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
                    _log_kept_timestamp(key, op.schema, op.table_name)
                    if not sub.has_changes():
                        continue
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


def _log_kept_timestamp(key: QualifiedName, schema: str | None, table_name: str) -> None:
    # Converting needs the time zone the old rows were written in: the seed stored
    # now() as a local time of the writing session's TimeZone, which no catalog
    # records.  ALTER ... TYPE timestamptz without USING would read them in the
    # migration session's TimeZone: a silent shift of every old row if the two differ.
    schema_arg = f", schema={schema!r}" if schema is not None else ""
    log.info(
        "Kept column %r of audit table %r as timestamp without time zone (made by "
        "sqlalchemy-postgresql-audit; the model has timestamp with time zone): its rows hold "
        "local times of the TimeZone they were written in, which no catalog records, so "
        "they are not converted by a guess. New audit rows are written in the session's "
        "TimeZone, as before. To convert, write in a migration: op.alter_column(%r, %r%s, "
        "type_=sa.DateTime(timezone=True), existing_nullable=False, "
        "postgresql_using=\"%s AT TIME ZONE '<time zone of the old rows>'\") "
        "(see README, 'Coming from sqlalchemy-postgresql-audit')",
        TIMESTAMP_COLUMN,
        ".".join(key),
        table_name,
        TIMESTAMP_COLUMN,
        schema_arg,
        TIMESTAMP_COLUMN,
    )


def renames_audit_table(scope: Scope, old: AuditSpec | None, new: AuditSpec) -> bool:
    """Whether the audit table moves to a new name in the same schema (a rename).

    Example::

        renames_audit_table(scope, old_spec, old_spec.replace(audit_table_name="x"))
    """
    if old is None or old.qualified_audit_table == new.qualified_audit_table:
        return False
    old_key, new_key = old.qualified_audit_table, new.qualified_audit_table
    return (
        old_key[0] == new_key[0] and scope.table_exists(old_key) and not scope.table_exists(new_key)
    )


def rename_audit_table(
    autogen_context: AutogenContext,
    upgrade_ops: ops.UpgradeOps,
    scope: Scope,
    old: AuditSpec,
    new: AuditSpec,
    tables: dict[QualifiedName, Table],
) -> None:
    """Turn ``create_table(new audit table)`` into a rename of the old one.

    Only within one schema (PostgreSQL's ``ALTER TABLE ... RENAME``), and only when
    the old table is still there; otherwise the new table is created and the old
    one kept with its rows.

    Example::

        rename_audit_table(autogen_context, upgrade_ops, scope, old_spec, new_spec, tables)
    """
    old_key, new_key = old.qualified_audit_table, new.qualified_audit_table
    if not any(
        isinstance(op, ops.CreateTableOp) and _table_key(op, scope) == new_key
        for op in upgrade_ops.ops
    ):
        return
    schema_arg = scope.schema_arg(old_key[0])
    replacement: list[ops.MigrateOperation] = [
        RenameAuditTable(old_key[1], new_key[1], schema=schema_arg)
    ]
    log.info("Detected renamed audit table %r to %r", ".".join(old_key), ".".join(new_key))
    metadata_table = tables.get(new_key)
    if metadata_table is not None:
        # Alembic's own table comparators, the reflected old table against the new
        # model: column changes made together with the rename still show up.
        conn_table = Table(old_key[1], MetaData(), schema=schema_arg)
        autogen_context.inspector.reflect_table(conn_table, None)
        # Compared under the old name (Alembic's comparators read the live table's
        # indexes by that name), then pointed at the new name, applied after the rename.
        modify = ops.ModifyTableOps(new_key[1], [], schema=schema_arg)
        assert autogen_context.dialect is not None
        autogen_context.comparators.dispatch("table", qualifier=autogen_context.dialect.name)(
            autogen_context, modify, schema_arg, old_key[1], conn_table, metadata_table
        )
        modify.ops = [o for o in modify.ops if not isinstance(o, ops.DropColumnOp)]
        for sub in modify.ops:
            if hasattr(sub, "table_name"):
                sub.table_name = new_key[1]
        if not modify.is_empty():
            replacement.append(modify)
    # Alembic wrote the new table's indexes as create_index ops next to its create_table;
    # the comparison above already holds them, against the renamed table's own.
    for op in upgrade_ops.ops:
        if isinstance(op, ops.ModifyTableOps) and _table_key(op, scope) == new_key:
            op.ops = [o for o in op.ops if not isinstance(o, ops.CreateIndexOp)]
    upgrade_ops.ops = [
        op
        for op in upgrade_ops.ops
        if not (isinstance(op, ops.CreateIndexOp) and _table_key(op, scope) == new_key)
        and not (isinstance(op, ops.ModifyTableOps) and op.is_empty())
    ]
    index = next(
        i
        for i, op in enumerate(upgrade_ops.ops)
        if isinstance(op, ops.CreateTableOp) and _table_key(op, scope) == new_key
    )
    upgrade_ops.ops[index : index + 1] = replacement


__all__ = [
    "keep_history",
    "leave_partitions_alone",
    "log",
    "rename_audit_table",
    "renames_audit_table",
]
