"""The PL/pgSQL bodies of the audit trigger function and of the append-only guard.

Identifiers are quoted by :func:`~alembic_audit.sql.quoting.quote`; no value is ever
formatted in: the only literals are constants of our own (operation codes), validated
setting names and the spec's own names and types, written by
:func:`~alembic_audit.sql.quoting.literal`.  The audit function first checks that the
table that fired (``TG_TABLE_SCHEMA`` / ``TG_TABLE_NAME``) is its own, or a partition
of it, so that nobody can attach it to another table.

The bodies contain no ``%`` and no ``:name``, so the scripts holding them run
unchanged through ``text()``, ``exec_driver_sql()``, ``DDL()``, ``op.execute()`` and
psql: messages are built with ``||`` and ``quote_ident`` instead of ``format()``, and
the values read once per call live in one row variable of the audit table's own row
type instead of ``%TYPE`` variables.

Example::

    print(audit_function_body(spec))
"""

from __future__ import annotations

import re

from ..core.constants import (
    APPLICATION_NAME_COLUMN,
    CHANGE_TIMESTAMP_COLUMN,
    CLIENT_ADDRESS_COLUMN,
    CONTEXT_MARKER_SETTING,
    MAINTENANCE_LOG_TABLE,
    OPERATION_COLUMN,
    STATEMENT_COLUMN,
    TIMESTAMP_COLUMN,
    TRANSACTION_COLUMN,
    USER_COLUMN,
)
from ..core.naming import stored_name
from ..core.spec import AuditSpec, SessionSetting
from .marker import spec_comment
from .quoting import literal, needs_unicode_escape, qualify, quote, regclass_literal

#: Transition table names used by statement-level triggers.
NEW_TABLE = "audit_new"
OLD_TABLE = "audit_old"

#: PL/pgSQL row variable of the audit table's row type: the acting role and the session
#: settings, read once per call, are its fields.
ROW_VAR = "audit_row"

#: ``schema.table`` of the table that fired, quoted as ``format('%I.%I')`` would.
_TABLE_NAME_SQL = (
    "pg_catalog.quote_ident(TG_TABLE_SCHEMA) || '.' || pg_catalog.quote_ident(TG_TABLE_NAME)"
)

#: The role the writing session acts as.  Under SECURITY DEFINER, CURRENT_USER is the
#: function's owner; the ``role`` setting still holds the SET ROLE role ('none' when no
#: SET ROLE is active, then the session user is the acting role).  Neither can be set
#: to a role the session is not a member of.
SESSION_ROLE_SQL = (
    "CASE WHEN pg_catalog.current_setting('role') = 'none' THEN SESSION_USER "
    "ELSE pg_catalog.current_setting('role') END"
)


#: Which ``audit_context`` was active when a required setting was missing: the hook
#: sets the marker setting (its settings and where it was entered) with the values.
#: Read only on that error path.
_CONTEXT_DETAIL_SQL = (
    "COALESCE('the active audit context is ' || "
    f"NULLIF(pg_catalog.current_setting('{CONTEXT_MARKER_SETTING}', true), ''), "
    "'no audit context was active (alembic_audit.audit_context, on an engine hooked by "
    "alembic_audit.install_context)')"
)


def _field(column: str) -> str:
    return f"{ROW_VAR}.{quote(column)}"


def _declare(spec: AuditSpec) -> list[str]:
    # Typed by the qualified audit table (its row type), not by the settings' type names:
    # a bare type name is looked up through the pinned search_path, and pg_temp is
    # searched for types, so a session could substitute a temporary domain whose CHECK
    # runs its own code as the owner of a SECURITY DEFINER function.
    lines = [f"    {ROW_VAR} {qualify(*spec.qualified_audit_table)};"]
    # Setting values as read, before the cast (see _read_settings): built-in text.
    risky = [s for s in spec.session_settings if s.type.strip().upper() not in _ANY_TEXT]
    lines += [f"    {_text_var(i)} pg_catalog.text;" for i in range(len(risky))]
    return lines


def _user_sql(spec: AuditSpec) -> str:
    return SESSION_ROLE_SQL if spec.security_definer else "CURRENT_USER"


def _assign_setting(spec: AuditSpec, setting: SessionSetting) -> str:
    # '' counts as unset: a pooled connection reports '' for a setting that an earlier
    # transaction set locally, not NULL.
    return (
        f"{_field(setting.column_name)} := "
        f"NULLIF(pg_catalog.current_setting('{setting.setting_name}', true), '');"
    )


