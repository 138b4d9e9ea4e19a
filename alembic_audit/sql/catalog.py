"""SQL text of the catalog queries the inspector runs (read-only, no DDL).

Kept next to :mod:`alembic_audit.ddl` so that every piece of SQL text this library
sends lives in ``ddl*.py`` modules.  Every value is a bind parameter: the spec
marker and the arrays of wanted names.

These queries run as the migration role, under its search_path, where a role with
CREATE on a schema of that path (``public`` before PostgreSQL 15) may have defined
operators of its own.  An operator is looked up by its argument types, and one of
ours that is an exact match outside pg_catalog would run as the migration role.  So
every comparison here has operands of the same built-in type (oid = oid: a regclass
is cast to oid first; name = text and name = name exist in pg_catalog), literals are
typed where an ``unknown`` would look for an operator pg_catalog lacks, and the
regular-expression operator is written OPERATOR(pg_catalog.~).

Example::

    rows = connection.execute(functions_query(), function_params(marker, [], []))
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Text, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.elements import TextClause

#: The roles whose functions the current role trusts: itself and, recursively, the
#: roles whose privileges it inherits through explicit grants (``pg_auth_members``;
#: ``inherit_option`` per grant from PostgreSQL 16, the member's ``rolinherit`` before).
#: Not ``pg_has_role``: for a superuser that is true of every role, and a superuser
#: running autogenerate would trust a function any role planted.
_TRUSTED_ROLES = """
WITH RECURSIVE trusted(oid) AS (
    SELECT r.oid FROM pg_catalog.pg_roles AS r WHERE r.rolname = CURRENT_USER
    UNION
    SELECT m.roleid
    FROM pg_catalog.pg_auth_members AS m
    JOIN trusted AS t ON t.oid = m.member
    JOIN pg_catalog.pg_roles AS r ON r.oid = m.member
    WHERE COALESCE(
        CAST(pg_catalog.to_jsonb(m) ->> CAST('inherit_option' AS text) AS boolean),
        r.rolinherit
    )
)"""

# A function is a candidate when its body carries the spec comment, or when it has a
# name the models ask for (a hand-edited body may have lost the comment).  Wanted
# names are also looked for in every schema in scope: sqlalchemy-postgresql-audit
# created its functions unqualified, i.e. in the first schema of the search_path, not
# in the schema of an audited table that had one (the inspector keeps such a function
# only if it is the seed's and a trigger on the wanted table calls it).  Zero
# arguments and ``RETURNS trigger`` are what every audit function has.  Only the
# schemas in scope are read (``:schemas``; NULL reads all), plus every temporary
# schema: a function there, or one whose owner is not trusted (above), comes back with
# ``ignored`` saying why and without its source (for the log; nothing else uses it).
_FUNCTIONS = (
    _TRUSTED_ROLES
    + """,
candidates AS (
    SELECT p.oid, n.nspname, p.proname, p.proowner,
           CASE WHEN n.nspname OPERATOR(pg_catalog.~) '^pg_(toast_)?temp_' THEN 'temporary schema'
                WHEN p.proowner NOT IN (SELECT t.oid FROM trusted AS t) THEN 'owner'
           END AS ignored
    FROM pg_catalog.pg_proc AS p
    JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
    WHERE p.prorettype = CAST(CAST('pg_catalog.trigger' AS pg_catalog.regtype) AS pg_catalog.oid)
      AND p.pronargs = 0
      AND (CAST(:schemas AS text[]) IS NULL
           OR n.nspname = ANY(CAST(:schemas AS text[]))
           OR n.nspname OPERATOR(pg_catalog.~) '^pg_(toast_)?temp_')
      AND (pg_catalog.strpos(p.prosrc, :marker) > 0
           OR (n.nspname, p.proname) IN (
               SELECT w.s, w.f
               FROM ROWS FROM (pg_catalog.unnest(:fn_schemas),
                               pg_catalog.unnest(:fn_names)) AS w(s, f))
           OR p.proname = ANY(:fn_names))
)
SELECT c.oid, c.nspname, c.proname, c.ignored,
       pg_catalog.pg_get_userbyid(c.proowner) AS owner, CURRENT_USER AS current_role,
       CASE WHEN c.ignored IS NULL THEN p.prosrc END AS prosrc,
       COALESCE(p.proconfig, CAST(ARRAY[] AS text[])) AS proconfig,
       p.prosecdef, l.lanname, CAST(p.provolatile AS text) AS provolatile,
       CASE WHEN c.ignored IS NULL AND :definitions
            THEN pg_catalog.pg_get_functiondef(c.oid) END AS definition
