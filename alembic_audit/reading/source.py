"""What the reading API reads from: an audited table, its audit table and its spec.

Every reading function accepts an ORM class, a Core ``Table`` (the audited table, or
its audit table), an :class:`~alembic_audit.core.spec.AuditSpec` or an
:class:`AuditedTable`, and turns it into an :class:`AuditedTable` with
:func:`audited_table`.  With models, the audit ``Table`` is the one ``enable()``
added to the ``MetaData``; without them (the command line, a spec read back from the
installed function), both tables are reflected from the database.

Example::

    source = audited_table(Order)  # or metadata.tables["order"], or a spec
    source.name, source.key_columns  # ('public.order', ('id',))
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeEngine

from ..core.constants import (
    AUDIT_TABLE,
    ID_COLUMN,
    IS_AUDIT_TABLE,
    IS_AUDITED,
    OPERATION_COLUMN,
    TARGET_TABLE,
    TIMESTAMP_COLUMN,
    TRANSACTION_COLUMN,
    USER_COLUMN,
)
from ..core.errors import AuditError
from ..core.spec import AuditSpec
from ..schema.builder import get_audit_spec
from ..types import XID8

#: The name PostgreSQL gives a row's physical position; the last resort of an order
#: when an audit table has no ``audit_id`` (see :meth:`AuditedTable.order`).
CTID = "ctid"


@dataclass(frozen=True, eq=False)
class AuditedTable:
    """An audited table as the reading API sees it: its spec, the audited ``Table``
    (restore and revert write to it) and the audit ``Table`` (everything reads it).

    Example::

        source = AuditedTable.reflect(conn, spec)  # no models needed
        conn.execute(sa.select(source.audit)).all()
    """

    spec: AuditSpec
    table: sa.Table
    audit: sa.Table
    #: Other audited tables of the same models (``as_of(transaction_id=...)`` looks for
    #: the transaction's last change in all of them).
    peers: tuple[sa.Table, ...] = field(default=(), repr=False)

    # -- names -----------------------------------------------------------------------
    @property
    def name(self) -> str:
        """``schema.table`` of the audited table, the name versions and messages use."""
        return ".".join(self.spec.qualified_table)

    @property
    def key_columns(self) -> tuple[str, ...]:
        """The primary key's columns (those a row's history is read by)."""
        return self.spec.primary_key

    @property
    def value_columns(self) -> tuple[str, ...]:
        """The audited columns (excluded columns are absent), in table order."""
        return self.spec.column_names

    @property
    def excluded_columns(self) -> tuple[str, ...]:
        """Columns of the audited table that are not audited (not restorable)."""
        audited = set(self.spec.column_names)
        return tuple(c.name for c in self.table.columns if c.name not in audited)

    @property
    def setting_columns(self) -> dict[str, str]:
        """``{setting name: audit column}`` of the session settings recorded."""
        return {s.name: s.column_name for s in self.spec.session_settings}

    # -- what needs which option -------------------------------------------------------
    def need_key(self, what: str) -> tuple[str, ...]:
        """The key columns, or an :class:`AuditError` saying why ``what`` needs them."""
        if not self.key_columns:
            raise AuditError(
                f"{what}: table {self.name!r} has no primary key, and reading one row's history "
                "needs one; add a primary key to the table"
            )
        missing = [c for c in self.key_columns if c not in self.spec.column_names]
        if missing:
            raise AuditError(
                f"{what}: the key column(s) {missing} of table {self.name!r} are excluded from "
                "auditing, so its audit rows cannot be told apart; stop excluding them"
            )
        return self.key_columns

    def need_transaction_id(self, what: str) -> None:
        """Refuse ``what`` on a table that does not record transaction ids."""
        if not self.spec.transaction_id:
            raise AuditError(
                f"{what}: table {self.name!r} does not record transaction ids (audit option "
                "'transaction_id' is off), so its changes cannot be grouped by transaction; "
                "turn the option on, or leave the table out (tables=[...])"
            )

    def need_identity(self, what: str) -> None:
        """Refuse ``what`` on a table whose audit rows are not numbered."""
        if not self.spec.identity:
            raise AuditError(
                f"{what}: table {self.name!r} does not number its audit rows (audit option "
                "'identity' is off), and pages of the timeline are read by audit_id; turn the "
                "option on, or leave the table out (tables=[...])"
            )

    # -- columns and expressions ---------------------------------------------------------
    def time(self, audit: sa.FromClause | None = None) -> ColumnElement[Any]:
        """When each audit row's change was made: :attr:`AuditSpec.time_column`, and for
        rows written before the change time was recorded (NULL there: audit tables of the
        first release), the transaction's time.

        Example::

            sa.select(source.audit).where(source.time() <= noon)
        """
        a = self.audit if audit is None else audit
        column = a.c[self.spec.time_column]
        if self.spec.time_column == TIMESTAMP_COLUMN:
            return column
        return sa.func.coalesce(column, a.c[TIMESTAMP_COLUMN])

    def order(self, audit: sa.FromClause | None = None) -> list[ColumnElement[Any]]:
        """The order of the changes to one row: ``audit_id``; without it (option
        ``identity`` off) the change time, then the physical position (``ctid``) for
        changes that share a time (several changes to a row in one transaction when the
        change time is off too: PostgreSQL appends audit rows in the order they are
        written, until the audit table is rewritten by ``VACUUM FULL`` or ``CLUSTER``).

        Example::

            sa.select(source.audit).order_by(*source.order())
        """
        a = self.audit if audit is None else audit
        if self.spec.identity:
            return [a.c[ID_COLUMN]]
        # Unqualified: only used where the audit table is the one base table in FROM.
        return [self.time(a), sa.literal_column(CTID)]

    def key_condition(
        self, key: Mapping[str, Any], audit: sa.FromClause | None = None
    ) -> ColumnElement[bool]:
        """``pk = :value`` for each key column, values as bind parameters.

        Example::

            sa.select(source.audit).where(source.key_condition({"id": 7}))
        """
        a = self.audit if audit is None else audit
        return sa.and_(
            *(a.c[c] == sa.bindparam(None, v, type_=a.c[c].type) for c, v in key.items())
        )

    def key_of(self, pk: Any, what: str) -> dict[str, Any]:
        """A row's key as ``{column: value}`` from a scalar, a tuple or a dict.

        Example::

            source.key_of(7, "history")  # {'id': 7}
            line.key_of((1, 2), "history")  # {'order_id': 1, 'product_id': 2}
        """
        columns = self.need_key(what)
        if isinstance(pk, Mapping):
            if set(pk) != set(columns):
                raise AuditError(
                    f"{what}: the key of table {self.name!r} is {list(columns)}, got "
                    f"{sorted(map(str, pk))}; pass a dict with exactly these columns"
                )
            return {c: pk[c] for c in columns}
        if isinstance(pk, (tuple, list)):
            if len(pk) != len(columns):
                raise AuditError(
                    f"{what}: the key of table {self.name!r} is {list(columns)} "
                    f"({len(columns)} value(s)), got {len(pk)} value(s): {tuple(pk)!r}"
                )
            return dict(zip(columns, pk, strict=True))
        if len(columns) != 1:
            raise AuditError(
                f"{what}: table {self.name!r} has a composite key {list(columns)}; pass a "
                f"tuple or a dict, not {pk!r}"
            )
        return {columns[0]: pk}

    def meta_of(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The metadata of one audit row (operation, time, user, transaction, settings)."""
        spec = self.spec
        time = row.get(spec.time_column)
        if time is None:
            time = row.get(TIMESTAMP_COLUMN)
        return {
            "operation": row[OPERATION_COLUMN],
            "audit_id": row.get(ID_COLUMN) if spec.identity else None,
            "transaction_id": row.get(TRANSACTION_COLUMN) if spec.transaction_id else None,
            "timestamp": time,
            "transaction_timestamp": row.get(TIMESTAMP_COLUMN),
            "user": row.get(USER_COLUMN),
            "settings": {name: row.get(col) for name, col in self.setting_columns.items()},
        }

    # -- building one ------------------------------------------------------------------
    @classmethod
    def reflect(cls, conn: Connection, spec: AuditSpec) -> AuditedTable:
        """Both tables of ``spec`` read from the database (types included): what the
        command line uses, and what a spec given without models becomes.

        Example::

            spec = PGAdvancedInspector(conn).reflect().by_table[("public", "order")].spec
            source = AuditedTable.reflect(conn, spec)
        """
        md = sa.MetaData()
        tables = []
        for schema, name in (spec.qualified_table, spec.qualified_audit_table):
            try:
                tables.append(
                    sa.Table(name, md, schema=schema, autoload_with=conn, resolve_fks=False)
                )
            except sa.exc.NoSuchTableError:
                raise AuditError(
                    f"table '{schema}.{name}' does not exist (it is named by the audit function "
                    f"of {'.'.join(spec.qualified_table)!r})"
                ) from None
        table, audit = tables
        return cls(spec, table, audit)

    @classmethod
    def from_spec(cls, spec: AuditSpec) -> AuditedTable:
        """Both tables built from the spec alone, with types read from its type text
        (``NullType`` where the text is not a type SQLAlchemy knows): for
        :func:`~alembic_audit.as_of`, which has no connection to reflect with.

        Example::

            source = AuditedTable.from_spec(spec)
        """
        md = sa.MetaData()
        columns = [(c.name, type_from_text(c.type)) for c in spec.columns]
        table = sa.Table(
            spec.table_name,
            md,
            *(sa.Column(n, t, primary_key=n in spec.primary_key) for n, t in columns),
            schema=spec.effective_schema,
        )
        audit = sa.Table(
            spec.audit_table_name,
            md,
            *(sa.Column(n, t) for n, t in columns),
            *(sa.Column(m.name, m.type) for m in spec.meta_columns),
            *(sa.Column(s.column_name, type_from_text(s.type)) for s in spec.session_settings),
            schema=spec.effective_audit_schema,
        )
        return cls(spec, table, audit)


