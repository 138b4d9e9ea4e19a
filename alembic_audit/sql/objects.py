"""All the objects of one audited table, in the order they are created and dropped.

The audit function, its triggers on the audited table and, with ``append_only``, the
guard function and its trigger on the audit table.

Example::

    for stmt in create_statements(spec):
        connection.execute(AuditDDL(stmt))
"""

from __future__ import annotations

from ..core.naming import all_trigger_names
from ..core.spec import AuditSpec
from .audit_partitions import add_partition_guards_sql, drop_partition_guards_sql
from .function import audit_function, guard_function
from .partitions import create_partition_triggers_sql, drop_partition_triggers_sql
from .plpgsql import snapshot_block_body
from .policies import copy_row_security_sql
from .quoting import dollar_quote
from .tables import create_default_partition_sql
from .triggers import TriggerDefinition, audit_triggers, drop_trigger_sql, guard_trigger


def spec_triggers(spec: AuditSpec) -> tuple[TriggerDefinition, ...]:
    """Every trigger a spec creates: on the audited table, and the guard on the audit table.

    Example::

        [t.name for t in spec_triggers(spec.replace(append_only=True))][-1]
        # 'public_item_audit_append_only'
    """
    triggers = audit_triggers(spec)
    return triggers + (guard_trigger(spec),) if spec.append_only else triggers


def snapshot_statement(spec: AuditSpec) -> str:
    """``DO`` block recording the audited table's rows as ``'S'`` (snapshot) audit rows.

    Example::

        snapshot_statement(spec).startswith("DO $audit$")  # True
    """
    return f"DO {dollar_quote(snapshot_block_body(spec))}"


def create_guard_statements(spec: AuditSpec) -> list[str]:
    """The append-only guard: its function, EXECUTE revoked, its trigger (on the audit
    table and, partitioned, on each of its partitions).

    Example::

        create_guard_statements(spec.replace(append_only=True))
    """
    function = guard_function(spec)
    statements = [function.create_sql(), function.revoke_sql(), guard_trigger(spec).create_sql()]
    if spec.partition is not None:
        statements.append(add_partition_guards_sql(spec))
    return statements


def drop_guard_statements(spec: AuditSpec, *, if_exists: bool = False) -> list[str]:
    """Guard trigger (on the partitions too, when partitioned), then guard function.

    Example::

        drop_guard_statements(spec)[1]
        # 'DROP FUNCTION "public"."public_item_audit_append_only"()'
    """
    statements = [drop_partition_guards_sql(spec)] if spec.partition is not None else []
    return statements + [
        guard_trigger(spec).drop_sql(if_exists=if_exists),
        guard_function(spec).drop_sql(if_exists=if_exists),
    ]


def create_statements(spec: AuditSpec, *, replace_triggers: bool = False) -> list[str]:
    """Function (EXECUTE revoked from PUBLIC), then triggers (on the partitions too, for a
    partitioned table), the copy of the table's row-level security (``row_security``),
    then the guard.

    ``replace_triggers`` first drops any trigger this spec's base name could have
    (either level) and any guard, for idempotent installs.

    Example::

        for stmt in create_statements(spec):
            conn.execute(AuditDDL(stmt))
    """
    function = audit_function(spec)
    # A partitioned audit table takes every row only with its default partition: made
    # with the trigger, wherever the trigger is made (ops, install, audit.create_ddl).
    statements = [create_default_partition_sql(spec)] if spec.partition is not None else []
    statements += [function.create_sql(), function.revoke_sql()]
    if replace_triggers:
        schema, table = spec.qualified_table
        names = all_trigger_names(spec.trigger_name)
        statements += [drop_trigger_sql(schema, table, name, if_exists=True) for name in names]
        # After the parent's: the clones of a row trigger go with it.
        statements += _some([drop_partition_triggers_sql(spec, names)])
        # A guard left by an earlier spec: removed, or recreated just below.
        statements += drop_guard_statements(spec, if_exists=True)
    statements += [trigger.create_sql() for trigger in audit_triggers(spec)]
    statements += _some([create_partition_triggers_sql(spec)])
    if spec.row_security:
        statements.append(copy_row_security_sql(spec))
    if spec.append_only:
        statements += create_guard_statements(spec)
    return statements


def _some(statements: list[str | None]) -> list[str]:
    return [s for s in statements if s is not None]


def drop_statements(spec: AuditSpec, *, if_exists: bool = False) -> list[str]:
    """Triggers, then function: exactly the objects :func:`create_statements` made.

    With ``if_exists`` the functions are dropped with ``CASCADE`` instead of naming
    the triggers, so that it also works after the audited table is gone.

    Example::

        drop_statements(spec)[-1]  # 'DROP FUNCTION "public"."public_item_audit"()'
    """
    if if_exists:
        statements = [audit_function(spec).drop_sql(if_exists=True, cascade=True)]
        if spec.append_only:
            statements.append(guard_function(spec).drop_sql(if_exists=True, cascade=True))
        return statements
    statements = [trigger.drop_sql() for trigger in audit_triggers(spec)]
    statements += _some([drop_partition_triggers_sql(spec)])
    if not spec.append_only:
        return statements + [audit_function(spec).drop_sql()]
    *guard_trigger_sqls, guard_function_sql = drop_guard_statements(spec)
    return statements + [*guard_trigger_sqls, audit_function(spec).drop_sql(), guard_function_sql]


__all__ = [
    "snapshot_statement",
    "spec_triggers",
    "create_guard_statements",
    "create_statements",
    "drop_guard_statements",
    "drop_statements",
]