FROM candidates AS c
JOIN pg_catalog.pg_proc AS p ON p.oid = c.oid
JOIN pg_catalog.pg_language AS l ON l.oid = p.prolang
ORDER BY c.nspname, c.proname
"""
)

# Triggers that call a function found above, plus triggers with a wanted name on a
# wanted table whatever function they call (a trigger re-pointed by hand).  Two more
# kinds of rows ride along, so that one round trip answers all: the partitions of the
# partitioned tables asked for (which triggers they should carry), and, for tables
# whose audit table copies their row-level security, whether the copy is current.
_REL = (
    "CAST(pg_catalog.to_regclass(pg_catalog.concat("
    "pg_catalog.quote_ident({s}), '.', pg_catalog.quote_ident({r}))) AS pg_catalog.oid)"
)
_POLICIES = (
    "ARRAY(SELECT CAST(ROW(p.polname, p.polpermissive,"
    " ARRAY(SELECT x.r FROM pg_catalog.unnest(p.polroles) AS x(r) ORDER BY 1),"
    " pg_catalog.pg_get_expr(p.polqual, p.polrelid)) AS text)"
    " FROM pg_catalog.pg_policy AS p WHERE p.polrelid = {rel}"
    " AND p.polcmd IN ('r', '*') AND p.polqual IS NOT NULL ORDER BY 1)"
)
_TRIGGERS = f"""
SELECT 'trigger' AS kind, n.nspname, c.relname, t.tgname,
       CAST(t.tgtype AS integer) AS tgtype,
       CAST(t.tgenabled AS text) AS tgenabled, t.tgfoid, fn.nspname AS fschema,
       f.proname AS fname, CAST(t.tgoldtable AS text) AS oldtable,
       CAST(t.tgnewtable AS text) AS newtable, t.tgqual IS NOT NULL AS has_when,
       t.tgnargs, CAST(t.tgattr AS text) AS tgattr,
       CASE WHEN :definitions THEN pg_catalog.pg_get_triggerdef(t.oid) END AS definition,
       pg_catalog.quote_ident(fn.nspname) AS q_fschema,
       pg_catalog.quote_ident(f.proname) AS q_fname,
       CAST(NULL AS name) AS root_schema, CAST(NULL AS name) AS root_table,
       CAST(NULL AS boolean) AS flag, t.oid
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
UNION ALL
SELECT 'partition', n.nspname, c.relname, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       NULL, NULL, NULL, NULL, NULL, NULL, w.s, w.r, pt.isleaf, NULL
FROM ROWS FROM (pg_catalog.unnest(:pt_schemas), pg_catalog.unnest(:pt_tables)) AS w(s, r)
CROSS JOIN LATERAL pg_catalog.pg_partition_tree({_REL.format(s="w.s", r="w.r")}) AS pt
JOIN pg_catalog.pg_class AS c ON c.oid = CAST(pt.relid AS pg_catalog.oid)
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE pt.parentrelid IS NOT NULL
UNION ALL
SELECT 'row_security', w.s, w.r, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       NULL, NULL, NULL, NULL, NULL, NULL, w.a_s, w.a_r,
       (SELECT c.relrowsecurity FROM pg_catalog.pg_class AS c
        WHERE c.oid = {_REL.format(s="w.s", r="w.r")})
       IS NOT DISTINCT FROM
       (SELECT c.relrowsecurity FROM pg_catalog.pg_class AS c
        WHERE c.oid = {_REL.format(s="w.a_s", r="w.a_r")})
       AND {_POLICIES.format(rel=_REL.format(s="w.s", r="w.r"))}
           = {_POLICIES.format(rel=_REL.format(s="w.a_s", r="w.a_r"))},
       NULL
FROM ROWS FROM (pg_catalog.unnest(:rls_schemas), pg_catalog.unnest(:rls_tables),
                pg_catalog.unnest(:rls_audit_schemas), pg_catalog.unnest(:rls_audit_tables))
     AS w(s, r, a_s, a_r)
