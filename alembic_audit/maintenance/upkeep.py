"""The maintenance calls of partitioned audit tables: make partitions ahead, and check them.

Run :func:`create_partitions` regularly (a daily cron job, or
``alembic-audit partitions create``): it keeps the current interval and ``ahead`` more
partitioned, moves rows that wait in the default partition into partitions, gives every
partition the append-only guard, and reports what still needs attention.
:func:`check_partitions` only reports.

Example::

    report = alembic_audit.create_partitions(engine)
    for status in report.tables:
        print(status.audit_table, status.problems or "ok")
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Table
from sqlalchemy.engine import Connection, Engine

from ..core.errors import AuditError
from ..core.intervals import utc
from ..core.options import MAX_PARTITIONS_AHEAD
from ..core.spec import AuditSpec
from ..reflection.inspector import PGAdvancedInspector
from .partitions import PartitionStatus, PartitionStep, ensure_partitions, partition_status
from .partman import partman_premake, run_partman
from .session import audit_targets, connected


@dataclass
class PartitionReport:
    """What :func:`create_partitions` did (``created``) and the state it left (``tables``).

    Example::

        report.created[0].partition, report.tables[0].problems
        # ('public.item_audit_p2025_05', [])
    """

    created: list[PartitionStep] = field(default_factory=list)
    tables: list[PartitionStatus] = field(default_factory=list)
    dry_run: bool = False

    @property
    def problems(self) -> list[str]:
        """Every table's problems, each prefixed with its audit table."""
        return [f"{t.audit_table}: {p}" for t in self.tables for p in t.problems]


def create_partitions(
    bind: Engine | Connection,
    tables: Sequence[str | Table | AuditSpec] | None = None,
    *,
    ahead: int | None = None,
    backfill: bool = True,
    dry_run: bool = False,
    now: datetime | None = None,
) -> PartitionReport:
    """Make the partitions of partitioned audit tables ahead of time.

    For each partitioned audit table (all of them, or those named: an audited or audit
    table's name, a ``Table``, a spec), each in its own transaction: the partitions of
    the current interval and of the ``ahead`` next ones (default: the table's
    ``partition["ahead"]``), and, with ``backfill``, of past intervals whose rows wait
    in the default partition (moved into them, recorded in the maintenance log).  For a
    table pg_partman manages, pg_partman's ``run_maintenance`` makes them instead.  Every
    partition gets the append-only guard when the table has one.  ``dry_run``: report
    what would be made, change nothing.  ``now``: the moment to plan from (default: the
    database's clock).

    Example::

        report = alembic_audit.create_partitions(engine, ahead=6)
        [step.partition for step in report.created]
    """
    if ahead is not None and (isinstance(ahead, bool) or not 0 <= ahead <= MAX_PARTITIONS_AHEAD):
        raise AuditError(
            f"create_partitions: ahead must be from 0 to {MAX_PARTITIONS_AHEAD}, got {ahead!r}"
        )
    report = PartitionReport(dry_run=dry_run)
    with connected(bind) as work:
        targets = audit_targets(
            work.conn, tables, caller="create_partitions", partitioned_only=True
        )
        moment = utc(now) if now is not None else PGAdvancedInspector(work.conn).now()
        for target in targets:
            spec = target.spec
            assert spec.partition is not None
            premake = partman_premake(work.conn, spec)
            managed = premake is not None
            # pg_partman keeps its own premake ahead.
            wanted = (
                premake
                if premake is not None
                else (spec.partition.ahead if ahead is None else ahead)
            )
            if managed:
                if not dry_run:
                    with work.unit() as conn:
                        made = run_partman(conn, spec)
                    report.created += _steps(work.conn, spec, made)
                if backfill:
                    # The default partition's rows are ours to move (pg_partman leaves them).
                    with work.unit() as conn:
                        report.created += ensure_partitions(
                            conn, spec, now=moment, ahead=0, dry_run=dry_run
                        )
            else:
                with work.unit() as conn:
                    report.created += ensure_partitions(
                        conn, spec, now=moment, ahead=wanted, backfill=backfill, dry_run=dry_run
                    )
            status = partition_status(
                work.conn,
                spec.replace(partition=dataclasses.replace(spec.partition, ahead=wanted)),
                now=moment,
                managed_by="pg_partman" if managed else "alembic-audit",
            )
            report.tables.append(status)
    return report


def _steps(conn: Connection, spec: AuditSpec, names: list[str]) -> list[PartitionStep]:
    parts = PGAdvancedInspector(conn).partitions([spec.qualified_audit_table])[
        spec.qualified_audit_table
    ]
    label = ".".join(spec.qualified_audit_table)
    return [
        PartitionStep(label, ".".join(p.qualified_name), p.lower, p.upper)
        for p in parts
        if ".".join(p.qualified_name) in names and p.lower is not None and p.upper is not None
    ]


def check_partitions(
    bind: Engine | Connection,
    tables: Sequence[str | Table | AuditSpec] | None = None,
    *,
    now: datetime | None = None,
) -> list[PartitionStatus]:
    """The state of partitioned audit tables, changing nothing: partitions ahead against
    wanted, rows waiting in the default partition, partitions without the append-only
    guard (``status.problems`` says it in words).

    Example::

        for status in alembic_audit.check_partitions(engine):
            print(status.audit_table, status.problems or "ok")
    """
    with connected(bind) as work:
        conn = work.conn
        targets = audit_targets(conn, tables, caller="check_partitions", partitioned_only=True)
        moment = utc(now) if now is not None else PGAdvancedInspector(conn).now()
        statuses = []
        for target in targets:
            spec = target.spec
            assert spec.partition is not None
            premake = partman_premake(conn, spec)
            if premake is not None:
                spec = spec.replace(partition=dataclasses.replace(spec.partition, ahead=premake))
            managed_by = "alembic-audit" if premake is None else "pg_partman"
            statuses.append(partition_status(conn, spec, now=moment, managed_by=managed_by))
        return statuses


__all__ = ["PartitionReport", "check_partitions", "create_partitions"]
