"""Autogenerate renderers for the operations of :mod:`alembic_audit.migration.ops`.

Each op renders as one ``op.<name>(...)`` call carrying the whole definition as
plain literals (strings, booleans, ``None``, lists of tuples), taken generically
from :meth:`AuditSpec.to_dict`, so fields added to the spec flow through without
changes here, and a migration replays the same DDL after the models changed.
Every field is rendered, defaults included: a later change of a default cannot
change what an old migration does.  The rendered module gains one import,
``import alembic_audit.operations``, which registers the ops; nothing from the
user's models is referenced.

Importing this module registers the renderers (and the ops).

Example::

    from alembic.autogenerate import render_python_code
    from alembic.operations import ops
    from alembic_audit.migration import CreateAuditTrigger

    print(render_python_code(ops.UpgradeOps([CreateAuditTrigger(spec)])))
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from alembic.autogenerate.render import renderers
from alembic.operations import ops

from ..core.spec import AuditSpec
from ..migration.ops import (
    CreateAuditTrigger,
    DropAuditTable,
    DropAuditTrigger,
    GrantAuditAccess,
    KeepAuditColumnType,
    PartitionAuditTable,
    RenameAuditTable,
    ReplaceAuditTrigger,
    RevokeAuditAccess,
    UnpartitionAuditTable,
    WidenAuditColumn,
)
from ..types import type_text

if TYPE_CHECKING:
    from alembic.autogenerate.api import AutogenContext

#: The import a rendered migration needs to run its audit ops.
IMPORT = "import alembic_audit.operations  # noqa: F401 (registers op.*_audit_trigger)"

_INDENT = "    "

__all__ = ["IMPORT", "op_prefix", "render_literal"]


def op_prefix(autogen_context: AutogenContext) -> str:
    """What rendered op calls start with (``op.`` unless env.py configures another).

    Example::

        op_prefix(autogen_context)  # 'op.'
    """
    return str(autogen_context.opts.get("alembic_module_prefix", "op."))


def render_literal(value: Any, indent: str = "") -> str:
    """Python source for a plain literal, deterministic and readable.

    Strings use double quotes (JSON escaping is valid Python); lists of records
    (tuples) and dicts go one item per line, lists of scalars and records on one
    line when short; a multi-line string is split into one literal per line in parentheses.

    Example::

        render_literal([("id", "INTEGER")])  # '[\\n    ("id", "INTEGER"),\\n]'
    """
    inner = indent + _INDENT
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        lines = value.splitlines(keepends=True)
        if len(lines) <= 1:
            return json.dumps(value, ensure_ascii=False)
        parts = "".join(f"{inner}{json.dumps(line, ensure_ascii=False)}\n" for line in lines)
        return f"(\n{parts}{indent})"
    if isinstance(value, tuple):
        if all(not isinstance(v, (list, tuple, dict)) for v in value):
            # A short record such as ("id", "INTEGER"): one line.
            body = ", ".join(render_literal(v, indent) for v in value)
            return f"({body},)" if len(value) == 1 else f"({body})"
        items = "".join(f"{inner}{render_literal(v, inner)},\n" for v in value)
        return f"(\n{items}{indent})"
    if isinstance(value, list):
        if all(not isinstance(v, (list, tuple, dict)) for v in value):
            # A short list of names such as a primary key: one line.
            one_line = "[" + ", ".join(render_literal(v, indent) for v in value) + "]"
            if len(one_line) <= 60 and "\n" not in one_line:
                return one_line
        items = "".join(f"{inner}{render_literal(v, inner)},\n" for v in value)
        return f"[\n{items}{indent}]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = "".join(
            f"{inner}{render_literal(k, inner)}: {render_literal(v, inner)},\n"
            for k, v in value.items()
        )
        return f"{{\n{items}{indent}}}"
    raise TypeError(f"cannot render {value!r} as a literal in a migration")


def _tupled(value: Any) -> Any:
    # to_dict gives lists of lists or tuples; records render as tuples, collections
    # as lists, whatever the spec returns.
    if isinstance(value, (list, tuple)):
        items = [_tupled(v) for v in value]
        if items and all(isinstance(v, (list, tuple)) for v in value):
            return [tuple(v) if isinstance(v, list) else v for v in items]
        return items
    return value


def _definition(spec: AuditSpec) -> dict[str, Any]:
    """``spec.to_dict()`` with table_name and schema removed (they are the call's head)."""
    data = {k: _tupled(v) for k, v in spec.to_dict().items()}
    data.pop("table_name")
    data.pop("schema")
    return data


def _call(autogen_context: AutogenContext, name: str, args: list[tuple[str | None, Any]]) -> str:
    autogen_context.imports.add(IMPORT)
    lines = [f"{op_prefix(autogen_context)}{name}("]
    for key, value in args:
        rendered = render_literal(value, _INDENT)
        lines.append(f"{_INDENT}{rendered}," if key is None else f"{_INDENT}{key}={rendered},")
    lines.append(")")
    return "\n".join(lines)


def _head(spec: AuditSpec) -> list[tuple[str | None, Any]]:
    return [(None, spec.table_name), ("schema", spec.schema)]


def _create_args(spec: AuditSpec) -> list[tuple[str | None, Any]]:
    return _head(spec) + list(_definition(spec).items())


@renderers.dispatch_for(CreateAuditTrigger)
def _render_create(autogen_context: AutogenContext, op: CreateAuditTrigger) -> str:
    args = _create_args(op.spec)
    if op.create_audit_table:
        args.append(("create_audit_table", True))
    if op.snapshot:
        args.append(("snapshot", True))
    return _call(autogen_context, "create_audit_trigger", args)


@renderers.dispatch_for(DropAuditTrigger)
def _render_drop(autogen_context: AutogenContext, op: DropAuditTrigger) -> str:
    args = _create_args(op.spec)
    if op.drop_audit_table:
        args.append(("drop_audit_table", True))
    return _call(autogen_context, "drop_audit_trigger", args)


@renderers.dispatch_for(ReplaceAuditTrigger)
def _render_replace(autogen_context: AutogenContext, op: ReplaceAuditTrigger) -> str:
    old = _definition(op.old_spec)
    # The old definition names its table only when it differs from the new one's.
    if op.old_spec.qualified_table != op.spec.qualified_table:
        old = {"table_name": op.old_spec.table_name, "schema": op.old_spec.schema, **old}
    args: list[tuple[str | None, Any]] = [*_head(op.spec), ("old", old)]
    args.append(("new", _definition(op.spec)))
    for key in (
        "old_function_sql",
        "old_trigger_sqls",
        "function_sql",
        "trigger_sqls",
        "old_guard_function_sql",
        "guard_function_sql",
    ):
        value = getattr(op, key)
        if value is not None:
            args.append((key, list(value) if isinstance(value, tuple) else value))
    return _call(autogen_context, "replace_audit_trigger", args)


@renderers.dispatch_for(PartitionAuditTable)
def _render_partition(autogen_context: AutogenContext, op: PartitionAuditTable) -> str:
    # The definition as it is (not partitioned), and the partitioning wanted.
    args = _head(op.spec) + [("by", op.partition.by), ("ahead", op.partition.ahead)]
    return _call(
        autogen_context, "partition_audit_table", args + list(_definition(op.spec).items())
    )


@renderers.dispatch_for(UnpartitionAuditTable)
def _render_unpartition(autogen_context: AutogenContext, op: UnpartitionAuditTable) -> str:
    return _call(autogen_context, "unpartition_audit_table", _create_args(op.spec))


def _access_args(op: GrantAuditAccess | RevokeAuditAccess) -> list[tuple[str | None, Any]]:
    # Every field, defaults included, resolved: the call reads nothing from the catalog.
    data = op.access.to_dict()
    head: list[tuple[str | None, Any]] = [(None, data.pop("table_name")), (None, data.pop("role"))]
    return head + list(data.items())


@renderers.dispatch_for(GrantAuditAccess)
def _render_grant(autogen_context: AutogenContext, op: GrantAuditAccess) -> str:
    return _call(autogen_context, "grant_audit_access", _access_args(op))


@renderers.dispatch_for(RevokeAuditAccess)
def _render_revoke(autogen_context: AutogenContext, op: RevokeAuditAccess) -> str:
    return _call(autogen_context, "revoke_audit_access", _access_args(op))


@renderers.dispatch_for(RenameAuditTable)
def _render_rename(autogen_context: AutogenContext, op: RenameAuditTable) -> str:
    schema = f", schema={op.schema!r}" if op.schema else ""
    names = f"{op.table_name!r}, {op.new_table_name!r}"
    return f"{op_prefix(autogen_context)}rename_table({names}{schema})"


@renderers.dispatch_for(DropAuditTable)
def _render_drop_table(autogen_context: AutogenContext, op: DropAuditTable) -> str | list[str]:
    # Rendered before the downgrade, whose create_table names alembic_audit.types.
    autogen_context.imports.add(IMPORT)
    return renderers.dispatch(ops.DropTableOp)(autogen_context, op)  # type: ignore[no-any-return]


@renderers.dispatch_for(WidenAuditColumn)
def _render_widen(autogen_context: AutogenContext, op: WidenAuditColumn) -> list[str]:
    # Alembic's own alter_column text (batch mode included), said to be widen-only.
    alembic_renderer = renderers.dispatch(ops.AlterColumnOp)
    rendered = alembic_renderer(autogen_context, op)
    lines = rendered if isinstance(rendered, list) else [rendered]
    assert op.modify_type is not None
    comment = (
        f"# audit column {op.table_name}.{op.column_name}: {op.found_type} -> "
        f"{type_text(op.modify_type)}, widen only (the downgrade keeps it)"
    )
    return [comment, *lines]


@renderers.dispatch_for(KeepAuditColumnType)
def _render_keep(autogen_context: AutogenContext, op: KeepAuditColumnType) -> str:
    widened = op.widened
    assert widened.modify_type is not None
    # A statement, not only a comment: it may be the only line of the downgrade.
    return (
        f"pass  # audit column {op.table_name}.{op.column_name} keeps "
        f"{type_text(widened.modify_type)}: history may hold values {widened.found_type} "
        "cannot"
    )
