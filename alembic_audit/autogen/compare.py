"""The autogenerate comparator: models' audit specs against what the database holds.

:func:`compare_audit` runs once per autogenerate run, at the ``schema`` level with
priority ``LAST``, so it sees (and adjusts) every op Alembic's own comparators made:

* what the models want: the :class:`~alembic_audit.core.spec.AuditSpec` of every
  audited table in scope (``include_schemas``, ``include_name``, ``include_object``);
* what the database holds: one :class:`~alembic_audit.reflection.PGAdvancedInspector`
  reflect and one read of the audit tables (three catalog queries, whatever the number of
  tables);
* the diff, as data (:mod:`alembic_audit.autogen.diff`).

Ops: ``CreateAuditTrigger`` after every ``create_table`` (the audit table must
exist), ``DropAuditTrigger`` before everything (before the ``drop_table`` of the
audited table), ``ReplaceAuditTrigger`` after the column changes it follows.  It
also protects history (:mod:`alembic_audit.autogen.history`).

A second comparator, :func:`prepare_audit`, runs first (priority ``FIRST``): it reads the
catalog (functions, triggers and audit tables: three queries) and keeps the audit tables
out of Alembic's own table comparison (:mod:`alembic_audit.autogen.tables`), which
:func:`compare_audit` then does itself from what the catalog query returned.

Example (what ``alembic revision --autogenerate`` does)::

    from alembic.autogenerate import produce_migrations
    script = produce_migrations(migration_context, metadata)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from alembic.operations import ops
from alembic.util import PriorityDispatchResult
from sqlalchemy import MetaData, Table, event

from ..core.constants import IS_AUDIT_TABLE, IS_AUDITED, TARGET_TABLE
from ..core.options import (
    drop_history_requested,
    history_table,
    is_enabled,
    snapshot_requested,
)
from ..core.spec import AuditSpec
from ..migration.ops import (
    CreateAuditTrigger,
    DropAuditTable,
    DropAuditTrigger,
    PartitionAuditTable,
    RenameAuditTable,
    ReplaceAuditTrigger,
    UnpartitionAuditTable,
)
from ..reflection.inspector import AuditCatalog, FoundAudit, FoundTable, PGAdvancedInspector
from ..schema.builder import audited_tables, get_audit_spec
from ..sql.marker import made_by_seed
from ..sql.triggers import trigger_state_sql
from . import render  # noqa: F401  (registers the ops' renderers)
from .diff import Diff, differences
from .history import keep_history, leave_partitions_alone, renames_audit_table
from .scope import QualifiedName, Scope, log
from .tables import HiddenAuditTables, audit_table_ops, log_decisions

if TYPE_CHECKING:
    from alembic.autogenerate.api import AutogenContext

_DONE = "_alembic_audit_compared"
_RUN = "_alembic_audit_run"


@dataclass
class _Run:
    """What :func:`prepare_audit` read for one autogenerate run."""

    scope: Scope
    #: Every model table, by qualified name.
    tables: dict[QualifiedName, Table]
    #: Audited tables in scope and their specs, by the audited table's qualified name.
    wanted: dict[QualifiedName, tuple[Table, AuditSpec]]
    catalog: AuditCatalog
    found_by_table: dict[QualifiedName, FoundAudit]
    #: Every audit table found (named by a model or a function, or shaped like one).
    found_tables: dict[QualifiedName, FoundTable]
    #: The found audit tables in scope: compared here, hidden from Alembic.
    owned: dict[QualifiedName, FoundTable]
    #: Audited table -> (old spec, new spec) whose audit table is renamed.
    renames: dict[QualifiedName, tuple[AuditSpec, AuditSpec]]
    hidden: HiddenAuditTables
    inspector: PGAdvancedInspector
    audit_tables: set[QualifiedName] = field(default_factory=set)


def prepare_audit(
    autogen_context: AutogenContext,
    upgrade_ops: ops.UpgradeOps,
    schemas: set[str | None],
) -> PriorityDispatchResult:
    """Schema-level comparator (priority ``FIRST``): read the catalog, hide audit tables.

    Runs before Alembic's table comparison: audit tables the models or the database
    have are compared by :func:`compare_audit` instead, from one catalog query.

    Example::

        plugin.add_autogenerate_comparator(prepare_audit, "schema", priority=FIRST)
    """
    if autogen_context.connection is None or getattr(upgrade_ops, _RUN, None) is not None:
        return PriorityDispatchResult.CONTINUE
    run = _start(autogen_context, schemas)
    setattr(upgrade_ops, _RUN, run)
    run.hidden.install()
    return PriorityDispatchResult.CONTINUE


def compare_audit(
    autogen_context: AutogenContext,
    upgrade_ops: ops.UpgradeOps,
    schemas: set[str | None],
) -> PriorityDispatchResult:
    """Schema-level comparator (priority ``LAST``): add, drop and replace audit triggers,
    and bring audit tables up to date, history kept.

    Registered both by the ``alembic_audit`` plugin and by :func:`alembic_audit.enable`;
    it runs once per autogenerate run whichever way it got there.

    Example::

        plugin.add_autogenerate_comparator(compare_audit, "schema", priority=LAST)
    """
    if getattr(upgrade_ops, _DONE, False) or autogen_context.connection is None:
        return PriorityDispatchResult.CONTINUE
    setattr(upgrade_ops, _DONE, True)
    run: _Run | None = getattr(upgrade_ops, _RUN, None)
    if run is None:  # prepare_audit did not run: Alembic compared the audit tables
        run = _start(autogen_context, schemas)
    try:
        _finish(autogen_context, upgrade_ops, run)
    finally:
        run.hidden.remove()
    return PriorityDispatchResult.CONTINUE


def _sync_models(autogen_context: AutogenContext) -> None:
    """Build audit tables for options set or changed after the tables were defined,
    before Alembic lists the models' tables."""
    metadata = autogen_context.metadata
    collections = list(metadata) if isinstance(metadata, (list, tuple)) else [metadata]
    changed = False
    for md in collections:
        if not isinstance(md, MetaData):
            continue
        before = [(k, id(t)) for k, t in md.tables.items()]
        audited_tables(md)
        changed = changed or before != [(k, id(t)) for k, t in md.tables.items()]
    if changed:
        # Alembic memoizes its view of the models on first use.
        for name in ("sorted_tables", "table_key_to_table"):
            autogen_context.__dict__.pop(name, None)


