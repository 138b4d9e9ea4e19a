"""SQL text of the catalog queries the inspector runs (read-only, no DDL).

Kept next to :mod:`alembic_audit.ddl` so that every piece of SQL text this library
sends lives in ``ddl*.py`` modules.  Every value is a bind parameter: the spec
marker and the arrays of wanted names.

Example::

    rows = connection.execute(functions_query(), function_params(marker, [], []))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Text, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.elements import TextClause

# A function is ours when its body carries the spec comment, or when it has a name
# the models ask for (a hand-edited body may have lost the comment).  Zero
# arguments and ``RETURNS trigger`` are what every audit function has.
_FUNCTIONS = """
SELECT p.oid, n.nspname, p.proname, p.prosrc,
       COALESCE(p.proconfig, CAST(ARRAY[] AS text[])) AS proconfig,
       p.prosecdef, l.lanname, CAST(p.provolatile AS text) AS provolatile,
       CASE WHEN :definitions THEN pg_catalog.pg_get_functiondef(p.oid) END AS definition
FROM pg_catalog.pg_proc AS p
JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
JOIN pg_catalog.pg_language AS l ON l.oid = p.prolang
WHERE p.prorettype = CAST('pg_catalog.trigger' AS pg_catalog.regtype)
  AND p.pronargs = 0
  AND (pg_catalog.strpos(p.prosrc, :marker) > 0
       OR (n.nspname, p.proname) IN (
           SELECT w.s, w.f
           FROM ROWS FROM (pg_catalog.unnest(:fn_schemas),
                           pg_catalog.unnest(:fn_names)) AS w(s, f)))
ORDER BY n.nspname, p.proname
"""

# Triggers that call a function found above, plus triggers with a wanted name on a
# wanted table whatever function they call (a trigger re-pointed by hand).
_TRIGGERS = """
SELECT t.oid, n.nspname, c.relname, t.tgname, CAST(t.tgtype AS integer) AS tgtype,
       CAST(t.tgenabled AS text) AS tgenabled, t.tgfoid, fn.nspname AS fschema,
       f.proname AS fname, CAST(t.tgoldtable AS text) AS oldtable,
       CAST(t.tgnewtable AS text) AS newtable, t.tgqual IS NOT NULL AS has_when,
       t.tgnargs, CAST(t.tgattr AS text) AS tgattr,
       CASE WHEN :definitions THEN pg_catalog.pg_get_triggerdef(t.oid) END AS definition,
       pg_catalog.quote_ident(fn.nspname) AS q_fschema, pg_catalog.quote_ident(f.proname) AS q_fname
FROM pg_catalog.pg_trigger AS t
JOIN pg_catalog.pg_class AS c ON c.oid = t.tgrelid
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_proc AS f ON f.oid = t.tgfoid
JOIN pg_catalog.pg_namespace AS fn ON fn.oid = f.pronamespace
WHERE NOT t.tgisinternal
  AND (t.tgfoid = ANY(CAST(:function_oids AS pg_catalog.oid[]))
       OR (n.nspname, c.relname, t.tgname) IN (
           SELECT w.s, w.r, w.t
           FROM ROWS FROM (pg_catalog.unnest(:tg_schemas), pg_catalog.unnest(:tg_tables),
                          pg_catalog.unnest(:tg_names)) AS w(s, r, t)))
