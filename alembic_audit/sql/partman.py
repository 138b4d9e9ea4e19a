"""Calls into pg_partman (its schema is wherever the extension was created).

pg_partman 4 and 5 share the parameter names used here; the partitioning type is
``'native'`` in 4 and ``'range'`` in 5.  Parent tables are named ``schema.table``, as
pg_partman reads them (it refuses names holding a ``.``).

Example::

    conn.execute(partman_config_query("partman"), {"parent": "public.item_audit"}).first()
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.sql.elements import TextClause

from .quoting import quote

#: pg_partman's interval text for each partition interval of ours.  pg_partman 4 names a
#: weekly partition ``_pIYYYwIW`` (as ours) only when told ``'weekly'``; 5 takes intervals.
PARTMAN_INTERVALS = {"month": "1 month", "week": "1 week", "day": "1 day"}
PARTMAN_4_INTERVALS = {**PARTMAN_INTERVALS, "week": "weekly"}


def partman_config_query(schema: str) -> TextClause:
    """The ``part_config`` row of a parent table (``:parent``, ``schema.table``), if any.

    Example::

        conn.execute(partman_config_query("partman"), {"parent": "public.item_audit"}).first()
    """
    return text(
        "SELECT partition_interval, premake, control"
        f" FROM {quote(schema)}.part_config WHERE parent_table = :parent"
    )


def create_parent_query(schema: str, major_version: int) -> TextClause:
    """``create_parent`` of a partitioned audit table: ``:parent``, ``:control`` (the time
    column), ``:interval``, ``:premake``, ``:start`` (the first partition's start).

    Example::

        conn.execute(create_parent_query("partman", 4), {...})
    """
    kind = "native" if major_version < 5 else "range"
    return text(
        f"SELECT {quote(schema)}.create_parent(p_parent_table => :parent,"
        f" p_control => :control, p_type => '{kind}', p_interval => :interval,"
        " p_premake => :premake, p_start_partition => :start)"
    )


def run_maintenance_query(schema: str) -> TextClause:
    """pg_partman's ``run_maintenance`` of one parent table (``:parent``).

    Example::

        conn.execute(run_maintenance_query("partman"), {"parent": "public.item_audit"})
    """
    return text(f"SELECT {quote(schema)}.run_maintenance(p_parent_table => :parent)")


def forget_parent_query(schema: str) -> TextClause:
    """Remove a parent table (``:parent``) from pg_partman's configuration (a conversion back
    to a plain table); the name of the template table pg_partman made for it (left there).

    Example::

        conn.execute(forget_parent_query("partman"), {"parent": "public.item_audit"})
    """
    return text(
        f"WITH gone AS (DELETE FROM {quote(schema)}.part_config WHERE parent_table = :parent"
        " RETURNING template_table)"
        " SELECT template_table FROM gone"
    )


def utc_session_sql() -> str:
    """``SET LOCAL TimeZone = 'UTC'``: pg_partman cuts intervals in the session's time zone,
    and partitions of ours are cut in UTC.

    Example::

        conn.execute(AuditDDL(utc_session_sql()))
    """
    return "SET LOCAL TimeZone = 'UTC'"


__all__ = [
    "PARTMAN_4_INTERVALS",
    "PARTMAN_INTERVALS",
    "create_parent_query",
    "forget_parent_query",
    "partman_config_query",
    "run_maintenance_query",
    "utc_session_sql",
]