def _start(autogen_context: AutogenContext, schemas: set[str | None]) -> _Run:
    _sync_models(autogen_context)
    scope = Scope(autogen_context, schemas)
    tables: dict[QualifiedName, Table] = {}
    wanted: dict[QualifiedName, tuple[Table, AuditSpec]] = {}
    model_audit_tables: set[QualifiedName] = set()
    # table_key_to_table, not sorted_tables: a foreign-key cycle needs no sort here.
    for table in autogen_context.table_key_to_table.values():
        key = scope.qualified(table.schema, table.name)
        tables[key] = table
        if table.info.get(IS_AUDIT_TABLE):
            model_audit_tables.add(key)
        if table.info.get(IS_AUDITED) and scope.includes(key, table):
            spec = get_audit_spec(table)
            wanted[spec.qualified_table] = (table, spec)

    assert autogen_context.connection is not None
    inspector = PGAdvancedInspector(autogen_context.connection)
    # Without the functions' and triggers' full text: only a drifted one needs it.
    catalog = inspector.reflect(
        (spec for _, spec in wanted.values()), schemas=scope.schemas, definitions=False
    )
    found_by_table = {
        key: found
        for key, found in catalog.by_table.items()
        if key in wanted or scope.includes(key, tables.get(key))
    }
    named = model_audit_tables | {
        found.spec.qualified_audit_table
        for found in found_by_table.values()
        if found.spec is not None
    }
    found_tables = inspector.audit_tables(named, scope.schemas)
    # Partitions of partitioned audit tables: made and dropped by maintenance, never by a
    # migration; hidden from Alembic like their tables, and compared with nothing.
    partitions = {key for key, found in found_tables.items() if found.is_partition}
    found_tables = {key: f for key, f in found_tables.items() if key not in partitions}
    owned = {
        key: found for key, found in found_tables.items() if scope.includes(key, tables.get(key))
    }
    renames: dict[QualifiedName, tuple[AuditSpec, AuditSpec]] = {}
    for key, (_, spec) in wanted.items():
        found = found_by_table.get(key)
        old = found.spec if found is not None else None
        if (
            old is not None
            and old != spec
            and renames_audit_table(old, spec, found_tables)
            and old.qualified_audit_table in owned
        ):
            renames[key] = (old, spec)
    model_hidden = {k for k in model_audit_tables if k in owned}
    model_hidden |= {new.qualified_audit_table for _, new in renames.values()}
    hidden = HiddenAuditTables(autogen_context, scope, set(owned) | partitions, model_hidden)
    run = _Run(
        scope=scope,
        tables=tables,
        wanted=wanted,
        catalog=catalog,
        found_by_table=found_by_table,
        found_tables=found_tables,
        owned=owned,
        renames=renames,
        hidden=hidden,
        inspector=inspector,
    )
    run.audit_tables = model_audit_tables | set(found_tables)
    return run


