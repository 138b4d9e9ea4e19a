"""pg_partman doing the partition upkeep of partitioned audit tables (optional).

:func:`use_pg_partman` registers audit tables with pg_partman (``create_parent``, with
the table's interval and ``ahead`` as ``premake``), after which pg_partman's own
maintenance (its background worker, or ``run_maintenance()`` from cron) makes the
partitions ahead, and :func:`alembic_audit.create_partitions` calls it for them.  Its
partitions are named like ours and pruned like ours (by their bounds).  What stays
ours: the append-only guard on each partition and the rows of the default partition
(both done by :func:`alembic_audit.create_partitions`), and retention
(:func:`alembic_audit.prune`; leave pg_partman's ``retention`` unset).

pg_partman cuts intervals in the session's time zone: run its maintenance with
``TimeZone = 'UTC'`` (``ALTER ROLE <maintenance role> SET TimeZone = 'UTC'``), as
alembic-audit does for the calls it makes.

Example::

    alembic_audit.use_pg_partman(engine, ["item"])
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Table
from sqlalchemy.engine import Connection, Engine

from ..core.errors import AuditError
from ..core.intervals import interval_start
from ..core.naming import fit_with_suffix
from ..core.spec import AuditSpec
from ..reflection.inspector import PGAdvancedInspector
from ..sql.audit_partitions import (
    add_partition_guards_sql,
    detach_partition_sql,
    drop_table_sql,
    rename_table_sql,
)
from ..sql.partman import (
    PARTMAN_4_INTERVALS,
    PARTMAN_INTERVALS,
    create_parent_query,
    partman_config_query,
    run_maintenance_query,
    utc_session_sql,
)
from ..sql.rows import copy_rows_query, count_query
from ..sql.statement import AuditDDL
from .log import LogEntry, setting_names, write_log
from .partitions import PartitionStep, default_partition, lock_partitions
from .session import audit_targets, connected

EXTENSION = "pg_partman"

#: How to get pg_partman, for messages.
INSTALL_HINT = (
    "install pg_partman on the database server (Debian/Ubuntu: apt-get install "
    "postgresql-<version>-partman) and run CREATE EXTENSION pg_partman in this database"
)


def partman_schema(conn: Connection) -> tuple[str, int] | None:
    """``(schema, major version)`` of pg_partman in this database, ``None`` without it.

    Example::

        partman_schema(conn)  # ('partman', 4)
    """
    found = PGAdvancedInspector(conn).extension(EXTENSION)
    if found is None:
        return None
    schema, version = found
    return schema, int(version.split(".")[0])


def parent_name(spec: AuditSpec) -> str:
    """The audit table as pg_partman names a parent table: ``schema.table``.

    Example::

        parent_name(spec)  # 'public.item_audit'
    """
    return ".".join(spec.qualified_audit_table)


def partman_premake(conn: Connection, spec: AuditSpec) -> int | None:
    """How many partitions ahead pg_partman keeps for this audit table (``premake``),
    ``None`` if pg_partman does not manage it.

    Example::

        partman_premake(conn, spec)  # 4
    """
    found = partman_schema(conn)
    if found is None:
        return None
    row = conn.execute(partman_config_query(found[0]), {"parent": parent_name(spec)}).first()
    return None if row is None else int(row.premake)


def managed_by_partman(conn: Connection, spec: AuditSpec) -> bool:
    """Whether pg_partman keeps this audit table's partitions.

    Example::

        managed_by_partman(conn, spec)  # False
    """
    return partman_premake(conn, spec) is not None


def run_partman(conn: Connection, spec: AuditSpec) -> list[str]:
    """pg_partman's maintenance of one audit table (in UTC), then the append-only guard
    on its new partitions; the partitions it made.

    Example::

        run_partman(conn, spec)  # ['public.item_audit_p2025_09']
    """
    found = partman_schema(conn)
    assert found is not None
    inspector = PGAdvancedInspector(conn)
    before = {
        p.qualified_name
        for p in inspector.partitions([spec.qualified_audit_table])[spec.qualified_audit_table]
    }
    conn.execute(AuditDDL(utc_session_sql()))
    conn.execute(run_maintenance_query(found[0]), {"parent": parent_name(spec)})
    if spec.append_only:
        conn.execute(AuditDDL(add_partition_guards_sql(spec)))
    after = inspector.partitions([spec.qualified_audit_table])[spec.qualified_audit_table]
    return [".".join(p.qualified_name) for p in after if p.qualified_name not in before]


def register(conn: Connection, spec: AuditSpec, now: datetime) -> list[PartitionStep]:
    """Hand one partitioned audit table's upkeep to pg_partman, in the caller's transaction.

    pg_partman makes its own default partition (``<table>_default``, our name too): ours
    is detached and renamed first, and the rows it held go back through the audit table
    (into pg_partman's partitions or its default partition) before it is dropped.

    Example::

        with engine.begin() as conn:
            register(conn, spec, PGAdvancedInspector(conn).now())
    """
    assert spec.partition is not None
    found = partman_schema(conn)
    if found is None:
        raise AuditError(
            f"use_pg_partman: pg_partman is not installed in this database; {INSTALL_HINT}"
        )
    schema, major = found
    if "." in spec.audit_table_name or "." in spec.effective_audit_schema:
        raise AuditError(
            f"use_pg_partman: pg_partman refuses names holding a '.': audit table "
            f"{'.'.join(spec.qualified_audit_table)!r}"
        )
    lock_partitions(conn, spec)
    inspector = PGAdvancedInspector(conn)
    parts = inspector.partitions([spec.qualified_audit_table])[spec.qualified_audit_table]
    default = default_partition(parts)
    held: tuple[str, str] | None = None
    if default is not None:
        conn.execute(
            AuditDDL(detach_partition_sql(spec.qualified_audit_table, default.qualified_name))
        )
        held = (default.schema, fit_with_suffix(spec.audit_table_name, "_default_before_partman"))
        conn.execute(AuditDDL(rename_table_sql(default.qualified_name, held[1])))
    conn.execute(AuditDDL(utc_session_sql()))
    # pg_partman starts after the partitions there are (its names may differ from ours in
    # some versions: a partition of its own over one of ours would overlap).
    start = interval_start(spec.partition.by, now)
    for part in parts:
        if part.lower is not None and part.upper is not None and part.lower <= start < part.upper:
            start = part.upper
    intervals = PARTMAN_4_INTERVALS if major < 5 else PARTMAN_INTERVALS
    conn.execute(
        create_parent_query(schema, major),
        {
            "parent": parent_name(spec),
            "control": spec.time_column,
            "interval": intervals[spec.partition.by],
            "premake": spec.partition.ahead,
            "start": start.isoformat(),
        },
    )
    steps: list[PartitionStep] = []
    if held is not None:
        rows = int(conn.execute(count_query(held)).scalar() or 0)
        if rows:
            columns = inspector.columns([spec.qualified_audit_table])[spec.qualified_audit_table]
            write_log(
                conn,
                LogEntry(
                    "move",
                    spec.qualified_audit_table,
                    relation=".".join(held),
                    row_count=rows,
                    destination=".".join(spec.qualified_audit_table),
                    note="rows of the default partition moved back through the audit table "
                    "when pg_partman took over its partitions",
                ),
                settings=setting_names(spec),
            )
            copied = conn.execute(
                copy_rows_query(held, spec.qualified_audit_table, columns, "true")
            ).rowcount
            if copied != rows:
                raise RuntimeError(
                    f"use_pg_partman: counted {rows} rows in {'.'.join(held)}, copied {copied}"
                )
        conn.execute(AuditDDL(drop_table_sql(held)))
    if spec.append_only:
        conn.execute(AuditDDL(add_partition_guards_sql(spec)))
    after = inspector.partitions([spec.qualified_audit_table])[spec.qualified_audit_table]
    known = {p.qualified_name for p in parts}
    label = ".".join(spec.qualified_audit_table)
    for part in after:
        if part.qualified_name not in known and not part.is_default and part.lower and part.upper:
            steps.append(
                PartitionStep(label, ".".join(part.qualified_name), part.lower, part.upper)
            )
    return steps


def use_pg_partman(
    bind: Engine | Connection, tables: Sequence[str | Table | AuditSpec] | None = None
) -> list[PartitionStep]:
    """Let pg_partman keep the partitions of partitioned audit tables (all of them, or
    those named), each in its own transaction; the partitions it made at once.

    Tables pg_partman already manages are left as they are.  Raises an ``AuditError``
    saying how to install pg_partman when it is not in the database.

    Example::

        alembic_audit.use_pg_partman(engine, ["item"])
    """
    steps: list[PartitionStep] = []
    with connected(bind) as work:
        if partman_schema(work.conn) is None:
            raise AuditError(
                f"use_pg_partman: pg_partman is not installed in this database; {INSTALL_HINT}"
            )
        targets = audit_targets(work.conn, tables, caller="use_pg_partman", partitioned_only=True)
        now = PGAdvancedInspector(work.conn).now()
        for target in targets:
            if managed_by_partman(work.conn, target.spec):
                continue
            with work.unit() as conn:
                steps += register(conn, target.spec, now)
    return steps


__all__ = [
    "EXTENSION",
    "INSTALL_HINT",
    "managed_by_partman",
    "parent_name",
    "partman_premake",
    "partman_schema",
    "register",
    "run_partman",
    "use_pg_partman",
]
