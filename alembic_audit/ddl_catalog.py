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

from .ddl import qualify, quote

# A function is ours when its body carries the spec comment, or when it has a name
# the models ask for (a hand-edited body may have lost the comment).  Zero
# arguments and ``RETURNS trigger`` are what every audit function has.
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
                           pg_catalog.unnest(:fn_names)) AS w(s, f)))
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


def disable_trigger_sql(schema: str, table: str, trigger: str) -> str:
    """``ALTER TABLE ... DISABLE TRIGGER``: restores a trigger found disabled.

    Example::

        disable_trigger_sql("public", "item", "public_item_audit_insert")
    """
    return f"ALTER TABLE {qualify(schema, table)} DISABLE TRIGGER {quote(trigger)}"
