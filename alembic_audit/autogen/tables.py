"""Audit tables, compared by alembic-audit instead of Alembic's per-table reflection.

An audit table's shape is known from its spec, so autogenerate reads every audit table in
one catalog query (:meth:`~alembic_audit.reflection.PGAdvancedInspector.audit_tables`)
and keeps them out of Alembic's own table comparison (:class:`HiddenAuditTables`, a name
and an object filter for the run).  :func:`audit_table_ops` then writes the ops Alembic
would write (``add_column``; ``alter_column`` through Alembic's own column comparators),
except that history is never dropped or narrowed:

* a column the audit table has and the model no longer has stays (old rows keep values);
* a column type only widens (:mod:`alembic_audit.core.widening`): an ``alter_column`` of an
  audit column becomes a :class:`~alembic_audit.migration.ops.WidenAuditColumn`, whose
  downgrade keeps the wider type.

An audit table that matches its model exactly costs no reflection at all; one with a
difference (or with an index, a constraint, a comment) is reflected alone and compared by
Alembic's comparators.

Example::

    hidden = HiddenAuditTables(autogen_context, scope, {("public", "item_audit")}, set())
    hidden.install()
    ...  # Alembic's table comparison runs without the audit tables
    hidden.remove()
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from alembic.operations import ops
from sqlalchemy import Identity, Index, MetaData, Numeric, Table, Text, event
from sqlalchemy.schema import Column, PrimaryKeyConstraint
from sqlalchemy.types import TypeEngine

from ..core.constants import ID_COLUMN, IS_AUDIT_TABLE, TIMESTAMP_COLUMN, USER_COLUMN
from ..core.spec import AuditSpec
from ..core.widening import AuditTypeChange, audit_column_type
from ..migration.ops import WidenAuditColumn
from ..reflection.inspector import FoundColumn, FoundTable
from ..types import type_text
from .scope import QualifiedName, Scope, log

if TYPE_CHECKING:
    from alembic.autogenerate.api import AutogenContext


class HiddenAuditTables:
    """Keeps audit tables out of Alembic's own table comparison for one run.

    ``conn_keys``: tables of the database Alembic must not reflect (we compare them);
    ``model_keys``: audit tables of the models Alembic must not create (they exist, or
    a rename makes them).

    Example::

        hidden = HiddenAuditTables(ctx, scope, {("public", "item_audit")}, set())
        hidden.install()  # False if this Alembic has no filter lists to join
    """

    def __init__(
        self,
        autogen_context: AutogenContext,
        scope: Scope,
        conn_keys: set[QualifiedName],
        model_keys: set[QualifiedName],
    ) -> None:
        self.ctx = autogen_context
        self.scope = scope
        self.conn_keys = conn_keys
        self.model_keys = model_keys
        self.installed = False
        self._sorted_tables: Any = None

    def name_filter(self, name: str | None, type_: str, parent_names: dict[str, Any]) -> bool:
        """``include_name`` for the run: False for the database's audit tables.

        Example::

            hidden.name_filter("item_audit", "table", {"schema_name": None})  # False
        """
        if type_ != "table" or name is None:
            return True
        return self.scope.qualified(parent_names.get("schema_name"), name) not in self.conn_keys

    def object_filter(
        self, obj: Any, name: Any, type_: str, reflected: bool, compare_to: Any
    ) -> bool:
        """``include_object`` for the run: False for the models' hidden audit tables.

        Example::

            hidden.object_filter(metadata.tables["item_audit"], "item_audit", "table",
                                 False, None)  # False
        """
        if type_ != "table" or reflected or not isinstance(obj, Table):
            return True
        if not obj.info.get(IS_AUDIT_TABLE):
            return True
        return self.scope.qualified(obj.schema, obj.name) not in self.model_keys

    def _lists(self) -> tuple[list[Any], list[Any]] | None:
        # Alembic keeps include_name / include_object in these lists and runs every entry;
        # there is no public way to add a filter to a running AutogenContext.
        names = getattr(self.ctx, "_name_filters", None)
        objects = getattr(self.ctx, "_object_filters", None)
        if isinstance(names, list) and isinstance(objects, list):
            return names, objects
        return None

    def install(self) -> bool:
        """Join the run's filters; False if this Alembic keeps them elsewhere (then
        Alembic compares the audit tables itself, and ``keep_history`` guards its ops)."""
        lists = self._lists()
        if lists is None:
            return False
        lists[0].append(self.name_filter)
        lists[1].append(self.object_filter)
        # The models' side too: Alembic intersects its table names from both sides, and
        # when the models have more tables than the database shows, the names it keeps
        # are plain strings instead of quoted_name, which misses SQLAlchemy's reflection
        # cache (keyed by type): every table not bulk-loaded (all but one schema) would
        # be reflected twice.  Without them, Alembic sees what it sees without auditing.
        # (AutogenContext.sorted_tables is memoized in the instance dict.)
        self._sorted_tables = self.ctx.__dict__.get("sorted_tables")
        self.ctx.__dict__["sorted_tables"] = [
            t
            for t in self.ctx.sorted_tables
            if not (
                t.info.get(IS_AUDIT_TABLE)
                and self.scope.qualified(t.schema, t.name) in self.model_keys
            )
        ]
        self.installed = True
        return True

    def remove(self) -> None:
        """Leave the run's filters (the comparator's last step).

        Example::

            hidden.remove()
        """
        lists = self._lists()
        if not self.installed or lists is None:
            return
        for filters, fn in zip(lists, (self.name_filter, self.object_filter), strict=True):
            if fn in filters:
                filters.remove(fn)
        if self._sorted_tables is None:
            self.ctx.__dict__.pop("sorted_tables", None)
        else:
            self.ctx.__dict__["sorted_tables"] = self._sorted_tables
        self.installed = False


def _is_plain(table: Table) -> bool:
    """Whether the model's audit table is what the builder makes: no constraint, no
    comment, no default, at most an identity of PostgreSQL's defaults (``audit_id``);
    its indexes are checked by :func:`_model_indexes`."""
    if table.comment:
        return False
    for constraint in table.constraints:
        if not (isinstance(constraint, PrimaryKeyConstraint) and not constraint.columns):
            return False
    return all(
        # SQLAlchemy keeps a column's Identity as its server_default too.
        (c.server_default is None or c.server_default is c.identity)
        and c.comment is None
        and c.computed is None
        and (c.identity is None or _default_identity(c.identity))
        for c in table.columns
    )


# Oracle's ``on_null`` and ``order`` are left out: PostgreSQL has neither, and on
# SQLAlchemy 2.1 reading them imports the Oracle dialect (about 40 ms in `alembic check`).
_IDENTITY_OPTIONS = (
    "start",
    "increment",
    "minvalue",
    "maxvalue",
    "nominvalue",
    "nomaxvalue",
    "cycle",
    "cache",
)


def _default_identity(identity: Identity) -> bool:
    """``Identity()``: GENERATED BY DEFAULT, every sequence option PostgreSQL's own."""
    return not identity.always and all(
        getattr(identity, name, None) in (None, False) for name in _IDENTITY_OPTIONS
    )


