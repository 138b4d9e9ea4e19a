"""The autogenerate comparator: models' audit specs against what the database holds.

:func:`compare_audit` runs once per autogenerate run, at the ``schema`` level with
priority ``LAST``, so it sees (and adjusts) every op Alembic's own comparators made:

* what the models want: the :class:`~alembic_audit.spec.AuditSpec` of every audited
  table in scope (``include_schemas``, ``include_name``, ``include_object``);
* what the database holds: one :class:`~alembic_audit.inspector.PGAdvancedInspector`
  reflect (two catalog queries, whatever the number of tables);
* the diff, as data: the spec embedded in each function body against the model's
  spec, the body against ``ddl.function_body`` of the found spec (an edited body),
  the function header and the ``pg_trigger`` fields against what ``ddl`` creates
  (a dropped, disabled or re-timed trigger).

Ops: ``CreateAuditTrigger`` after every ``create_table`` (the audit table must
exist), ``DropAuditTrigger`` before everything (before the ``drop_table`` of the
audited table), ``ReplaceAuditTrigger`` after the column changes it follows.  It
also protects history: Alembic's ``drop_table`` of an audit table and
``drop_column`` on an audit table are removed unless ``drop_history`` asks for
them; an audit table renamed by a naming-convention change becomes a
``rename_table``.

Example (what ``alembic revision --autogenerate`` does)::

    from alembic.autogenerate import produce_migrations
    script = produce_migrations(migration_context, metadata)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from alembic.autogenerate.render import renderers
from alembic.operations import ops
from alembic.util import PriorityDispatchResult
from sqlalchemy import MetaData, Table

from . import ddl
from . import render as _render  # noqa: F401  (registers the ops' renderers)
from .builder import IS_AUDIT_TABLE, IS_AUDITED, get_audit_spec
from .inspector import (
    FoundAudit,
    PGAdvancedInspector,
    expected_function_header,
    expected_triggers,
)
from .naming import fit_identifier, render_convention
from .operations import CreateAuditTrigger, DropAuditTrigger, ReplaceAuditTrigger
from .options import drop_history_requested, get_options, is_enabled
from .spec import META_COLUMNS, AuditSpec

if TYPE_CHECKING:
    from alembic.autogenerate.api import AutogenContext

# A child of Alembic's logger: what env.py's logging config shows for Alembic
# ("INFO  [alembic.autogenerate.audit] Detected ...") shows for us too.
log = logging.getLogger("alembic.autogenerate.audit")

_DONE = "_alembic_audit_compared"

QualifiedName = tuple[str, str]


# -- rename of an audit table ---------------------------------------------------------


class RenameAuditTable(ops.RenameTableOp):
    """``op.rename_table`` of an audit table, reversible (Alembic's own is not).

    Autogenerate emits it when a naming-convention change renames an audit table
    within its schema, so the rows stay.

    Example::

        RenameAuditTable("item_audit", "item_history").reverse().new_table_name
        # 'item_audit'
    """

    def reverse(self) -> RenameAuditTable:
        return RenameAuditTable(self.new_table_name, self.table_name, schema=self.schema)

    def to_diff_tuple(self) -> tuple[Any, ...]:
        return ("rename_audit_table", self.schema, self.table_name, self.new_table_name)


@renderers.dispatch_for(RenameAuditTable)
def _render_rename(autogen_context: AutogenContext, op: RenameAuditTable) -> str:
    prefix = autogen_context.opts.get("alembic_module_prefix", "op.")
    schema = f", schema={op.schema!r}" if op.schema else ""
    return f"{prefix}rename_table({op.table_name!r}, {op.new_table_name!r}{schema})"


# -- what differs -------------------------------------------------------------------


@dataclass
class Diff:
    """Why a found audit function and triggers differ from a wanted spec.

    ``changed`` lists spec fields the models changed; ``drift`` lists hand-made
    changes in the database (then the raw old definitions go into the op, so the
    downgrade restores exactly what was there).

    Example::

        diff = Diff(changed=["level changed"])
        bool(diff), diff.describe()  # (True, 'level changed')
    """

    changed: list[str] = field(default_factory=list)
    drift: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.changed or self.drift)

    def describe(self) -> str:
        return "; ".join(self.changed + self.drift)


def differences(wanted: AuditSpec, found: FoundAudit) -> Diff:
    """Compare a wanted spec with what was found for its table.

    Example::

        differences(spec, catalog.by_table[spec.qualified_table]).describe()
        # "trigger 'public_item_audit_insert' disabled"
    """
    diff = Diff()
    function = found.function
    old = found.spec
    if function is None:
        diff.drift.append("trigger function missing")
        return diff
    if old is None:
        diff.drift.append(f"function {'.'.join(function.qualified_name)!r} edited by hand")
        old = wanted
    else:
        if old != wanted:
            new_fields, old_fields = wanted.to_dict(), old.to_dict()
            diff.changed += [
                f"{k} changed" for k in new_fields if new_fields[k] != old_fields.get(k)
            ]
        if function.source != ddl.function_body(old):
            diff.drift.append(f"function {'.'.join(function.qualified_name)!r} body edited")
        if function.header != expected_function_header(old):
            diff.drift.append(f"function {'.'.join(function.qualified_name)!r} attributes changed")
    expected = {t.key: t for t in expected_triggers(old)}
    for trig in found.triggers:
        shape = expected.pop(trig.key, None)
        if shape is None:
            diff.drift.append(f"unexpected trigger {trig.name!r}")
        elif shape != trig.shape:
            diff.drift.append(f"trigger {trig.name!r} events or timing changed")
        elif trig.enabled != "O":
            diff.drift.append(f"trigger {trig.name!r} disabled")
    diff.drift += [f"trigger {key[2]!r} missing" for key in expected]
    return diff


# -- scope --------------------------------------------------------------------------


class _Scope:
    """include_schemas / include_name / include_object, applied to audited tables."""

    def __init__(self, autogen_context: AutogenContext, schemas: set[str | None]) -> None:
        self.ctx = autogen_context
        assert autogen_context.dialect is not None
        self.default_schema: str = autogen_context.dialect.default_schema_name or "public"
        self.schemas = {self.default_schema if s is None else s for s in schemas}

    def schema_arg(self, schema: str) -> str | None:
        """Alembic's spelling: ``None`` for the default schema."""
        return None if schema == self.default_schema else schema

    def includes(self, qualified: QualifiedName, table: Table | None) -> bool:
        schema, name = qualified
        if schema not in self.schemas:
            return False
        schema_arg = self.schema_arg(schema)
        if not self.ctx.run_name_filters(name, "table", {"schema_name": schema_arg}):
            return False
        obj = table if table is not None else Table(name, MetaData(), schema=schema_arg)
        return self.ctx.run_object_filters(obj, name, "table", table is None, None)

    def table_exists(self, qualified: QualifiedName) -> bool:
        # Alembic's inspector caches the names it already listed: no extra query for
        # a schema in scope.
        schema, name = qualified
        return name in self.ctx.inspector.get_table_names(schema=self.schema_arg(schema))


def _qualified(schema: str | None, name: str, default: str) -> QualifiedName:
    return (schema or default, name)


def _history_table(table: Table) -> QualifiedName | None:
    """Audit table an un-audited table with ``drop_history`` would have had."""
    if not drop_history_requested(table):
        return None
    options = get_options(table) or {}
    schema = options.get("schema") or options.get("schema_name") or table.schema
    name = fit_identifier(
        render_convention(
            table.metadata.naming_convention,
            "audit.table",
            table_name=table.name,
            schema=table.schema,
        )
    )
    return (schema or "public", name)


# -- the comparator -----------------------------------------------------------------


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
    scope = _Scope(autogen_context, schemas)
    default = scope.default_schema

    tables: dict[QualifiedName, Table] = {}
    wanted: dict[QualifiedName, tuple[Table, AuditSpec]] = {}
    audit_tables: set[QualifiedName] = set()
    for table in autogen_context.sorted_tables:
        key = _qualified(table.schema, table.name, default)
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
            spec = wanted[key][1]
            if maybe is None or maybe.function is None:
                last.append(CreateAuditTrigger(spec))
                log.info("Detected added audit trigger on %r", label)
                continue
            found = maybe
            diff = differences(spec, found)
            if not diff:
                continue
            log.info("Detected changed audit trigger on %r (%s)", label, diff.describe())
            if _renames_audit_table(scope, found.spec, spec):
                assert found.spec is not None
                # Drop before the rename, create after it (and the reverse in the
                # downgrade): each op finds the audit table it names.
                first.append(DropAuditTrigger(found.spec))
                last.append(CreateAuditTrigger(spec))
                renames.append((found.spec, spec))
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
        q for t in tables.values() if not is_enabled(t) for q in [_history_table(t)] if q
    }
    _adjust_alembic_ops(
        autogen_context,
        upgrade_ops,
        scope,
        audit_tables,
        keep_drops=history_drops - dropped_with_trigger,
    )
    for old, new in renames:
        _rename_audit_table(autogen_context, upgrade_ops, scope, old, new, tables)
    upgrade_ops.ops[:0] = first
    upgrade_ops.ops.extend(last)
    return PriorityDispatchResult.CONTINUE