def _check_table(spec: AuditSpec) -> list[str]:
    """Refuse to run for any table but the audited one (and, partitioned, its partitions).

    Whoever can EXECUTE the function could attach it to a table of their own and, the
    function running as its owner, write audit rows for changes that never happened.
    Names compare as strings (no catalog lookup on the normal path); a table stored
    under the same schema and name is the audited table, since names are unique.  Only
    a partitioned table's partitions (which fire the same function) take the second
    test, ``pg_partition_root`` (a scan of ``pg_inherits`` per level, some microseconds:
    once per statement naming a partition at statement level, once per row at row level).
    """
    schema, table = (stored_name(n) for n in spec.qualified_table)
    function = ".".join(spec.qualified_function)
    message = f"audit function {function} records changes to {schema}.{table} only, not to "
    refuse = [
        "RAISE EXCEPTION USING",
        "    ERRCODE = 'triggered_action_exception',",
        f"    MESSAGE = {literal(message)} || {_TABLE_NAME_SQL},",
        "    HINT = 'an audit function may only be called by the audit triggers of its own "
        "table; drop the trigger that calls it';",
    ]
    lines = [
        f"    IF TG_TABLE_NAME <> {literal(table)} OR TG_TABLE_SCHEMA <> {literal(schema)} THEN"
    ]
    if spec.partitioned:
        # A regclass constant: read once when the expression is planned, not per row.
        root = f"CAST({regclass_literal(schema, table)} AS pg_catalog.regclass)"
        lines.append(
            f"        IF pg_catalog.pg_partition_root(TG_RELID) IS DISTINCT FROM {root} THEN"
        )
        lines += ["            " + line for line in refuse]
        lines.append("        END IF;")
    else:
        lines += ["        " + line for line in refuse]
    lines.append("    END IF;")
    return lines


#: Setting types (as the spec writes them) that hold any text: assigning to them cannot fail.
_ANY_TEXT = frozenset({"TEXT", "VARCHAR", "CHARACTER VARYING"})
_BOUNDED_TEXT = re.compile(r"(?:VARCHAR|CHARACTER VARYING)\((\d+)\)")
#: Decimal digits that always fit, whatever they are.
_INTEGER_DIGITS = {"SMALLINT": 4, "INTEGER": 9, "BIGINT": 18}
#: The canonical form (what ``str(uuid.UUID(...))`` and ``set_session_vars`` send).
_UUID_FORM = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


def _text_var(index: int) -> str:
    return f"audit_text_{index}"


def _surely_fits(setting: SessionSetting, var: str) -> str:
    """A cheap test true only of values that cast to the setting's type without error.

    It decides the path, not the outcome: a value it does not vouch for goes through the
    exception block, which casts it for real (naming the setting if that fails).  Types
    it knows nothing about are always sent there.
    """
    type_ = setting.type.strip().upper()
    bounded = _BOUNDED_TEXT.fullmatch(type_)
    if bounded is not None:
        return f"pg_catalog.length({var}) <= {int(bounded.group(1))}"
    if type_ in _INTEGER_DIGITS:
        return f"{var} ~ '^-?[0-9]{{1,{_INTEGER_DIGITS[type_]}}}$'"
    if type_ == "UUID":
        return f"{var} ~ '{_UUID_FORM}'"
    return "false"