def _model_indexes(table: Table) -> dict[str, str] | None:
    """The model's indexes as the catalog query writes them (name -> ``"btree (a,b)"``),
    or ``None`` if one is more than columns and a method (unique, partial, ...)."""
    texts: dict[str, str] = {}
    for index in table.indexes:
        options = {k for k, v in index.kwargs.items() if v is not None}
        if index.unique or not isinstance(index.name, str) or options - {"postgresql_using"}:
            return None
        columns = [e.name for e in index.expressions if isinstance(e, Column)]
        if len(columns) != len(index.expressions):
            return None
        using = index.kwargs.get("postgresql_using") or "btree"
        texts[index.name] = f"{using} ({','.join(columns)})"
    return texts


def _seed_timestamp(name: str, found: str, wanted: str) -> bool:
    """``audit_operation_timestamp`` found as ``timestamp`` without time zone (what
    sqlalchemy-postgresql-audit made), the model wanting ``timestamptz``: converting
    needs the time zone the old rows were written in, which no catalog records."""
    return (
        name == TIMESTAMP_COLUMN
        and found == "timestamp without time zone"
        and wanted.lower().startswith("timestamp with time zone")
    )


def _holds_role_names(name: str, found: str) -> bool:
    """``audit_current_user`` as sqlalchemy-postgresql-audit made it (``VARCHAR(64)``):
    the trigger writes a role name there, at most 63 bytes, so it needs no widening to
    the model's unbounded ``VARCHAR`` (nor does Alembic see a change there)."""
    match = _VARCHAR.fullmatch(found)
    return name == USER_COLUMN and match is not None and int(match.group(1)) >= _NAME_CHARS


