"""Alembic operations for audit trigger functions and triggers.

Importing this module registers three operations with Alembic (Python's import
cache makes that happen once):

- ``op.create_audit_trigger(...)`` -> :class:`CreateAuditTrigger`
- ``op.drop_audit_trigger(...)`` -> :class:`DropAuditTrigger`
- ``op.replace_audit_trigger(...)`` -> :class:`ReplaceAuditTrigger`

Each op holds an :class:`~alembic_audit.spec.AuditSpec`; its implementation runs
the statements of :mod:`alembic_audit.ddl`, after checking online that the tables
it needs exist, so a failing op fails before any of its DDL ran.  Offline
(``alembic upgrade --sql``) the statements are written out verbatim.

The renderers live in :mod:`alembic_audit.render` (Alembic's own split between
``ops``/``toimpl`` and ``render``); rendered migrations import that module.

Example (a hand-written migration enabling auditing on an existing table)::

    import alembic_audit.render  # noqa: F401  (registers the ops)
    from alembic import op

    def upgrade():
        op.create_audit_trigger(
            "item", session_settings=[("username", "VARCHAR(50)", True)],
            create_audit_table=True,
        )

    def downgrade():
        op.drop_audit_trigger("item", drop_audit_table=True)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from alembic.operations import MigrateOperation, Operations
from sqlalchemy import Column

from . import ddl, ddl_ops
from .naming import fit_identifier, render_convention
from .options import check_definition, type_text, validate_setting_name
from .spec import AuditSpec, SessionSetting
from .types import mirror_type

__all__ = [
    "CreateAuditTrigger",
    "DropAuditTrigger",
    "OfflineOperationError",
    "ReplaceAuditTrigger",
]


class OfflineOperationError(ValueError):
    """An op was asked to read the live database while generating SQL offline.

    Example::

        # alembic upgrade --sql, with op.create_audit_trigger("item") in a migration:
        # OfflineOperationError: op.create_audit_trigger('item'): offline mode ...
    """


# -- building a spec from op arguments -------------------------------------------------


#: Spec fields with a default in AuditSpec; read each time so a changed default flows.
def _spec_defaults() -> dict[str, Any]:
    return {
        f.name: f.default
        for f in dataclasses.fields(AuditSpec)
        if f.default is not dataclasses.MISSING
    }


def _spec_field_names() -> list[str]:
    return [f.name for f in dataclasses.fields(AuditSpec)]


def _label(table_name: str, schema: str | None) -> str:
    return f"{schema}.{table_name}" if schema else table_name


def _where(opname: str, table_name: str, schema: str | None) -> str:
    return f"op.{opname}({_label(table_name, schema)!r})"


def _is_offline(operations: Operations) -> bool:
    return bool(operations.get_context().as_sql)


def _bind(operations: Operations) -> sa.Connection:
    bind = operations.get_bind()
    assert bind is not None  # online only
    return bind


def _settings_literal(where: str, raw: Iterable[Any] | None) -> list[tuple[str, str, bool]]:
    """Session settings as ``(name, type, required)``, from tuples, SessionSetting or Column."""
    settings: list[tuple[str, str, bool]] = []
    for item in raw or ():
        if isinstance(item, SessionSetting):
            setting = (item.name, item.type, item.required)
        elif isinstance(item, Column):
            setting = (item.name, type_text(item.type), item.nullable is False)
        elif isinstance(item, Sequence) and not isinstance(item, str) and 1 <= len(item) <= 3:
            s = SessionSetting(*item)
            setting = (s.name, s.type, s.required)
        else:
            raise ValueError(
                f"{where}: session_settings entries must be (name, type, required) tuples, "
                f"SessionSetting or Column objects, got {item!r}"
            )
        validate_setting_name(setting[0], where=f"{where}: session_settings")
        settings.append(setting)
    return settings


def _reflect_columns(
    operations: Operations,
    where: str,
    table_name: str,
    schema: str | None,
    exclude: Sequence[str],
) -> tuple[list[tuple[str, str]], list[str]]:
    """Columns ``(name, type text)`` and primary key of the live table."""
    bind = _bind(operations)
    inspector = sa.inspect(bind)
    effective = schema or "public"
    if not inspector.has_table(table_name, schema=effective):
        raise ValueError(f"{where}: table {_label(table_name, schema)!r} does not exist")
    reflected = inspector.get_columns(table_name, schema=effective)
    names = [c["name"] for c in reflected]
    unknown = sorted(set(exclude) - set(names))
    if unknown:
        raise ValueError(
            f"{where}: exclude names column(s) {unknown} that table "
            f"{_label(table_name, schema)!r} does not have"
        )
    columns: list[tuple[str, str]] = []
    for col in reflected:
        if col["name"] in exclude:
            continue
        try:
            columns.append((col["name"], type_text(mirror_type(col["type"]))))
        except Exception as exc:  # NullType and friends: the type could not be reflected
            raise ValueError(
                f"{where}: cannot tell the type of column {col['name']!r} of table "
                f"{_label(table_name, schema)!r} ({exc}); pass columns=[(name, type), ...]"
            ) from None
    pk = inspector.get_pk_constraint(table_name, schema=effective)
    return columns, list(pk.get("constrained_columns") or ())


def build_spec(
    operations: Operations | None,
    opname: str,
    table_name: str,
    schema: str | None,
    fields: Mapping[str, Any],
    *,
    exclude: Sequence[str] = (),
) -> AuditSpec:
    """The spec an op call describes; reads the live table only when ``columns`` is None.

    ``fields`` are keyword arguments named like :class:`AuditSpec` fields; ``None``
    means "not given": names follow the default naming conventions, the columns and
    the primary key come from the live table (online only), the rest take the
    spec's defaults.  Raises ``ValueError`` naming the table, before any DDL.

    Example::

        build_spec(None, "create_audit_trigger", "item", None,
                   {"columns": [("id", "INTEGER")]}).function_name
        # 'public_item_audit'
    """
    where = _where(opname, table_name, schema)
    known = set(_spec_field_names()) - {"table_name", "schema"}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise ValueError(
            f"{where}: unknown argument(s) {unknown}; the definition fields are {sorted(known)}"
        )
    given = {k: v for k, v in fields.items() if v is not None}
    data: dict[str, Any] = {"table_name": table_name, "schema": schema}

    columns = given.pop("columns", None)
    primary_key = given.pop("primary_key", None)
    if columns is None:
        if operations is None or _is_offline(operations):
            raise OfflineOperationError(
                f"{where}: offline mode (alembic upgrade --sql) cannot read the columns of the "
                "live table; pass the definition instead: columns=[(name, type), ...] and, if "
                "the table has one, primary_key=[...] (an autogenerated migration carries them)"
            )
        columns, live_pk = _reflect_columns(operations, where, table_name, schema, exclude)
        if primary_key is None:
            primary_key = live_pk
    elif exclude:
        columns = [c for c in columns if tuple(c)[0] not in set(exclude)]
    data["columns"] = [tuple(c) for c in columns]
    data["primary_key"] = list(primary_key or ())
    data["session_settings"] = _settings_literal(where, given.pop("session_settings", None))

    # Names: derived from the default conventions only when the audit table name is not
    # given (hand-written); an autogenerated call gives them all and is taken literally.
    derive = "audit_table_name" not in given
    for key, field in (
        ("audit.table", "audit_table_name"),
        ("audit.function", "function_name"),
        ("audit.trigger", "trigger_name"),
    ):
        if field not in given:
            given[field] = fit_identifier(
                render_convention({}, key, table_name=table_name, schema=schema)
            )
    if "audit_schema" not in given:
        given["audit_schema"] = schema if derive else None
    data.update(given)
    for name, default in _spec_defaults().items():
        data.setdefault(name, default)

    _validate(where, data)
    try:
        return AuditSpec.from_dict(data)
    except TypeError as exc:
        raise ValueError(f"{where}: invalid definition ({exc})") from None


def _validate(where: str, data: Mapping[str, Any]) -> None:
    if not data["columns"]:
        raise ValueError(f"{where}: no columns to audit")
    check_definition(
        where,
        [c[0] for c in data["columns"]],
        data["level"],
        data["skip_unchanged"],
        data["primary_key"],
    )


def live_spec(
    operations: Operations,
    opname: str,
    table_name: str,
    schema: str | None,
    function_name: str | None = None,
) -> AuditSpec:
    """The spec embedded in the audit function installed on a live table.

    Example::

        live_spec(op, "drop_audit_trigger", "item", None).level  # 'statement'
    """
    where = _where(opname, table_name, schema)
    if _is_offline(operations):
        raise OfflineOperationError(
            f"{where}: offline mode (alembic upgrade --sql) cannot read the installed audit "
            "trigger; pass its definition instead: the arguments of the op.create_audit_trigger "
            "call that created it (columns=..., level=..., and the names)"
        )
    bind = _bind(operations)
    effective = schema or "public"
    if not sa.inspect(bind).has_table(table_name, schema=effective):
        raise ValueError(f"{where}: table {_label(table_name, schema)!r} does not exist")
    found: dict[tuple[str, str], AuditSpec] = {}
    for (source,) in bind.execute(ddl_ops.trigger_function_sources_query(effective, table_name)):
        spec = ddl.spec_from_function_body(source)
        if spec is not None and spec.qualified_table == (effective, table_name):
            found[spec.qualified_function] = spec
    specs = [s for s in found.values() if function_name in (None, s.function_name)]
    if not specs:
        raise ValueError(
            f"{where}: table {_label(table_name, schema)!r} has no audit trigger made by "
            "alembic_audit" + (f" with function {function_name!r}" if function_name else "")
        )
    if len(specs) > 1:
        names = sorted(".".join(s.qualified_function) for s in specs)
        raise ValueError(
            f"{where}: table {_label(table_name, schema)!r} has several audit functions "
            f"{names}; pass function_name=..."
        )
    return specs[0]


# -- the operations ---------------------------------------------------------------------


@Operations.register_operation("create_audit_trigger")
class CreateAuditTrigger(MigrateOperation):
    """Create the trigger function and triggers of an audited table.

    ``create_audit_table=True`` also creates the audit table first (for turning
    auditing on for an existing table in a hand-written migration; autogenerate
    creates the audit table with ``op.create_table`` instead).

    Example::

        op = CreateAuditTrigger(spec)
        op.reverse()          # DropAuditTrigger(spec)
        op.to_diff_tuple()    # ('add_audit_trigger', spec)
    """

    def __init__(self, spec: AuditSpec, *, create_audit_table: bool = False) -> None:
        self.spec = spec
        self.create_audit_table = create_audit_table

    def reverse(self) -> DropAuditTrigger:
        return DropAuditTrigger(self.spec, drop_audit_table=self.create_audit_table)

    def to_diff_tuple(self) -> tuple[Any, ...]:
        return ("add_audit_trigger", self.spec)

    def __repr__(self) -> str:
        return f"CreateAuditTrigger({self.spec!r}, create_audit_table={self.create_audit_table})"

    @classmethod
    def create_audit_trigger(
        cls,
        operations: Operations,
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

        Online, with ``columns`` left out, the columns and primary key are read from
        the live table (minus ``exclude``); offline, pass ``columns`` (an
        autogenerated migration always does).  Names follow the default naming
        conventions unless given.  ``create_audit_table=True`` creates the audit
        table too.  Raises ``ValueError`` naming the table if it (or its audit
        table) does not exist, before any DDL.

        Example::

            op.create_audit_trigger(
                "item",
                session_settings=[("username", "VARCHAR(50)", True)],
                level="row",
                create_audit_table=True,
            )
        """
        fields = dict(
            spec_fields,
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
        )
        spec = build_spec(
            operations, "create_audit_trigger", table_name, schema, fields, exclude=exclude
        )
        operations.invoke(cls(spec, create_audit_table=create_audit_table))


