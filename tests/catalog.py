"""Helpers that read what users see in pg_catalog and in audit tables."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine


def audit_functions(bind: Engine | Connection) -> dict[tuple[str, str], str]:
    """{(schema, name): pg_get_functiondef} of every non-system function."""
    sql = """
        SELECT n.nspname, p.proname, pg_get_functiondef(p.oid)
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND n.nspname NOT LIKE 'pg_toast%' AND p.prokind = 'f'
    """
    with _conn(bind) as conn:
        return {(s, n): d for s, n, d in conn.execute(sa.text(sql))}


def triggers(bind: Engine | Connection) -> dict[tuple[str, str, str], tuple[str, str]]:
    """{(schema, table, trigger): (pg_get_triggerdef, tgenabled)} of user triggers."""
    sql = """
        SELECT n.nspname, c.relname, t.tgname, pg_get_triggerdef(t.oid), t.tgenabled::text
        FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE NOT t.tgisinternal
    """
    with _conn(bind) as conn:
        return {(s, r, t): (d, e) for s, r, t, d, e in conn.execute(sa.text(sql))}


def columns(
    bind: Engine | Connection, exclude: tuple[str, ...] = ()
) -> dict[tuple[str, str], list[tuple[str, str, bool]]]:
    """{(schema, table): [(column, format_type, NOT NULL), ...] in column order} of every
    user table but those named in ``exclude``."""
    sql = """
        SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
               a.attnotnull
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
          AND n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND n.nspname NOT LIKE 'pg_toast%'
        ORDER BY n.nspname, c.relname, a.attnum
    """
    found: dict[tuple[str, str], list[tuple[str, str, bool]]] = {}
    with _conn(bind) as conn:
        for schema, table, name, type_, notnull in conn.execute(sa.text(sql)):
            if table not in exclude:
                found.setdefault((schema, table), []).append((name, type_, notnull))
    return found


def rows(bind: Engine | Connection, table: sa.Table, *order_by: str) -> list[dict[str, Any]]:
    """All rows of ``table`` as dicts, ordered by the given columns."""
    stmt = sa.select(table).order_by(*(table.c[c] for c in order_by))
    with _conn(bind) as conn:
        return [dict(r._mapping) for r in conn.execute(stmt)]


class _conn:
    def __init__(self, bind: Engine | Connection) -> None:
        self.bind = bind
        self.owned: Connection | None = None

    def __enter__(self) -> Connection:
        if isinstance(self.bind, Connection):
            return self.bind
        self.owned = self.bind.connect()
        return self.owned

    def __exit__(self, *exc: object) -> None:
        if self.owned is not None:
            self.owned.close()