ORDER BY 1, 2, 3, 4
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
           ARRAY(SELECT CAST(ic.relname AS text)
                 FROM pg_catalog.pg_index AS i
                 JOIN pg_catalog.pg_class AS ic ON ic.oid = i.indexrelid
                 WHERE i.indrelid = c.oid
                 ORDER BY i.indexrelid) AS index_names,
           ARRAY(SELECT pg_catalog.concat(
                            am.amname,
                            CASE WHEN i.indisunique THEN ' unique' END,
                            CASE WHEN i.indpred IS NOT NULL OR i.indexprs IS NOT NULL
                                      OR i.indnatts <> i.indnkeyatts
                                 THEN ' other' END,
                            ' (',
                            pg_catalog.array_to_string(ARRAY(
                                SELECT a.attname
                                FROM pg_catalog.unnest(i.indkey) WITH ORDINALITY AS k(attnum, o)
                                JOIN pg_catalog.pg_attribute AS a
                                  ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                                ORDER BY k.o), ','),
                            ')')
                 FROM pg_catalog.pg_index AS i
                 JOIN pg_catalog.pg_class AS ic ON ic.oid = i.indexrelid
                 JOIN pg_catalog.pg_am AS am ON am.oid = ic.relam
                 WHERE i.indrelid = c.oid
                 ORDER BY i.indexrelid) AS index_texts,
           EXISTS (SELECT 1 FROM pg_catalog.pg_constraint AS k
                   WHERE k.conrelid = c.oid AND k.contype <> 'n') AS has_constraints,
           EXISTS (SELECT 1 FROM pg_catalog.pg_description AS d
                   WHERE d.objoid = c.oid
                     AND d.classoid = CAST('pg_catalog.pg_class' AS pg_catalog.regclass))
               AS has_comments,
           c.relispartition AS is_partition
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
SELECT r.nspname, r.relname, r.is_partition, r.index_names, r.index_texts, r.has_constraints,
       r.has_comments,
       pg_catalog.array_agg(CAST(a.attname AS text) ORDER BY a.attnum) AS names,
       pg_catalog.array_agg(pg_catalog.format_type(a.atttypid, a.atttypmod) ORDER BY a.attnum)
           AS types,
       pg_catalog.array_agg(a.attnotnull ORDER BY a.attnum) AS not_nulls,
       pg_catalog.array_agg(CAST(a.attidentity AS text) ORDER BY a.attnum) AS identities,
       COALESCE(pg_catalog.array_agg(CAST(a.attname AS text) ORDER BY a.attnum)
                    FILTER (WHERE a.atthasdef OR CAST(a.attgenerated AS text) <> ''),
                CAST(ARRAY[] AS text[])) AS defaulted
FROM rel AS r
JOIN pg_catalog.pg_attribute AS a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
GROUP BY r.oid, r.nspname, r.relname, r.is_partition, r.index_names, r.index_texts,
         r.has_constraints, r.has_comments