def audited_table(obj: Any, conn: Connection | None = None, *, what: str = "") -> AuditedTable:
    """The :class:`AuditedTable` of an ORM class, a ``Table``, a spec or an
    ``AuditedTable``; a spec is reflected through ``conn`` when one is given.

    Example::

        audited_table(Order).audit.name  # 'order_audit'
    """
    if isinstance(obj, AuditedTable):
        return obj
    if isinstance(obj, AuditSpec):
        return AuditedTable.reflect(conn, obj) if conn is not None else AuditedTable.from_spec(obj)
    table = obj if isinstance(obj, sa.Table) else _mapped_table(obj, what)
    if table.info.get(IS_AUDIT_TABLE) and table.info.get(TARGET_TABLE) is not None:
        table = table.info[TARGET_TABLE]  # the audit table given: read its table's history
    spec = get_audit_spec(table)
    audit = table.info[AUDIT_TABLE]
    peers = tuple(t for t in table.metadata.tables.values() if t.info.get(IS_AUDITED))
    return AuditedTable(spec, table, audit, peers)


def _mapped_table(obj: Any, what: str) -> sa.Table:
    mapper = sa.inspect(obj, raiseerr=False)
    table = getattr(mapper, "local_table", None)
    if not isinstance(table, sa.Table):
        raise AuditError(
            f"{what or 'alembic_audit'}: expected an audited table (an ORM class, a Table or an "
            f"AuditSpec), got {obj!r}"
        )
    return table


