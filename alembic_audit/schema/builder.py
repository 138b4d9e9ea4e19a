"""The SQLAlchemy event hook that gives every audited ``Table`` its audit ``Table``."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Column, Enum, Identity, Index, MetaData, Table, event
from sqlalchemy.engine import Connection
from sqlalchemy.schema import SchemaItem
from sqlalchemy.types import NullType, TypeEngine

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
#: ``MetaData.info`` key: audited tables waiting for a foreign key's table to type a column.
_DEFERRED_KEY = "audit.deferred"
#: ``Table.info`` key: the snapshot of the options the audit table was built from.
_BUILT_FROM = "audit.built_from"

_lock = threading.Lock()
_listening = False

#: Every audited table built in this process, for checks that span all of them (the
#: type of a session setting, at run time).  Weak: a dropped MetaData takes its tables.
_live: weakref.WeakSet[Table] = weakref.WeakSet()
_generation = 0


class AuditInfo(dict):  # type: ignore[type-arg]
    """``Table.info`` of audited and audit tables.

    Its ``repr`` leaves out the ``audit.*`` keys: Alembic renders ``table.info``
    into ``create_table(..., info=...)`` with ``repr``, and ``Column`` or ``Table``
    objects there would make the migration fail to import (``NameError: Column``).

    The seed's ``audit.create_ddl`` and ``audit.drop_ddl`` scripts of an audited table
    are written when first read, not when the table is defined: an application (or an
    ``alembic check``) that never reads them does not pay for rendering them.

    Example::

        repr(AuditInfo({"audit.spec": spec, "owner": "app"}))  # "{'owner': 'app'}"
    """

    def __repr__(self) -> str:
        return repr({k: v for k, v in self.items() if not str(k).startswith(INFO_PREFIX)})

    def _lazy(self, key: object) -> bool:
        return (
            key in (CREATE_DDL, DROP_DDL)
            and dict.__contains__(self, SPEC)
            and bool(dict.get(self, IS_AUDITED))
        )

    def __missing__(self, key: object) -> Any:
        if not self._lazy(key):
            raise KeyError(key)
        spec = dict.__getitem__(self, SPEC)
        # Like the seed's, both scripts can run again: create on an installed table (it
        # replaces), drop on nothing.
        if key == CREATE_DDL:
            value = script(create_statements(spec, replace_triggers=True))
        else:
            value = script(drop_statements(spec, if_exists=True))
        self[key] = value
        return value

    def get(self, key: object, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key) or self._lazy(key)


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
    if not isinstance(parent, MetaData):
        return
    if is_enabled(table):
        if _untyped(table):
            # A column typed by its foreign key (Column("team_id", ForeignKey("team.id")))
            # whose table comes later: built when that table arrives.
            _deferred(parent).append(table)
        else:
            attach_audit_table(table, parent)
    _retry_deferred(parent)


def _untyped(table: Table) -> bool:
    return any(isinstance(c.type, NullType) and c.foreign_keys for c in table.columns)


def _deferred(metadata: MetaData) -> list[Table]:
    deferred = metadata.info.get(_DEFERRED_KEY)
    if deferred is None:
        deferred = metadata.info[_DEFERRED_KEY] = []
    return deferred


def _retry_deferred(metadata: MetaData) -> None:
    deferred = metadata.info.get(_DEFERRED_KEY)
    if not deferred:
        return
    for table in list(deferred):
        if table.metadata is not metadata or table.info.get(IS_AUDITED):
            deferred.remove(table)
        elif not _untyped(table):
            deferred.remove(table)
            if is_enabled(table):
                attach_audit_table(table, metadata)


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

    What the event hook calls when an audited table is defined.  Prefer
    :func:`alembic_audit.audit` for tables that are already defined: it sets the options
    and calls this.

    Example::

        audit = attach_audit_table(item, metadata)
    """
    spec = spec_from_table(table)
    label = table_label(table)
    key = _table_key(spec)
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
        audit_table = Table(
            spec.audit_table_name,
            metadata,
            *_audit_columns(table, spec),
            schema=spec.audit_schema,
            info=AuditInfo({IS_AUDIT_TABLE: True, TARGET_TABLE: table}),
        )
        _listen_after_create()
    # Created after (and dropped before) the audited table, whose DDL creates the enum
    # types both use: in create_all and in autogenerated migrations alike.
    audit_table.add_is_dependent_on(table)
    audit_table.info[TARGET_TABLE] = table
    info = AuditInfo(table.info)
    info[IS_AUDITED] = True
    info[AUDIT_TABLE] = audit_table
    table.info = info
    _store(table, spec)
    table.info[_BUILT_FROM] = _fingerprint(table)
    return audit_table


def _listen_after_create() -> None:
    # create_all makes a partitioned audit table's default partition with it, so that it
    # takes rows at once (Alembic's create_table does not fire this: there the audit
    # trigger's op makes it).  One listener on the class, not one per audit table: an
    # instance listener costs about 25 us per table when the models are imported.
    with _lock:
        if not event.contains(Table, "after_create", _after_create):
            event.listen(Table, "after_create", _after_create)


def _after_create(target: Table, connection: Connection, **kw: Any) -> None:
    if not target.info.get(IS_AUDIT_TABLE):
        return
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


def live_audited_tables() -> list[Table]:
    """Every audited table built in this process that is still alive, in no set order.

    Example::

        [t.name for t in live_audited_tables()]  # ['product', 'customer', ...]
    """
    with _lock:
        return list(_live)


def registry_generation() -> tuple[int, int]:
    """Changes whenever :func:`live_audited_tables` may have changed (a table was
    audited, or one was collected): a cache key for what is derived from them.

    Example::

        registry_generation()  # (12, 11)
    """
    return (_generation, len(_live))