ORDER BY r.nspname, r.relname
"""


def functions_query() -> TextClause:
    """The query listing candidate audit functions (one round trip for all schemas).

    Example::

        rows = connection.execute(functions_query(), function_params(marker, [], [])).all()
    """
    return text(_FUNCTIONS).bindparams(
        bindparam("schemas", type_=_TEXT_ARRAY),
        bindparam("fn_schemas", type_=_TEXT_ARRAY),
        bindparam("fn_names", type_=_TEXT_ARRAY),
    )


def function_params(
    marker: str,
    schemas: Sequence[str],
    names: Sequence[str],
    scope: Iterable[str] | None = None,
    *,
    definitions: bool = True,
) -> dict[str, Any]:
    """Bind values for :func:`functions_query`: the marker, the wanted functions'
    schemas and names, and the schemas in scope (``None``: every schema).
    ``definitions=False`` leaves out ``pg_get_functiondef`` (the largest column, only
    needed for a drifted function).

    Example::

        function_params("m", ["public"], ["public_item_audit"], ["public"])
        # {'marker': 'm', 'fn_schemas': ['public'], 'fn_names': ['public_item_audit'],
        #  'schemas': ['public'], 'definitions': True}
    """
    return {
        "marker": marker,
        "fn_schemas": list(schemas),
        "fn_names": list(names),
        "schemas": None if scope is None else sorted(set(scope)),
        "definitions": definitions,
    }


def triggers_query() -> TextClause:
    """The query listing the triggers of the found functions and wanted names.

    Example::

        rows = connection.execute(triggers_query(), trigger_params(oids, wanted)).all()
    """
    return text(_TRIGGERS).bindparams(
        *(
            bindparam(name, type_=_TEXT_ARRAY)
            for name in (
                "function_oids",
                "tg_schemas",
                "tg_tables",
                "tg_names",
                "pt_schemas",
                "pt_tables",
                "rls_schemas",
                "rls_tables",
                "rls_audit_schemas",
                "rls_audit_tables",
            )
        )
    )


def trigger_params(
    function_oids: Sequence[int],
    wanted: Sequence[tuple[str, str, str]],
    partitioned: Sequence[tuple[str, str]] = (),
    row_security: Sequence[tuple[str, str, str, str]] = (),
    *,
    definitions: bool = True,
) -> dict[str, Any]:
    """Bind values for :func:`triggers_query`; oids travel as text (``oid`` has no
    array adapter in every driver) and are compared after a cast.  ``partitioned``:
    tables whose partitions to list; ``row_security``: (schema, table, audit schema,
    audit table) whose row-level security to compare.

    Example::

        trigger_params([16384], [("public", "item", "public_item_audit")])["function_oids"]
        # ['16384']
    """
    return {
        "function_oids": [str(o) for o in function_oids],
        "tg_schemas": [w[0] for w in wanted],
        "tg_tables": [w[1] for w in wanted],
        "tg_names": [w[2] for w in wanted],
        "pt_schemas": [p[0] for p in partitioned],
        "pt_tables": [p[1] for p in partitioned],
        "rls_schemas": [r[0] for r in row_security],
        "rls_tables": [r[1] for r in row_security],
        "rls_audit_schemas": [r[2] for r in row_security],
        "rls_audit_tables": [r[3] for r in row_security],
        "definitions": definitions,
    }


_PG_CLASS = "CAST(CAST('pg_catalog.pg_class' AS pg_catalog.regclass) AS pg_catalog.oid)"


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
        f" WHERE d.classid = {_PG_CLASS} AND d.refclassid = {_PG_CLASS}"
        " AND d.refobjid = CAST(pg_catalog.to_regclass(:relation) AS pg_catalog.oid)"
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
    """``prosrc`` of every function called by a user trigger on the table, whether its
    owner is trusted (see ``_TRUSTED_ROLES``) and who that owner is.

    Used to read back the spec embedded in an installed audit function, so that a
    hand-written ``op.drop_audit_trigger("item")`` knows exactly what to drop.

    Example::

        rows = connection.execute(trigger_function_sources_query('"public"."item"')).all()
    """
    return text(
        _TRUSTED_ROLES
        + " SELECT p.prosrc, n.nspname, p.proname, pg_catalog.pg_get_userbyid(p.proowner) AS owner,"
        " p.proowner IN (SELECT r.oid FROM trusted AS r)"
        " AND NOT n.nspname OPERATOR(pg_catalog.~) '^pg_(toast_)?temp_' AS trusted"
        " FROM pg_catalog.pg_trigger AS t"
        " JOIN pg_catalog.pg_proc AS p ON p.oid = t.tgfoid"
        " JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace"
        " WHERE t.tgrelid = CAST(pg_catalog.to_regclass(:relation) AS pg_catalog.oid)"
        " AND NOT t.tgisinternal"
        " ORDER BY t.tgname"
    ).bindparams(relation=relation)


def partitioned_query(relation: str) -> TextClause:
    """One row, one boolean: is the table (quoted, qualified name) partitioned?

    Example::

        connection.execute(partitioned_query('"public"."item"')).scalar()  # False
    """
    return text(
        "SELECT EXISTS (SELECT FROM pg_catalog.pg_partitioned_table AS p"
        " WHERE p.partrelid = CAST(pg_catalog.to_regclass(:relation) AS pg_catalog.oid))"
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
    + " FROM pg_catalog.pg_namespace AS n"
    " WHERE n.oid = CAST(pg_catalog.to_regnamespace(:object) AS pg_catalog.oid)",
    "RELATION": "SELECT pg_catalog.pg_get_userbyid(c.relowner), "
    + _DIRECT_PRIVILEGES.format(acl="c.relacl")
    + " FROM pg_catalog.pg_class AS c"
    " WHERE c.oid = CAST(pg_catalog.to_regclass(:object) AS pg_catalog.oid)",
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


def columns_query(relations: Sequence[str]) -> TextClause:
    """``(relation, column)`` of the live columns of the given relations (quoted, qualified
    names, resolved by ``to_regclass`` as the parser would: a name over 63 bytes is
    truncated the same way), in one query.

    Example::

        connection.execute(columns_query(['"public"."item_audit"'])).all()
        # [('"public"."item_audit"', 'id'), ...]
    """
    return text(
        "SELECT w.r, a.attname"
        " FROM pg_catalog.unnest(:relations) AS w(r)"
        # oid = oid: one built-in type on both sides, so no operator planted on the
        # search_path can stand in for the comparison.
        " JOIN pg_catalog.pg_attribute AS a"
        " ON a.attrelid = CAST(pg_catalog.to_regclass(w.r) AS pg_catalog.oid)"
        " WHERE a.attnum > 0 AND NOT a.attisdropped"
        " ORDER BY w.r, a.attnum"
    ).bindparams(bindparam("relations", list(relations), type_=_TEXT_ARRAY))


def _rel(schema: str, name: str) -> str:
    return _REL.format(s=schema, r=name)


def _schema_owner(alias: str) -> str:
    # The owner of a schema, with pg_database_owner (PostgreSQL 14+: the owner of
    # "public" from 15 on) standing for the owner of the current database.
    return (
        f"(SELECT r.rolname FROM pg_catalog.pg_roles AS r WHERE r.oid = CASE WHEN "
        f"{alias}.nspowner IS NOT DISTINCT FROM "
        "CAST(pg_catalog.to_regrole('pg_database_owner') AS pg_catalog.oid) "
        "THEN (SELECT d.datdba FROM pg_catalog.pg_database AS d "
        "WHERE d.datname = pg_catalog.current_database()) "
        f"ELSE {alias}.nspowner END)"
    )


_TARGETS = f"""
SELECT w.i, t.relkind IS NOT NULL AS table_exists,
       CAST(t.relkind AS text) AS relkind, t.relispartition,
       CAST(pg_catalog.pg_partition_root(t.oid) AS text) AS partition_root,
       ARRAY(SELECT CAST(CAST(h.inhparent AS pg_catalog.regclass) AS text)
             FROM pg_catalog.pg_inherits AS h
             WHERE h.inhrelid = t.oid AND NOT t.relispartition ORDER BY 1) AS inherits_from,
       ARRAY(SELECT CAST(CAST(h.inhrelid AS pg_catalog.regclass) AS text)
             FROM pg_catalog.pg_inherits AS h
             JOIN pg_catalog.pg_class AS k ON k.oid = h.inhrelid
             WHERE h.inhparent = t.oid AND NOT k.relispartition ORDER BY 1) AS inherited_by,
       t.relrowsecurity AS table_rls, a.relrowsecurity AS audit_rls,
       a.oid IS NOT NULL AS audit_exists,
       pg_catalog.pg_get_userbyid(a.relowner) AS audit_owner,
       fo.rolname AS function_owner,
       {_schema_owner("an")} AS audit_schema_owner,
       {_schema_owner("fn")} AS function_schema_owner,
       ARRAY(SELECT r.rolname FROM pg_catalog.pg_roles AS r WHERE r.rolsuper ORDER BY 1)
           AS superusers
