"""The partitions of a partitioned audit table: their DDL, and the append-only guard on each.

A partition covers ``[start, end)`` of the audit table's time column (``None`` for
``MINVALUE`` / ``MAXVALUE``).  The append-only guard of a partitioned audit table is on
the table and on every partition: a statement-level trigger fires only for the table a
statement names, so a ``DELETE`` naming a partition would pass a guard on the table
alone.  The guard blocks below add (or remove) it on every partition there is when they
run, so they work in scripts and ``--sql`` output too.

Example::

    part = interval_partition(spec, datetime(2025, 1, 1, tzinfo=timezone.utc))
    part.name, part.create_sql()
    # ('item_audit_p2025_01', 'CREATE TABLE "public"."item_audit_p2025_01" PARTITION OF ...')
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..core.intervals import bound_literal, next_start, partition_suffix
from ..core.naming import fit_with_suffix
from ..core.spec import AuditSpec
from .quoting import dollar_quote, literal, name_text, qualify, quote
from .triggers import guard_trigger


@dataclass(frozen=True)
class RangePartition:
    """One range partition of an audit table: ``[start, end)``, ``None`` for unbounded.

    Example::

        RangePartition("public", "item_audit_old", ("public", "item_audit"), None,
                       datetime(2025, 1, 1, tzinfo=timezone.utc)).bounds_sql()
        # "FOR VALUES FROM (MINVALUE) TO ('2025-01-01+00')"
    """

    schema: str
    name: str
    parent: tuple[str, str]
    start: datetime | None
    end: datetime | None

    @property
    def qualified_name(self) -> tuple[str, str]:
        return (self.schema, self.name)

    def bounds_sql(self) -> str:
        """``FOR VALUES FROM (...) TO (...)``."""
        low = "MINVALUE" if self.start is None else bound_literal(self.start)
        high = "MAXVALUE" if self.end is None else bound_literal(self.end)
        return f"FOR VALUES FROM ({low}) TO ({high})"

    def create_sql(self, *, if_not_exists: bool = False) -> str:
        """``CREATE TABLE ... PARTITION OF ... FOR VALUES ...`` (indexes come from the table).

        Example::

            part.create_sql()
        """
        exists = " IF NOT EXISTS" if if_not_exists else ""
        return (
            f"CREATE TABLE{exists} {qualify(*self.qualified_name)} PARTITION OF "
            f"{qualify(*self.parent)} {self.bounds_sql()}"
        )


def interval_partition(spec: AuditSpec, start: datetime) -> RangePartition:
    """The partition of ``spec``'s audit table for the interval starting at ``start``.

    Example::

        interval_partition(spec, datetime(2025, 1, 1, tzinfo=timezone.utc)).name
        # 'item_audit_p2025_01'
    """
    assert spec.partition is not None
    by = spec.partition.by
    name = fit_with_suffix(spec.audit_table_name, partition_suffix(by, start))
    return RangePartition(
        spec.effective_audit_schema, name, spec.qualified_audit_table, start, next_start(by, start)
    )


def detach_partition_sql(parent: tuple[str, str], child: tuple[str, str]) -> str:
    """``ALTER TABLE parent DETACH PARTITION child``.

    Example::

        detach_partition_sql(("public", "item_audit"), ("public", "item_audit_p2025_01"))
    """
    return f"ALTER TABLE {qualify(*parent)} DETACH PARTITION {qualify(*child)}"


def drop_table_sql(table: tuple[str, str]) -> str:
    """``DROP TABLE`` (of a detached partition, or of a table being replaced).

    Example::

        drop_table_sql(("public", "item_audit_p2025_01"))
    """
    return f"DROP TABLE {qualify(*table)}"


def set_schema_sql(table: tuple[str, str], schema: str) -> str:
    """``ALTER TABLE ... SET SCHEMA`` (a partition moved to the archive schema).

    Example::

        set_schema_sql(("public", "item_audit_p2025_01"), "archive")
    """
    return f"ALTER TABLE {qualify(*table)} SET SCHEMA {quote(schema)}"


def rename_table_sql(table: tuple[str, str], name: str) -> str:
    """``ALTER TABLE ... RENAME TO``.

    Example::

        rename_table_sql(("public", "item_audit"), "item_audit_unpartitioned")
    """
    return f"ALTER TABLE {qualify(*table)} RENAME TO {quote(name)}"


def _partition_loop(spec: AuditSpec, body: list[str]) -> str:
    """A ``DO`` block running ``body`` for every partition ``r`` of the audit table, with
    ``r.has_guard`` telling whether it has the guard trigger.  Names are string literals
    (no ``%``, no ``:word``), quoted at run time by ``quote_ident``."""
    schema, table = spec.qualified_audit_table
    trigger = literal(spec.guard_trigger_name)
    lines = [
        "",
        "DECLARE",
        "    r record;",
        "BEGIN",
        "    FOR r IN",
        "        SELECT n.nspname, c.relname, EXISTS (",
        "            SELECT FROM pg_catalog.pg_trigger AS t",
        f"            WHERE t.tgrelid = c.oid AND t.tgname = {trigger}",
        "        ) AS has_guard",
        "        FROM pg_catalog.pg_inherits AS i",
        "        JOIN pg_catalog.pg_class AS c ON c.oid = i.inhrelid",
        "        JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace",
        "        JOIN pg_catalog.pg_class AS p ON p.oid = i.inhparent",
        "        JOIN pg_catalog.pg_namespace AS pn ON pn.oid = p.relnamespace",
        f"        WHERE pn.nspname = {literal(schema)}",
        f"          AND p.relname = {literal(table)}",
        "    LOOP",
        *body,
        "    END LOOP;",
        "END;",
        "",
    ]
    return "DO " + dollar_quote("\n".join(lines))


def add_partition_guards_sql(spec: AuditSpec) -> str:
    """A ``DO`` block giving every partition of the audit table the append-only guard
    trigger it lacks (partitions made by maintenance, by pg_partman or by hand).

    Example::

        add_partition_guards_sql(spec.replace(append_only=True)).startswith("DO $audit$")
    """
    guard = guard_trigger(spec)
    events = " OR ".join(guard.events)
    function = (
        f"pg_catalog.quote_ident({literal(guard.function[0])}) || '.' || "
        f"pg_catalog.quote_ident({literal(guard.function[1])})"
    )
    return _partition_loop(
        spec,
        [
            "        IF NOT r.has_guard THEN",
            f"            EXECUTE 'CREATE TRIGGER ' || pg_catalog.quote_ident("
            f"{literal(guard.name)})",
            f"                || ' {guard.timing} {events} ON '",
            "                || pg_catalog.quote_ident(r.nspname) || '.' || "
            "pg_catalog.quote_ident(r.relname)",
            f"                || ' FOR EACH STATEMENT EXECUTE FUNCTION ' || {function} || '()';",
            "        END IF;",
        ],
    )


def drop_partition_guards_sql(spec: AuditSpec) -> str:
    """A ``DO`` block removing the append-only guard trigger from every partition.

    Example::

        drop_partition_guards_sql(spec.replace(append_only=True)).startswith("DO $audit$")
    """
    return _partition_loop(
        spec,
        [
            "        IF r.has_guard THEN",
            f"            EXECUTE 'DROP TRIGGER ' || pg_catalog.quote_ident("
            f"{literal(spec.guard_trigger_name)})",
            "                || ' ON ' || pg_catalog.quote_ident(r.nspname) || '.' || "
            "pg_catalog.quote_ident(r.relname);",
            "        END IF;",
        ],
    )


# -- converting an audit table: plain <-> partitioned ------------------------------------

#: Table privileges a conversion carries over (what ``aclexplode`` reports).
TABLE_PRIVILEGES = (
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "TRUNCATE",
    "REFERENCES",
    "TRIGGER",
    "MAINTAIN",
)


def create_like_partitioned_sql(table: tuple[str, str], like: tuple[str, str], key: str) -> str:
    """A partitioned table with the columns of ``like`` (names, types, NOT NULL, in order),
    range-partitioned on ``key``: every column an audit table holds, also those a spec no
    longer names (kept for their old rows).

    Example::

        create_like_partitioned_sql(
            ("public", "item_audit"), ("public", "item_audit_unpartitioned"), "audit_time"
        )
    """
    return (
        f"CREATE TABLE {qualify(*table)} (LIKE {qualify(*like)}) PARTITION BY RANGE ({quote(key)})"
    )


def create_like_plain_sql(table: tuple[str, str], like: tuple[str, str]) -> str:
    """A plain table with the columns of ``like`` (a partitioned table being unpartitioned).

    Example::

        create_like_plain_sql(("public", "item_audit"), ("public", "item_audit_partitioned"))
    """
    return f"CREATE TABLE {qualify(*table)} (LIKE {qualify(*like)})"


def serial_statements(table: tuple[str, str], column: str, sequence: str) -> list[str]:
    """Make ``column`` a serial column (what ``BIGSERIAL`` makes): a sequence owned by it,
    and ``DEFAULT nextval(...)``.

    Example::

        serial_statements(("public", "item_audit"), "audit_id", "item_audit_audit_id_seq")
    """
    qualified = qualify(table[0], sequence)
    regclass = literal(name_text(table[0], sequence))
    return [
        f"CREATE SEQUENCE {qualified} AS bigint OWNED BY {qualify(*table)}.{quote(column)}",
        f"ALTER TABLE {qualify(*table)} ALTER COLUMN {quote(column)} SET DEFAULT "
        f"pg_catalog.nextval(CAST({regclass} AS pg_catalog.regclass))",
    ]


def add_identity_sql(table: tuple[str, str], column: str) -> str:
    """``ALTER TABLE ... ADD GENERATED BY DEFAULT AS IDENTITY`` (a plain audit table's
    ``audit_id``, numbered by PostgreSQL).

    Example::

        add_identity_sql(("public", "item_audit"), "audit_id")
    """
    return (
        f"ALTER TABLE {qualify(*table)} ALTER COLUMN {quote(column)}"
        " ADD GENERATED BY DEFAULT AS IDENTITY"
    )


def rename_sequence_sql(sequence: tuple[str, str], name: str) -> str:
    """``ALTER SEQUENCE ... RENAME TO``.

    Example::

        rename_sequence_sql(("public", "item_audit_audit_id_seq"), "item_audit_old_seq")
    """
    return f"ALTER SEQUENCE {qualify(*sequence)} RENAME TO {quote(name)}"


def rename_index_sql(index: tuple[str, str], name: str) -> str:
    """``ALTER INDEX IF EXISTS ... RENAME TO``.

    Example::

        rename_index_sql(("public", "item_audit_row_idx"), "item_audit_row_idx_old")
    """
    return f"ALTER INDEX IF EXISTS {qualify(*index)} RENAME TO {quote(name)}"


def grant_table_sql(table: tuple[str, str], grantee: str, privilege: str, grantable: bool) -> str:
    """``GRANT <privilege> ON TABLE ... TO <grantee> [WITH GRANT OPTION]``, the privilege one
    of :data:`TABLE_PRIVILEGES` (as the catalog reports it), ``PUBLIC`` unquoted.

    Example::

        grant_table_sql(("public", "item_audit"), "app_reader", "SELECT", False)
        # 'GRANT SELECT ON TABLE "public"."item_audit" TO "app_reader"'
    """
    if privilege not in TABLE_PRIVILEGES:
        raise ValueError(f"unknown table privilege {privilege!r}")
    role = "PUBLIC" if grantee == "PUBLIC" else quote(grantee)
    option = " WITH GRANT OPTION" if grantable else ""
    return f"GRANT {privilege} ON TABLE {qualify(*table)} TO {role}{option}"


def owner_sql(table: tuple[str, str], owner: str) -> str:
    """``ALTER TABLE ... OWNER TO``.

    Example::

        owner_sql(("public", "item_audit"), "app_owner")
    """
    return f"ALTER TABLE {qualify(*table)} OWNER TO {quote(owner)}"


__all__ = [
    "TABLE_PRIVILEGES",
    "RangePartition",
    "add_identity_sql",
    "create_like_partitioned_sql",
    "create_like_plain_sql",
    "grant_table_sql",
    "owner_sql",
    "rename_index_sql",
    "rename_sequence_sql",
    "serial_statements",
    "add_partition_guards_sql",
    "detach_partition_sql",
    "drop_partition_guards_sql",
    "drop_table_sql",
    "interval_partition",
    "rename_table_sql",
    "set_schema_sql",
]