def _read_settings(
    spec: AuditSpec, *, table_sql: str = _TABLE_NAME_SQL, in_trigger: bool = True
) -> list[str]:
    """The acting role and the session settings, read into the row variable.

    Read once per call (per statement at statement level), then used as parameters of
    the INSERT: no setting lookup per audit row.  A value that does not fit its
    column's type (``'x' * 51`` for ``VARCHAR(50)``, ``'not-a-uuid'``) fails the cast:
    an exception block then names the setting, and at statement level first makes sure
    a row changed (a statement that changes no row never fails, as at row level, where
    no trigger fires).  A block costs a subtransaction each time it is entered, so the
    values are first read as text and tested cheaply (:func:`_surely_fits`); only a value
    the test does not vouch for takes the block.
    """
    lines = [f"    {_field(USER_COLUMN)} := {_user_sql(spec)};"]
    if spec.transaction_id:
        lines.append(f"    {_field(TRANSACTION_COLUMN)} := pg_catalog.pg_current_xact_id();")
    if spec.change_timestamp:
        # The time of the change itself: once per call (per statement at statement
        # level), when the changes are made; now() is the transaction's start.
        lines.append(f"    {_field(CHANGE_TIMESTAMP_COLUMN)} := pg_catalog.clock_timestamp();")
    # The session's own facts, read from the server: nothing a client has to send.
    if spec.application_name:
        lines.append(
            f"    {_field(APPLICATION_NAME_COLUMN)} := "
            "NULLIF(pg_catalog.current_setting('application_name'), '');"
        )
    if spec.client_address:
        lines.append(f"    {_field(CLIENT_ADDRESS_COLUMN)} := pg_catalog.inet_client_addr();")
    if spec.statement_text:
        lines.append(f"    {_field(STATEMENT_COLUMN)} := pg_catalog.current_query();")
    # Unbounded text takes any value: no cast to fail.
    safe = [s for s in spec.session_settings if s.type.strip().upper() in _ANY_TEXT]
    risky = [s for s in spec.session_settings if s not in safe]
    lines += [f"    {_assign_setting(spec, s)}" for s in safe]
    if not risky:
        return lines
    texts = [_text_var(i) for i in range(len(risky))]
    lines += [
        f"    {var} := NULLIF(pg_catalog.current_setting('{s.setting_name}', true), '');"
        for s, var in zip(risky, texts, strict=True)
    ]
    fits = " AND ".join(
        f"({var} IS NULL OR {_surely_fits(s, var)})" for s, var in zip(risky, texts, strict=True)
    )
    assign = [f"{_field(s.column_name)} := {var};" for s, var in zip(risky, texts, strict=True)]
    lines.append(f"    IF {fits} THEN")
    lines += ["        " + line for line in assign]
    lines += ["    ELSE", "        BEGIN"]
    lines += ["            " + line for line in assign]
    lines.append("        EXCEPTION WHEN OTHERS THEN")
    if in_trigger and spec.level == "statement":
        lines += [
            "            IF TG_OP = 'DELETE' THEN",
            f"                PERFORM FROM {quote(OLD_TABLE)} LIMIT 1;",
            "                IF NOT FOUND THEN RETURN NULL; END IF;",
            "            ELSIF TG_OP <> 'TRUNCATE' THEN",
            f"                PERFORM FROM {quote(NEW_TABLE)} LIMIT 1;",
            "                IF NOT FOUND THEN RETURN NULL; END IF;",
            "            END IF;",
        ]
    for s, line in zip(risky, assign, strict=True):
        lines += [
            "            BEGIN",
            f"                {line}",
            "            EXCEPTION WHEN OTHERS THEN",
            "                RAISE EXCEPTION USING",
            "                    ERRCODE = SQLSTATE,",
            "                    MESSAGE = "
            + literal(
                f'audit setting "{s.setting_name}" does not fit audit column '
                f"{s.column_name} ({s.type}) for a change to "
            )
            + f" || {table_sql} || ': ' || SQLERRM,",
            f"                    HINT = 'call set_session_vars(connection, {s.name}=...) with "
            "a value of that type';",
            "            END;",
        ]
    lines += ["            RAISE;", "        END;", "    END IF;"]
    return lines


def _require_settings(spec: AuditSpec, indent: str) -> list[str]:
    lines: list[str] = []
    for s in spec.session_settings:
        if s.required:
            lines += [
                f"{indent}IF {_field(s.column_name)} IS NULL THEN",
                f"{indent}    RAISE EXCEPTION USING",
                f"{indent}        ERRCODE = 'not_null_violation',",
                f'{indent}        MESSAGE = \'required audit setting "{s.setting_name}" is not set '
                f"for a change to ' || {_TABLE_NAME_SQL},",
                f"{indent}        DETAIL = {_CONTEXT_DETAIL_SQL},",
                f"{indent}        HINT = 'wrap the code that writes in alembic_audit.audit_context("
                f"{s.name}=...), or call set_session_vars(connection, {s.name}=...) in the "
                "same transaction';",
                f"{indent}END IF;",
            ]
    return lines