FROM ROWS FROM (pg_catalog.unnest(:t_schemas), pg_catalog.unnest(:t_names),
                pg_catalog.unnest(:a_schemas), pg_catalog.unnest(:a_names),
                pg_catalog.unnest(:f_schemas), pg_catalog.unnest(:f_names))
     WITH ORDINALITY AS w(t_s, t_r, a_s, a_r, f_s, f_n, i)
LEFT JOIN pg_catalog.pg_class AS t ON t.oid = {_rel("w.t_s", "w.t_r")}
LEFT JOIN pg_catalog.pg_class AS a ON a.oid = {_rel("w.a_s", "w.a_r")}
LEFT JOIN pg_catalog.pg_proc AS f ON f.oid = CAST(pg_catalog.to_regprocedure(pg_catalog.concat(
    pg_catalog.quote_ident(w.f_s), '.', pg_catalog.quote_ident(w.f_n), '()')) AS pg_catalog.oid)
JOIN pg_catalog.pg_roles AS fo ON fo.oid = COALESCE(
    f.proowner, (SELECT r.oid FROM pg_catalog.pg_roles AS r WHERE r.rolname = CURRENT_USER))
LEFT JOIN pg_catalog.pg_namespace AS an ON an.nspname = w.a_s
LEFT JOIN pg_catalog.pg_namespace AS fn ON fn.nspname = w.f_s
ORDER BY w.i
"""


def audit_targets_query(
    targets: Sequence[tuple[tuple[str, str], tuple[str, str], tuple[str, str]]],
) -> TextClause:
    """Facts about the objects an install or a grant relies on, one row per target
    ``(table, audit table, function)`` (each a ``(schema, name)``), in order: the
    table's kind, partitioning and inheritance, and who owns the audit table, the
    function (the current role, if it does not exist yet) and their schemas.

    Example::

        row = connection.execute(audit_targets_query([(("public", "item"),
            ("public", "item_audit"), ("public", "public_item_audit"))])).one()
        row.audit_owner, row.function_owner  # ('app_owner', 'app_owner')
    """
    columns = {
        "t_schemas": [t[0][0] for t in targets],
        "t_names": [t[0][1] for t in targets],
        "a_schemas": [t[1][0] for t in targets],
        "a_names": [t[1][1] for t in targets],
        "f_schemas": [t[2][0] for t in targets],
        "f_names": [t[2][1] for t in targets],
    }
    return text(_TARGETS).bindparams(
        *(bindparam(name, value=value, type_=_TEXT_ARRAY) for name, value in columns.items())
    )


_HELD_ELSEWHERE = """
WITH me AS (SELECT r.oid FROM pg_catalog.pg_roles AS r WHERE r.rolname = :role),
objects AS (
    SELECT 'table' AS kind, c.relowner AS owner,
           COALESCE(c.relacl, pg_catalog.acldefault('r', c.relowner)) AS acl
    FROM pg_catalog.pg_class AS c
    WHERE c.oid = CAST(pg_catalog.to_regclass(:relation) AS pg_catalog.oid)
    UNION ALL
    SELECT 'function', p.proowner, COALESCE(p.proacl, pg_catalog.acldefault('f', p.proowner))
    FROM pg_catalog.pg_proc AS p
    WHERE p.oid = CAST(pg_catalog.to_regprocedure(:function) AS pg_catalog.oid)
)
SELECT o.kind, a.privilege_type AS privilege,
       CASE WHEN a.grantee = CAST(0 AS pg_catalog.oid) THEN 'PUBLIC'
            ELSE pg_catalog.pg_get_userbyid(a.grantee) END AS via