def _finish(autogen_context: AutogenContext, upgrade_ops: ops.UpgradeOps, run: _Run) -> None:
    scope = run.scope
    for orphan in run.catalog.orphans:
        log.warning(
            "Ignoring audit function %r: its table %r already has an audit function",
            ".".join(orphan.qualified_name),
            ".".join(orphan.spec.qualified_table) if orphan.spec else "?",
        )

    first: list[ops.MigrateOperation] = []
    last: list[ops.MigrateOperation] = []
    dropped_with_trigger: set[QualifiedName] = set()
    for key in sorted(set(run.wanted) | set(run.found_by_table)):
        label = ".".join(key)
        maybe = run.found_by_table.get(key)
        if key in run.wanted:
            table, spec = run.wanted[key]
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
            if key in run.renames:
                assert found.spec is not None
                # Drop before the rename, create after it (and the reverse in the
                # downgrade): each op finds the audit table it names.
                first.append(DropAuditTrigger(found.spec))
                last.append(CreateAuditTrigger(spec))
            elif found.spec is not None and repartitions(found.spec, spec):
                last += _conversion_ops(spec, found, diff, run.inspector)
            else:
                last.append(_replace_op(spec, found, diff, run.inspector))
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
            model = run.tables.get(key)
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
        q for t in run.tables.values() if not is_enabled(t) for q in [history_table(t)] if q
    }
    found_types = {
        key: {name: c.type for name, c in found.columns.items()}
        for key, found in run.found_tables.items()
    }
    keep_history(
        upgrade_ops,
        scope,
        run.audit_tables,
        keep_drops=history_drops - dropped_with_trigger,
        found_types=found_types,
    )
    if run.hidden.installed:
        _audit_table_ops(autogen_context, upgrade_ops, run)
        _drop_history_tables(
            autogen_context, upgrade_ops, run, history_drops - dropped_with_trigger
        )
    leave_partitions_alone(upgrade_ops, scope, run.audit_tables, run.inspector)
    upgrade_ops.ops[:0] = first
    upgrade_ops.ops.extend(last)


def _live_changes(
    upgrade_ops: ops.UpgradeOps, scope: Scope, key: QualifiedName
) -> tuple[set[str], set[str]]:
    """Columns of the audited table ``key`` this run drops, and those it changes the type of."""
    dropped: set[str] = set()
    retyped: set[str] = set()
    for op in upgrade_ops.ops:
        if isinstance(op, ops.ModifyTableOps) and scope.qualified(op.schema, op.table_name) == key:
            for sub in op.ops:
                if isinstance(sub, ops.DropColumnOp):
                    dropped.add(sub.column_name)
                elif isinstance(sub, ops.AlterColumnOp) and sub.modify_type is not None:
                    retyped.add(sub.column_name)
    return dropped, retyped


