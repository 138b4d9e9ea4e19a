"""Column types of audit tables that differ from the audited table's.

A leaf module at the top of the package because migrations name its path:
autogenerate renders ``alembic_audit.types.MirroredEnum(...)`` into them.

An audit table mirrors its audited table's columns, but database types that the
audited table's DDL creates (an enum) belong to that table: created with it, dropped
with it.  Here they are referenced without being created again, which also keeps
Alembic's ``create_table`` of an audit table from issuing a second ``CREATE TYPE``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Column, Enum, Text, cast
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql.base import ischema_names
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.types import TypeEngine, UserDefinedType

_PG_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]


class XID8(UserDefinedType[int]):
    """PostgreSQL's ``xid8``: a 64-bit transaction id, what ``pg_current_xact_id()``
    returns; values come back as ``int``.

    SQLAlchemy has no such type; importing this module also teaches its PostgreSQL
    reflection the name, so autogenerate reads the column back as ``XID8``.

    Example::

        Column("audit_transaction_id", XID8())
    """

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "XID8"

    def bind_processor(self, dialect: Any) -> Any:
        def process(value: Any) -> str | None:
            return None if value is None else str(int(value))

        return process

    def bind_expression(self, bindvalue: Any) -> Any:
        # xid8 has no cast from bigint: parameters travel as text, read by xid8's input.
        return cast(cast(bindvalue, Text), self)

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        def process(value: Any) -> int | None:
            return None if value is None else int(value)

        return process

    def __repr__(self) -> str:
        return "XID8()"


ischema_names.setdefault("xid8", XID8)


class AuditSerial(BigInteger):
    """``audit_id`` of a partitioned audit table: ``BIGSERIAL`` in ``CREATE TABLE`` and
    ``ADD COLUMN`` (a sequence owned by the column, and ``DEFAULT nextval(...)``),
    ``BIGINT`` everywhere else.

    PostgreSQL before 17 refuses identity columns on partitioned tables; a serial column
    numbers the rows the same way, and its sequence goes with the table when it is
    dropped.  Migrations name it (``alembic_audit.types.AuditSerial()``), so Alembic's own
    ``create_table`` makes the column, and its comparison sees a ``BIGINT``, what
    PostgreSQL reports.

    Example::

        Column("audit_id", AuditSerial(), nullable=False)  # audit_id BIGSERIAL NOT NULL
    """

    inherit_cache = True

    def __repr__(self) -> str:
        return "AuditSerial()"


@compiles(AuditSerial, "postgresql")
def _compile_audit_serial(type_: AuditSerial, compiler: Any, **kw: Any) -> str:
    # Only a column definition (CREATE TABLE, ADD COLUMN) passes the Column itself; casts
    # and Alembic's type comparison do not, and read BIGINT.
    return "BIGSERIAL" if isinstance(kw.get("type_expression"), Column) else "BIGINT"


class MirroredEnum(postgresql.ENUM):
    """An existing PostgreSQL enum type, used by an audit table and never created or
    dropped by it.  Autogenerate renders it into migrations as
    ``alembic_audit.types.MirroredEnum(...)``: plain ``postgresql.ENUM(...,
    create_type=False)`` would lose its ``create_type`` on SQLAlchemy 2.0, whose
    ``repr`` leaves it out.

    Example::

        status = sa.Enum("new", "done", name="status")
        MirroredEnum("new", "done", name="status")  # same type, not created again
    """

    inherit_cache = True

    def __init__(self, *enums: Any, **kw: Any) -> None:
        kw["create_type"] = False
        super().__init__(*enums, **kw)


def mirror_type(type_: TypeEngine[Any]) -> TypeEngine[Any]:
    """The type of an audit table column mirroring a column of type ``type_``.

    A native enum becomes a :class:`MirroredEnum` of the same name, schema, labels and
    Python enum class; a domain becomes its underlying type (an audit table has no
    constraints, and a domain's CHECK is one: tightening it later must not fail on old
    audit rows); any other type is returned as is.

    Example::

        mirror_type(sa.Enum("new", "done", name="status"))  # MirroredEnum(...)
        mirror_type(sa.Integer())  # the same Integer
    """
    if isinstance(type_, postgresql.DOMAIN):
        return mirror_type(type_.data_type)
    if isinstance(type_, Enum) and type_.native_enum and not isinstance(type_, MirroredEnum):
        labels = (type_.enum_class,) if type_.enum_class is not None else tuple(type_.enums)
        # The schema is passed as resolved on the audited column (inherited from its
        # table or metadata): the audit table's own schema must not replace it.
        return MirroredEnum(
            *labels,
            name=type_.name,
            schema=type_.schema,
            values_callable=type_.values_callable,
            validate_strings=type_.validate_strings,
        )
    return type_


def type_text(type_: TypeEngine[Any]) -> str:
    """PostgreSQL DDL text of a SQLAlchemy type, e.g. ``VARCHAR(50)``.

    Example::

        type_text(String(50))  # 'VARCHAR(50)'
    """
    return str(type_.compile(dialect=_PG_DIALECT))


__all__ = ["XID8", "AuditSerial", "MirroredEnum", "mirror_type", "type_text"]