_VARCHAR = re.compile(r"character varying\((\d+)\)")
#: The longest role name PostgreSQL keeps (NAMEDATALEN - 1 bytes, so as many characters).
_NAME_CHARS = 63


def _column_matches(found: FoundColumn, column: Column[Any]) -> bool:
    if found.not_null != (not column.nullable):
        return False
    if column.name == ID_COLUMN:
        # An identity on a plain audit table, a serial on a partitioned one: changed with
        # the table by the conversion ops, never by an alter_column.
        return True
    return found.identity == ("d" if column.identity is not None else "")


class AuditTableDiff:
    """The ops for one audit table, and the decisions to log.

    Example::

        diff = audit_table_ops(ctx, scope, found, audit_table)
        diff.modify.ops  # [AddColumnOp(...)]
    """

    def __init__(self, modify: ops.ModifyTableOps) -> None:
        self.modify = modify
        #: column name -> (found type, the decision) for every audit column whose type
        #: differs from its model's.
        self.types: dict[str, tuple[str, AuditTypeChange]] = {}
        self.reflected = False


def audit_table_ops(
    autogen_context: AutogenContext,
    scope: Scope,
    found: FoundTable,
    table: Table,
    spec: AuditSpec | None = None,
) -> AuditTableDiff:
    """Ops turning the audit table ``found`` (maybe under an older name) into the model's
    audit table ``table``, in Alembic's form, history kept.

    The ops name the model's table (after a rename, they run after it).  Columns only in
    ``found`` are kept; types only widen.  ``spec`` (the audited table's) gives the
    columns' type text without compiling every type again.

    Example::

        diff = audit_table_ops(ctx, scope, found_tables[("public", "item_audit")], table)
    """
    schema_arg = scope.schema_arg(scope.qualified(table.schema, table.name)[0])
    diff = AuditTableDiff(ops.ModifyTableOps(table.name, [], schema=schema_arg))
    model_indexes = _model_indexes(table)
    exact = (
        found.plain
        and _is_plain(table)
        and model_indexes is not None
        # An index found and not in the model (or not as the model has it): Alembic's own
        # comparison decides, as for any table.
        and all(model_indexes.get(name) == text for name, text in found.indexes.items())
    )
    known = _type_texts(spec) if spec is not None else {}
    for column in table.columns:
        found_column = found.columns.get(column.name)
        if found_column is None:
            continue
        wanted = known.get(column.name) or type_text(column.type)
        decision = audit_column_type(found_column.type, wanted)
        if _seed_timestamp(column.name, found_column.type, wanted):
            decision = AuditTypeChange("keep", None)
            log_kept_seed_timestamp(found.key, schema_arg, table.name)
        elif _holds_role_names(column.name, found_column.type):
            decision = AuditTypeChange("keep", None)
        if decision.change != "same":
            diff.types[column.name] = (found_column.type, decision)
        if decision.change in ("widen", "text") or not _column_matches(found_column, column):
            exact = False
    if exact:
        assert model_indexes is not None
        for column in table.columns:
            if column.name not in found.columns:
                _add_column(autogen_context, diff, schema_arg, table, column)
        for index in sorted(table.indexes, key=lambda i: str(i.name)):
            if index.name not in found.indexes:
                _add_index(autogen_context, diff, schema_arg, table, index)
        return diff
    _reflected_comparison(autogen_context, scope, diff, found, table, schema_arg)
    return diff


