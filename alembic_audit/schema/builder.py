"""The SQLAlchemy event hook that gives every audited ``Table`` its audit ``Table``."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Column, Enum, Identity, Index, MetaData, Table, event
from sqlalchemy.engine import Connection
from sqlalchemy.schema import SchemaItem
from sqlalchemy.types import TypeEngine

from ..core.constants import (
    AUDIT_TABLE,
    CREATE_DDL,
    DROP_DDL,
    INFO_PREFIX,
    IS_AUDIT_TABLE,
    IS_AUDITED,
    OPTIONS_KEY,
    SPEC,
    TARGET_TABLE,
)
from ..core.errors import AuditError
from ..core.options import is_enabled, spec_from_table, table_label
from ..core.spec import AuditSpec, MetaColumn
from ..sql.objects import create_statements, drop_statements
from ..sql.statement import AuditDDL, script
from ..sql.tables import create_default_partition_sql, partition_by_sql
from ..types import AuditSerial, mirror_type

_REGISTRY_KEY = "audit.registry"

_lock = threading.Lock()
_listening = False


class AuditInfo(dict):  # type: ignore[type-arg]
    """``Table.info`` of audited and audit tables.

    Its ``repr`` leaves out the ``audit.*`` keys: Alembic renders ``table.info``
    into ``create_table(..., info=...)`` with ``repr``, and ``Column`` or ``Table``
    objects there would make the migration fail to import (``NameError: Column``).

    Example::

        repr(AuditInfo({"audit.spec": spec, "owner": "app"}))  # "{'owner': 'app'}"
    """

    def __repr__(self) -> str:
        return repr({k: v for k, v in self.items() if not str(k).startswith(INFO_PREFIX)})


def listen() -> None:
    """Hook SQLAlchemy's events: audited tables get their audit table when attached.

    Idempotent and thread-safe; what :func:`alembic_audit.enable` calls.

    Example::

        listen()
        Table("item", metadata, Column("id", Integer, primary_key=True),
              info={"audit.options": {"enabled": True}})
        metadata.tables["item_audit"]  # the audit table
    """
    global _listening
    with _lock:
        if _listening:
            return
        event.listen(Table, "after_parent_attach", _on_table_attach)
        event.listen(Column, "after_parent_attach", _on_column_attach)
        _listening = True


def is_listening() -> bool:
    """Whether :func:`listen` (so :func:`alembic_audit.enable`) has run in this process.

    Example::

        alembic_audit.enable()
        is_listening()  # True
    """
    return _listening


def _on_table_attach(table: Table, parent: SchemaItem) -> None:
    if isinstance(parent, MetaData) and is_enabled(table):
        attach_audit_table(table, parent)


def _on_column_attach(column: Column[Any], parent: SchemaItem) -> None:
    # A column appended to an audited table after its creation must reach the
    # audit table and the spec, or the trigger would silently not copy it.
    if isinstance(parent, Table) and parent.info.get(IS_AUDITED):
        audit_table = parent.info[AUDIT_TABLE]
        if column.name not in audit_table.c:
            audit_table.append_column(_copy_column(column))
        refresh_spec(parent)


def _copy_column(column: Column[Any]) -> Column[Any]:
    # Same name and type; no constraints, defaults, identity or NOT NULL, so that any
    # historical row version fits.  Enum types stay the audited table's to create.
    return Column(column.name, mirror_type(column.type), nullable=True)


def _setting_type(
    type_: TypeEngine[Any], owned: set[tuple[str | None, str | None]]
) -> TypeEngine[Any]:
    if isinstance(type_, Enum) and (type_.schema, type_.name) in owned:
        return mirror_type(type_)
    return type_


def _registry(metadata: MetaData) -> dict[tuple[str, ...], str]:
    registry = metadata.info.get(_REGISTRY_KEY)
    if registry is None:
        registry = metadata.info[_REGISTRY_KEY] = {}
    return registry


def _claim_names(spec: AuditSpec, metadata: MetaData, owner: str) -> None:
    """Refuse two audited tables whose functions or audit tables share a name."""
    registry = _registry(metadata)
    claims = {
        ("function", *spec.qualified_function): "trigger function",
        ("audit_table", *spec.qualified_audit_table): "audit table",
    }
    for key, what in claims.items():
        other = registry.get(key)
        if other is not None and other != owner:
            raise AuditError(
                f"table {owner!r}: its {what} {'.'.join(key[1:])!r} has the same name as that "
                f"of table {other!r}; change the 'audit.{key[0].split('_')[0]}' naming convention"
            )
    for key in claims:
        registry[key] = owner


def attach_audit_table(table: Table, metadata: MetaData) -> Table:
    """Validate ``table``'s options and add its audit table to ``metadata``.

    Called by the event hook; callable directly for tables defined before
    :func:`alembic_audit.enable`.

    Example::

        audit = attach_audit_table(item, metadata)
    """
    spec = spec_from_table(table)
    label = table_label(table)
    key = (
        f"{spec.audit_schema}.{spec.audit_table_name}"
        if spec.audit_schema
        else spec.audit_table_name
    )
    existing = metadata.tables.get(key)
    if existing is not None:
        target = existing.info.get(TARGET_TABLE)
        # Table.to_metadata() copies both tables; reuse the copied audit table (whose
        # copied info still names the original table, maybe in another schema).
        copied = target is not None and target.metadata is not metadata
        if not (
            existing.info.get(IS_AUDIT_TABLE)
            and target is not None
            and (target.key == table.key or (copied and target.name == table.name))
        ):
            raise AuditError(
                f"table {label!r}: its audit table {key!r} clashes with an existing table"
            )
    _claim_names(spec, metadata, label)
    if existing is not None:
        audit_table = existing
    else:
        audit_cols = [_copy_column(c) for c in table.columns if c.name in spec.column_names]
        audit_cols += [_meta_column(c, spec.partition is not None) for c in spec.meta_columns]
        # Setting columns stay nullable even for required settings: adding a required
        # setting later must not fail on the audit rows already there.
        settings_cols = {c.name: c for c in table.info[OPTIONS_KEY].get("session_settings") or ()}
        # A setting's enum type is created with the audit table, unless the audited
        # table has a column of the same type (then it is created there).
        owned = {(c.type.schema, c.type.name) for c in table.columns if isinstance(c.type, Enum)}
        audit_cols += [
            Column(s.column_name, _setting_type(settings_cols[s.name].type, owned), nullable=True)
            for s in spec.session_settings
        ]
        audit_table = Table(
            spec.audit_table_name,
            metadata,
            *audit_cols,
            schema=spec.audit_schema,
            info=AuditInfo({IS_AUDIT_TABLE: True, TARGET_TABLE: table}),
        )
        # create_all makes a partitioned audit table's default partition with it, so that
        # it takes rows at once (Alembic's create_table does not fire this: there the
        # audit trigger's op makes it).
        event.listen(audit_table, "after_create", _after_create)
    # Created after (and dropped before) the audited table, whose DDL creates the enum
    # types both use: in create_all and in autogenerated migrations alike.
    audit_table.add_is_dependent_on(table)
    audit_table.info[TARGET_TABLE] = table
    info = AuditInfo(table.info)
    info[IS_AUDITED] = True
    info[AUDIT_TABLE] = audit_table
    table.info = info
    _store(table, spec)
    return audit_table


def _after_create(target: Table, connection: Connection, **kw: Any) -> None:
    spec = target.info.get(SPEC)
    if isinstance(spec, AuditSpec) and spec.partition is not None:
        connection.execute(AuditDDL(create_default_partition_sql(spec)))


def _meta_column(meta: MetaColumn, partitioned: bool = False) -> Column[Any]:
    if meta.identity and partitioned:
        # PostgreSQL before 17 has no identity columns on partitioned tables: a serial
        # column (its own sequence, dropped with the table) numbers the rows instead.
        return Column(meta.name, AuditSerial(), nullable=False)
    if meta.identity:
        # BY DEFAULT: tools that copy audit rows (a conversion to a partitioned table)
        # may keep their numbers; writers have no INSERT on the audit table anyway.
        return Column(meta.name, meta.type, Identity(), nullable=False)
    return Column(meta.name, meta.type, nullable=meta.nullable)


def _follow_spec(audit_table: Table, spec: AuditSpec) -> None:
    """Give the audit table the meta columns and indexes its spec asks for.

    Columns and indexes are only ever added here: a column a spec no longer writes
    keeps its old rows' values (autogenerate never drops it either).  A change of
    ``partition`` changes how the table is made (``PARTITION BY``, and ``audit_id``'s
    serial or identity): autogenerate turns it into ``op.partition_audit_table`` /
    ``op.unpartition_audit_table``, which convert the table with its rows.
    """
    partitioned = spec.partition is not None
    options = audit_table.dialect_options["postgresql"]
    options["partition_by"] = partition_by_sql(spec) if partitioned else None
    for meta in spec.meta_columns:
        column = audit_table.c.get(meta.name)
        if column is None:
            audit_table.append_column(_meta_column(meta, partitioned))
        elif meta.identity and partitioned != isinstance(column.type, AuditSerial):
            audit_table.append_column(_meta_column(meta, partitioned), replace_existing=True)
    have = {index.name for index in audit_table.indexes}
    for index in spec.indexes_on_audit_table:
        if index.name not in have:
            Index(
                index.name,
                *(audit_table.c[c] for c in index.columns),
                postgresql_using=index.using,
            )


def _store(table: Table, spec: AuditSpec) -> None:
    _follow_spec(table.info[AUDIT_TABLE], spec)
    table.info[SPEC] = spec
    # Like the seed's, both scripts can run again: create on an installed table (it
    # replaces), drop on nothing.
    table.info[CREATE_DDL] = script(create_statements(spec, replace_triggers=True))
    table.info[DROP_DDL] = script(drop_statements(spec, if_exists=True))
    table.info[AUDIT_TABLE].info[SPEC] = spec


def refresh_spec(table: Table) -> AuditSpec:
    """Rebuild an audited table's spec after its ``audit.options`` were edited in place.

    Example::

        table.info["audit.options"]["level"] = "row"
        refresh_spec(table).level  # 'row'
    """
    spec = spec_from_table(table)
    _store(table, spec)
    return spec


def get_audit_spec(table: Table) -> AuditSpec:
    """The :class:`AuditSpec` of an audited table (or of an audit table's target).

    Example::

        get_audit_spec(metadata.tables["item"]).function_name  # 'public_item_audit'
    """
    _adopt_copy(table)
    spec = table.info.get(SPEC)
    if spec is None:
        raise AuditError(
            f"table {table_label(table)!r} is not audited; was alembic_audit.enable() called "
            "before the table was defined?"
        )
    assert isinstance(spec, AuditSpec)
    return spec


def audited_tables(metadata: MetaData) -> list[Table]:
    """Audited tables of ``metadata``, in ``metadata.sorted_tables`` order.

    Example::

        [t.name for t in audited_tables(metadata)]  # ['item']
    """
    tables = [t for t in metadata.sorted_tables if t.info.get(IS_AUDITED)]
    for table in tables:
        _adopt_copy(table)
    return tables


def _adopt_copy(table: Table) -> None:
    """Finish a ``Table.to_metadata()`` copy of an audited table.

    SQLAlchemy copies ``info`` only after the copy has joined its new MetaData, so the
    attach event saw no audit options; the copied info still holds the original's
    audit table and spec, with the original's schema.  Re-attaching builds both for
    the copy (reusing a copied audit table), so that ``to_metadata(schema="tenant")``
    audits the tenant's table, not the original one.
    """
    audit_table = table.info.get(AUDIT_TABLE)
    if audit_table is not None and audit_table.metadata is not table.metadata:
        attach_audit_table(table, table.metadata)