FROM objects AS o
CROSS JOIN LATERAL pg_catalog.aclexplode(o.acl) AS a
CROSS JOIN me
WHERE a.grantee <> me.oid
  AND (a.grantee = CAST(0 AS pg_catalog.oid)
       OR pg_catalog.pg_has_role(me.oid, a.grantee, 'MEMBER'))
UNION ALL
SELECT o.kind, 'OWNER', pg_catalog.pg_get_userbyid(o.owner)
FROM objects AS o CROSS JOIN me
WHERE pg_catalog.pg_has_role(me.oid, o.owner, 'MEMBER')
UNION ALL
-- Predefined roles that grant data privileges on every table (PostgreSQL 14+).
SELECT 'table', p.privilege, r.rolname
FROM (VALUES ('pg_write_all_data', 'INSERT'), ('pg_write_all_data', 'UPDATE'),
             ('pg_write_all_data', 'DELETE'), ('pg_read_all_data', 'SELECT'))
     AS p(role, privilege)
JOIN pg_catalog.pg_roles AS r ON r.rolname = p.role
CROSS JOIN me
WHERE pg_catalog.pg_has_role(me.oid, r.oid, 'MEMBER')
  AND EXISTS (SELECT FROM objects AS o WHERE o.kind = 'table')
UNION ALL
-- What the role can do in effect, however it got there (checked against the above).
SELECT 'effective ' || o.kind, x.privilege, NULL
FROM objects AS o
CROSS JOIN me
CROSS JOIN LATERAL (VALUES ('INSERT'), ('UPDATE'), ('DELETE'), ('TRUNCATE'), ('TRIGGER'),
                           ('SELECT'), ('EXECUTE')) AS x(privilege)
WHERE CASE WHEN o.kind = 'table'
           THEN x.privilege <> 'EXECUTE' AND pg_catalog.has_table_privilege(
               me.oid, CAST(pg_catalog.to_regclass(:relation) AS pg_catalog.oid), x.privilege)
           ELSE x.privilege = 'EXECUTE' AND pg_catalog.has_function_privilege(
               me.oid, CAST(pg_catalog.to_regprocedure(:function) AS pg_catalog.oid), 'EXECUTE')
      END