def _statement_require_settings(spec: AuditSpec) -> list[str]:
    """Required-setting checks at statement level, paid only when a setting is missing.

    A statement trigger fires even when no row changed; such a statement must not
    fail (the row level never fires for it), so a missing setting is an error only
    if the transition table holds a row.  On the normal path (settings set) no query
    runs here, and a zero-row statement's INSERT ... SELECT simply inserts nothing.
    """
    checks = _require_settings(spec, "        ")
    if not checks:
        return []
    missing = " OR ".join(
        f"{_field(s.column_name)} IS NULL" for s in spec.session_settings if s.required
    )
    return [
        f"    IF {missing} THEN",
        "        IF TG_OP = 'DELETE' THEN",
        f"            PERFORM FROM {quote(OLD_TABLE)} LIMIT 1;",
        "        ELSIF TG_OP <> 'TRUNCATE' THEN",
        f"            PERFORM FROM {quote(NEW_TABLE)} LIMIT 1;",
        "        END IF;",
        "        IF TG_OP = 'TRUNCATE' OR FOUND THEN",
        *("    " + line for line in checks),
        "        END IF;",
        "    END IF;",
    ]


def _meta_values(spec: AuditSpec, operation: str) -> list[str]:
    """Values of ``spec.written_meta_columns`` then of the settings, in that order."""
    computed = {OPERATION_COLUMN: f"'{operation}'", TIMESTAMP_COLUMN: "pg_catalog.now()"}
    return [computed.get(c, _field(c)) for c in spec.written_meta_columns] + [
        _field(s.column_name) for s in spec.session_settings
    ]


def _insert_into(spec: AuditSpec) -> str:
    cols = ", ".join(quote(c) for c in spec.audit_column_names)
    return f"INSERT INTO {qualify(*spec.qualified_audit_table)} ({cols})"


def _truncate_branch(spec: AuditSpec) -> list[str]:
    cols = ", ".join(quote(c) for c in spec.audit_column_names if c not in spec.column_names)
    values = ", ".join(_meta_values(spec, "T"))
    return [
        "    IF TG_OP = 'TRUNCATE' THEN",
        f"        INSERT INTO {qualify(*spec.qualified_audit_table)} ({cols})",
        f"        VALUES ({values});",
        "        RETURN NULL;",
        "    END IF;",
    ]


def _row_image(prefix: str, spec: AuditSpec) -> str:
    return "ROW(" + ", ".join(f"{prefix}.{quote(c)}" for c in spec.column_names) + ")"


def _row_body(spec: AuditSpec) -> list[str]:
    insert = _insert_into(spec)
    # PL/pgSQL cannot read a field spelled U&"..." (a name holding ':' or '%') as
    # NEW.<field>: such tables read their records through a subquery, in plain SQL.
    through_sql = any(needs_unicode_escape(c) for c in spec.column_names)
    lines: list[str] = []
    for op, code, record in (
        ("INSERT", "I", "NEW"),
        ("UPDATE", "U", "NEW"),
        ("DELETE", "D", "OLD"),
    ):
        lines.append(f"    {'IF' if op == 'INSERT' else 'ELSIF'} TG_OP = '{op}' THEN")
        if op == "UPDATE" and spec.skip_unchanged:
            # Binary image comparison: needs no equality operator (json has none) and
            # no operator lookup through the search_path.
            if through_sql:
                lines += [
                    "        IF NOT EXISTS (SELECT FROM (SELECT NEW.*) AS n, (SELECT OLD.*) AS o",
                    f"            WHERE pg_catalog.record_image_ne({_row_image('n', spec)}, "
                    f"{_row_image('o', spec)})) THEN",
                ]
            else:
                lines.append(
                    f"        IF NOT pg_catalog.record_image_ne({_row_image('NEW', spec)}, "
                    f"{_row_image('OLD', spec)}) THEN"
                )
            lines += ["            RETURN NULL;", "        END IF;"]
        if through_sql:
            lines += [f"        {insert}", *_select_from(spec, code, f"(SELECT {record}.*)")]
            lines[-1] += ";"
        else:
            values = [f"{record}.{quote(c)}" for c in spec.column_names] + _meta_values(spec, code)
            lines += [f"        {insert}", f"        VALUES ({', '.join(values)});"]
    lines.append("    END IF;")
    return lines


def _select_from(spec: AuditSpec, code: str, source: str) -> list[str]:
    """``SELECT`` of an audit row per row of ``source`` (aliased ``t``)."""
    cols = [f"t.{quote(c)}" for c in spec.column_names] + _meta_values(spec, code)
    return [f"        SELECT {', '.join(cols)}", f"        FROM {source} AS t"]