def audited_tables_of(
    tables: Any, conn: Connection | None = None, *, what: str
) -> list[AuditedTable]:
    """The audited tables of a ``MetaData`` (every audited table in it), or of an
    iterable of tables, ORM classes, specs or :class:`AuditedTable`.

    Example::

        [t.name for t in audited_tables_of(metadata, what="changes")]
        # ['public.customer', 'public.order', ...]
    """
    if isinstance(tables, sa.MetaData):
        found = [t for t in tables.sorted_tables if t.info.get(IS_AUDITED)]
        if not found:
            raise AuditError(
                f"{what}: the MetaData has no audited table; was alembic_audit.enable() "
                "called before the tables were defined?"
            )
        return [audited_table(t, conn, what=what) for t in found]
    if isinstance(tables, (str, bytes)) or not isinstance(tables, Iterable):
        raise AuditError(f"{what}: expected a MetaData or a list of audited tables, got {tables!r}")
    out = [audited_table(t, conn, what=what) for t in tables]
    if not out:
        raise AuditError(f"{what}: no table given; pass a MetaData or a list of audited tables")
    return out


# -- types from the text a spec holds ------------------------------------------------------

_SIMPLE_TYPES: dict[str, TypeEngine[Any]] = {
    "INTEGER": sa.Integer(),
    "INT": sa.Integer(),
    "BIGINT": sa.BigInteger(),
    "SMALLINT": sa.SmallInteger(),
    "TEXT": sa.Text(),
    "BOOLEAN": sa.Boolean(),
    "DATE": sa.Date(),
    "TIME": sa.Time(),
    "TIMESTAMP": sa.DateTime(),
    "TIMESTAMP WITHOUT TIME ZONE": sa.DateTime(),
    "TIMESTAMP WITH TIME ZONE": sa.DateTime(timezone=True),
    "INTERVAL": sa.Interval(),
    "UUID": postgresql.UUID(),
    "JSON": postgresql.JSON(),
    "JSONB": postgresql.JSONB(),
    "BYTEA": sa.LargeBinary(),
    "REAL": sa.REAL(),
    "FLOAT": sa.Float(),
    "DOUBLE PRECISION": sa.Double(),
    "XID8": XID8(),
}
_SIZED = re.compile(r"^(VARCHAR|CHARACTER VARYING|CHAR|CHARACTER|NUMERIC|DECIMAL)\s*(\((.*)\))?$")


def type_from_text(text: str) -> TypeEngine[Any]:
    """A SQLAlchemy type for PostgreSQL type text as a spec holds it (``NullType``
    when unknown: values then come back as the driver reads them).

    Example::

        type_from_text("NUMERIC(10, 2)")  # Numeric(precision=10, scale=2)
        type_from_text("INTEGER[]")  # ARRAY(Integer())
    """
    upper = text.strip().upper()
    if upper.endswith("[]"):
        return postgresql.ARRAY(type_from_text(text.strip()[:-2]))
    if upper in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[upper]
    sized = _SIZED.match(upper)
    if sized:
        args = [int(a) for a in (sized.group(3) or "").split(",") if a.strip()]
        if sized.group(1) in ("NUMERIC", "DECIMAL"):
            precision = args[0] if args else None
            scale = args[1] if len(args) > 1 else None
            return sa.Numeric(precision=precision, scale=scale)
        return sa.String(args[0] if args else None)
    return sa.types.NullType()


__all__ = [
    "CTID",
    "AuditedTable",
    "audited_table",
    "audited_tables_of",
    "type_from_text",
]
