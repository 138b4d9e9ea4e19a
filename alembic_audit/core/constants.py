"""Fixed names of the audit vocabulary: levels, audit columns, settings, info keys.

Example::

    from alembic_audit.core.constants import META_COLUMNS
    META_COLUMNS  # ('audit_operation', 'audit_operation_timestamp', 'audit_current_user')
"""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import DateTime, String
from sqlalchemy.types import TypeEngine

Level = Literal["row", "statement"]
LEVELS: tuple[Level, ...] = ("row", "statement")

#: Columns every audit table has, after the copies of the audited columns.
OPERATION_COLUMN = "audit_operation"
TIMESTAMP_COLUMN = "audit_operation_timestamp"
USER_COLUMN = "audit_current_user"
META_COLUMNS: tuple[str, ...] = (OPERATION_COLUMN, TIMESTAMP_COLUMN, USER_COLUMN)


def meta_column_types() -> dict[str, TypeEngine[Any]]:
    """Types of the audit table's own columns, in table order (all NOT NULL).

    The builder declares them on the audit ``Table``; the op creating an audit table
    writes the same types, so autogenerate sees no difference between the two.

    Example::

        meta_column_types()["audit_operation"]  # String(length=1)
    """
    return {
        OPERATION_COLUMN: String(1),
        TIMESTAMP_COLUMN: DateTime(timezone=True),
        USER_COLUMN: String(),
    }


#: Prefix of the PostgreSQL custom settings read by the trigger function.
SETTING_NAMESPACE = "audit"

#: Set by the ``audit_context`` hook next to the ``audit.*`` values: which context is
#: active (its settings and where it was entered).  Only the error for a missing
#: required setting reads it.  Outside the ``audit`` namespace, so no session setting
#: of a table can collide with it.
CONTEXT_MARKER_SETTING = "alembic_audit.context"

#: Schema used when a table has no explicit schema (the seed's documented rule).
DEFAULT_SCHEMA = "public"

#: PostgreSQL's NAMEDATALEN - 1.
MAX_IDENTIFIER_BYTES = 63

#: ``Table.info`` key holding a table's audit options.
OPTIONS_KEY = "audit.options"

#: ``Table.info`` keys set by the builder (the seed's names, plus ``audit.spec``).
IS_AUDITED = "audit.is_audited"
IS_AUDIT_TABLE = "audit.is_audit_table"
CREATE_DDL = "audit.create_ddl"
DROP_DDL = "audit.drop_ddl"
TARGET_TABLE = "audit.target_table"
AUDIT_TABLE = "audit.audit_table"
SPEC = "audit.spec"

#: Every ``Table.info`` key of ours starts with this; Alembic must not render them.
INFO_PREFIX = "audit."