def _renames_audit_table(scope: _Scope, old: AuditSpec | None, new: AuditSpec) -> bool:
    """Whether the audit table moves to a new name in the same schema (a rename)."""
    if old is None or old.qualified_audit_table == new.qualified_audit_table:
        return False
    old_key, new_key = old.qualified_audit_table, new.qualified_audit_table
    return (
        old_key[0] == new_key[0] and scope.table_exists(old_key) and not scope.table_exists(new_key)
    )


def _replace_op(spec: AuditSpec, found: FoundAudit, diff: Diff) -> ReplaceAuditTrigger:
    assert found.function is not None
    old = found.spec if found.spec is not None else spec
    if not diff.drift:
        return ReplaceAuditTrigger(spec, old)
    # What the database held, verbatim, for an exact downgrade; triggers found on
    # other tables (a guard on the audit table) are recreated by the spec's DDL.
    # pg_get_triggerdef omits whether a trigger is disabled: an ALTER TABLE after
    # its CREATE TRIGGER restores that too.
    old_trigger_sqls: list[str] = []
    for t in found.triggers:
        if (t.shape.schema, t.shape.table) != old.qualified_table:
            continue
        old_trigger_sqls.append(t.definition)
        state = ddl.trigger_state_sql(t.shape.schema, t.shape.table, t.name, t.enabled)
        if state is not None:
            old_trigger_sqls.append(state)
    return ReplaceAuditTrigger(
        spec,
        old,
        old_function_sql=found.function.definition,
        old_trigger_sqls=tuple(old_trigger_sqls),
    )


