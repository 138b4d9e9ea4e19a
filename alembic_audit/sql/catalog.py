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
# arguments and ``RETURNS trigger`` are what every audit function has.  Wanted names
# are also looked for in every schema: sqlalchemy-postgresql-audit created its
# functions unqualified, i.e. in the first schema of the search_path, not in the
# schema of an audited table that had one (the inspector keeps such a function only
# if it is the seed's and a trigger on the wanted table calls it).
_FUNCTIONS = """
SELECT p.oid, n.nspname, p.proname, p.prosrc,
       COALESCE(p.proconfig, CAST(ARRAY[] AS text[])) AS proconfig,
       p.prosecdef, l.lanname, CAST(p.provolatile AS text) AS provolatile,
       pg_catalog.pg_get_functiondef(p.oid) AS definition
FROM pg_catalog.pg_proc AS p
JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
JOIN pg_catalog.pg_language AS l ON l.oid = p.prolang
WHERE p.prorettype = CAST('pg_catalog.trigger' AS pg_catalog.regtype)
  AND p.pronargs = 0
  AND (pg_catalog.strpos(p.prosrc, :marker) > 0
       OR (n.nspname, p.proname) IN (
           SELECT w.s, w.f
           FROM ROWS FROM (pg_catalog.unnest(:fn_schemas),
                           pg_catalog.unnest(:fn_names)) AS w(s, f))
       OR p.proname = ANY(:fn_names))
ORDER BY n.nspname, p.proname
"""

# Triggers that call a function found above, plus triggers with a wanted name on a
# wanted table whatever function they call (a trigger re-pointed by hand).
_TRIGGERS = """
SELECT n.nspname, c.relname, t.tgname, CAST(t.tgtype AS integer) AS tgtype,
       CAST(t.tgenabled AS text) AS tgenabled, t.tgfoid, fn.nspname AS fschema,
       f.proname AS fname, CAST(t.tgoldtable AS text) AS oldtable,
       CAST(t.tgnewtable AS text) AS newtable, t.tgqual IS NOT NULL AS has_when,
       t.tgnargs, CAST(t.tgattr AS text) AS tgattr,
       pg_catalog.pg_get_triggerdef(t.oid) AS definition,
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


def functions_query() -> TextClause:
    """The query listing candidate audit functions (one round trip for all schemas).

    Example::

        rows = connection.execute(functions_query(), function_params(marker, [], [])).all()
    """
    return text(_FUNCTIONS).bindparams(
        bindparam("fn_schemas", type_=_TEXT_ARRAY),
        bindparam("fn_names", type_=_TEXT_ARRAY),
    )


def function_params(marker: str, schemas: Sequence[str], names: Sequence[str]) -> dict[str, Any]:
    """Bind values for :func:`functions_query`.

    Example::

        function_params("m", ["public"], ["public_item_audit"])
        # {'marker': 'm', 'fn_schemas': ['public'], 'fn_names': ['public_item_audit']}
    """
    return {"marker": marker, "fn_schemas": list(schemas), "fn_names": list(names)}


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
    }


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
        " JOIN pg_catalog.pg_attribute AS a ON a.attrelid = pg_catalog.to_regclass(w.r)"
        " WHERE a.attnum > 0 AND NOT a.attisdropped"
        " ORDER BY w.r, a.attnum"
    ).bindparams(bindparam("relations", list(relations), type_=_TEXT_ARRAY))


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