def _audit_table_ops(
    autogen_context: AutogenContext, upgrade_ops: ops.UpgradeOps, run: _Run
) -> None:
    """The ops for every audit table of the models that exists (or is renamed), each put
    after the ops of its audited table, as Alembic orders a table's ops by name."""
    scope = run.scope
    renamed = {new.qualified_audit_table: old for old, new in run.renames.values()}
    # Alembic's order for existing tables: by schema (the default one first), then name.
    for key in sorted(run.tables, key=lambda k: (scope.schema_arg(k[0]) or "", k[1])):
        table = run.tables[key]
        if not table.info.get(IS_AUDIT_TABLE):
            continue
        old = renamed.get(key)
        found = run.owned.get(old.qualified_audit_table if old is not None else key)
        if found is None or (old is None and key not in run.hidden.model_keys):
            continue
        new_ops: list[ops.MigrateOperation] = []
        if old is not None:
            new_ops.append(RenameAuditTable(found.name, key[1], schema=scope.schema_arg(key[0])))
            log.info("Detected renamed audit table %r to %r", ".".join(found.key), ".".join(key))
        target = table.info.get(TARGET_TABLE)
        target_key = scope.qualified(target.schema, target.name) if target is not None else key
        spec = run.wanted[target_key][1] if target_key in run.wanted else None
        diff = audit_table_ops(autogen_context, scope, found, table, spec)
        dropped, retyped = _live_changes(upgrade_ops, scope, target_key)
        for name in sorted(dropped & set(found.columns)):
            log.info(
                "Kept column %r of audit table %r (old rows keep their values)",
                name,
                ".".join(key),
            )
        log_decisions(diff, table, retyped, schema=scope.schema_arg(key[0]))
        if not diff.modify.is_empty():
            new_ops.append(diff.modify)
        if new_ops:
            _insert_after(upgrade_ops, scope, target_key, new_ops)


def _insert_after(
    upgrade_ops: ops.UpgradeOps,
    scope: Scope,
    key: QualifiedName,
    new_ops: list[ops.MigrateOperation],
) -> None:
    index = len(upgrade_ops.ops)
    for i, op in enumerate(upgrade_ops.ops):
        name = getattr(op, "table_name", None)
        if name is not None and scope.qualified(getattr(op, "schema", None), name) == key:
            index = i + 1
    upgrade_ops.ops[index:index] = new_ops


def _drop_history_tables(
    autogen_context: AutogenContext,
    upgrade_ops: ops.UpgradeOps,
    run: _Run,
    drops: set[QualifiedName],
) -> None:
    """``drop_table`` of kept audit tables whose model now asks for ``drop_history``
    (their trigger was dropped by an earlier revision): reflected for the downgrade."""
    for key in sorted(drops):
        if key not in run.owned or run.tables.get(key) is not None:
            continue
        table = Table(key[1], MetaData(), schema=run.scope.schema_arg(key[0]))
        impl = autogen_context.migration_context.impl
        event.listen(table, "column_reflect", impl.autogen_column_reflect)
        autogen_context.inspector.reflect_table(table, None)
        upgrade_ops.ops.append(DropAuditTable.from_table(table))
        log.info(
            "Detected removed audit table %r; dropping it and its rows (drop_history)",
            ".".join(key),
        )


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


def _conversion_ops(
    spec: AuditSpec, found: FoundAudit, diff: Diff, inspector: PGAdvancedInspector
) -> list[ops.MigrateOperation]:
    """Convert the audit table (with its rows), then replace what else changed.

    Hand-made drift is put right first, with the found texts kept for the downgrade; a
    change of interval is a conversion back to a plain table and then to the new one.
    """
    assert found.spec is not None
    current = found.spec
    out: list[ops.MigrateOperation] = []
    if diff.drift:
        out.append(_replace_op(current, found, Diff(drift=diff.drift), inspector))
    if current.partition is not None:
        out.append(UnpartitionAuditTable(current))
        current = current.replace(partition=None)
    if spec.partition is not None:
        out.append(PartitionAuditTable(current, spec.partition))
        current = current.replace(partition=spec.partition)
    if current != spec:
        out.append(ReplaceAuditTrigger(spec, current))
    return out


def _replace_op(
    spec: AuditSpec, found: FoundAudit, diff: Diff, inspector: PGAdvancedInspector
) -> ReplaceAuditTrigger:
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
    found = inspector.with_definitions(found)
    assert found.function is not None and found.function.sql is not None
    # What the database held, verbatim, for an exact downgrade; triggers found on
    # other tables (a guard on the audit table) are recreated by the spec's DDL.
    # pg_get_triggerdef omits whether a trigger is disabled: an ALTER TABLE after
    # its CREATE TRIGGER restores that too.
    old_trigger_sqls: list[str] = []
    for t in found.triggers:
        if (t.trigger.schema, t.trigger.table) != old.qualified_table:
            continue
        assert t.sql is not None
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


__all__ = ["compare_audit", "prepare_audit"]
