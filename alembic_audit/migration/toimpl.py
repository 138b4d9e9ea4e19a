"""The implementations of the ops in :mod:`alembic_audit.migration.ops`.

Online, each one checks first what it needs (the table, its audit table, the
function existing or not), so a failing op fails before any of its DDL ran and
PostgreSQL's transactional DDL leaves the database as it was; then it emits the
statements of :mod:`alembic_audit.sql`.  Offline (``alembic upgrade --sql``) the
statements are written out verbatim.

Example::

    import alembic_audit.migration  # registers ops and implementations
    op.create_audit_trigger("item", create_audit_table=True)
"""

from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa
from alembic.operations import Operations

from ..core.errors import AuditError, OfflineOperationError
from ..core.spec import AuditSpec
from ..maintenance.conversion import partition_table, unpartition_table
from ..maintenance.partitions import ensure_partitions, plan
from ..reflection.checks import check_audit_targets
from ..reflection.inspector import PGAdvancedInspector
from ..sql.audit_partitions import add_partition_guards_sql
from ..sql.function import audit_function, guard_function
from ..sql.objects import (
    create_statements,
    drop_guard_statements,
    drop_statements,
    snapshot_statement,
)
from ..sql.partitions import drop_partition_triggers_sql
from ..sql.policies import drop_row_security_sql
from ..sql.tables import create_audit_table_statements, drop_audit_table_sql
from ..sql.triggers import audit_triggers, drop_trigger_sql, trigger_names_from_sqls
from .access import check_state
from .context import connection, emit, is_offline, where
from .ops import (
    CreateAuditTrigger,
    DropAuditTrigger,
    GrantAuditAccess,
    PartitionAuditTable,
    ReplaceAuditTrigger,
    RevokeAuditAccess,
    UnpartitionAuditTable,
)


def _check_table(operations: Operations, opname: str, spec: AuditSpec) -> None:
    if is_offline(operations):
        return
    if not sa.inspect(connection(operations)).has_table(
        spec.table_name, schema=spec.effective_schema
    ):
        raise AuditError(
            f"{where(opname, spec.table_name, spec.schema)}: table "
            f"{'.'.join(spec.qualified_table)!r} does not exist"
        )


def _check_audit_table(
    operations: Operations, opname: str, spec: AuditSpec, *, exists: bool
) -> None:
    if is_offline(operations):
        return
    found = sa.inspect(connection(operations)).has_table(
        spec.audit_table_name, schema=spec.effective_audit_schema
    )
    if found != exists:
        state = "does not exist" if exists else "already exists"
        raise AuditError(
            f"{where(opname, spec.table_name, spec.schema)}: audit table "
            f"{'.'.join(spec.qualified_audit_table)!r} of table "
            f"{'.'.join(spec.qualified_table)!r} {state}"
            + ("; create it first (op.create_table, or create_audit_table=True)" if exists else "")
        )


def _check_function(operations: Operations, opname: str, spec: AuditSpec, *, exists: bool) -> None:
    if is_offline(operations):
        return
    inspector = PGAdvancedInspector(connection(operations))
    if inspector.function_exists(*spec.qualified_function) != exists:
        state = "does not exist" if exists else "already exists"
        hint = "" if exists else "; use op.replace_audit_trigger to change it"
        raise AuditError(
            f"{where(opname, spec.table_name, spec.schema)}: trigger function "
            f"{'.'.join(spec.qualified_function)!r} of table "
            f"{'.'.join(spec.qualified_table)!r} {state}{hint}"
        )


def _check_targets(operations: Operations, opname: str, spec: AuditSpec) -> None:
    """Owners of the audit table and schemas, partitioning, inheritance (see
    :mod:`alembic_audit.reflection.checks`)."""
    if is_offline(operations):
        return
    check_audit_targets(
        PGAdvancedInspector(connection(operations)),
        [spec],
        where=lambda s: where(opname, s.table_name, s.schema),
    )


@Operations.implementation_for(CreateAuditTrigger)
def create_audit_trigger(operations: Operations, operation: CreateAuditTrigger) -> None:
    spec = operation.spec
    _check_table(operations, "create_audit_trigger", spec)
    _check_audit_table(
        operations, "create_audit_trigger", spec, exists=not operation.create_audit_table
    )
    _check_function(operations, "create_audit_trigger", spec, exists=False)
    _check_targets(operations, "create_audit_trigger", spec)
    if not operation.create_audit_table:
        _check_partitioned(operations, "create_audit_trigger", spec)
    statements = create_audit_table_statements(spec) if operation.create_audit_table else []
    statements += create_statements(spec)
    emit(operations, statements)
    if spec.partition is not None:
        _partitions_ahead(operations, spec)
    if operation.snapshot:
        emit(operations, [snapshot_statement(spec)])


def _check_partitioned(operations: Operations, opname: str, spec: AuditSpec) -> None:
    """A spec asking for a partitioned audit table needs one (PARTITION OF fails on a plain
    table): say how to get there, before any DDL."""
    if is_offline(operations) or spec.partition is None:
        return
    found = PGAdvancedInspector(connection(operations)).relations([spec.qualified_audit_table])
    relation = found.get(spec.qualified_audit_table)
    if relation is not None and not relation.partitioned:
        raise AuditError(
            f"{where(opname, spec.table_name, spec.schema)}: audit table "
            f"{'.'.join(spec.qualified_audit_table)!r} is a plain table and the definition asks "
            "for a partitioned one; convert it first with op.partition_audit_table(...) (every "
            "row is kept), or leave out partition"
        )