UNION ALL
-- What was granted to the role itself (the runtime helper revokes it; the op refuses it).
SELECT 'direct ' || o.kind, a.privilege_type, NULL
FROM objects AS o
CROSS JOIN LATERAL pg_catalog.aclexplode(o.acl) AS a
CROSS JOIN me
WHERE a.grantee = me.oid
ORDER BY 1, 3, 2
"""


def held_elsewhere_query(role: str, relation: str, function: str) -> TextClause:
    """The privileges ``role`` has on a relation and on a function other than by a
    grant to itself: through ``PUBLIC``, through a role it is a member of (``MEMBER``:
    also without INHERIT, since it may SET ROLE), or as a member of the owner
    (privilege ``OWNER``, also when ``role`` is the owner), or through the predefined
    ``pg_write_all_data`` / ``pg_read_all_data``.  Also what ``has_table_privilege`` and
    ``has_function_privilege`` say it can do (kind ``effective table`` / ``effective
    function``) and what was granted to itself (``direct ...``), so that a privilege
    arriving by a route not listed is still seen.  ``relation`` is ``"schema"."name"``,
    ``function`` the signature ``"schema"."name"()`` (no ``U&``).  Rows:
    ``(kind, privilege, via)``.

    Example::

        connection.execute(held_elsewhere_query("app", '"public"."item_audit"',
                                                '"public"."public_item_audit"()')).all()
        # [('table', 'DELETE', 'writers'), ('function', 'EXECUTE', 'PUBLIC')]
    """
    return text(_HELD_ELSEWHERE).bindparams(role=role, relation=relation, function=function)


# -- partitions and maintenance -----------------------------------------------------------

# A partition's bounds are in pg_class.relpartbound as a node tree; pg_get_expr prints
# them, and the literals cast back to timestamptz in the same session (same TimeZone).
_PARTITIONS = """
SELECT w.r AS parent, n.nspname, c.relname, c.relkind, b.bound = 'DEFAULT' AS is_default,
       CASE WHEN b.m[1] IS NULL OR b.m[1] = 'MINVALUE' THEN NULL
            ELSE CAST(pg_catalog.btrim(b.m[1], '''') AS timestamptz) END AS lower,
       CASE WHEN b.m[2] IS NULL OR b.m[2] = 'MAXVALUE' THEN NULL
            ELSE CAST(pg_catalog.btrim(b.m[2], '''') AS timestamptz) END AS upper,
       CAST(c.reltuples AS bigint) AS estimated_rows,
       ARRAY(SELECT CAST(t.tgname AS text) FROM pg_catalog.pg_trigger AS t
             WHERE t.tgrelid = c.oid AND NOT t.tgisinternal ORDER BY 1) AS triggers
FROM pg_catalog.unnest(:relations) AS w(r)
JOIN pg_catalog.pg_inherits AS i ON i.inhparent = pg_catalog.to_regclass(w.r)
JOIN pg_catalog.pg_class AS c ON c.oid = i.inhrelid
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
CROSS JOIN LATERAL (
    SELECT pg_catalog.pg_get_expr(c.relpartbound, c.oid) AS bound
) AS e
CROSS JOIN LATERAL (
    SELECT e.bound,
           pg_catalog.regexp_match(e.bound, '^FOR VALUES FROM \\((.*)\\) TO \\((.*)\\)$') AS m
) AS b
ORDER BY w.r, b.bound = 'DEFAULT', 6 NULLS FIRST, c.relname
"""


def partitions_query(relations: Sequence[str]) -> TextClause:
    """The partitions of the given partitioned tables (quoted, qualified names), with their
    bounds (``lower``/``upper``: NULL for MINVALUE/MAXVALUE), whether each is the default
    partition, its estimated row count and its triggers; one query for all tables.

    Example::

        connection.execute(partitions_query(['"public"."item_audit"'])).all()
        # [('"public"."item_audit"', 'public', 'item_audit_p2025_01', 'r', False,
        #   datetime(2025, 1, 1, ...), datetime(2025, 2, 1, ...), 412, [...]), ...]
    """
    return text(_PARTITIONS).bindparams(bindparam("relations", list(relations), type_=_TEXT_ARRAY))


def relations_query(relations: Sequence[str]) -> TextClause:
    """For each of the given relations that exists: its kind (``r`` table, ``p``
    partitioned), owner, partition key column (partitioned tables), whether it is a
    partition itself, and its estimated row count.

    Example::

        connection.execute(relations_query(['"public"."item_audit"'])).all()
        # [('"public"."item_audit"', 'p', 'app_owner', 'audit_change_timestamp', False, 0)]
    """
    return text(
        "SELECT w.r, c.relkind, pg_catalog.pg_get_userbyid(c.relowner) AS owner,"
        " (SELECT CAST(a.attname AS text) FROM pg_catalog.pg_partitioned_table AS pt"
        "  JOIN pg_catalog.pg_attribute AS a"
        "    ON a.attrelid = pt.partrelid AND a.attnum = pt.partattrs[0]"
        "  WHERE pt.partrelid = c.oid) AS partition_key,"
        " c.relispartition AS is_partition, CAST(c.reltuples AS bigint) AS estimated_rows"
        " FROM pg_catalog.unnest(:relations) AS w(r)"
        " JOIN pg_catalog.pg_class AS c ON c.oid = pg_catalog.to_regclass(w.r)"
    ).bindparams(bindparam("relations", list(relations), type_=_TEXT_ARRAY))


def children_query(relations: Sequence[str]) -> TextClause:
    """``(parent, schema, name)`` of every partition of the given tables: one query, for
    autogenerate to leave partitions of audit tables alone.

    Example::

        connection.execute(children_query(['"public"."item_audit"'])).all()
    """
    return text(
        "SELECT w.r, n.nspname, c.relname"
        " FROM pg_catalog.unnest(:relations) AS w(r)"
        " JOIN pg_catalog.pg_inherits AS i ON i.inhparent = pg_catalog.to_regclass(w.r)"
        " JOIN pg_catalog.pg_class AS c ON c.oid = i.inhrelid"
        " JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace"
        " ORDER BY 1, 2, 3"
    ).bindparams(bindparam("relations", list(relations), type_=_TEXT_ARRAY))


def privileges_query(relation: str) -> TextClause:
    """The privileges granted on a relation to roles other than its owner
    (``PUBLIC`` for grantee 0): ``(grantee, privilege, grantable)``.

    Example::

        connection.execute(privileges_query('"public"."item_audit"')).all()
        # [('app_reader', 'SELECT', False)]
    """
    return text(
        "SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC'"
        " ELSE pg_catalog.pg_get_userbyid(a.grantee) END AS grantee,"
        " a.privilege_type, a.is_grantable"
        " FROM pg_catalog.pg_class AS c"
        " CROSS JOIN LATERAL pg_catalog.aclexplode(c.relacl) AS a"
        " WHERE c.oid = pg_catalog.to_regclass(:relation) AND a.grantee <> c.relowner"
        " ORDER BY 1, 2"
    ).bindparams(relation=relation)


def extension_query(name: str) -> TextClause:
    """``(schema, version)`` of an installed extension (no row: not installed).

    Example::

        connection.execute(extension_query("pg_partman")).first()  # ('partman', '4.7.2')
    """
    return text(
        "SELECT n.nspname, e.extversion FROM pg_catalog.pg_extension AS e"
        " JOIN pg_catalog.pg_namespace AS n ON n.oid = e.extnamespace"
        " WHERE e.extname = :name"
    ).bindparams(name=name)


def maintenance_logs_query(log_table: str) -> TextClause:
    """The schemas holding a maintenance log (a table of that name).

    Example::

        connection.execute(maintenance_logs_query("audit_maintenance_log")).scalars().all()
    """
    return text(
        "SELECT n.nspname FROM pg_catalog.pg_class AS c"
        " JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace"
        " WHERE c.relname = :name AND c.relkind = 'r' ORDER BY 1"
    ).bindparams(name=log_table)


def relation_exists_query(relation: str) -> TextClause:
    """One boolean: does the relation (quoted, qualified name) exist?

    Example::

        connection.execute(relation_exists_query('"public"."item_audit"')).scalar()
    """
    return text("SELECT pg_catalog.to_regclass(:relation) IS NOT NULL").bindparams(
        relation=relation
    )


def now_query() -> TextClause:
    """The server's clock (``clock_timestamp()``): retention cutoffs come from the
    database's time, the time the audit rows were stamped with, not the client's.

    Example::

        connection.execute(now_query()).scalar()
    """
    return text("SELECT pg_catalog.clock_timestamp()")


def column_types_query(relation: str) -> TextClause:
    """``(column, type)`` of a relation's live columns, the type as ``format_type`` writes
    it (``character varying(80)``), in column order.

    Example::

        connection.execute(column_types_query('"public"."item_audit"')).all()
        # [('id', 'integer'), ('name', 'character varying(80)'), ...]
    """
    return text(
        "SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod)"
        " FROM pg_catalog.pg_attribute AS a"
        " WHERE a.attrelid = pg_catalog.to_regclass(:relation) AND a.attnum > 0"
        " AND NOT a.attisdropped ORDER BY a.attnum"
    ).bindparams(relation=relation)


def schema_exists_query(schema: str) -> TextClause:
    """One boolean: does the schema (a quoted name) exist?

    Example::

        connection.execute(schema_exists_query('"archive"')).scalar()
    """
    return text("SELECT pg_catalog.to_regnamespace(:schema) IS NOT NULL").bindparams(schema=schema)