@Operations.register_operation("drop_audit_trigger")
class DropAuditTrigger(MigrateOperation):
    """Drop the trigger function and triggers of an audited table.

    The audit table and its rows stay, unless ``drop_audit_table=True``.

    Example::

        op = DropAuditTrigger(spec)
        op.reverse()          # CreateAuditTrigger(spec)
        op.to_diff_tuple()    # ('remove_audit_trigger', spec)
    """

    def __init__(self, spec: AuditSpec, *, drop_audit_table: bool = False) -> None:
        self.spec = spec
        self.drop_audit_table = drop_audit_table

    def reverse(self) -> CreateAuditTrigger:
        return CreateAuditTrigger(self.spec, create_audit_table=self.drop_audit_table)

    def to_diff_tuple(self) -> tuple[Any, ...]:
        return ("remove_audit_trigger", self.spec)

    def __repr__(self) -> str:
        return f"DropAuditTrigger({self.spec!r}, drop_audit_table={self.drop_audit_table})"

    @classmethod
    def drop_audit_trigger(
        cls,
        operations: Operations,
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

        With ``columns`` the definition is taken as given (as autogenerate renders
        it); without, online, it is read from the installed function (pick one with
        ``function_name`` if the table has several).  ``drop_audit_table=True`` also
        drops the audit table and its history.

        Example::

            op.drop_audit_trigger("item")                          # online
            op.drop_audit_trigger("item", drop_audit_table=True)   # and its history
        """
        fields = dict(
            spec_fields,
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
        )
        if columns is None:
            spec = live_spec(operations, "drop_audit_trigger", table_name, schema, function_name)
        else:
            spec = build_spec(operations, "drop_audit_trigger", table_name, schema, fields)
        operations.invoke(cls(spec, drop_audit_table=drop_audit_table))


@Operations.register_operation("replace_audit_trigger")
class ReplaceAuditTrigger(MigrateOperation):
    """Replace the function and triggers made from ``old_spec`` by those of ``spec``.

    ``old_function_sql`` / ``old_trigger_sqls`` are the ``pg_get_functiondef`` /
    ``pg_get_triggerdef`` texts of what the database held when it was not exactly
    ``old_spec`` (a hand-edited function): the upgrade drops those triggers, and
    the reverse op recreates exactly those texts (as ``function_sql`` /
    ``trigger_sqls``, which, when given, are created instead of ``spec``'s DDL).
    ``*_trigger_sqls`` hold the triggers on the audited table only (the names of
    ``spec.trigger_names``, possibly drifted); the append-only guard on the audit
    table is always dropped and created from the specs.

    Example::

        op = ReplaceAuditTrigger(new_spec, old_spec)
        op.reverse()          # ReplaceAuditTrigger(old_spec, new_spec)
        op.to_diff_tuple()    # ('modify_audit_trigger', old_spec, new_spec)
    """

    def __init__(
        self,
        spec: AuditSpec,
        old_spec: AuditSpec,
        *,
        old_function_sql: str | None = None,
        old_trigger_sqls: tuple[str, ...] | None = None,
        function_sql: str | None = None,
        trigger_sqls: tuple[str, ...] | None = None,
    ) -> None:
        self.spec = spec
        self.old_spec = old_spec
        self.old_function_sql = old_function_sql
        self.old_trigger_sqls = tuple(old_trigger_sqls) if old_trigger_sqls is not None else None
        self.function_sql = function_sql
        self.trigger_sqls = tuple(trigger_sqls) if trigger_sqls is not None else None

    def reverse(self) -> ReplaceAuditTrigger:
        return ReplaceAuditTrigger(
            self.old_spec,
            self.spec,
            old_function_sql=self.function_sql,
            old_trigger_sqls=self.trigger_sqls,
            function_sql=self.old_function_sql,
            trigger_sqls=self.old_trigger_sqls,
        )

    def to_diff_tuple(self) -> tuple[Any, ...]:
        return ("modify_audit_trigger", self.old_spec, self.spec)

    def __repr__(self) -> str:
        return f"ReplaceAuditTrigger({self.spec!r}, old_spec={self.old_spec!r})"

    @classmethod
    def replace_audit_trigger(
        cls,
        operations: Operations,
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

        ``old`` and ``new`` are definitions (keyword arguments of
        ``op.create_audit_trigger``, as autogenerate renders them).  Hand-written,
        online, ``old`` may be left out (it is read from the installed function)
        and ``new`` given as changes to it.

        Example::

            op.replace_audit_trigger("item", level="row")       # online, hand-written
            op.replace_audit_trigger("item", old={...}, new={...})  # autogenerated
        """
        if old is None:
            old_spec = live_spec(operations, "replace_audit_trigger", table_name, schema)
        else:
            # The old definition names its table only if it differs (a renamed table).
            old_spec = build_spec(
                None,
                "replace_audit_trigger",
                old.get("table_name", table_name),
                old.get("schema", schema),
                _fields(old),
            )
        if new is not None:
            if changes:
                raise ValueError(
                    f"{_where('replace_audit_trigger', table_name, schema)}: pass new={{...}} "
                    f"or changes as keywords, not both (got {sorted(changes)})"
                )
            new_spec = build_spec(None, "replace_audit_trigger", table_name, schema, _fields(new))
        else:
            data = old_spec.to_dict()
            data.update(changes)
            new_spec = build_spec(
                None,
                "replace_audit_trigger",
                data.pop("table_name"),
                data.pop("schema"),
                data,
            )
        operations.invoke(
            cls(
                new_spec,
                old_spec,
                old_function_sql=old_function_sql,
                old_trigger_sqls=tuple(old_trigger_sqls) if old_trigger_sqls is not None else None,
                function_sql=function_sql,
                trigger_sqls=tuple(trigger_sqls) if trigger_sqls is not None else None,
            )
        )


def _fields(definition: Mapping[str, Any]) -> dict[str, Any]:
    # table_name / schema are positional in the op call; a definition may repeat them.
    return {k: v for k, v in definition.items() if k not in ("table_name", "schema")}


# -- implementations --------------------------------------------------------------------


def _run(operations: Operations, statements: Iterable[str]) -> None:
    impl = operations.migration_context.impl
    if impl.as_sql:
        # Written verbatim: compiling through a pyformat dialect would double the '%'
        # of format() calls in the function body, and the script goes to psql, not
        # to a driver.
        for stmt in statements:
            impl.static_output(stmt.strip() + impl.command_terminator)
    else:
        for stmt in statements:
            operations.execute(ddl.AuditDDL(stmt))


def _check_table(operations: Operations, opname: str, spec: AuditSpec) -> None:
    if _is_offline(operations):
        return
    if not sa.inspect(_bind(operations)).has_table(spec.table_name, schema=spec.effective_schema):
        raise ValueError(
            f"{_where(opname, spec.table_name, spec.schema)}: table "
            f"{'.'.join(spec.qualified_table)!r} does not exist"
        )


def _check_audit_table(
    operations: Operations, opname: str, spec: AuditSpec, *, exists: bool
) -> None:
    if _is_offline(operations):
        return
    found = sa.inspect(_bind(operations)).has_table(
        spec.audit_table_name, schema=spec.effective_audit_schema
    )
    if found != exists:
        state = "does not exist" if exists else "already exists"
        raise ValueError(
            f"{_where(opname, spec.table_name, spec.schema)}: audit table "
            f"{'.'.join(spec.qualified_audit_table)!r} of table "
            f"{'.'.join(spec.qualified_table)!r} {state}"
            + ("; create it first (op.create_table, or create_audit_table=True)" if exists else "")
        )


def _check_function(operations: Operations, opname: str, spec: AuditSpec, *, exists: bool) -> None:
    if _is_offline(operations):
        return
    found = bool(_bind(operations).execute(ddl_ops.function_exists_query(spec)).scalar())
    if found != exists:
        state = "does not exist" if exists else "already exists"
        hint = "" if exists else "; use op.replace_audit_trigger to change it"
        raise ValueError(
            f"{_where(opname, spec.table_name, spec.schema)}: trigger function "
            f"{'.'.join(spec.qualified_function)!r} of table "
            f"{'.'.join(spec.qualified_table)!r} {state}{hint}"
        )


@Operations.implementation_for(CreateAuditTrigger)
def _create_audit_trigger(operations: Operations, operation: CreateAuditTrigger) -> None:
    spec = operation.spec
    _check_table(operations, "create_audit_trigger", spec)
    _check_audit_table(
        operations, "create_audit_trigger", spec, exists=not operation.create_audit_table
    )
    _check_function(operations, "create_audit_trigger", spec, exists=False)
    statements = [ddl_ops.create_audit_table_sql(spec)] if operation.create_audit_table else []
    _run(operations, statements + ddl.create_statements(spec))


@Operations.implementation_for(DropAuditTrigger)
def _drop_audit_trigger(operations: Operations, operation: DropAuditTrigger) -> None:
    spec = operation.spec
    _check_table(operations, "drop_audit_trigger", spec)
    _check_function(operations, "drop_audit_trigger", spec, exists=True)
    if operation.drop_audit_table:
        _check_audit_table(operations, "drop_audit_trigger", spec, exists=True)
    statements = ddl.drop_statements(spec)
    if operation.drop_audit_table:
        statements.append(ddl_ops.drop_audit_table_sql(spec))
    _run(operations, statements)


def _create_sqls(
    spec: AuditSpec, function_sql: str | None, trigger_sqls: tuple[str, ...] | None
) -> list[str]:
    """``ddl.create_statements(spec)``, with the function and the triggers on the
    audited table swapped for raw texts when given.

    Raw texts are exactly what the database held before (a downgrade restoring a
    hand-edited definition); everything else (privileges, guard) still comes from
    the spec, so statements added to ``create_statements`` later apply here too.
    """
    statements = ddl.create_statements(spec)
    if function_sql is not None:
        generated = ddl.create_function_sql(spec)
        statements = [function_sql if s == generated else s for s in statements]
    if trigger_sqls is not None:
        generated_triggers = ddl.create_trigger_sqls(spec)
        first = statements.index(generated_triggers[0])
        rest = [s for s in statements if s not in generated_triggers]
        statements = rest[:first] + list(trigger_sqls) + rest[first:]
    return statements


@Operations.implementation_for(ReplaceAuditTrigger)
def _replace_audit_trigger(operations: Operations, operation: ReplaceAuditTrigger) -> None:
    new, old = operation.spec, operation.old_spec
    _check_table(operations, "replace_audit_trigger", new)
    _check_audit_table(operations, "replace_audit_trigger", new, exists=True)
    _check_function(operations, "replace_audit_trigger", old, exists=True)
    if operation.old_trigger_sqls is not None:
        old_triggers = ddl_ops.trigger_names_from_sqls(operation.old_trigger_sqls)
    else:
        old_triggers = list(old.trigger_names)
    statements = [ddl_ops.drop_trigger_by_name_sql(old, name) for name in old_triggers]
    if old.append_only:
        # The guard trigger on the audit table, then its function; recreated below
        # by the new definition if it still asks for one.
        statements += ddl.drop_guard_sqls(old)
    if old.qualified_function != new.qualified_function:
        statements.append(ddl.drop_function_sql(old))
    statements += _create_sqls(new, operation.function_sql, operation.trigger_sqls)
    _run(operations, statements)


# The grant ops (op.grant_audit_access / op.revoke_audit_access) live in their own
# module; importing it here keeps "import alembic_audit.operations" the one import a
# migration needs.  At the bottom: that module imports the helpers above.
from . import grant_operations as _grant_operations  # noqa: E402

_ = _grant_operations