#: Type text of each audit table's own column: fixed by its name (the spec's vocabulary).
_META_TYPE_TEXTS: dict[str, str] = {}


def _type_texts(spec: AuditSpec) -> dict[str, str]:
    """Type text of each audit column, as the builder made them from this spec."""
    texts = {c.name: c.type for c in spec.columns}
    texts.update((s.column_name, s.type) for s in spec.session_settings)
    for meta in spec.meta_columns:
        text = _META_TYPE_TEXTS.get(meta.name)
        if text is None:
            text = _META_TYPE_TEXTS[meta.name] = type_text(meta.type)
        texts[meta.name] = text
    return texts


def _label(schema: str | None, name: str, column: str) -> str:
    return f"{schema}.{name}.{column}" if schema else f"{name}.{column}"


def _add_column(
    autogen_context: AutogenContext,
    diff: AuditTableDiff,
    schema_arg: str | None,
    table: Table,
    column: Column[Any],
) -> None:
    if not autogen_context.run_name_filters(
        column.name, "column", {"table_name": table.name, "schema_name": schema_arg}
    ):
        return
    if not autogen_context.run_object_filters(column, column.name, "column", False, None):
        return
    diff.modify.ops.append(
        ops.AddColumnOp.from_column_and_tablename(schema_arg, table.name, column)
    )
    log.info("Detected added column '%s'", _label(schema_arg, table.name, column.name))


def _add_index(
    autogen_context: AutogenContext,
    diff: AuditTableDiff,
    schema_arg: str | None,
    table: Table,
    index: Index,
) -> None:
    if not autogen_context.run_name_filters(
        index.name, "index", {"table_name": table.name, "schema_name": schema_arg}
    ):
        return
    if not autogen_context.run_object_filters(index, index.name, "index", False, None):
        return
    diff.modify.ops.append(ops.CreateIndexOp.from_index(index))
    log.info("Detected added index %r on %r", index.name, [c.name for c in index.columns])


def _reflected_comparison(
    autogen_context: AutogenContext,
    scope: Scope,
    diff: AuditTableDiff,
    found: FoundTable,
    table: Table,
    schema_arg: str | None,
) -> None:
    """Alembic's own comparators on this one table, reflected under its found name."""
    diff.reflected = True
    found_schema_arg = scope.schema_arg(found.schema)
    conn_table = Table(found.name, MetaData(), schema=found_schema_arg)
    impl = autogen_context.migration_context.impl
    event.listen(conn_table, "column_reflect", impl.autogen_column_reflect)
    autogen_context.inspector.reflect_table(conn_table, None)
    assert autogen_context.dialect is not None
    qualifier = autogen_context.dialect.name
    compare_column = autogen_context.comparators.dispatch("column", qualifier=qualifier)
    for column in table.columns:
        if column.name not in conn_table.c:
            _add_column(autogen_context, diff, schema_arg, table, column)
            continue
        conn_column = conn_table.c[column.name]
        if not autogen_context.run_object_filters(
            column, column.name, "column", False, conn_column
        ):
            continue
        alter = ops.AlterColumnOp(found.name, column.name, schema=found_schema_arg)
        compare_column(
            autogen_context, alter, found_schema_arg, found.name, column.name, conn_column, column
        )
        decision = diff.types.get(column.name)
        if decision is not None and decision[1].change in ("widen", "text"):
            # Followed whatever compare_type says: the trigger's INSERT needs the room.
            if alter.modify_type is None:
                alter.modify_type = column.type
            if alter.existing_type is None:
                alter.existing_type = conn_column.type
        if decision is not None and decision[1].change == "keep":
            alter.modify_type = None  # decided above (the seed's timestamp among them)
        if not alter.has_changes():
            continue
        widened = widen_only(alter, found.columns[column.name].type)
        if widened is not None:
            diff.modify.ops.append(widened)
    # Indexes, constraints and comments, as Alembic compares them.
    autogen_context.comparators.dispatch("table", qualifier=qualifier)(
        autogen_context, diff.modify, found_schema_arg, found.name, conn_table, table
    )
    for sub in diff.modify.ops:
        # Compared under the found name (Alembic's comparators read the live table's
        # indexes by that name); applied to the model's name (after a rename).
        if hasattr(sub, "table_name"):
            sub.table_name = table.name