ORDER BY n.nspname, c.relname, t.tgname
"""

_TEXT_ARRAY = ARRAY(Text)

# The columns of audit tables, for autogenerate's own comparison of them: the tables
# named (the models' audit tables, those the found functions write to), and every table
# of the scanned schemas that has the audit table's own columns (history kept after
# auditing was turned off).  One row per table, its columns as arrays in order; what
# Alembic would also compare (an index, a constraint, a comment, a column default,
# identity or generated value) is flagged, not read.
_AUDIT_TABLES = """
WITH rel AS MATERIALIZED (
    SELECT c.oid, n.nspname, c.relname,
           EXISTS (SELECT 1 FROM pg_catalog.pg_index AS i WHERE i.indrelid = c.oid)
               AS has_indexes,
           EXISTS (SELECT 1 FROM pg_catalog.pg_constraint AS k
                   WHERE k.conrelid = c.oid AND k.contype <> 'n') AS has_constraints,
           EXISTS (SELECT 1 FROM pg_catalog.pg_description AS d
                   WHERE d.objoid = c.oid
                     AND d.classoid = CAST('pg_catalog.pg_class' AS pg_catalog.regclass))
               AS has_comments
    FROM pg_catalog.pg_class AS c
    JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p')
      AND ((n.nspname, c.relname) IN (
               SELECT w.s, w.r
               FROM ROWS FROM (pg_catalog.unnest(:table_schemas),
                               pg_catalog.unnest(:table_names)) AS w(s, r))
           OR (n.nspname = ANY(:scan_schemas)
               AND (SELECT pg_catalog.count(*) FROM pg_catalog.pg_attribute AS m
                    WHERE m.attrelid = c.oid AND m.attname = ANY(:meta_columns)
                      AND NOT m.attisdropped) = pg_catalog.cardinality(:meta_columns)))
)
SELECT r.nspname, r.relname, r.has_indexes, r.has_constraints, r.has_comments,
       pg_catalog.array_agg(CAST(a.attname AS text) ORDER BY a.attnum) AS names,
       pg_catalog.array_agg(pg_catalog.format_type(a.atttypid, a.atttypmod) ORDER BY a.attnum)
           AS types,
       pg_catalog.array_agg(a.attnotnull ORDER BY a.attnum) AS not_nulls,
       pg_catalog.bool_or(a.atthasdef OR CAST(a.attidentity AS text) <> ''
                          OR CAST(a.attgenerated AS text) <> '') AS has_defaults
FROM rel AS r
JOIN pg_catalog.pg_attribute AS a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
GROUP BY r.oid, r.nspname, r.relname, r.has_indexes, r.has_constraints, r.has_comments
ORDER BY r.nspname, r.relname
"""


def functions_query() -> TextClause:
    """The query listing candidate audit functions (one round trip for all schemas).

    Example::

        rows = connection.execute(functions_query(), function_params(marker, [], [])).all()
    """
    return text(_FUNCTIONS).bindparams(
        bindparam("fn_schemas", type_=_TEXT_ARRAY),
        bindparam("fn_names", type_=_TEXT_ARRAY),
    )


def function_params(
    marker: str, schemas: Sequence[str], names: Sequence[str], *, definitions: bool = True
) -> dict[str, Any]:
    """Bind values for :func:`functions_query`; ``definitions=False`` leaves out
    ``pg_get_functiondef`` (the largest column, only needed for a drifted function).

    Example::

        function_params("m", ["public"], ["public_item_audit"])
        # {'marker': 'm', 'fn_schemas': ['public'], 'fn_names': [...], 'definitions': True}
    """
    return {
        "marker": marker,
        "fn_schemas": list(schemas),
        "fn_names": list(names),
        "definitions": definitions,
    }


def triggers_query() -> TextClause:
    """The query listing the triggers of the found functions and wanted names.

    Example::

        rows = connection.execute(triggers_query(), trigger_params(oids, wanted)).all()
    """
    return text(_TRIGGERS).bindparams(
        bindparam("function_oids", type_=_TEXT_ARRAY),
        bindparam("tg_schemas", type_=_TEXT_ARRAY),
        bindparam("tg_tables", type_=_TEXT_ARRAY),
        bindparam("tg_names", type_=_TEXT_ARRAY),
    )


def trigger_params(
    function_oids: Sequence[int],
    wanted: Sequence[tuple[str, str, str]],
    *,
    definitions: bool = True,
) -> dict[str, Any]:
    """Bind values for :func:`triggers_query`; oids travel as text (``oid`` has no
    array adapter in every driver) and are compared after a cast.

    Example::

        trigger_params([16384], [("public", "item", "public_item_audit")])["function_oids"]
        # ['16384']
    """
    return {
        "function_oids": [str(o) for o in function_oids],
        "tg_schemas": [w[0] for w in wanted],
        "tg_tables": [w[1] for w in wanted],
        "tg_names": [w[2] for w in wanted],
        "definitions": definitions,
    }


def audit_tables_query() -> TextClause:
    """The columns of audit tables, named or found by their own columns: one row per table
    (one round trip).

    Example::

        rows = connection.execute(
            audit_tables_query(), audit_table_params([("public", "item_audit")], ["public"], meta)
        ).all()
    """
    return text(_AUDIT_TABLES).bindparams(
        bindparam("table_schemas", type_=_TEXT_ARRAY),
        bindparam("table_names", type_=_TEXT_ARRAY),
        bindparam("scan_schemas", type_=_TEXT_ARRAY),
        bindparam("meta_columns", type_=_TEXT_ARRAY),
    )


def audit_table_params(
    tables: Sequence[tuple[str, str]], scan_schemas: Sequence[str], meta_columns: Sequence[str]
) -> dict[str, Any]:
    """Bind values for :func:`audit_tables_query`.

    Example::

        audit_table_params([("public", "item_audit")], ["public"], ["audit_operation"])
        # {'table_schemas': ['public'], 'table_names': ['item_audit'], ...}
    """
    return {
        "table_schemas": [t[0] for t in tables],
        "table_names": [t[1] for t in tables],
        "scan_schemas": list(scan_schemas),
        "meta_columns": list(meta_columns),
    }


_DEFINITIONS = """
SELECT 'function' AS kind, p.oid, pg_catalog.pg_get_functiondef(p.oid) AS definition,
       NULL AS q_fschema, NULL AS q_fname
