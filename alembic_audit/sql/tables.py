"""The audit table's DDL, for the ops that create or drop it without a ``Table``.

Column types are PostgreSQL type text from the spec (written by SQLAlchemy's type
compiler or by a migration), never user values.

Example::

    create_audit_table_sql(spec)
    # 'CREATE TABLE "public"."item_audit" (\\n    "id" INTEGER,\\n ...)'
"""

from __future__ import annotations

from ..core.constants import meta_column_types
from ..core.spec import AuditSpec
from ..types import type_text
from .quoting import qualify, quote


def create_audit_table_sql(spec: AuditSpec) -> str:
    """``CREATE TABLE`` for the audit table of ``spec``, shaped like the builder's.

    Copies of the audited columns are nullable and carry no default or constraint,
    so any historical row version fits; the meta columns are NOT NULL; one nullable
    ``audit_<name>`` column per session setting.

    Example::

        create_audit_table_sql(spec)
    """
    lines = [f"    {quote(c.name)} {c.type}" for c in spec.columns]
    lines += [
        f"    {quote(name)} {type_text(type_)} NOT NULL"
        for name, type_ in meta_column_types().items()
    ]
    lines += [f"    {quote(s.column_name)} {s.type}" for s in spec.session_settings]
    body = ",\n".join(lines)
    return f"CREATE TABLE {qualify(*spec.qualified_audit_table)} (\n{body}\n)"


def drop_audit_table_sql(spec: AuditSpec) -> str:
    """``DROP TABLE`` of the audit table (its rows go with it).

    Example::

        drop_audit_table_sql(spec)  # 'DROP TABLE "public"."item_audit"'
    """
    return f"DROP TABLE {qualify(*spec.qualified_audit_table)}"


__all__ = ["create_audit_table_sql", "drop_audit_table_sql"]
