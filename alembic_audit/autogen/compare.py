"""The autogenerate comparator: models' audit specs against what the database holds.

:func:`compare_audit` runs once per autogenerate run, at the ``schema`` level with
priority ``LAST``, so it sees (and adjusts) every op Alembic's own comparators made:

* what the models want: the :class:`~alembic_audit.core.spec.AuditSpec` of every
  audited table in scope (``include_schemas``, ``include_name``, ``include_object``);
* what the database holds: one :class:`~alembic_audit.reflection.PGAdvancedInspector`
  reflect (two catalog queries, whatever the number of tables);
* the diff, as data (:mod:`alembic_audit.autogen.diff`).

Ops: ``CreateAuditTrigger`` after every ``create_table`` (the audit table must
exist), ``DropAuditTrigger`` before everything (before the ``drop_table`` of the
audited table), ``ReplaceAuditTrigger`` after the column changes it follows.  It
also protects history (:mod:`alembic_audit.autogen.history`).

Example (what ``alembic revision --autogenerate`` does)::

    from alembic.autogenerate import produce_migrations
    script = produce_migrations(migration_context, metadata)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from alembic.operations import ops
from alembic.util import PriorityDispatchResult
from sqlalchemy import Table

from ..core.constants import IS_AUDIT_TABLE, IS_AUDITED
from ..core.options import (
    drop_history_requested,
    history_table,
    is_enabled,
    snapshot_requested,
)
from ..core.spec import AuditSpec
from ..migration.ops import (
    CreateAuditTrigger,
    DropAuditTrigger,
    PartitionAuditTable,
    ReplaceAuditTrigger,
    UnpartitionAuditTable,
)
from ..reflection.inspector import FoundAudit, PGAdvancedInspector
from ..schema.builder import get_audit_spec
from ..sql.marker import made_by_seed
from ..sql.triggers import trigger_state_sql
from . import render  # noqa: F401  (registers the ops' renderers)
from .diff import Diff, differences
from .history import (
    keep_history,
    leave_partitions_alone,
    log,
    rename_audit_table,
    renames_audit_table,
)
from .scope import QualifiedName, Scope

if TYPE_CHECKING:
    from alembic.autogenerate.api import AutogenContext

_DONE = "_alembic_audit_compared"


def compare_audit(
    autogen_context: AutogenContext,
    upgrade_ops: ops.UpgradeOps,
    schemas: set[str | None],
) -> PriorityDispatchResult:
    """Schema-level comparator (priority ``LAST``): add, drop and replace audit triggers.

    Registered both by the ``alembic_audit`` plugin and by :func:`alembic_audit.enable`;
    it runs once per autogenerate run whichever way it got there.

    Example::

        plugin.add_autogenerate_comparator(compare_audit, "schema", priority=LAST)
    """
    if getattr(upgrade_ops, _DONE, False) or autogen_context.connection is None:
        return PriorityDispatchResult.CONTINUE
    setattr(upgrade_ops, _DONE, True)
    scope = Scope(autogen_context, schemas)

    tables: dict[QualifiedName, Table] = {}
    wanted: dict[QualifiedName, tuple[Table, AuditSpec]] = {}
    audit_tables: set[QualifiedName] = set()
    for table in autogen_context.sorted_tables:
        key = scope.qualified(table.schema, table.name)
        tables[key] = table
        if table.info.get(IS_AUDIT_TABLE):
            audit_tables.add(key)
        if table.info.get(IS_AUDITED) and scope.includes(key, table):
            spec = get_audit_spec(table)
            wanted[spec.qualified_table] = (table, spec)

    catalog = PGAdvancedInspector(autogen_context.connection).reflect(
        spec for _, spec in wanted.values()
    )
    found_by_table = {
        key: found
        for key, found in catalog.by_table.items()
        if key in wanted or scope.includes(key, tables.get(key))
    }
    for found in found_by_table.values():
        if found.spec is not None:
            audit_tables.add(found.spec.qualified_audit_table)
    for orphan in catalog.orphans:
        log.warning(
            "Ignoring audit function %r: its table %r already has an audit function",
            ".".join(orphan.qualified_name),
            ".".join(orphan.spec.qualified_table) if orphan.spec else "?",
        )

    first: list[ops.MigrateOperation] = []
    last: list[ops.MigrateOperation] = []
    dropped_with_trigger: set[QualifiedName] = set()
    renames: list[tuple[AuditSpec, AuditSpec]] = []
    for key in sorted(set(wanted) | set(found_by_table)):
        label = ".".join(key)
        maybe = found_by_table.get(key)
        if key in wanted:
            table, spec = wanted[key]
            if maybe is None or maybe.function is None:
                # A table that already holds rows gets their baseline ('S' rows) when its
                # auditing begins; a table created by this migration holds none.
                snapshot = snapshot_requested(table) and scope.table_exists(key)
                last.append(CreateAuditTrigger(spec, snapshot=snapshot))
                log.info(
                    "Detected added audit trigger on %r%s",
                    label,
                    "; its rows are recorded as snapshot ('S') rows" if snapshot else "",
                )
                continue
            found = maybe
            diff = differences(spec, found)
            if not diff:
                continue
            log.info("Detected changed audit trigger on %r (%s)", label, diff.describe())
            if renames_audit_table(scope, found.spec, spec):
                assert found.spec is not None
                # Drop before the rename, create after it (and the reverse in the
                # downgrade): each op finds the audit table it names.
                first.append(DropAuditTrigger(found.spec))
                last.append(CreateAuditTrigger(spec))
                renames.append((found.spec, spec))
            elif found.spec is not None and repartitions(found.spec, spec):
                last += _conversion_ops(spec, found, diff)
            else:
                last.append(_replace_op(spec, found, diff))
        elif maybe is not None and maybe.spec is not None:
            old = maybe.spec
            if not maybe.triggers and not scope.table_exists(key):
                log.warning(
                    "Ignoring audit function %r: its table %r no longer exists "
                    "(drop it with DROP FUNCTION if unwanted)",
                    ".".join(old.qualified_function),
                    label,
                )
                continue
            model = tables.get(key)
            drop_history = model is not None and drop_history_requested(model)
            first.append(DropAuditTrigger(old, drop_audit_table=drop_history))
            if drop_history:
                dropped_with_trigger.add(old.qualified_audit_table)
                log.info(
                    "Detected removed audit trigger on %r; dropping audit table %r and its "
                    "rows (drop_history)",
                    label,
                    ".".join(old.qualified_audit_table),
                )
            else:
                log.info(
                    "Detected removed audit trigger on %r; audit table %r and its rows are kept",
                    label,
                    ".".join(old.qualified_audit_table),
                )

    history_drops = {
        q for t in tables.values() if not is_enabled(t) for q in [history_table(t)] if q
    }
    leave_partitions_alone(
        upgrade_ops, scope, audit_tables, PGAdvancedInspector(autogen_context.connection)
    )
    keep_history(upgrade_ops, scope, audit_tables, keep_drops=history_drops - dropped_with_trigger)
    for old, new in renames:
        rename_audit_table(autogen_context, upgrade_ops, scope, old, new, tables)
    upgrade_ops.ops[:0] = first
    upgrade_ops.ops.extend(last)
    return PriorityDispatchResult.CONTINUE


def repartitions(old: AuditSpec, new: AuditSpec) -> bool:
    """Whether the audit table must be converted: partitioned or not, or by another interval
    (a change of ``ahead`` alone only changes the function's definition).

    Example::

        repartitions(spec, spec.replace(partition=Partitioning("month")))  # True
    """
    if (old.partition is None) != (new.partition is None):
        return True
    return (
        old.partition is not None
        and new.partition is not None
        and (old.partition.by != new.partition.by)
    )


def _conversion_ops(spec: AuditSpec, found: FoundAudit, diff: Diff) -> list[ops.MigrateOperation]:
    """Convert the audit table (with its rows), then replace what else changed.

    Hand-made drift is put right first, with the found texts kept for the downgrade; a
    change of interval is a conversion back to a plain table and then to the new one.
    """
    assert found.spec is not None
    current = found.spec
    out: list[ops.MigrateOperation] = []
    if diff.drift:
        out.append(_replace_op(current, found, Diff(drift=diff.drift)))
    if current.partition is not None:
        out.append(UnpartitionAuditTable(current))
        current = current.replace(partition=None)
    if spec.partition is not None:
        out.append(PartitionAuditTable(current, spec.partition))
        current = current.replace(partition=spec.partition)
    if current != spec:
        out.append(ReplaceAuditTrigger(spec, current))
    return out


def _replace_op(spec: AuditSpec, found: FoundAudit, diff: Diff) -> ReplaceAuditTrigger:
    assert found.function is not None
    old = found.spec if found.spec is not None else spec
    if found.spec is None and made_by_seed(found.function.source):
        # What sqlalchemy-postgresql-audit made, as far as the ops use it: its function
        # where it is (the search_path's schema, maybe not the table's), and no
        # append-only guard to drop before or to recreate after.
        schema = found.function.schema
        old = spec.replace(
            function_schema=None if schema == spec.effective_audit_schema else schema,
            append_only=False,
        )
    if not diff.drift:
        return ReplaceAuditTrigger(spec, old)
    # What the database held, verbatim, for an exact downgrade; triggers found on
    # other tables (a guard on the audit table) are recreated by the spec's DDL.
    # pg_get_triggerdef omits whether a trigger is disabled: an ALTER TABLE after
    # its CREATE TRIGGER restores that too.
    old_trigger_sqls: list[str] = []
    for t in found.triggers:
        if (t.trigger.schema, t.trigger.table) != old.qualified_table:
            continue
        old_trigger_sqls.append(t.sql)
        state = trigger_state_sql(t.trigger.schema, t.trigger.table, t.name, t.enabled)
        if state is not None:
            old_trigger_sqls.append(state)
    return ReplaceAuditTrigger(
        spec,
        old,
        old_function_sql=found.function.sql,
        old_trigger_sqls=tuple(old_trigger_sqls),
        old_guard_function_sql=(
            found.guard_function.sql
            if old.append_only and found.guard_function is not None
            else None
        ),
    )


__all__ = ["compare_audit"]