def _table_key(op: Any, default: str) -> QualifiedName:
    return _qualified(op.schema, op.table_name, default)


def _is_audit_shaped(op: ops.DropTableOp) -> bool:
    names = {c.name for c in op.to_table().columns}
    return set(META_COLUMNS) <= names


def _adjust_alembic_ops(
    autogen_context: AutogenContext,
    upgrade_ops: ops.UpgradeOps,
    scope: _Scope,
    audit_tables: set[QualifiedName],
    *,
    keep_drops: set[QualifiedName],
) -> None:
    """Strip ``audit.*`` info, keep history: no drop of an audit table or its columns."""
    default = scope.default_schema
    kept: list[ops.MigrateOperation] = []
    for op in upgrade_ops.ops:
        if isinstance(op, ops.CreateTableOp) and op.info:
            # Alembic renders info= into create_table; ours holds Column and Table
            # objects (a NameError in the migration) and means nothing to a migration.
            op.info = {k: v for k, v in op.info.items() if not str(k).startswith("audit.")}
        elif isinstance(op, ops.DropTableOp):
            key = _table_key(op, default)
            if (key in audit_tables or _is_audit_shaped(op)) and key not in keep_drops:
                log.info("Kept audit table %r and its rows (no drop_table)", ".".join(key))
                continue
        elif isinstance(op, ops.ModifyTableOps) and _table_key(op, default) in audit_tables:
            key = _table_key(op, default)
            inner = []
            for sub in op.ops:
                if isinstance(sub, ops.DropColumnOp):
                    log.info(
                        "Kept column %r of audit table %r (old rows keep their values)",
                        sub.column_name,
                        ".".join(key),
                    )
                    continue
                inner.append(sub)
            op.ops = inner
            if not inner:
                continue
        kept.append(op)
    upgrade_ops.ops = kept


def _rename_audit_table(
    autogen_context: AutogenContext,
    upgrade_ops: ops.UpgradeOps,
    scope: _Scope,
    old: AuditSpec,
    new: AuditSpec,
    tables: dict[QualifiedName, Table],
) -> None:
    """Turn ``create_table(new audit table)`` into a rename of the old one.

    Only within one schema (PostgreSQL's ``ALTER TABLE ... RENAME``), and only when
    the old table is still there; otherwise the new table is created and the old
    one kept with its rows.
    """
    default = scope.default_schema
    old_key, new_key = old.qualified_audit_table, new.qualified_audit_table
    positions = [
        i
        for i, op in enumerate(upgrade_ops.ops)
        if isinstance(op, ops.CreateTableOp) and _table_key(op, default) == new_key
    ]
    if not positions:
        return
    index = positions[0]
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
    upgrade_ops.ops[index : index + 1] = replacement


__all__ = ["Diff", "RenameAuditTable", "compare_audit", "differences"]