def _table_key(spec: AuditSpec) -> str:
    if spec.audit_schema:
        return f"{spec.audit_schema}.{spec.audit_table_name}"
    return spec.audit_table_name


def _audit_columns(table: Table, spec: AuditSpec) -> list[Column[Any]]:
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
    return audit_cols


def _shape(columns: Iterable[Column[Any]]) -> list[tuple[str, str, bool]]:
    return [(c.name, repr(c.type), bool(c.nullable)) for c in columns]


def _freeze(value: object) -> object:
    """A comparable snapshot of an option value (``Column`` objects compare as SQL)."""
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, (set, frozenset)):
        return tuple(sorted(repr(_freeze(v)) for v in value))
    if isinstance(value, Column):
        # By identity (a repr of the type costs more than the whole check): a Column
        # replaced by an equal one only costs a cheap rebuild that finds nothing to do.
        return ("column", value.name, id(value), id(value.type), value.nullable)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return ("object", type(value).__name__, id(value))


def _fingerprint(table: Table) -> object:
    """What the audit table and spec were built from: the options (a snapshot, so that
    an edit in place shows) and the ``audit.*`` naming conventions."""
    conventions = sorted(
        (str(k), repr(v))
        for k, v in table.metadata.naming_convention.items()
        if str(k).startswith(INFO_PREFIX)
    )
    return (_freeze(table.info.get(OPTIONS_KEY)), tuple(conventions))


def _release_names(table: Table) -> None:
    registry = _registry(table.metadata)
    owner = table_label(table)
    for key in [k for k, v in registry.items() if v == owner]:
        del registry[key]


def _detach(table: Table) -> None:
    """Undo :func:`attach_audit_table`: the table is no longer audited in the models (its
    audit table leaves the MetaData; the database is not touched)."""
    audit_table = table.info.get(AUDIT_TABLE)
    for key in (IS_AUDITED, AUDIT_TABLE, SPEC, CREATE_DDL, DROP_DDL, _BUILT_FROM):
        table.info.pop(key, None)
    _release_names(table)
    global _generation
    with _lock:
        _live.discard(table)
        _generation += 1
    metadata = table.metadata
    if (
        isinstance(audit_table, Table)
        and metadata.tables.get(audit_table.key) is audit_table
        and audit_table.info.get(TARGET_TABLE) is table
    ):
        metadata.remove(audit_table)


def sync_table(table: Table) -> bool:
    """Bring a table's audit table and spec in line with its ``audit.options`` as they are
    now; return whether it is audited.

    Options set, changed (also in place) or turned off after the table was defined
    take effect here: the audit table is built, rebuilt (a new ``Table`` object when its
    columns or name change; take it from ``metadata.tables`` again) or removed from the
    MetaData.  :func:`audited_tables`, :func:`get_audit_spec`, the install and grant
    helpers and autogenerate call it; an invalid option raises an ``AuditError`` naming
    the table.

    Example::

        item.info["audit.options"] = {"enabled": True, "level": "row"}
        sync_table(item)  # True; metadata.tables["item_audit"] exists
    """
    if table.info.get(IS_AUDIT_TABLE):
        return False
    _adopt_copy(table)
    enabled = is_enabled(table)
    audited = bool(table.info.get(IS_AUDITED))
    if not enabled:
        if audited:
            _detach(table)
        return False
    fingerprint = _fingerprint(table)
    if audited and table.info.get(_BUILT_FROM) == fingerprint:
        return True
    if audited:
        _rebuild(table)
        table.info[_BUILT_FROM] = fingerprint
    else:
        attach_audit_table(table, table.metadata)
    return True


def _rebuild(table: Table) -> None:
    spec = spec_from_table(table)  # validates before anything changes
    audit_table = table.info[AUDIT_TABLE]
    same_table = (audit_table.schema, audit_table.name) == (
        spec.audit_schema,
        spec.audit_table_name,
    )
    if same_table and _shape(audit_table.columns) == _shape(_audit_columns(table, spec)):
        # Only the trigger changes (level, an option): the audit Table object stays.
        _release_names(table)
        _claim_names(spec, table.metadata, table_label(table))
        _store(table, spec)
        return
    _detach(table)
    attach_audit_table(table, table.metadata)


def _store(table: Table, spec: AuditSpec) -> None:
    _follow_spec(table.info[AUDIT_TABLE], spec)
    table.info[SPEC] = spec
    # Rendered again from the new spec when next read (see AuditInfo).
    table.info.pop(CREATE_DDL, None)
    table.info.pop(DROP_DDL, None)
    table.info[AUDIT_TABLE].info[SPEC] = spec
    global _generation
    with _lock:
        _live.add(table)
        _generation += 1  # its session settings may have changed


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

    Options edited after the table was defined are taken into account (see
    :func:`sync_table`).

    Example::

        get_audit_spec(metadata.tables["item"]).function_name  # 'public_item_audit'
    """
    if not table.info.get(IS_AUDIT_TABLE):
        sync_table(table)
    spec = table.info.get(SPEC)
    if spec is None:
        raise AuditError(
            f"table {table_label(table)!r} is not audited; give it "
            "info['audit.options'] = {'enabled': True} or call alembic_audit.audit()"
        )
    assert isinstance(spec, AuditSpec)
    return spec


def audited_tables(metadata: MetaData) -> list[Table]:
    """Audited tables of ``metadata``, in the order they were defined.

    No dependency sort: audit tables have no foreign keys, and a sort would warn about
    the application's own foreign-key cycles.  Options set or changed after a table was
    defined take effect here (see :func:`sync_table`).

    Example::

        [t.name for t in audited_tables(metadata)]  # ['item']
    """
    return [t for t in list(metadata.tables.values()) if sync_table(t)]


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
