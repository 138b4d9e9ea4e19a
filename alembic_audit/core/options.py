"""Parse and validate ``Table.info["audit.options"]`` into an :class:`AuditSpec`.

Every error is an :class:`~alembic_audit.core.errors.AuditError` that names the table
and the offending key, raised when the table is defined, before anything touches a
database.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Column, Table
from sqlalchemy.types import NullType

from ..types import mirror_type, type_text
from . import naming
from .constants import (
    APPLICATION_NAME_COLUMN,
    CHANGE_TIMESTAMP_COLUMN,
    CLIENT_ADDRESS_COLUMN,
    DEFAULT_SCHEMA,
    ID_COLUMN,
    INDEX_KINDS,
    LEVELS,
    META_COLUMNS,
    OPTIONS_KEY,
    PARTITION_INTERVALS,
    STATEMENT_COLUMN,
    TRANSACTION_COLUMN,
)
from .errors import AuditError
from .naming import audit_names
from .spec import AuditColumn, AuditSpec, Partitioning, SessionSetting

KNOWN_KEYS = frozenset(
    {
        "enabled",
        "session_settings",
        "schema",
        "schema_name",  # the seed's spelling of ``schema``
        "level",
        "exclude",
        "skip_unchanged",
        "record_truncate",
        "security_definer",
        "append_only",
        "row_security",
        "drop_history",  # with enabled=False: autogenerate drops the audit table too
        "identity",
        "transaction_id",
        "change_timestamp",
        "indexes",
        "snapshot",  # autogenerate records existing rows when auditing begins
        "application_name",
        "client_address",
        "statement_text",
        "partition",  # range-partition the audit table on its time column
    }
)

#: Setting names become ``audit.<name>`` GUCs and ``audit_<name>`` columns; PostgreSQL
#: folds GUC names to lower case, so names differing only in case would collide.  Matched
#: with ``fullmatch``: ``$`` would also accept a trailing newline ("username\\n"), a setting
#: no session could ever satisfy.
_SETTING_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def setting_name_pattern() -> re.Pattern[str]:
    """The pattern a session setting name must ``fullmatch``.

    Example::

        setting_name_pattern().fullmatch("username") is not None  # True
    """
    return _SETTING_NAME


def validate_setting_name(name: object, *, where: str) -> str:
    """Check a session setting name; raise a ``ValueError`` mentioning ``where``.

    Example::

        validate_setting_name("username", where="set_session_vars")  # 'username'
    """
    if not isinstance(name, str) or not _SETTING_NAME.fullmatch(name):
        raise AuditError(
            f"{where}: session setting name {name!r} is not a valid identifier "
            "(letters, digits and underscores, not starting with a digit)"
        )
    return name


def table_label(table: Table) -> str:
    """``schema.name`` of a table, or just its name without a schema, for messages.

    Example::

        table_label(Table("item", metadata, schema="sales"))  # 'sales.item'
    """
    return naming.label(table.schema, table.name)


def get_options(table: Table) -> Mapping[str, Any] | None:
    """The raw ``audit.options`` mapping of a table, or ``None``.

    Example::

        get_options(metadata.tables["item"])  # {'enabled': True}
    """
    options = table.info.get(OPTIONS_KEY)
    if options is None:
        return None
    if not isinstance(options, Mapping):
        raise AuditError(
            f"table {table_label(table)!r}: info[{OPTIONS_KEY!r}] must be a dict, "
            f"got {type(options).__name__}"
        )
    return options


def snapshot_requested(table: Table) -> bool:
    """Whether autogenerate records the rows a table holds when its auditing begins
    (option ``snapshot``, default True): one ``'S'`` row per existing row.

    Example::

        snapshot_requested(metadata.tables["item"])  # True
    """
    return _bool_option(table_label(table), get_options(table) or {}, "snapshot", True)


def is_enabled(table: Table) -> bool:
    """Whether ``audit.options`` asks for auditing (validates ``enabled``).

    Example::

        is_enabled(metadata.tables["item"])  # True
    """
    options = get_options(table)
    if options is None:
        return False
    enabled = options.get("enabled", False)
    if not isinstance(enabled, bool):
        raise AuditError(
            f"table {table_label(table)!r}: audit option 'enabled' must be True or False, "
            f"got {enabled!r}"
        )
    return enabled


def drop_history_requested(table: Table) -> bool:
    """Whether ``audit.options`` asks autogenerate to drop the audit table and its rows.

    Only meaningful with ``enabled: False``: turning auditing off keeps the audit
    table unless ``drop_history`` is ``True``.

    Example::

        Table("item", metadata, ..., info={"audit.options": {
            "enabled": False, "drop_history": True}})
    """
    options = get_options(table)
    if options is None:
        return False
    value = _bool_option(table_label(table), options, "drop_history", False)
    if value and is_enabled(table):
        raise AuditError(
            f"table {table_label(table)!r}: audit option 'drop_history' only applies with "
            "'enabled': False (it drops the audit table when auditing is turned off)"
        )
    return value


def history_table(table: Table) -> tuple[str, str] | None:
    """``(schema, name)`` of the audit table a table with ``drop_history`` had.

    Autogenerate drops that table (and its rows) when a table's options say
    ``"enabled": False, "drop_history": True``; ``None`` when they do not.

    Example::

        history_table(Table("item", metadata, info={"audit.options": {
            "enabled": False, "drop_history": True}}))  # ('public', 'item_audit')
    """
    if not drop_history_requested(table):
        return None
    options = get_options(table) or {}
    schema = _schema_option(table_label(table), options) or table.schema or DEFAULT_SCHEMA
    names = audit_names(table.metadata.naming_convention, table.name, table.schema)
    return (schema, names.audit_table_name)


def _bool_option(label: str, options: Mapping[str, Any], key: str, default: bool) -> bool:
    value = options.get(key, default)
    if not isinstance(value, bool):
        raise AuditError(f"table {label!r}: audit option {key!r} must be a bool, got {value!r}")
    return value


def _schema_option(label: str, options: Mapping[str, Any]) -> str | None:
    if "schema" in options and "schema_name" in options:
        raise AuditError(f"table {label!r}: give audit option 'schema' or 'schema_name', not both")
    key = "schema" if "schema" in options else "schema_name"
    value = options.get(key)
    if value is not None and (not isinstance(value, str) or not value):
        raise AuditError(
            f"table {label!r}: audit option {key!r} must be a non-empty string, got {value!r}"
        )
    return value


def _session_settings(
    label: str, raw: object, column_names: set[str]
) -> tuple[SessionSetting, ...]:
    if raw is None:
        return ()
    if isinstance(raw, (str, bytes)) or not isinstance(raw, Sequence):
        raise AuditError(
            f"table {label!r}: audit option 'session_settings' must be a list of Column, "
            f"got {type(raw).__name__}"
        )
    settings: list[SessionSetting] = []
    seen: dict[str, str] = {}
    for item in raw:
        if not isinstance(item, Column):
            raise AuditError(
                f"table {label!r}: audit option 'session_settings' entries must be "
                f"sqlalchemy Column objects, got {item!r}"
            )
        name = validate_setting_name(
            item.name, where=f"table {label!r}: audit option 'session_settings'"
        )
        folded = name.lower()
        if folded in seen:
            raise AuditError(
                f"table {label!r}: audit option 'session_settings' has {seen[folded]!r} and "
                f"{name!r}, which PostgreSQL treats as the same setting"
            )
        seen[folded] = name
        setting = SessionSetting(name, type_text(item.type), required=item.nullable is False)
        if setting.column_name in column_names:
            raise AuditError(
                f"table {label!r}: session setting {name!r} needs the audit column "
                f"{setting.column_name!r}, which clashes with a column of the table"
            )
        settings.append(setting)
    return tuple(settings)


def _exclude(label: str, raw: object, column_names: Sequence[str]) -> frozenset[str]:
    if raw is None:
        return frozenset()
    if isinstance(raw, (str, bytes)) or not isinstance(raw, (Sequence, set, frozenset)):
        raise AuditError(
            f"table {label!r}: audit option 'exclude' must be a list of column names, got {raw!r}"
        )
    excluded = frozenset(raw)
    unknown = sorted(str(c) for c in excluded if c not in column_names)
    if unknown:
        raise AuditError(
            f"table {label!r}: audit option 'exclude' names unknown column(s) {unknown}"
        )
    return excluded


def _check_identifiers(label: str, table: Table, audit_schema: object) -> None:
    """Refuse names PostgreSQL cannot store (NUL), before anything reaches a database.

    Longer names than 63 bytes are left alone: PostgreSQL truncates them the same
    way in the DDL and in every later query, and derived names are fitted.
    """
    names = [("table name", table.name), ("schema", table.schema), ("audit schema", audit_schema)]
    names += [("column", c.name) for c in table.columns]
    for what, name in names:
        if isinstance(name, str) and "\x00" in name:
            raise AuditError(
                f"table {label!r}: {what} {name!r} is not a usable PostgreSQL identifier "
                "(it contains a NUL character)"
            )


def reserved_columns(
    identity: bool,
    transaction_id: bool,
    change_timestamp: bool,
    application_name: bool = False,
    client_address: bool = False,
    statement_text: bool = False,
) -> tuple[str, ...]:
    """The audit table's own column names with these options on.

    Example::

        reserved_columns(True, False, False)
        # ('audit_operation', 'audit_operation_timestamp', 'audit_current_user', 'audit_id')
    """
    optional = (
        (identity, ID_COLUMN),
        (transaction_id, TRANSACTION_COLUMN),
        (change_timestamp, CHANGE_TIMESTAMP_COLUMN),
        (application_name, APPLICATION_NAME_COLUMN),
        (client_address, CLIENT_ADDRESS_COLUMN),
        (statement_text, STATEMENT_COLUMN),
    )
    return META_COLUMNS + tuple(name for on, name in optional if on)


def indexes_option(where: str, value: object) -> tuple[str, ...]:
    """The ``indexes`` option: True (all kinds), False (none) or a list of kinds.

    Example::

        indexes_option("table 'item'", ["row"])  # ('row',)
    """
    if value is True:
        return INDEX_KINDS
    if value is False or value is None:
        return ()
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, set, frozenset)):
        raise AuditError(
            f"{where}: audit option 'indexes' must be True, False or a list of "
            f"{list(INDEX_KINDS)}, got {value!r}"
        )
    unknown = sorted(str(v) for v in value if v not in INDEX_KINDS)
    if unknown:
        raise AuditError(
            f"{where}: audit option 'indexes' names unknown kind(s) {unknown}; "
            f"the kinds are {list(INDEX_KINDS)}"
        )
    return tuple(kind for kind in INDEX_KINDS if kind in value)


def _partitioning(label: str, table: Table) -> bool:
    """Whether the table is partitioned (``postgresql_partition_by``); refuse inheritance.

    A write through an inheritance parent changes rows of its children with only the
    parent's statement triggers firing, and a row trigger on the parent never sees the
    children's rows, so no set of triggers audits such a table exactly once.  Partitions
    are different: PostgreSQL routes every row, and the audit triggers go on each one.
    """
    options = table.dialect_options["postgresql"]
    if options.get("inherits"):
        raise AuditError(
            f"table {label!r}: audited tables cannot use table inheritance "
            f"(postgresql_inherits={options['inherits']!r}): writes through an inheritance "
            "parent cannot be audited exactly once; use declarative partitioning "
            "(postgresql_partition_by) or audit a table without inheritance"
        )
    return bool(options.get("partition_by"))


#: The most intervals ahead the maintenance call may keep created (ten years of days).
MAX_PARTITIONS_AHEAD = 3660


def partition_option(where: str, value: object) -> Partitioning | None:
    """The ``partition`` option: ``None`` or ``False`` (a plain audit table), or
    ``{"by": "month" | "week" | "day", "ahead": N}`` (``ahead`` optional, default 4).

    Example::

        partition_option("table 'item'", {"by": "month"})  # Partitioning('month', ahead=4)
    """
    if value is None or value is False:
        return None
    if isinstance(value, Partitioning):
        value = value.to_dict()
    shape = (
        f"{{'by': one of {list(PARTITION_INTERVALS)}, 'ahead': intervals created ahead (optional)}}"
    )
    if not isinstance(value, Mapping):
        raise AuditError(
            f"{where}: audit option 'partition' must be None or a dict {shape}, got {value!r}"
        )
    unknown = sorted(str(k) for k in set(value) - {"by", "ahead"})
    if unknown:
        raise AuditError(
            f"{where}: audit option 'partition' has unknown key(s) {unknown}; it is {shape}"
        )
    by = value.get("by")
    if by not in PARTITION_INTERVALS:
        raise AuditError(
            f"{where}: audit option 'partition' needs 'by' set to one of "
            f"{list(PARTITION_INTERVALS)}, got {by!r}"
        )
    ahead = value.get("ahead", Partitioning(str(by)).ahead)
    if (
        isinstance(ahead, bool)
        or not isinstance(ahead, int)
        or not 0 <= ahead <= MAX_PARTITIONS_AHEAD
    ):
        raise AuditError(
            f"{where}: audit option 'partition': 'ahead' must be a whole number of intervals "
            f"from 0 to {MAX_PARTITIONS_AHEAD}, got {ahead!r}"
        )
    return Partitioning(str(by), ahead)


def check_definition(
    where: str,
    column_names: Iterable[str],
    level: object,
    skip_unchanged: bool,
    primary_key: Sequence[str],
    reserved: Iterable[str] = META_COLUMNS,
    setting_columns: Iterable[str] = (),
    *,
    security_definer: bool = True,
    row_security: bool = False,
) -> None:
    """Checks every audit definition must pass, from table options or from an op call.

    ``where`` names the culprit (``table 'item'``, ``op.create_audit_trigger('item')``).

    Example::

        check_definition("table 'item'", ["id"], "row", False, ["id"])  # passes
        check_definition("table 'item'", ["id"], "each", False, [])  # ValueError
    """
    clashes = sorted(set(column_names) & set(reserved))
    if clashes:
        raise AuditError(
            f"{where}: column(s) {clashes} clash with the audit table's own columns; rename "
            "them, or turn off the option that adds the column (identity, transaction_id, "
            "change_timestamp)"
        )
    clashes = sorted(set(setting_columns) & set(reserved))
    if clashes:
        raise AuditError(
            f"{where}: session setting column(s) {clashes} clash with the audit table's own "
            "columns; rename the setting"
        )
    if level not in LEVELS:
        raise AuditError(
            f"{where}: audit option 'level' must be one of {list(LEVELS)}, got {level!r}"
        )
    if row_security and not security_definer:
        raise AuditError(
            f"{where}: audit option 'row_security' needs 'security_definer': an invoker "
            "function inserts audit rows as the writer, and the copied policies allow "
            "reading only, so every audited write would be refused"
        )
    if skip_unchanged and level == "statement" and not primary_key:
        raise AuditError(
            f"{where}: audit option 'skip_unchanged' at level 'statement' needs a primary key "
            "to pair old and new rows; add one (primary_key=[...] in an op) or use level 'row'"
        )


def spec_from_table(table: Table) -> AuditSpec:
    """Build the :class:`AuditSpec` of an audited table from its options.

    Example::

        t = Table("item", MetaData(), Column("id", Integer, primary_key=True),
                  info={"audit.options": {"enabled": True}})
        spec_from_table(t).audit_table_name  # 'item_audit'
    """
    label = table_label(table)
    options = get_options(table)
    if options is None or not is_enabled(table):
        raise AuditError(f"table {label!r} is not audited (audit.options enabled is not True)")
    unknown = sorted(set(options) - KNOWN_KEYS)
    if unknown:
        raise AuditError(
            f"table {label!r}: unknown audit option(s) {unknown}; "
            f"known options are {sorted(KNOWN_KEYS)}"
        )
    drop_history_requested(table)  # validates: refused while enabled
    _check_identifiers(label, table, options.get("schema", options.get("schema_name")))
    column_names = [c.name for c in table.columns]
    untyped = [c.name for c in table.columns if isinstance(c.type, NullType)]
    if untyped:
        raise AuditError(
            f"table {label!r}: column(s) {untyped} have no type yet; give them one, or define "
            "the tables their foreign keys point to first"
        )
    level = options.get("level", "statement")
    excluded = _exclude(label, options.get("exclude"), column_names)
    settings = _session_settings(label, options.get("session_settings"), set(column_names))
    skip_unchanged = _bool_option(label, options, "skip_unchanged", False)
    record_truncate = _bool_option(label, options, "record_truncate", True)
    security_definer = _bool_option(label, options, "security_definer", True)
    append_only = _bool_option(label, options, "append_only", False)
    identity = _bool_option(label, options, "identity", True)
    transaction_id = _bool_option(label, options, "transaction_id", True)
    change_timestamp = _bool_option(label, options, "change_timestamp", True)
    application_name = _bool_option(label, options, "application_name", False)
    client_address = _bool_option(label, options, "client_address", False)
    statement_text = _bool_option(label, options, "statement_text", False)
    _bool_option(label, options, "snapshot", True)  # read by autogenerate, validated here
    indexes = indexes_option(f"table {label!r}", options.get("indexes", True))
    row_security = _bool_option(label, options, "row_security", False)
    partitioned = _partitioning(label, table)
    partition = partition_option(f"table {label!r}", options.get("partition"))
    primary_key = tuple(c.name for c in table.primary_key.columns)
    if "row" in indexes and not primary_key and isinstance(options.get("indexes"), list):
        raise AuditError(
            f"table {label!r}: audit option 'indexes' asks for the 'row' index, which needs "
            "a primary key; add one or leave 'row' out"
        )
    if "transaction" in indexes and not transaction_id and isinstance(options.get("indexes"), list):
        raise AuditError(
            f"table {label!r}: audit option 'indexes' asks for the 'transaction' index, which "
            "needs 'transaction_id'; turn it on or leave 'transaction' out"
        )
    # Clashes are checked on every column, excluded ones too: options refuse them.
    check_definition(
        f"table {label!r}",
        column_names,
        level,
        skip_unchanged,
        primary_key,
        reserved_columns(
            identity,
            transaction_id,
            change_timestamp,
            application_name,
            client_address,
            statement_text,
        ),
        [s.column_name for s in settings],
        security_definer=security_definer,
        row_security=row_security,
    )
    if skip_unchanged and level == "statement" and set(primary_key) & excluded:
        raise AuditError(
            f"table {label!r}: audit option 'exclude' may not name primary key columns "
            "when 'skip_unchanged' is on"
        )
    audit_schema = _schema_option(label, options)
    names = audit_names(table.metadata.naming_convention, table.name, table.schema)
    if names.audit_table_name == table.name and (audit_schema or table.schema) == table.schema:
        raise AuditError(
            f"table {label!r}: naming convention 'audit.table' gives the audit table the "
            "table's own name"
        )
    return AuditSpec(
        table_name=table.name,
        schema=table.schema,
        audit_table_name=names.audit_table_name,
        audit_schema=audit_schema if audit_schema is not None else table.schema,
        function_name=names.function_name,
        trigger_name=names.trigger_name,
        columns=tuple(
            # The audit column's type (a domain's underlying type): what the audit
            # table made by an op has, and what the trigger copies into.
            AuditColumn(c.name, type_text(mirror_type(c.type)))
            for c in table.columns
            if c.name not in excluded
        ),
        session_settings=settings,
        level=level,
        skip_unchanged=skip_unchanged,
        record_truncate=record_truncate,
        primary_key=primary_key,
        security_definer=security_definer,
        append_only=append_only,
        identity=identity,
        transaction_id=transaction_id,
        change_timestamp=change_timestamp,
        indexes=indexes,
        application_name=application_name,
        client_address=client_address,
        statement_text=statement_text,
        partitioned=partitioned,
        row_security=row_security,
        partition=partition,
    )
