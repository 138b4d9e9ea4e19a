"""Statements over the rows of audit tables, for maintenance: counting, deleting, moving and
copying out the rows of a time range.

Values are bind parameters (``:lower``, ``:upper``, ``:cutoff``, ``:first``, ``:last``),
except in ``COPY``, which takes none: there the bounds are timestamps of ours, written
as literals by :func:`~alembic_audit.core.intervals.bound_literal`.  Identifiers are
quoted; column lists come from the live table.

Example::

    where = Window("audit_change_timestamp")
    conn.execute(count_query(("public", "item_audit"), where.sql()), where.params(lo, hi))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.sql.elements import TextClause

from ..core.intervals import bound_literal
from .quoting import name_text, qualify, quote

QualifiedName = tuple[str, str]


@dataclass(frozen=True)
class Window:
    """Rows whose ``time_column`` is in ``[lower, upper)`` (a bound ``None``: unbounded), or,
    with ``fallback``, rows whose time is NULL and whose ``fallback`` (the transaction's
    time) is in it: audit rows written before the change time was recorded.

    Example::

        Window("audit_change_timestamp").sql()
        # '"audit_change_timestamp" >= :lower AND "audit_change_timestamp" < :upper'
    """

    time_column: str
    fallback: str | None = None

    def sql(self, lower: bool = True, upper: bool = True) -> str:
        """The predicate with bind parameters ``:lower`` / ``:upper``."""
        return self._predicate(":lower" if lower else None, ":upper" if upper else None)

    def literal_sql(self, lower: datetime | None, upper: datetime | None) -> str:
        """The predicate with the bounds written in (for ``COPY``)."""
        return self._predicate(
            bound_literal(lower) if lower is not None else None,
            bound_literal(upper) if upper is not None else None,
        )

    def _predicate(self, lower: str | None, upper: str | None) -> str:
        column = quote(self.fallback or self.time_column)
        parts = [f"{quote(self.time_column)} IS NULL"] if self.fallback else []
        if lower is not None:
            parts.append(f"{column} >= {lower}")
        if upper is not None:
            parts.append(f"{column} < {upper}")
        return " AND ".join(parts) or "true"

    @staticmethod
    def params(lower: datetime | None, upper: datetime | None) -> dict[str, Any]:
        """Bind values for :meth:`sql` (only the bounds given)."""
        params: dict[str, Any] = {}
        if lower is not None:
            params["lower"] = lower
        if upper is not None:
            params["upper"] = upper
        return params


#: Rows in a range of blocks: batches over a table without a usable time index.
CTID_RANGE = "ctid >= CAST(:first AS pg_catalog.tid) AND ctid < CAST(:last AS pg_catalog.tid)"


def ctid_params(first_block: int, last_block: int) -> dict[str, str]:
    """Bind values for :data:`CTID_RANGE`: blocks ``[first_block, last_block)``.

    Example::

        ctid_params(0, 1000)  # {'first': '(0,0)', 'last': '(1000,0)'}
    """
    return {"first": f"({first_block},0)", "last": f"({last_block},0)"}


def is_null_sql(column: str) -> str:
    """``"column" IS NULL``.

    Example::

        is_null_sql("audit_change_timestamp")  # '"audit_change_timestamp" IS NULL'
    """
    return f"{quote(column)} IS NULL"


def span_query(table: QualifiedName, time_column: str, where: str) -> TextClause:
    """``count(*)``, ``min`` and ``max`` of the time column of the rows ``where`` holds.

    Example::

        conn.execute(span_query(t, "audit_change_timestamp", where), params).one()
        # (1200, datetime(...), datetime(...))
    """
    column = quote(time_column)
    return text(
        f"SELECT count(*) AS n, min({column}) AS first, max({column}) AS last"
        f" FROM {qualify(*table)} WHERE {where}"
    )


def count_query(table: QualifiedName, where: str = "true") -> TextClause:
    """``count(*)`` of the rows ``where`` holds.

    Example::

        conn.execute(count_query(t, where), params).scalar()
    """
    return text(f"SELECT count(*) FROM {qualify(*table)} WHERE {where}")


def delete_query(table: QualifiedName, where: str) -> TextClause:
    """``DELETE`` of the rows ``where`` holds (through the guard: a log row first).

    Example::

        conn.execute(delete_query(t, where), params).rowcount
    """
    return text(f"DELETE FROM {qualify(*table)} WHERE {where}")


def move_rows_query(
    source: QualifiedName, target: QualifiedName, columns: Sequence[str], where: str
) -> TextClause:
    """Move rows: ``DELETE ... RETURNING`` them into ``INSERT INTO target``, in one statement.

    Example::

        conn.execute(move_rows_query(parent, archive, columns, where), params).rowcount
    """
    names = ", ".join(quote(c) for c in columns)
    return text(
        f"WITH moved AS (DELETE FROM {qualify(*source)} WHERE {where} RETURNING {names})"
        f" INSERT INTO {qualify(*target)} ({names}) SELECT {names} FROM moved"
    )


def copy_rows_query(
    source: QualifiedName, target: QualifiedName, columns: Sequence[str], where: str
) -> TextClause:
    """``INSERT INTO target SELECT ... FROM source WHERE ...`` (a conversion's copy).

    Example::

        conn.execute(copy_rows_query(old, partition, columns, where), params).rowcount
    """
    names = ", ".join(quote(c) for c in columns)
    return text(
        f"INSERT INTO {qualify(*target)} ({names})"
        f" SELECT {names} FROM {qualify(*source)} WHERE {where}"
    )


def copy_out_sql(table: QualifiedName, columns: Sequence[str], where: str = "true") -> str:
    """``COPY (SELECT ...) TO STDOUT`` as CSV (no header: the writer adds it).

    Example::

        copy_out_sql(("public", "item_audit_p2025_01"), ["id", "audit_id"])
    """
    names = ", ".join(quote(c) for c in columns)
    return f"COPY (SELECT {names} FROM {qualify(*table)} WHERE {where}) TO STDOUT WITH (FORMAT csv)"


def copy_out_deleted_sql(table: QualifiedName, columns: Sequence[str], where: str) -> str:
    """``COPY (DELETE ... RETURNING ...) TO STDOUT`` as CSV: rows written to a file as
    they leave the table, in one statement.

    Example::

        copy_out_deleted_sql(("public", "item_audit"), columns, window.literal_sql(lo, hi))
    """
    names = ", ".join(quote(c) for c in columns)
    return (
        f"COPY (DELETE FROM {qualify(*table)} WHERE {where} RETURNING {names})"
        " TO STDOUT WITH (FORMAT csv)"
    )


def blocks_query(table: QualifiedName) -> TextClause:
    """The number of 8 kB (``block_size``) blocks of a table.

    Example::

        conn.execute(blocks_query(("public", "item_audit"))).scalar()  # 12500
    """
    return text(
        "SELECT pg_catalog.pg_relation_size(pg_catalog.to_regclass(:relation))"
        " / CAST(pg_catalog.current_setting('block_size') AS bigint)"
    ).bindparams(relation=name_text(*table))


def create_like_sql(table: QualifiedName, like: QualifiedName) -> str:
    """``CREATE TABLE table (LIKE like INCLUDING DEFAULTS)``: a table shaped like an audit
    table (its columns, types, NOT NULL and defaults), to attach as a partition or to
    archive rows in.

    Example::

        create_like_sql(("public", "item_audit_p2025_01"), ("public", "item_audit"))
    """
    return f"CREATE TABLE {qualify(*table)} (LIKE {qualify(*like)} INCLUDING DEFAULTS)"


def attach_partition_sql(parent: QualifiedName, child: QualifiedName, bounds: str) -> str:
    """``ALTER TABLE parent ATTACH PARTITION child <bounds>`` (``DEFAULT`` or ``FOR VALUES``).

    Example::

        attach_partition_sql(parent, child, "FOR VALUES FROM ('2025-01-01+00') TO (...)")
    """
    return f"ALTER TABLE {qualify(*parent)} ATTACH PARTITION {qualify(*child)} {bounds}"


def lock_sql(table: QualifiedName, mode: str) -> str:
    """``LOCK TABLE ... IN <mode> MODE`` (``mode`` is one of ours).

    Example::

        lock_sql(("public", "item_audit"), "ACCESS EXCLUSIVE")
    """
    return f"LOCK TABLE {qualify(*table)} IN {mode} MODE"


def set_serial_query(table: QualifiedName, column: str) -> TextClause:
    """Set the serial sequence of ``column`` past the largest value the table holds (after
    rows were copied in with their numbers); nothing happens on an empty table.

    Example::

        conn.execute(set_serial_query(("public", "item_audit"), "audit_id"))
    """
    return text(
        "SELECT pg_catalog.setval(pg_catalog.pg_get_serial_sequence(:relation, :column), m)"
        f" FROM (SELECT max({quote(column)}) AS m FROM {qualify(*table)}) AS x"
        " WHERE m IS NOT NULL"
    ).bindparams(relation=name_text(*table), column=column)


def restart_identity_sql(table: QualifiedName, column: str, start: int) -> str:
    """``ALTER TABLE ... ALTER COLUMN ... RESTART WITH`` (``start``: an int of ours).

    Example::

        restart_identity_sql(("public", "item_audit"), "audit_id", 1001)
    """
    return f"ALTER TABLE {qualify(*table)} ALTER COLUMN {quote(column)} RESTART WITH {int(start)}"


def max_query(table: QualifiedName, column: str) -> TextClause:
    """``max(column)`` of a table.

    Example::

        conn.execute(max_query(("public", "item_audit"), "audit_id")).scalar()
    """
    return text(f"SELECT max({quote(column)}) FROM {qualify(*table)}")


def loader_script(
    csv_name: str, table: tuple[str, str], columns: Sequence[tuple[str, str]], comment: str
) -> str:
    """The psql script that creates ``table`` and loads the CSV into it.

    Example::

        print(loader_script("public.t.csv", ("public", "t"), [("id", "integer")], "..."))
    """
    names = ", ".join(quote(name) for name, _ in columns)
    body = ",\n".join(f"    {quote(name)} {type_}" for name, type_ in columns)
    lines = [f"-- {line}" for line in comment.splitlines()]
    lines += [
        "-- Load it back with psql, from this directory: psql -d <database> -f "
        + csv_name.removesuffix(".csv")
        + ".sql",
        f"CREATE TABLE IF NOT EXISTS {qualify(*table)} (\n{body}\n);",
        f"\\copy {qualify(*table)} ({names}) FROM '{csv_name.replace(chr(39), chr(39) * 2)}'"
        " WITH (FORMAT csv, HEADER true)",
        "",
    ]
    return "\n".join(lines)


__all__ = [
    "CTID_RANGE",
    "TEXT_TYPES",
    "hash_sql",
    "key_predicate",
    "redact_query",
    "Window",
    "attach_partition_sql",
    "blocks_query",
    "copy_out_deleted_sql",
    "copy_out_sql",
    "copy_rows_query",
    "count_query",
    "create_like_sql",
    "ctid_params",
    "delete_query",
    "interval_counts_query",
    "is_null_sql",
    "loader_script",
    "lock_sql",
    "max_query",
    "move_rows_query",
    "restart_identity_sql",
    "set_serial_query",
    "span_query",
]


def interval_counts_query(table: QualifiedName, time_column: str) -> TextClause:
    """Rows per interval (``:by``: month, week or day, in UTC) of a table's time column:
    ``(start, rows)``, ``start`` without a time zone (it is UTC).

    Example::

        conn.execute(interval_counts_query(t, "audit_change_timestamp"), {"by": "month"}).all()
        # [(datetime(2025, 1, 1, 0, 0), 412), ...]
    """
    column = quote(time_column)
    return text(
        f"SELECT pg_catalog.date_trunc(:by, {column} AT TIME ZONE 'UTC') AS start,"
        f" count(*) AS n FROM {qualify(*table)} WHERE {column} IS NOT NULL GROUP BY 1 ORDER BY 1"
    )


#: Column types a hash can replace values of (the hash's hex text, cast to the type; a
#: ``varchar(n)`` keeps its first n characters), and how.
TEXT_TYPES = ("text", "character varying", "character", "citext", "name")


def hash_sql(column: str, type_: str) -> str | None:
    """The SQL replacing a value of ``column`` (of ``type_``, as ``format_type`` writes it) by
    its keyed SHA-256 (``:hash_key`` prepended, bytea); ``None`` if no hash fits the type.
    NULL stays NULL.

    Example::

        hash_sql("email", "character varying(200)")
        # 'CAST(pg_catalog.encode(pg_catalog.sha256(...), \\'hex\\') AS character varying(200))'
    """
    value = f"pg_catalog.convert_to(CAST({quote(column)} AS text), 'UTF8')"
    digest = f"pg_catalog.sha256(CAST(:hash_key AS bytea) || {value})"
    hex_text = f"pg_catalog.encode({digest}, 'hex')"
    base = type_.split("(")[0].strip()
    if base == "bytea":
        return f"pg_catalog.sha256(CAST(:hash_key AS bytea) || {quote(column)})"
    if base in TEXT_TYPES:
        return f"CAST({hex_text} AS {type_})"
    if base in ("json", "jsonb"):
        return f"CAST(pg_catalog.to_jsonb({hex_text}) AS {type_})"
    return None


def redact_query(
    table: QualifiedName,
    assignments: Sequence[tuple[str, str]],
    key: Sequence[tuple[str, str]],
) -> TextClause:
    """``UPDATE`` setting each column to its expression in the rows of one key: ``key`` is
    ``(column, type)`` pairs, their values bind parameters ``:key_0``, ``:key_1``, ...

    Example::

        redact_query(("public", "customer_audit"), [("email", "NULL")], [("id", "integer")])
    """
    sets = ", ".join(f"{quote(column)} = {expr}" for column, expr in assignments)
    return text(f"UPDATE {qualify(*table)} SET {sets} WHERE {key_predicate(key)}")


def key_predicate(key: Sequence[tuple[str, str]]) -> str:
    """``"id" = CAST(:key_0 AS integer) AND ...`` for ``(column, type)`` pairs.

    Example::

        key_predicate([("id", "integer")])  # '"id" = CAST(:key_0 AS integer)'
    """
    return " AND ".join(
        f"{quote(column)} = CAST(:key_{n} AS {type_})" for n, (column, type_) in enumerate(key)
    )
