"""Converting an audit table between plain and partitioned, keeping every row.

PostgreSQL cannot partition a table in place: the conversion renames the table away,
makes the new one with the same columns (all of them, also those the spec no longer
names), its partitions (one per interval holding rows, plus the current one and the
ones ahead, plus the default partition), copies the rows partition by partition with
their ``audit_id``, builds the indexes once the rows are in, carries over the owner and
the privileges, drops the old table, and gives the audit function its new definition.
It runs in the caller's transaction (a migration's), under an exclusive lock: writers of
the audited table wait until it commits.  The row counts are checked: a conversion that
would lose a row fails instead.

Example::

    report = partition_table(conn, spec, spec.replace(partition=Partitioning("month")),
                             now=now)
    report.rows, report.partitions  # (10000000, 26)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Connection

from ..core.constants import ID_COLUMN
from ..core.errors import AuditError
from ..core.naming import fit_with_suffix
from ..core.progress import progress
from ..core.spec import AuditSpec
from ..reflection.inspector import PGAdvancedInspector
from ..sql.audit_partitions import (
    add_identity_sql,
    create_like_partitioned_sql,
    create_like_plain_sql,
    drop_table_sql,
    grant_table_sql,
    owner_sql,
    rename_index_sql,
    rename_sequence_sql,
    rename_table_sql,
    serial_statements,
)
from ..sql.function import audit_function
from ..sql.objects import create_guard_statements
from ..sql.partman import forget_parent_query, partman_config_query
from ..sql.rows import (
    Window,
    copy_rows_query,
    count_query,
    interval_counts_query,
    is_null_sql,
    lock_sql,
    max_query,
    restart_identity_sql,
    set_serial_query,
)
from ..sql.statement import AuditDDL
from ..sql.tables import create_default_partition_sql, create_index_sql
from .partitions import plan
from .partman import partman_schema


@dataclass(frozen=True)
class ConversionReport:
    """What a conversion did: rows copied, partitions made (partitioned) or read
    (unpartitioned), and the previous table's name while it was copied from.

    Example::

        ConversionReport("public.item_audit", 10000000, 26)
    """

    audit_table: str
    rows: int
    partitions: int


def _execute(conn: Connection, statements: list[str]) -> None:
    for statement in statements:
        conn.execute(AuditDDL(statement))


def _set_aside(
    conn: Connection, spec: AuditSpec, suffix: str
) -> tuple[tuple[str, str], str, list[tuple[str, str, bool]]]:
    """Lock the audit table, rename it (and its indexes and sequence) out of the way; its
    new name, owner and privileges."""
    inspector = PGAdvancedInspector(conn)
    table = spec.qualified_audit_table
    schema = spec.effective_audit_schema
    relation = inspector.relations([table]).get(table)
    if relation is None:
        raise AuditError(f"audit table {'.'.join(table)!r} does not exist")
    aside = (schema, fit_with_suffix(spec.audit_table_name, suffix))
    if inspector.relation_exists(*aside):
        raise AuditError(
            f"converting audit table {'.'.join(table)!r}: a table {'.'.join(aside)!r} is in the "
            "way (left by an earlier conversion?); rename or drop it first"
        )
    privileges = inspector.privileges(*table)
    sequences = inspector.owned_sequences(*table)
    _execute(conn, [lock_sql(table, "ACCESS EXCLUSIVE"), rename_table_sql(table, aside[1])])
    # Names the new table's objects take: the old table's indexes and sequence move aside.
    for index in spec.indexes_on_audit_table:
        _execute(
            conn, [rename_index_sql((schema, index.name), fit_with_suffix(index.name, suffix))]
        )
    for sequence in sequences:
        _execute(conn, [rename_sequence_sql(sequence, fit_with_suffix(sequence[1], suffix))])
    return aside, relation.owner, privileges


def _finish(
    conn: Connection,
    spec: AuditSpec,
    aside: tuple[str, str],
    owner: str,
    privileges: list[tuple[str, str, bool]],
) -> None:
    """Indexes, owner, privileges, guard and function of the new table; the old one dropped."""
    table = spec.qualified_audit_table
    statements = [create_index_sql(spec, index) for index in spec.indexes_on_audit_table]
    if owner != PGAdvancedInspector(conn).current_user():
        statements.append(owner_sql(table, owner))
    statements += [grant_table_sql(table, *privilege) for privilege in privileges]
    statements.append(drop_table_sql(aside))
    if spec.append_only:
        statements += create_guard_statements(spec)
    function = audit_function(spec)
    statements += [function.create_sql(), function.revoke_sql()]
    _execute(conn, statements)


def partition_table(
    conn: Connection,
    old: AuditSpec,
    new: AuditSpec,
    *,
    now: datetime,
    show_progress: bool = True,
) -> ConversionReport:
    """Make ``old``'s plain audit table the partitioned audit table ``new`` describes.

    Example::

        partition_table(conn, spec, spec.replace(partition=Partitioning("month")), now=now)
    """
    assert new.partition is not None
    label = ".".join(new.qualified_audit_table)
    inspector = PGAdvancedInspector(conn)
    relation = inspector.relations([old.qualified_audit_table]).get(old.qualified_audit_table)
    if relation is not None and relation.partitioned:
        raise AuditError(f"op.partition_audit_table: audit table {label!r} is partitioned already")
    aside, owner, privileges = _set_aside(conn, old, "_unpartitioned")
    table = new.qualified_audit_table
    total = int(conn.execute(count_query(aside)).scalar() or 0)
    starts = conn.execute(
        interval_counts_query(aside, new.time_column), {"by": new.partition.by}
    ).all()
    with_rows = [start for start, _ in starts]
    statements = [create_like_partitioned_sql(table, aside, new.time_column)]
    columns = inspector.columns([aside])[aside]
    if new.identity and ID_COLUMN in columns:
        statements += serial_statements(
            table, ID_COLUMN, fit_with_suffix(f"{new.audit_table_name}_{ID_COLUMN}", "_seq")
        )
    statements.append(create_default_partition_sql(new))
    _execute(conn, statements)
    parts = plan(
        new, [], now, new.partition.ahead, [s.replace(tzinfo=now.tzinfo) for s in with_rows]
    )
    _execute(conn, [part.create_sql() for part in parts])
    copied = 0
    window = Window(new.time_column)
    with progress(total if show_progress else 0, f"partitioning {label}") as advance:
        for part in parts:
            n = conn.execute(
                copy_rows_query(aside, part.qualified_name, columns, window.sql()),
                Window.params(part.start, part.end),
            ).rowcount
            copied += n
            advance(n)
        # Rows without a time (written before it was recorded) go to the default partition.
        n = conn.execute(
            copy_rows_query(
                aside, new.qualified_default_partition, columns, is_null_sql(new.time_column)
            )
        ).rowcount
        copied += n
        advance(n)
    if copied != total:
        raise AuditError(
            f"op.partition_audit_table: audit table {label!r} held {total} rows, {copied} were "
            "copied; nothing was changed"
        )
    if new.identity and ID_COLUMN in columns:
        conn.execute(set_serial_query(table, ID_COLUMN))
    _finish(conn, new, aside, owner, privileges)
    return ConversionReport(label, copied, len(parts) + 1)


def unpartition_table(
    conn: Connection, old: AuditSpec, new: AuditSpec, *, show_progress: bool = True
) -> ConversionReport:
    """Make ``old``'s partitioned audit table the plain audit table ``new`` describes, with
    the rows of every partition (those detached or archived before are not its rows).

    Example::

        unpartition_table(conn, spec, spec.replace(partition=None))
    """
    label = ".".join(new.qualified_audit_table)
    inspector = PGAdvancedInspector(conn)
    relation = inspector.relations([old.qualified_audit_table]).get(old.qualified_audit_table)
    if relation is not None and not relation.partitioned:
        raise AuditError(f"op.unpartition_audit_table: audit table {label!r} is not partitioned")
    _forget_partman(conn, old)
    parts = inspector.partitions([old.qualified_audit_table])[old.qualified_audit_table]
    aside, owner, privileges = _set_aside(conn, old, "_partitioned")
    table = new.qualified_audit_table
    total = int(conn.execute(count_query(aside)).scalar() or 0)
    columns = inspector.columns([aside])[aside]
    statements = [create_like_plain_sql(table, aside)]
    if new.identity and ID_COLUMN in columns:
        statements.append(add_identity_sql(table, ID_COLUMN))
    _execute(conn, statements)
    copied = 0
    with progress(total if show_progress else 0, f"unpartitioning {label}") as advance:
        for part in parts:
            n = conn.execute(copy_rows_query(part.qualified_name, table, columns, "true")).rowcount
            copied += n
            advance(n)
    if copied != total:
        raise AuditError(
            f"op.unpartition_audit_table: audit table {label!r} held {total} rows, {copied} were "
            "copied; nothing was changed"
        )
    if new.identity and ID_COLUMN in columns:
        top = conn.execute(max_query(table, ID_COLUMN)).scalar()
        if top is not None:
            _execute(conn, [restart_identity_sql(table, ID_COLUMN, int(top) + 1)])
    _finish(conn, new, aside, owner, privileges)
    return ConversionReport(label, copied, len(parts))


def _forget_partman(conn: Connection, spec: AuditSpec) -> None:
    """A table pg_partman managed is no longer partitioned: drop its configuration."""
    found = partman_schema(conn)
    if found is None:
        return
    parent = ".".join(spec.qualified_audit_table)
    if conn.execute(partman_config_query(found[0]), {"parent": parent}).first() is not None:
        conn.execute(forget_parent_query(found[0]), {"parent": parent})


__all__ = ["ConversionReport", "partition_table", "unpartition_table"]