def _statement_body(spec: AuditSpec) -> list[str]:
    insert = _insert_into(spec)
    lines: list[str] = []
    for op, code, table in (
        ("INSERT", "I", NEW_TABLE),
        ("UPDATE", "U", NEW_TABLE),
        ("DELETE", "D", OLD_TABLE),
    ):
        lines.append(f"    {'IF' if op == 'INSERT' else 'ELSIF'} TG_OP = '{op}' THEN")
        select = _select_from(spec, code, quote(table))
        if op == "UPDATE" and spec.skip_unchanged:
            # Pair old and new rows by primary key; a row whose key changed has no
            # partner and is always recorded.
            on = " AND ".join(f"o.{quote(c)} = t.{quote(c)}" for c in spec.primary_key)
            select += [
                f"        LEFT JOIN {quote(OLD_TABLE)} AS o ON {on}",
                f"        WHERE o.{quote(spec.primary_key[0])} IS NULL",
                f"           OR pg_catalog.record_image_ne({_row_image('t', spec)}, "
                f"{_row_image('o', spec)})",
            ]
        lines += [f"        {insert}", *select]
        lines[-1] += ";"
    lines.append("    END IF;")
    return lines


def audit_function_body(spec: AuditSpec) -> str:
    """The PL/pgSQL body (between the dollar quotes) of the audit trigger function.

    Example::

        spec_comment(spec) in audit_function_body(spec)  # True
    """
    lines = ["", "#variable_conflict use_variable", spec_comment(spec)]
    lines += ["DECLARE", *_declare(spec)]
    lines.append("BEGIN")
    lines += _check_table(spec)
    lines += _read_settings(spec)
    if spec.level == "statement":
        lines += _statement_require_settings(spec)
    else:
        lines += _require_settings(spec, "    ")
    if spec.record_truncate:
        lines += _truncate_branch(spec)
    lines += _row_body(spec) if spec.level == "row" else _statement_body(spec)
    lines += ["    RETURN NULL;", "END;", ""]
    return "\n".join(lines)


def snapshot_block_body(spec: AuditSpec) -> str:
    """The PL/pgSQL of a ``DO`` block recording one ``'S'`` row per row the audited table
    holds: the baseline of a table whose auditing begins.

    The metadata is the usual (the acting role, the session settings, the transaction
    and the time); required settings are not enforced (a migration has no user).
    Typed through the audit table's row type, like the trigger, so no type name is
    written out.

    Example::

        "INSERT INTO" in snapshot_block_body(spec)  # True
    """
    source = qualify(*spec.qualified_table)
    lines = ["", "#variable_conflict use_variable", "DECLARE", *_declare(spec), "BEGIN"]
    # Not in a trigger: no TG_* variables, no transition table.
    lines += _read_settings(
        spec, table_sql=literal(".".join(spec.qualified_table)), in_trigger=False
    )
    lines += [f"    {_insert_into(spec)}", *_select_from(spec, "S", source)]
    lines[-1] += ";"
    lines += ["END;", ""]
    return "\n".join(lines)


#: The maintenance log's table name, as a constant of ours (no quoting needed).
_LOG = MAINTENANCE_LOG_TABLE

#: What a log row of the current transaction lets through, by statement: a DELETE for
#: a prune (``delete``, or rows moved to an archive table or a file as they go) or for
#: rows moved out of the default partition (``move``), an UPDATE for a redaction.
#: TRUNCATE is never let through.
GUARD_PERMITS = {
    "DELETE": ("delete", "move", "archive", "export"),
    "UPDATE": ("redact",),
}


