"""Every piece of SQL text this library emits, built from an :class:`AuditSpec`.

Identifiers go through SQLAlchemy's PostgreSQL identifier preparer, always quoted,
so mixed case, reserved words, spaces and quotes inside names are safe.  No value
is ever formatted in: the only literals are constants of our own (operation codes)
and validated setting names.  Runtime facts (which table fired) come from
``TG_TABLE_SCHEMA`` / ``TG_TABLE_NAME``, not from text baked into the body.

Statements are plain strings with single ``%`` characters; execute them with
:class:`AuditDDL`, which doubles ``%`` for drivers whose paramstyle needs it.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.schema import ExecutableDDLElement

from .naming import all_trigger_names
from .spec import OPERATION_COLUMN, USER_COLUMN, AuditSpec

# "named" paramstyle: the preparer must not double '%' here; AuditDDL does it at
# execution time for the driver actually in use.
_PREPARER = postgresql.dialect(paramstyle="named").identifier_preparer  # type: ignore[no-untyped-call]

#: Transition table names used by statement-level triggers.
NEW_TABLE = "audit_new"
OLD_TABLE = "audit_old"

#: PL/pgSQL variable holding the acting role, read once per call.
USER_VAR = "audit_user"


@lru_cache(maxsize=16384)
def quote(name: str) -> str:
    """Always-quoted identifier, e.g. ``quote('Order')`` -> ``'"Order"'``.

    Memoized: autogenerate regenerates one function body per audited table, and
    the same few names recur thousands of times.

    Example::

        quote("Order")  # '"Order"'
    """
    return str(_PREPARER.quote_identifier(name))


def qualify(schema: str, name: str) -> str:
    """``"schema"."name"``, both parts quoted.

    Example::

        qualify("public", "item")  # '"public"."item"'
    """
    return f"{quote(schema)}.{quote(name)}"


class AuditDDL(ExecutableDDLElement):
    """Executable wrapper for one statement produced by this module.

    Unlike ``text()`` it does not treat ``:name`` as a bind parameter (a column
    may be called ``"a:b"``), and unlike ``DDL()`` it does not %-format.

    Example::

        for stmt in create_statements(spec):
            connection.execute(AuditDDL(stmt))
    """

    inherit_cache = False

    def __init__(self, statement: str) -> None:
        self.statement = statement


@compiles(AuditDDL)
def _compile_audit_ddl(element: AuditDDL, compiler: Any, **kw: Any) -> str:
    # post_process_text doubles '%' exactly when the dialect's paramstyle needs it.
    return str(compiler.sql_compiler.post_process_text(element.statement))


def _dollar_tag(body: str) -> str:
    """A dollar-quote tag that does not occur in ``body`` (names may contain '$')."""
    tag, n = "$audit$", 0
    while tag in body:
        n += 1
        tag = f"$audit{n}$"
    return tag


def _setting_var(index: int) -> str:
    return f"audit_setting_{index}"


def _declare(spec: AuditSpec) -> list[str]:
    # Typed as the audit column (%TYPE through the qualified audit table), not by the
    # setting's type name: a bare type name is looked up through the pinned search_path,
    # and pg_temp is searched for types, so a session could substitute a temporary
    # domain whose CHECK runs its own code as the owner of a SECURITY DEFINER function.
    table = qualify(*spec.qualified_audit_table)
    return [
        f"    {_setting_var(i)} {table}.{quote(s.column_name)}%TYPE;"
        for i, s in enumerate(spec.session_settings)
    ] + [f"    {USER_VAR} {table}.{quote(USER_COLUMN)}%TYPE;"]


def _read_settings(spec: AuditSpec) -> list[str]:
    # Read once per call (per statement at statement level), then used as parameters of
    # the INSERT: no setting lookup per audit row.
    lines = [f"    {USER_VAR} := {_user_sql(spec)};"]
    for i, s in enumerate(spec.session_settings):
        # '' counts as unset: a pooled connection reports '' for a setting that an
        # earlier transaction set locally, not NULL.
        lines.append(
            f"    {_setting_var(i)} := "
            f"NULLIF(pg_catalog.current_setting('{s.setting_name}', true), '');"
        )
    return lines


def _require_settings(spec: AuditSpec, indent: str) -> list[str]:
    lines: list[str] = []
    for i, s in enumerate(spec.session_settings):
        if s.required:
            lines += [
                f"{indent}IF {_setting_var(i)} IS NULL THEN",
                f"{indent}    RAISE EXCEPTION USING",
                f"{indent}        ERRCODE = 'not_null_violation',",
                f"{indent}        MESSAGE = pg_catalog.format("
                f"'required audit setting \"{s.setting_name}\" is not set for a change to %I.%I',"
                " TG_TABLE_SCHEMA, TG_TABLE_NAME),",
                f"{indent}        HINT = 'call set_session_vars(connection, {s.name}=...) in the "
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
        f"{_setting_var(i)} IS NULL" for i, s in enumerate(spec.session_settings) if s.required
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


#: The role the writing session acts as.  Under SECURITY DEFINER, CURRENT_USER is the
#: function's owner; the ``role`` setting still holds the SET ROLE role ('none' when no
#: SET ROLE is active, then the session user is the acting role).  Neither can be set
#: to a role the session is not a member of.
SESSION_ROLE_SQL = (
    "CASE WHEN pg_catalog.current_setting('role') = 'none' THEN SESSION_USER "
    "ELSE pg_catalog.current_setting('role') END"
)


def _user_sql(spec: AuditSpec) -> str:
    return SESSION_ROLE_SQL if spec.security_definer else "CURRENT_USER"


def _meta_values(spec: AuditSpec, operation: str) -> list[str]:
    return [
        f"'{operation}'",
        "pg_catalog.now()",
        USER_VAR,
        *(_setting_var(i) for i in range(len(spec.session_settings))),
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
    lines: list[str] = []
    for op, code, record in (
        ("INSERT", "I", "NEW"),
        ("UPDATE", "U", "NEW"),
        ("DELETE", "D", "OLD"),
    ):
        values = [f"{record}.{quote(c)}" for c in spec.column_names] + _meta_values(spec, code)
        lines.append(f"    {'IF' if op == 'INSERT' else 'ELSIF'} TG_OP = '{op}' THEN")
        if op == "UPDATE" and spec.skip_unchanged:
            # Binary image comparison: needs no equality operator (json has none) and
            # no operator lookup through the search_path.
            lines += [
                f"        IF NOT pg_catalog.record_image_ne({_row_image('NEW', spec)}, "
                f"{_row_image('OLD', spec)}) THEN",
                "            RETURN NULL;",
                "        END IF;",
            ]
        lines += [f"        {insert}", f"        VALUES ({', '.join(values)});"]
    lines.append("    END IF;")
    return lines


def _statement_select(spec: AuditSpec, code: str, table: str) -> list[str]:
    cols = [f"t.{quote(c)}" for c in spec.column_names] + _meta_values(spec, code)
    return [f"        SELECT {', '.join(cols)}", f"        FROM {quote(table)} AS t"]


def _statement_body(spec: AuditSpec) -> list[str]:
    insert = _insert_into(spec)
    lines: list[str] = []
    for op, code, table in (
        ("INSERT", "I", NEW_TABLE),
        ("UPDATE", "U", NEW_TABLE),
        ("DELETE", "D", OLD_TABLE),
    ):
        lines.append(f"    {'IF' if op == 'INSERT' else 'ELSIF'} TG_OP = '{op}' THEN")
        select = _statement_select(spec, code, table)
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


_SPEC_MARK = "alembic_audit spec "
_SPEC_COMMENT = re.compile(r"/\* alembic_audit spec (\{.*?\}) \*/")


def spec_comment(spec: AuditSpec) -> str:
    """A block comment carrying the spec as JSON, placed inside the function body.

    The inspector reads it back from ``pg_proc.prosrc``, so autogenerate knows the
    exact spec a function was made from (for reverse operations) and can tell a
    hand-edited body from ours.  ``*`` is written as the JSON escape ``\\u002a``, so
    the JSON can contain neither ``*/`` nor ``/*`` (PostgreSQL nests block comments:
    an escaped ``\\/`` followed by ``*`` would still open one), whatever the names are.

    Example::

        spec_comment(spec)  # '/* alembic_audit spec {"append_only":false,...} */'
    """
    payload = json.dumps(spec.to_dict(), sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    return "/* " + _SPEC_MARK + payload.replace("*", "\\u002a") + " */"


def spec_from_function_body(body: str) -> AuditSpec | None:
    """The spec embedded in a trigger function body by :func:`spec_comment`, if any.

    Example::

        spec_from_function_body(function_body(spec)) == spec  # True
    """
    match = _SPEC_COMMENT.search(body)
    if match is None:
        return None
    try:
        return AuditSpec.from_dict(json.loads(match.group(1)))
    except (ValueError, TypeError):
        return None


def function_body(spec: AuditSpec) -> str:
    """The PL/pgSQL body (between the dollar quotes) of the trigger function.

    Example::

        spec_comment(spec) in function_body(spec)  # True
    """
    lines = ["", "#variable_conflict use_variable", spec_comment(spec)]
    lines += ["DECLARE", *_declare(spec)]
    lines.append("BEGIN")
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


def create_function_sql(spec: AuditSpec) -> str:
    """``CREATE OR REPLACE FUNCTION`` for the spec's trigger function.

    The function pins ``search_path`` (pg_catalog, then pg_temp last) so that a
    session's search_path cannot redirect the audit insert; every object inside
    is schema-qualified anyway.

    Example::

        print(create_function_sql(spec))
    """
    body = function_body(spec)
    tag = _dollar_tag(body)
    return f"{function_header_sql(spec)}AS {tag}{body}{tag}"


def function_header_sql(spec: AuditSpec) -> str:
    """The part of :func:`create_function_sql` before ``AS``: name, return type,
    language and attributes (what the inspector compares with ``pg_proc``).

    Example::

        function_header_sql(spec).splitlines()[0]
        # 'CREATE OR REPLACE FUNCTION "public"."public_item_audit"()'
    """
    return (
        f"CREATE OR REPLACE FUNCTION {qualify(*spec.qualified_function)}()\n"
        " RETURNS trigger\n"
        " LANGUAGE plpgsql\n"
        + (" SECURITY DEFINER\n" if spec.security_definer else "")
        + " SET search_path TO 'pg_catalog', 'pg_temp'\n"
        + "".join(f" SET {name} TO '{value}'\n" for name, value in _plan_settings(spec))
    )


def _plan_settings(spec: AuditSpec) -> list[tuple[str, str]]:
    """Planner settings pinned on a statement-level function (constants of ours).

    PL/pgSQL caches the plan of each ``INSERT ... SELECT FROM <transition table>``.
    Left to ``plan_cache_mode = auto``, the plan cache compares the cost of its
    generic plan, estimated for the transition table's row count at the call that
    built it, with the average cost of the custom plans so far; once a session has
    built it during a bulk statement, it re-plans every later call (about 20 us per
    one-row statement), and the choice only resets when the plan is invalidated.
    The copy has one plan shape whatever the row count, so generic is always right.
    The ``skip_unchanged`` join is not: a generic plan built for a one-row
    statement is a nested loop, quadratic for a later 100,000-row UPDATE (minutes);
    without nested loops it is a hash or merge join at any size.
    """
    if spec.level != "statement":
        return []
    settings = [("plan_cache_mode", "force_generic_plan")]
    if spec.skip_unchanged:
        settings.append(("enable_nestloop", "off"))
    return settings


def revoke_function_sql(spec: AuditSpec) -> str:
    """Take EXECUTE on the trigger function away from PUBLIC.

    Firing a trigger checks no EXECUTE privilege, so the audit keeps working; but
    nobody else can attach the function (which may run as its owner) to a table of
    their own and so write forged rows into the audit table.

    Example::

        revoke_function_sql(spec)
        # 'REVOKE ALL ON FUNCTION "public"."public_item_audit"() FROM PUBLIC'
    """
    return f"REVOKE ALL ON FUNCTION {qualify(*spec.qualified_function)}() FROM PUBLIC"


def guard_function_body() -> str:
    """The PL/pgSQL body of the append-only guard: refuse, naming table and operation.

    Example::

        "append-only" in guard_function_body()  # True
    """
    return "\n".join(
        [
            "",
            "BEGIN",
            "    RAISE EXCEPTION USING",
            "        ERRCODE = 'insufficient_privilege',",
            "        MESSAGE = pg_catalog.format("
            "'audit table %I.%I is append-only: %s refused', "
            "TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP),",
            "        HINT = 'audit rows cannot be changed or removed (audit option "
            "append_only); only the table owner can disable the guard trigger';",
            "    RETURN NULL;",
            "END;",
            "",
        ]
    )


def create_guard_sqls(spec: AuditSpec) -> list[str]:
    """The append-only guard: its function, then a BEFORE statement trigger on the
    audit table refusing UPDATE, DELETE and TRUNCATE (even of zero rows).

    Example::

        create_guard_sqls(spec.replace(append_only=True))
    """
    body = guard_function_body()
    tag = _dollar_tag(body)
    func = qualify(*spec.qualified_guard_function)
    return [
        f"CREATE OR REPLACE FUNCTION {func}()\n"
        " RETURNS trigger\n"
        " LANGUAGE plpgsql\n"
        " SET search_path TO 'pg_catalog', 'pg_temp'\n"
        f"AS {tag}{body}{tag}",
        f"REVOKE ALL ON FUNCTION {func}() FROM PUBLIC",
        f"CREATE TRIGGER {quote(spec.guard_trigger_name)}"
        f" BEFORE UPDATE OR DELETE OR TRUNCATE ON {qualify(*spec.qualified_audit_table)}"
        f" FOR EACH STATEMENT EXECUTE FUNCTION {func}()",
    ]


def drop_guard_sqls(spec: AuditSpec, *, if_exists: bool = False) -> list[str]:
    """Guard trigger then guard function (see :func:`create_guard_sqls`).

    Example::

        drop_guard_sqls(spec)[1]
        # 'DROP FUNCTION "public"."public_item_audit_append_only"()'
    """
    exists = " IF EXISTS" if if_exists else ""
    return [
        f"DROP TRIGGER{exists} {quote(spec.guard_trigger_name)}"
        f" ON {qualify(*spec.qualified_audit_table)}",
        f"DROP FUNCTION{exists} {qualify(*spec.qualified_guard_function)}()",
    ]


def create_trigger_sqls(spec: AuditSpec) -> list[str]:
    """``CREATE TRIGGER`` statements, one per name in ``spec.trigger_names``.

    Example::

        len(create_trigger_sqls(spec)) == len(spec.trigger_names)  # True
    """
    table = qualify(*spec.qualified_table)
    func = qualify(*spec.qualified_function)
    names = list(spec.trigger_names)
    stmts: list[str] = []
    if spec.level == "row":
        stmts.append(
            f"CREATE TRIGGER {quote(names.pop(0))} AFTER INSERT OR UPDATE OR DELETE ON {table}"
            f" FOR EACH ROW EXECUTE FUNCTION {func}()"
        )
    else:
        update_referencing = f"NEW TABLE AS {quote(NEW_TABLE)}"
        if spec.skip_unchanged:
            update_referencing = f"OLD TABLE AS {quote(OLD_TABLE)} " + update_referencing
        for event, referencing in (
            ("INSERT", f"NEW TABLE AS {quote(NEW_TABLE)}"),
            # The old images are captured only when compared: capturing them costs
            # as much again as the new ones on a bulk UPDATE.
            ("UPDATE", update_referencing),
            ("DELETE", f"OLD TABLE AS {quote(OLD_TABLE)}"),
        ):
            stmts.append(
                f"CREATE TRIGGER {quote(names.pop(0))} AFTER {event} ON {table}"
                f" REFERENCING {referencing} FOR EACH STATEMENT EXECUTE FUNCTION {func}()"
            )
    if spec.record_truncate:
        stmts.append(
            f"CREATE TRIGGER {quote(names.pop(0))} AFTER TRUNCATE ON {table}"
            f" FOR EACH STATEMENT EXECUTE FUNCTION {func}()"
        )
    return stmts


#: ``pg_trigger.tgenabled`` -> the ALTER TABLE clause that sets it (``O`` is the default).
TRIGGER_STATE_CLAUSES = {"D": "DISABLE", "R": "ENABLE REPLICA", "A": "ENABLE ALWAYS"}


def trigger_state_sql(schema: str, table: str, trigger: str, state: str) -> str | None:
    """``ALTER TABLE ... DISABLE TRIGGER`` (or ENABLE REPLICA / ALWAYS) for a
    ``tgenabled`` state; ``None`` for ``O``, the state a new trigger has.

    Example::

        trigger_state_sql("public", "item", "public_item_audit", "D")
        # 'ALTER TABLE "public"."item" DISABLE TRIGGER "public_item_audit"'
    """
    if state == "O":
        return None
    clause = TRIGGER_STATE_CLAUSES[state]
    return f"ALTER TABLE {qualify(schema, table)} {clause} TRIGGER {quote(trigger)}"


def drop_trigger_sqls(spec: AuditSpec, *, if_exists: bool = False) -> list[str]:
    """``DROP TRIGGER`` statements for the spec's triggers.

    Example::

        drop_trigger_sqls(spec)[0]
        # 'DROP TRIGGER "public_item_audit_insert" ON "public"."item"'
    """
    table = qualify(*spec.qualified_table)
    exists = " IF EXISTS" if if_exists else ""
    return [f"DROP TRIGGER{exists} {quote(n)} ON {table}" for n in spec.trigger_names]


def drop_function_sql(spec: AuditSpec, *, if_exists: bool = False, cascade: bool = False) -> str:
    """``DROP FUNCTION`` for the spec's trigger function.

    Example::

        drop_function_sql(spec, if_exists=True, cascade=True)
        # 'DROP FUNCTION IF EXISTS "public"."public_item_audit"() CASCADE'
    """
    exists = " IF EXISTS" if if_exists else ""
    tail = " CASCADE" if cascade else ""
    return f"DROP FUNCTION{exists} {qualify(*spec.qualified_function)}(){tail}"


def create_statements(spec: AuditSpec, *, replace_triggers: bool = False) -> list[str]:
    """Function then triggers.  ``replace_triggers`` first drops any trigger this
    spec's base name could have (either level), for idempotent installs.

    Example::

        for stmt in create_statements(spec):
            conn.execute(AuditDDL(stmt))
    """
    stmts = [create_function_sql(spec), revoke_function_sql(spec)]
    if replace_triggers:
        table = qualify(*spec.qualified_table)
        stmts += [
            f"DROP TRIGGER IF EXISTS {quote(n)} ON {table}"
            for n in all_trigger_names(spec.trigger_name)
        ]
        # A guard left by an earlier spec: removed, or recreated just below.
        stmts += drop_guard_sqls(spec, if_exists=True)
    stmts += create_trigger_sqls(spec)
    if spec.append_only:
        stmts += create_guard_sqls(spec)
    return stmts


def drop_statements(spec: AuditSpec, *, if_exists: bool = False) -> list[str]:
    """Triggers then function: exactly the objects :func:`create_statements` made.

    With ``if_exists`` the function is dropped with ``CASCADE`` instead of naming
    the triggers, so that it also works after the audited table is gone.

    Example::

        drop_statements(spec)[-1]  # 'DROP FUNCTION "public"."public_item_audit"()'
    """
    if if_exists:
        stmts = [drop_function_sql(spec, if_exists=True, cascade=True)]
        if spec.append_only:
            guard_func = qualify(*spec.qualified_guard_function)
            stmts.append(f"DROP FUNCTION IF EXISTS {guard_func}() CASCADE")
        return stmts
    guard = drop_guard_sqls(spec) if spec.append_only else []
    return drop_trigger_sqls(spec) + guard[:1] + [drop_function_sql(spec)] + guard[1:]


def script(statements: list[str]) -> str:
    """Join statements into one SQL script (``;`` terminated).

    Example::

        script(["SELECT 1", "SELECT 2"])  # 'SELECT 1;\\n\\nSELECT 2;\\n\\n'
    """
    return "".join(f"{s};\n\n" for s in statements)


__all__ = [
    "AuditDDL",
    "OPERATION_COLUMN",
    "create_function_sql",
    "create_guard_sqls",
    "create_statements",
    "create_trigger_sqls",
    "drop_function_sql",
    "drop_guard_sqls",
    "drop_statements",
    "drop_trigger_sqls",
    "qualify",
    "quote",
    "revoke_function_sql",
    "script",
]