def _partitions_ahead(operations: Operations, spec: AuditSpec) -> None:
    """The partitions of the current interval and ``ahead`` more, made with the trigger.

    Online, as the maintenance call makes them (rows waiting in the default partition
    move in); offline, for the time the script is written (``IF NOT EXISTS``: a script
    run later leaves rows in the default partition until the maintenance call runs).
    """
    assert spec.partition is not None
    if is_offline(operations):
        now = datetime.now(timezone.utc)
        parts = plan(spec, [], now, spec.partition.ahead)
        statements = [part.create_sql(if_not_exists=True) for part in parts]
        if spec.append_only:
            statements.append(add_partition_guards_sql(spec))
        emit(operations, statements)
        return
    conn = connection(operations)
    ensure_partitions(conn, spec, now=PGAdvancedInspector(conn).now(), ahead=spec.partition.ahead)


@Operations.implementation_for(DropAuditTrigger)
def drop_audit_trigger(operations: Operations, operation: DropAuditTrigger) -> None:
    spec = operation.spec
    _check_table(operations, "drop_audit_trigger", spec)
    _check_function(operations, "drop_audit_trigger", spec, exists=True)
    if operation.drop_audit_table:
        _check_audit_table(operations, "drop_audit_trigger", spec, exists=True)
    statements = drop_statements(spec)
    if operation.drop_audit_table:
        statements.append(drop_audit_table_sql(spec))
    emit(operations, statements)


def _create_sqls(
    spec: AuditSpec,
    function_sql: str | None,
    trigger_sqls: tuple[str, ...] | None,
    guard_sql: str | None,
) -> list[str]:
    """``create_statements(spec)``, with the function and the triggers on the audited
    table swapped for raw texts when given.

    Raw texts are exactly what the database held before (a downgrade restoring a
    hand-edited definition); everything else (privileges, guard) still comes from
    the spec, so statements added to ``create_statements`` later apply here too.
    """
    statements = create_statements(spec)
    raw = {audit_function(spec).create_sql(): function_sql}
    if spec.append_only:
        raw[guard_function(spec).create_sql()] = guard_sql
    statements = [raw.get(s) or s for s in statements]
    if trigger_sqls is not None:
        generated_triggers = [t.create_sql() for t in audit_triggers(spec)]
        first = statements.index(generated_triggers[0])
        rest = [s for s in statements if s not in generated_triggers]
        statements = rest[:first] + list(trigger_sqls) + rest[first:]
    return statements


@Operations.implementation_for(ReplaceAuditTrigger)
def replace_audit_trigger(operations: Operations, operation: ReplaceAuditTrigger) -> None:
    new, old = operation.spec, operation.old_spec
    _check_table(operations, "replace_audit_trigger", new)
    _check_audit_table(operations, "replace_audit_trigger", new, exists=True)
    _check_function(operations, "replace_audit_trigger", old, exists=True)
    _check_targets(operations, "replace_audit_trigger", new)
    if operation.old_trigger_sqls is not None:
        old_triggers = trigger_names_from_sqls(operation.old_trigger_sqls)
    else:
        old_triggers = list(old.trigger_names)
    statements = [drop_trigger_sql(*old.qualified_table, name) for name in old_triggers]
    # After the parent's (the clones of its row trigger go with it).
    drop_on_partitions = drop_partition_triggers_sql(old)
    if drop_on_partitions is not None:
        statements.append(drop_on_partitions)
    if old.append_only:
        # The guard trigger on the audit table, then its function; recreated below
        # by the new definition if it still asks for one.
        statements += drop_guard_statements(old)
    if old.row_security and not new.row_security:
        statements.append(drop_row_security_sql(old))
    if old.qualified_function != new.qualified_function:
        statements.append(audit_function(old).drop_sql())
    statements += _create_sqls(
        new, operation.function_sql, operation.trigger_sqls, operation.guard_function_sql
    )
    emit(operations, statements)


def _offline_conversion(operations: Operations, opname: str, spec: AuditSpec) -> None:
    if is_offline(operations):
        raise OfflineOperationError(
            f"{where(opname, spec.table_name, spec.schema)}: offline mode (alembic upgrade "
            "--sql) cannot convert an audit table: which partitions to make and the rows to "
            "copy depend on what the table holds; run this migration online"
        )


@Operations.implementation_for(PartitionAuditTable)
def partition_audit_table(operations: Operations, operation: PartitionAuditTable) -> None:
    spec = operation.spec
    opname = "partition_audit_table"
    _offline_conversion(operations, opname, spec)
    _check_table(operations, opname, spec)
    _check_audit_table(operations, opname, spec, exists=True)
    _check_function(operations, opname, spec, exists=True)
    conn = connection(operations)
    partition_table(conn, spec, operation.new_spec, now=PGAdvancedInspector(conn).now())


@Operations.implementation_for(UnpartitionAuditTable)
def unpartition_audit_table(operations: Operations, operation: UnpartitionAuditTable) -> None:
    spec = operation.spec
    opname = "unpartition_audit_table"
    _offline_conversion(operations, opname, spec)
    _check_table(operations, opname, spec)
    _check_audit_table(operations, opname, spec, exists=True)
    _check_function(operations, opname, spec, exists=True)
    unpartition_table(connection(operations), spec, operation.new_spec)


@Operations.implementation_for(GrantAuditAccess)
def grant_audit_access(operations: Operations, operation: GrantAuditAccess) -> None:
    check_state(operations, "grant_audit_access", operation.access, granting=True)
    emit(operations, operation.access.grant_sqls())


@Operations.implementation_for(RevokeAuditAccess)
def revoke_audit_access(operations: Operations, operation: RevokeAuditAccess) -> None:
    check_state(operations, "revoke_audit_access", operation.access, granting=False)
    emit(operations, operation.access.revoke_sqls())