def guard_function_body() -> str:
    """The PL/pgSQL body of the append-only guard: refuse, naming table and operation,
    unless the statement is sanctioned maintenance.

    Sanctioned means: the current transaction has written a row for this audit table
    (or for the partitioned audit table this one is a partition of) into the
    audit-maintenance log of its schema, for this kind of statement.  That log row is
    the permission and the record at once: the log counts only if the audit table's
    owner owns it, only its owner can insert into it (the application role has no
    privilege on the log, nor on the audit table), the log
    refuses UPDATE, DELETE and TRUNCATE itself, and its insert trigger writes the
    transaction, role and time, so they cannot be made up.  A session setting would
    be no proof: any session can set any ``audit.*`` value.  ``prune()`` and
    ``redact()`` write that row, then act, in one transaction.

    Written without ``format()`` (no ``%``) and with the log's schema taken from the
    table that fired, so the body is the same for every audit table.

    Example::

        "append-only" in guard_function_body()  # True
    """
    proof = (
        "'SELECT EXISTS (SELECT FROM ' || pg_catalog.quote_ident(TG_TABLE_SCHEMA) || "
        f"'.{_LOG} AS l'\n"
        "            || ' WHERE l.transaction_id = pg_catalog.pg_current_xact_id()"
        " AND l.action = ANY ($1) AND ((l.audit_schema = $2 AND l.audit_table = $3)'\n"
        "            || ' OR (l.audit_schema, l.audit_table) IN (SELECT pn.nspname, pc.relname"
        " FROM pg_catalog.pg_inherits AS i'\n"
        "            || ' JOIN pg_catalog.pg_class AS pc ON pc.oid = i.inhparent"
        " JOIN pg_catalog.pg_namespace AS pn ON pn.oid = pc.relnamespace'\n"
        "            || ' WHERE i.inhrelid = $4)))'"
    )
    permits = " ".join(
        f"WHEN '{op}' THEN ARRAY[{', '.join(repr(a) for a in actions)}]"
        for op, actions in GUARD_PERMITS.items()
    )
    return "\n".join(
        [
            "",
            "DECLARE",
            "    permitted text[];",
            "    allowed boolean := false;",
            "BEGIN",
            f"    permitted := CASE TG_OP {permits} ELSE NULL END;",
            "    IF permitted IS NOT NULL AND EXISTS (",
            "        SELECT FROM pg_catalog.pg_class AS c",
            "        JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace",
            f"        WHERE n.nspname = TG_TABLE_SCHEMA AND c.relname = '{_LOG}'",
            "          AND c.relkind = 'r'",
            # A log made by anyone else (a role with CREATE on the schema) proves nothing.
            "          AND c.relowner = (SELECT t.relowner FROM pg_catalog.pg_class AS t"
            " WHERE t.oid = TG_RELID)",
            "    ) THEN",
            f"        EXECUTE {proof}",
            "            INTO allowed USING permitted, TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_RELID;",
            "        IF allowed THEN",
            "            RETURN NULL;",
            "        END IF;",
            "    END IF;",
            "    RAISE EXCEPTION USING",
            "        ERRCODE = 'insufficient_privilege',",
            f"        MESSAGE = 'audit table ' || {_TABLE_NAME_SQL} || ' is append-only: ' "
            "|| TG_OP || ' refused',",
            "        HINT = 'audit rows cannot be changed or removed (audit option "
            "append_only); alembic_audit.prune() and redact() are the sanctioned ways, "
            f"recorded in {_LOG}';",
            "    RETURN NULL;",
            "END;",
            "",
        ]
    )


def log_facts_function_body() -> str:
    """The PL/pgSQL body of the maintenance log's insert trigger: whatever the insert
    says, the row records the real time, transaction and acting role of the session
    that wrote it.

    Example::

        "pg_current_xact_id" in log_facts_function_body()  # True
    """
    return "\n".join(
        [
            "",
            "BEGIN",
            "    NEW.logged_at := pg_catalog.clock_timestamp();",
            "    NEW.transaction_id := pg_catalog.pg_current_xact_id();",
            f"    NEW.database_role := {SESSION_ROLE_SQL};",
            "    RETURN NEW;",
            "END;",
            "",
        ]
    )


def log_guard_function_body() -> str:
    """The PL/pgSQL body of the maintenance log's own guard: the log is append-only,
    for everyone, with no exception.

    Example::

        "append-only" in log_guard_function_body()  # True
    """
    return "\n".join(
        [
            "",
            "BEGIN",
            "    RAISE EXCEPTION USING",
            "        ERRCODE = 'insufficient_privilege',",
            f"        MESSAGE = 'the audit-maintenance log ' || {_TABLE_NAME_SQL} "
            "|| ' is append-only: ' || TG_OP || ' refused';",
            "    RETURN NULL;",
            "END;",
            "",
        ]
    )


__all__ = [
    "GUARD_PERMITS",
    "NEW_TABLE",
    "OLD_TABLE",
    "SESSION_ROLE_SQL",
    "audit_function_body",
    "guard_function_body",
    "log_facts_function_body",
    "log_guard_function_body",
    "snapshot_block_body",
]