FROM pg_catalog.pg_proc AS p
WHERE p.oid = ANY(CAST(:function_oids AS pg_catalog.oid[]))
UNION ALL
SELECT 'trigger', t.oid, pg_catalog.pg_get_triggerdef(t.oid),
       pg_catalog.quote_ident(fn.nspname), pg_catalog.quote_ident(f.proname)
FROM pg_catalog.pg_trigger AS t
JOIN pg_catalog.pg_proc AS f ON f.oid = t.tgfoid
JOIN pg_catalog.pg_namespace AS fn ON fn.oid = f.pronamespace
WHERE t.oid = ANY(CAST(:trigger_oids AS pg_catalog.oid[]))
"""


def definitions_query(function_oids: Sequence[int], trigger_oids: Sequence[int]) -> TextClause:
    """``pg_get_functiondef`` / ``pg_get_triggerdef`` of some functions and triggers (what
    a downgrade recreates after a hand-made change); oids travel as text.

    Example::

        connection.execute(definitions_query([16384], [16390])).all()
    """
    return text(_DEFINITIONS).bindparams(
        bindparam("function_oids", value=[str(o) for o in function_oids], type_=_TEXT_ARRAY),
        bindparam("trigger_oids", value=[str(o) for o in trigger_oids], type_=_TEXT_ARRAY),
    )


def owned_sequences_query(relation: str) -> TextClause:
    """``(schema, name)`` of the sequences owned by a table's columns (serial: deptype
    ``a``, identity: ``i``); ``relation`` is the quoted, qualified table name.

    Example::

        connection.execute(owned_sequences_query('"public"."item"')).all()
        # [('public', 'item_id_seq')]
    """
    return text(
        "SELECT n.nspname, s.relname"
        " FROM pg_catalog.pg_depend AS d"
        " JOIN pg_catalog.pg_class AS s ON s.oid = d.objid AND s.relkind = 'S'"
        " JOIN pg_catalog.pg_namespace AS n ON n.oid = s.relnamespace"
        " WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass"
        " AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass"
        " AND d.refobjid = pg_catalog.to_regclass(:relation)"
        " AND d.deptype IN ('a', 'i')"
        " ORDER BY 1, 2"
    ).bindparams(relation=relation)


def function_exists_query(signature: str) -> TextClause:
    """One row, one boolean: does the function with this quoted signature exist?

    Example::

        connection.execute(function_exists_query('"public"."f"()')).scalar()  # True or False
    """
    return text("SELECT pg_catalog.to_regprocedure(:signature) IS NOT NULL").bindparams(
        signature=signature
    )


def trigger_function_sources_query(relation: str) -> TextClause:
    """``prosrc`` of every function called by a user trigger on the table, by trigger name.

    Used to read back the spec embedded in an installed audit function, so that a
    hand-written ``op.drop_audit_trigger("item")`` knows exactly what to drop.

    Example::

        sources = connection.execute(trigger_function_sources_query('"public"."item"')).scalars()
    """
    return text(
        "SELECT p.prosrc FROM pg_catalog.pg_trigger AS t"
        " JOIN pg_catalog.pg_proc AS p ON p.oid = t.tgfoid"
        " WHERE t.tgrelid = pg_catalog.to_regclass(:relation) AND NOT t.tgisinternal"
        " ORDER BY t.tgname"
    ).bindparams(relation=relation)


def role_query(role: str) -> TextClause:
    """``rolsuper`` of a role (no row: no such role).

    Example::

        connection.execute(role_query("app_writer")).first()  # (False,)
    """
    return text(
        "SELECT r.rolsuper FROM pg_catalog.pg_roles AS r WHERE r.rolname = :role"
    ).bindparams(role=role)


_DIRECT_PRIVILEGES = (
    "ARRAY(SELECT a.privilege_type FROM pg_catalog.aclexplode({acl}) AS a"
    " JOIN pg_catalog.pg_roles AS r ON r.oid = a.grantee"
    " WHERE r.rolname = :role ORDER BY 1)"
)
_ACL = {
    "SCHEMA": "SELECT pg_catalog.pg_get_userbyid(n.nspowner), "
    + _DIRECT_PRIVILEGES.format(acl="n.nspacl")
    + " FROM pg_catalog.pg_namespace AS n WHERE n.oid = pg_catalog.to_regnamespace(:object)",
    "RELATION": "SELECT pg_catalog.pg_get_userbyid(c.relowner), "
    + _DIRECT_PRIVILEGES.format(acl="c.relacl")
    + " FROM pg_catalog.pg_class AS c WHERE c.oid = pg_catalog.to_regclass(:object)",
}


def acl_query(kind: str, object_sql: str, role: str) -> TextClause:
    """Owner of a relation (or, for ``kind`` SCHEMA, of a schema) and the privileges
    granted directly to ``role`` in its ACL.  No row: no such object.

    Example::

        connection.execute(acl_query("TABLE", '"public"."item"', "app")).first()
        # ('owner', ['INSERT', 'SELECT'])
    """
    query = _ACL["SCHEMA" if kind == "SCHEMA" else "RELATION"]
    return text(query).bindparams(object=object_sql, role=role)


_HAS_PRIVILEGE = {
    "SCHEMA": "pg_catalog.has_schema_privilege(pg_catalog.to_regnamespace(:object), :privilege)",
    "TABLE": "pg_catalog.has_table_privilege(pg_catalog.to_regclass(:object), :privilege)",
    "SEQUENCE": "pg_catalog.has_sequence_privilege(pg_catalog.to_regclass(:object), :privilege)",
}


def can_grant_query(kind: str, object_sql: str, privilege: str) -> TextClause:
    """Can the current (migration) role grant ``privilege`` on the object?  A GRANT the
    current role cannot make only warns and grants nothing, so the ops ask first.

    Example::

        connection.execute(can_grant_query("TABLE", '"public"."item"', "SELECT")).scalar()
    """
    return text(f"SELECT {_HAS_PRIVILEGE[kind]}").bindparams(
        object=object_sql, privilege=f"{privilege} WITH GRANT OPTION"
    )


def schema_usage_query(role: str, schema_sql: str) -> TextClause:
    """Does ``role`` have USAGE on the schema by any route (PUBLIC, membership, direct)?

    Example::

        connection.execute(schema_usage_query("app", '"public"')).scalar()  # True
    """
    return text(
        "SELECT pg_catalog.has_schema_privilege("
        ":role, pg_catalog.to_regnamespace(:object), 'USAGE')"
    ).bindparams(role=role, object=schema_sql)


def current_user_query() -> TextClause:
    """The role running the statement (for messages).

    Example::

        connection.execute(current_user_query()).scalar()  # 'app_owner'
    """
    return text("SELECT current_user")
