"""Fixed names of the audit vocabulary: levels, audit columns, settings, info keys.

Example::

    from alembic_audit.core.constants import META_COLUMNS
    META_COLUMNS  # ('audit_operation', 'audit_operation_timestamp', 'audit_current_user')
"""

from __future__ import annotations

from typing import Literal

Level = Literal["row", "statement"]
LEVELS: tuple[Level, ...] = ("row", "statement")

#: Columns every audit table has, after the copies of the audited columns (the seed's).
OPERATION_COLUMN = "audit_operation"
TIMESTAMP_COLUMN = "audit_operation_timestamp"
USER_COLUMN = "audit_current_user"
META_COLUMNS: tuple[str, ...] = (OPERATION_COLUMN, TIMESTAMP_COLUMN, USER_COLUMN)

#: Columns an audit table has by default, each switchable per table (options
#: ``identity``, ``transaction_id``, ``change_timestamp``).
ID_COLUMN = "audit_id"
TRANSACTION_COLUMN = "audit_transaction_id"
CHANGE_TIMESTAMP_COLUMN = "audit_change_timestamp"

#: Context columns the trigger fills from the server, no Python needed (options
#: ``application_name``, ``client_address``, ``statement_text``; off by default).
APPLICATION_NAME_COLUMN = "audit_application_name"
CLIENT_ADDRESS_COLUMN = "audit_client_address"
STATEMENT_COLUMN = "audit_statement"

#: Every name an audit table may use for a column of its own.
RESERVED_COLUMNS: tuple[str, ...] = (
    *META_COLUMNS,
    ID_COLUMN,
    TRANSACTION_COLUMN,
    CHANGE_TIMESTAMP_COLUMN,
    APPLICATION_NAME_COLUMN,
    CLIENT_ADDRESS_COLUMN,
    STATEMENT_COLUMN,
)

#: Operation codes: INSERT, UPDATE, DELETE, TRUNCATE, and the snapshot of a row that
#: existed when auditing began (a baseline row).
OPERATIONS: tuple[str, ...] = ("I", "U", "D", "T", "S")

#: Index kinds on an audit table (option ``indexes``): one row's history (btree on the
#: primary key and ``audit_id``), a time range and the timeline in order (btree on the
#: change time and ``audit_id``), one transaction's rows (btree on
#: ``audit_transaction_id``).
INDEX_KINDS: tuple[str, ...] = ("row", "time", "transaction")

#: Intervals a partitioned audit table is range-partitioned by, on its time column
#: (option ``partition``): one partition per calendar month, ISO week or day, in UTC.
PARTITION_INTERVALS: tuple[str, ...] = ("month", "week", "day")

#: How many intervals after the current one the maintenance call creates by default
#: (pg_partman's ``premake`` default, too).
DEFAULT_PARTITIONS_AHEAD = 4

#: The audit-maintenance log: one per schema that holds audit tables, written by every
#: prune, partition move and redaction, itself append-only.
MAINTENANCE_LOG_TABLE = "audit_maintenance_log"


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