def widen_only(alter: ops.AlterColumnOp, found_type: str) -> ops.AlterColumnOp | None:
    """An ``alter_column`` of an audit column, with its type change made widen-only:
    dropped if the audit column already holds the new type (``None`` if nothing else
    changes), kept as a :class:`WidenAuditColumn` if it widens, turned into ``TEXT`` if
    neither type holds the other.

    Example::

        widen_only(AlterColumnOp("item_audit", "name", modify_type=String(20)),
                   "character varying(200)")  # None: the audit column stays VARCHAR(200)
    """
    if alter.modify_type is None:
        return alter
    wanted = alter.modify_type
    decision = audit_column_type(found_type, type_text(wanted))
    if decision.change in ("same", "keep"):
        alter.modify_type = None
        return alter if alter.has_changes() else None
    assert decision.type is not None
    new_type = wanted if decision.type == type_text(wanted) else type_from_text(decision.type)
    return WidenAuditColumn.from_alter(alter, new_type, found_type)


def type_from_text(text: str) -> TypeEngine[Any]:
    """The SQLAlchemy type of a widening that is not the model's type (``TEXT``, or a
    ``NUMERIC(p, s)`` holding two numeric types).

    Example::

        type_from_text("NUMERIC(11, 3)")  # Numeric(precision=11, scale=3)
    """
    if text.startswith("NUMERIC("):
        precision, scale = (int(p) for p in text[len("NUMERIC(") : -1].split(","))
        return Numeric(precision, scale)
    if text == "NUMERIC":
        return Numeric()
    return Text()


def log_decisions(
    diff: AuditTableDiff, table: Table, live_changes: Iterable[str], *, schema: str | None
) -> None:
    """Log, once, what happened to audit columns whose audited column changed type in this
    run (later runs see nothing to decide and say nothing).

    Example::

        log_decisions(diff, audit_table, {"name"}, schema=None)
    """
    for name in sorted(set(live_changes) & set(diff.types)):
        found_type, decision = diff.types[name]
        label = _label(schema, table.name, name)
        if decision.change == "keep":
            log.info(
                "Kept type %s of audit column %r: it holds the new type, and old rows keep "
                "their values (audit columns only widen)",
                found_type,
                label,
            )
        elif decision.change == "text":
            log.warning(
                "Audit column %r becomes TEXT: neither %s nor %s holds the other's values "
                "(old rows keep theirs as text)",
                label,
                found_type,
                type_text(table.c[name].type),
            )


def log_kept_seed_timestamp(key: QualifiedName, schema: str | None, table_name: str) -> None:
    """Say why ``audit_operation_timestamp`` of an audit table made by
    sqlalchemy-postgresql-audit stays ``timestamp`` without time zone, and how to convert.

    Example::

        log_kept_seed_timestamp(("public", "item_audr"), None, "item_audr")
    """
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


__all__ = [
    "AuditTableDiff",
    "HiddenAuditTables",
    "audit_table_ops",
    "log_decisions",
    "log_kept_seed_timestamp",
    "type_from_text",
    "widen_only",
]
