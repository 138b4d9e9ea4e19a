"""Retention: removing the audit rows older than a cutoff, and nothing else, on the record.

For a partitioned audit table, every partition whose whole range lies before the cutoff
is detached and dropped (or moved to an archive schema, or written to a file first): a
constant amount of work per partition, whatever it holds.  The rows older than the
cutoff that remain (in the partition the cutoff falls in, in the default partition, or in
a plain audit table) go by batched ``DELETE`` (or are moved into an archive table, or
written to a file as they go), each batch its own transaction.  Rows written before the
change time was recorded (their time is NULL) go by their transaction's time.

Every step writes a row into the audit-maintenance log, in the transaction that does it:
who, when, which table and relation, which time range, how many rows, how.  For a
``DELETE`` that row comes first and is the permission the append-only guard asks for;
the step then checks that it removed exactly the rows it counted, or rolls back.

Example::

    report = alembic_audit.prune(engine, older_than="90d", dry_run=True)
    for step in report.steps:
        print(step.action, step.relation, step.rows)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Table
from sqlalchemy.engine import Connection, Engine

from ..core.constants import TIMESTAMP_COLUMN
from ..core.errors import AuditError
from ..core.intervals import UTC, parse_age, utc
from ..core.naming import fit_with_suffix
from ..core.progress import progress
from ..core.spec import AuditSpec
from ..reflection.inspector import PartitionInfo, PGAdvancedInspector
from ..sql.audit_partitions import detach_partition_sql, drop_table_sql, set_schema_sql
from ..sql.maintenance import advisory_lock_query
from ..sql.rows import (
    CTID_RANGE,
    Window,
    blocks_query,
    copy_out_deleted_sql,
    copy_out_sql,
    count_query,
    create_like_sql,
    ctid_params,
    delete_query,
    move_rows_query,
    span_query,
)
from ..sql.statement import AuditDDL
from .export import Export, check_free, open_export
from .log import LogEntry, setting_names, write_log
from .session import Target, Work, audit_targets, connected

#: Blocks per batch when rows are picked by their place on disk (NULL times, no time index).
BLOCKS_PER_BATCH = 4096


@dataclass(frozen=True)
class PruneStep:
    """One thing prune did (or, in a dry run, would do).

    ``action``: ``drop``, ``archive`` or ``export`` (a whole partition), ``delete`` (rows
    removed), ``archive`` / ``export`` of rows (``destination`` says where).  ``rows`` is
    exact unless ``exact`` is False (a partition's statistics, with ``exact_counts=False``).

    Example::

        PruneStep("public.item_audit", "drop", "public.item_audit_p2025_01",
                  None, datetime(2025, 2, 1, tzinfo=timezone.utc), 412)
    """

    audit_table: str
    action: str
    relation: str
    time_from: datetime | None
    time_to: datetime | None
    rows: int
    exact: bool = True
    destination: str | None = None
    log_id: int | None = None


@dataclass
class PruneReport:
    """What :func:`prune` did: the cutoff, and one step per partition or batch.

    Example::

        report.rows, report.by_table()  # (1200, {'public.item_audit': 1200})
    """

    cutoff: datetime
    dry_run: bool
    steps: list[PruneStep] = field(default_factory=list)

    @property
    def rows(self) -> int:
        """All rows removed (or, in a dry run, that would be)."""
        return sum(step.rows for step in self.steps)

    def by_table(self) -> dict[str, int]:
        """Rows per audit table."""
        out: dict[str, int] = {}
        for step in self.steps:
            out[step.audit_table] = out.get(step.audit_table, 0) + step.rows
        return out


@dataclass
class _Plan:
    """What goes from one audit table (read before anything changes)."""

    target: Target
    whole: list[tuple[PartitionInfo, int, bool]]
    loose_rows: int
    loose_first: datetime | None
    null_holder: tuple[str, str] | None
    null_rows: int

    @property
    def rows(self) -> int:
        return sum(n for _, n, _ in self.whole) + self.loose_rows + self.null_rows


class _Destination:
    """Where removed rows go: nowhere (``delete``), an archive schema or a directory."""

    def __init__(self, archive_schema: str | None, export_dir: Path | None) -> None:
        self.archive_schema = archive_schema
        self.export_dir = export_dir
        self.exports: dict[tuple[str, str], Export] = {}

    @property
    def action(self) -> str:
        if self.archive_schema is not None:
            return "archive"
        return "export" if self.export_dir is not None else "delete"


def _validate(
    older_than: str | timedelta | None,
    before: datetime | None,
    archive_schema: str | None,
    export_dir: str | Path | None,
    batch_size: int,
) -> None:
    if (older_than is None) == (before is None):
        raise AuditError(
            "prune: give the age of the rows to remove (older_than='90d') or a "
            "moment (before=datetime(...)), one of the two"
        )
    if archive_schema is not None and export_dir is not None:
        raise AuditError(
            "prune: archive_schema and export_dir are two ways to keep what goes; give one of them"
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise AuditError(f"prune: batch_size must be a whole number of rows, got {batch_size!r}")
    if older_than is not None:
        parse_age(older_than)


def prune(
    bind: Engine | Connection,
    *,
    older_than: str | timedelta | None = None,
    before: datetime | None = None,
    tables: Sequence[str | Table | AuditSpec] | None = None,
    archive_schema: str | None = None,
    export_dir: str | Path | None = None,
    dry_run: bool = False,
    batch_size: int = 50_000,
    exact_counts: bool = True,
    note: str | None = None,
    show_progress: bool = True,
) -> PruneReport:
    """Remove the audit rows older than the cutoff (``older_than`` before the database's
    clock, e.g. ``"90d"``, or ``before`` a moment), and exactly those.

    Partitions entirely older than the cutoff are detached and dropped, or with
    ``archive_schema`` moved there (the schema must exist), or with ``export_dir``
    written to ``<schema>.<partition>.csv`` (plus a ``.sql`` script that loads it back)
    first.  Other old rows (in the partition the cutoff falls in, the default partition,
    a plain audit table) go by ``DELETE`` in batches of about ``batch_size`` rows, each
    its own transaction (with an archive schema: moved into
    ``<archive_schema>.<audit table>_pruned``; with a directory: written to one CSV per
    table and run).  ``tables``: audited or audit tables by name (default: every
    audit table alembic-audit installed).  ``dry_run``: report what would go and change
    nothing, not even the log.  ``exact_counts=False``: log a whole partition's
    estimated row count (its statistics) instead of counting it.  ``note`` goes into each
    log row.  A progress bar shows on a terminal.

    Runs as the owner of the audit tables.  Every step is recorded in the
    audit-maintenance log of the audit table's schema, and is the only way past
    ``append_only``.

    Example::

        alembic_audit.prune(engine, older_than="90d", export_dir="/backups/audit")
    """
    _validate(older_than, before, archive_schema, export_dir, batch_size)
    directory = Path(export_dir) if export_dir is not None else None
    destination = _Destination(archive_schema, directory)
    with connected(bind) as work:
        inspector = PGAdvancedInspector(work.conn)
        cutoff = (
            utc(before) if before is not None else inspector.now() - parse_age(older_than or "")
        )
        report = PruneReport(cutoff.astimezone(UTC), dry_run)
        targets = audit_targets(work.conn, tables, caller="prune")
        if archive_schema is not None and not inspector.schema_exists(archive_schema):
            raise AuditError(
                f"prune: archive schema {archive_schema!r} does not exist; create it "
                f"first (CREATE SCHEMA ...)"
            )
        if directory is not None and not dry_run:
            directory.mkdir(parents=True, exist_ok=True)
        plans = [_plan(work.conn, target, cutoff, exact_counts) for target in targets]
        _check_destinations(inspector, plans, destination, cutoff)
        if dry_run:
            for plan in plans:
                report.steps += _dry_steps(plan, destination, cutoff)
            return report
        total = sum(plan.rows for plan in plans)
        with progress(total if show_progress else 0, "pruning") as advance:
            for plan in plans:
                report.steps += _prune_table(
                    work, plan, cutoff, destination, batch_size, note, advance
                )
    return report


def _plan(conn: Connection, target: Target, cutoff: datetime, exact: bool) -> _Plan:
    spec = target.spec
    inspector = PGAdvancedInspector(conn)
    whole: list[tuple[PartitionInfo, int, bool]] = []
    null_holder: tuple[str, str] | None = None
    old = Window(spec.time_column)
    if target.partitioned:
        parts = inspector.partitions([spec.qualified_audit_table])[spec.qualified_audit_table]
        for part in parts:
            if not part.is_default and part.upper is not None and part.upper <= cutoff:
                if exact or part.estimated_rows < 0:
                    rows = int(conn.execute(count_query(part.qualified_name)).scalar() or 0)
                    whole.append((part, rows, True))
                else:
                    whole.append((part, part.estimated_rows, False))
        default = next((p for p in parts if p.is_default), None)
        null_holder = default.qualified_name if default is not None else None
    else:
        null_holder = spec.qualified_audit_table
    # The rows left once those partitions are gone: through the audit table, only the
    # partitions whose range reaches past the cutoff are read.
    where = old.sql(lower=False)
    if whole:
        where += " AND " + " AND ".join(
            f"NOT ({Window(spec.time_column).literal_sql(p.lower, p.upper)})" for p, _, _ in whole
        )
    n, first, _ = conn.execute(
        span_query(spec.qualified_audit_table, spec.time_column, where), {"upper": cutoff}
    ).one()
    null_rows = 0
    if spec.time_column != TIMESTAMP_COLUMN and null_holder is not None:
        null_rows = int(
            conn.execute(
                count_query(
                    null_holder, Window(spec.time_column, TIMESTAMP_COLUMN).sql(lower=False)
                ),
                {"upper": cutoff},
            ).scalar()
            or 0
        )
    return _Plan(target, whole, int(n), first, null_holder if null_rows else None, null_rows)


def _check_destinations(
    inspector: PGAdvancedInspector, plans: list[_Plan], destination: _Destination, cutoff: datetime
) -> None:
    """Refuse, before anything changes, a destination that is taken."""
    for plan in plans:
        spec = plan.target.spec
        for part, _, _ in plan.whole:
            if destination.archive_schema is not None and inspector.relation_exists(
                destination.archive_schema, part.name
            ):
                raise AuditError(
                    f"prune: archive schema {destination.archive_schema!r} already has a table "
                    f"{part.name!r}; rename or move it first"
                )
            if destination.export_dir is not None:
                check_free(destination.export_dir, part.qualified_name)
        if destination.export_dir is not None and (plan.loose_rows or plan.null_rows):
            check_free(destination.export_dir, _rows_file_table(spec, cutoff))


def _rows_file_table(spec: AuditSpec, cutoff: datetime) -> tuple[str, str]:
    stamp = cutoff.astimezone(UTC).strftime("%Y%m%d_%H%M%S")
    return (spec.effective_audit_schema, f"{spec.audit_table_name}_before_{stamp}")


def _archive_table(spec: AuditSpec, schema: str) -> tuple[str, str]:
    return (schema, fit_with_suffix(spec.audit_table_name, "_pruned"))


def _dry_steps(plan: _Plan, destination: _Destination, cutoff: datetime) -> list[PruneStep]:
    spec = plan.target.spec
    label = plan.target.label
    steps = []
    for part, rows, exact in plan.whole:
        where = None
        if destination.archive_schema is not None:
            where = f"{destination.archive_schema}.{part.name}"
        elif destination.export_dir is not None:
            where = str(destination.export_dir / f"{'.'.join(part.qualified_name)}.csv")
        action = "drop" if destination.action == "delete" else destination.action
        steps.append(
            PruneStep(
                label,
                action,
                ".".join(part.qualified_name),
                part.lower,
                part.upper,
                rows,
                exact,
                where,
            )
        )
    rows_to = _rows_destination(spec, destination, cutoff)
    if plan.loose_rows:
        steps.append(
            PruneStep(
                label,
                destination.action,
                label,
                plan.loose_first,
                cutoff,
                plan.loose_rows,
                True,
                rows_to,
            )
        )
    if plan.null_rows and plan.null_holder is not None:
        steps.append(
            PruneStep(
                label,
                destination.action,
                ".".join(plan.null_holder),
                None,
                cutoff,
                plan.null_rows,
                True,
                rows_to,
            )
        )
    return steps


def _rows_destination(spec: AuditSpec, destination: _Destination, cutoff: datetime) -> str | None:
    if destination.archive_schema is not None:
        return ".".join(_archive_table(spec, destination.archive_schema))
    if destination.export_dir is not None:
        table = _rows_file_table(spec, cutoff)
        return str(destination.export_dir / f"{'.'.join(table)}.csv")
    return None


def _lock(conn: Connection, spec: AuditSpec) -> None:
    conn.execute(advisory_lock_query("alembic_audit prune " + ".".join(spec.qualified_audit_table)))


def _prune_table(
    work: Work,
    plan: _Plan,
    cutoff: datetime,
    destination: _Destination,
    batch_size: int,
    note: str | None,
    advance: Callable[[int], None],
) -> list[PruneStep]:
    steps = []
    for part, rows, exact in plan.whole:
        with work.unit() as conn:
            steps.append(_prune_partition(conn, plan.target, part, rows, exact, destination, note))
        advance(rows)
    if not (plan.loose_rows or plan.null_rows):
        return steps
    spec = plan.target.spec
    to = _rows_destination(spec, destination, cutoff)
    with ExitStack() as stack:
        export: Export | None = None
        if destination.export_dir is not None:
            export = stack.enter_context(
                open_export(
                    destination.export_dir,
                    _rows_file_table(spec, cutoff),
                    PGAdvancedInspector(work.conn).column_types(*spec.qualified_audit_table),
                    comment=f"alembic-audit prune: rows of {plan.target.label} older than "
                    f"{cutoff.astimezone(UTC).isoformat()}",
                )
            )
        batch = _Batch(plan, destination, export, to, note)
        if plan.loose_rows and plan.loose_first is not None:
            steps += _prune_rows(work, batch, cutoff, batch_size, advance)
        if plan.null_rows and plan.null_holder is not None:
            steps += _prune_null_time_rows(work, batch, cutoff, advance)
    return steps


def _prune_partition(
    conn: Connection,
    target: Target,
    part: PartitionInfo,
    rows: int,
    exact: bool,
    destination: _Destination,
    note: str | None,
) -> PruneStep:
    spec = target.spec
    _lock(conn, spec)
    name = ".".join(part.qualified_name)
    # Detached first: from here on the partition takes no more rows.
    conn.execute(AuditDDL(detach_partition_sql(spec.qualified_audit_table, part.qualified_name)))
    action = "drop"
    where: str | None = None
    if destination.archive_schema is not None:
        action = "archive"
        conn.execute(AuditDDL(set_schema_sql(part.qualified_name, destination.archive_schema)))
        where = f"{destination.archive_schema}.{part.name}"
    elif destination.export_dir is not None:
        action = "export"
        inspector = PGAdvancedInspector(conn)
        columns = inspector.column_types(*part.qualified_name)
        with open_export(
            destination.export_dir,
            part.qualified_name,
            columns,
            comment=f"alembic-audit prune: partition {name} of {target.label}, audit times "
            f"[{_iso(part.lower)}, {_iso(part.upper)})",
        ) as export:
            written = export.copy(conn, copy_out_sql(part.qualified_name, [c for c, _ in columns]))
        where = str(export.path)
        if exact and written != rows:
            raise RuntimeError(f"prune: counted {rows} rows in {name}, exported {written}")
        rows, exact = written, True
    log_id = write_log(
        conn,
        LogEntry(
            action,
            spec.qualified_audit_table,
            relation=name,
            time_from=part.lower,
            time_to=part.upper,
            row_count=rows,
            row_count_exact=exact,
            destination=where,
            note=note,
        ),
        settings=setting_names(spec),
    )
    if action != "archive":
        conn.execute(AuditDDL(drop_table_sql(part.qualified_name)))
    return PruneStep(target.label, action, name, part.lower, part.upper, rows, exact, where, log_id)


def _iso(moment: datetime | None) -> str:
    return "unbounded" if moment is None else moment.astimezone(UTC).isoformat()


@dataclass
class _Batch:
    """How the batches of one table's loose rows go: where, and with which note."""

    plan: _Plan
    destination: _Destination
    export: Export | None
    to: str | None
    note: str | None

    @contextmanager
    def committed(self, work: Work) -> Iterator[Connection]:
        """One batch's transaction; if it does not commit, the export file loses the rows
        the batch wrote (they stay in the table)."""
        mark = self.export.checkpoint() if self.export is not None else None
        try:
            with work.unit() as conn:
                yield conn
        except BaseException:
            if self.export is not None and mark is not None:
                self.export.rewind(mark)
            raise

    def run(
        self,
        conn: Connection,
        relation: tuple[str, str],
        where: str,
        literal_where: str,
        params: dict[str, object],
        bounds: tuple[datetime | None, datetime | None],
    ) -> PruneStep | None:
        """One batch in the caller's transaction: count, log, remove, check."""
        spec = self.plan.target.spec
        _lock(conn, spec)
        rows = int(conn.execute(count_query(relation, where), params).scalar() or 0)
        if not rows:
            return None
        action = self.destination.action
        log_id = write_log(
            conn,
            LogEntry(
                action,
                spec.qualified_audit_table,
                relation=".".join(relation),
                time_from=bounds[0],
                time_to=bounds[1],
                row_count=rows,
                destination=self.to,
                note=self.note,
            ),
            settings=setting_names(spec),
        )
        removed = self._remove(conn, relation, where, literal_where, params)
        if removed != rows:
            raise RuntimeError(
                f"prune: counted {rows} rows of {'.'.join(relation)} in "
                f"[{_iso(bounds[0])}, {_iso(bounds[1])}), removed {removed}; rolled back"
            )
        return PruneStep(
            self.plan.target.label,
            action,
            ".".join(relation),
            bounds[0],
            bounds[1],
            rows,
            True,
            self.to,
            log_id,
        )

    def _remove(
        self,
        conn: Connection,
        relation: tuple[str, str],
        where: str,
        literal_where: str,
        params: dict[str, object],
    ) -> int:
        spec = self.plan.target.spec
        inspector = PGAdvancedInspector(conn)
        if self.destination.archive_schema is not None:
            archive = _archive_table(spec, self.destination.archive_schema)
            if not inspector.relation_exists(*archive):
                conn.execute(AuditDDL(create_like_sql(archive, spec.qualified_audit_table)))
            columns = inspector.columns([spec.qualified_audit_table])[spec.qualified_audit_table]
            query = move_rows_query(relation, archive, columns, where)
            return int(conn.execute(query, params).rowcount)
        if self.export is not None:
            columns = [c for c, _ in inspector.column_types(*spec.qualified_audit_table)]
            return self.export.copy(conn, copy_out_deleted_sql(relation, columns, literal_where))
        return int(conn.execute(delete_query(relation, where), params).rowcount)


def _prune_rows(
    work: Work,
    batch: _Batch,
    cutoff: datetime,
    batch_size: int,
    advance: Callable[[int], None],
) -> list[PruneStep]:
    """The old rows left in partitions reaching past the cutoff (or in a plain table), in
    windows of time sized to hold about ``batch_size`` rows: through the time index each
    window reads only the rows of its time range."""
    plan = batch.plan
    spec = plan.target.spec
    assert plan.loose_first is not None
    steps: list[PruneStep] = []
    window = Window(spec.time_column)
    lower = plan.loose_first
    span = cutoff - lower
    indexed = any(i.kind == "time" for i in spec.indexes_on_audit_table)
    width = span * min(1.0, batch_size / max(plan.loose_rows, 1)) if indexed else span
    width = max(width, timedelta(microseconds=1))
    while lower < cutoff:
        upper = min(lower + width, cutoff)
        if upper >= cutoff - timedelta(microseconds=1):
            upper = cutoff
        params: dict[str, object] = {"lower": lower, "upper": upper}
        with batch.committed(work) as conn:
            step = batch.run(
                conn,
                spec.qualified_audit_table,
                window.sql(),
                window.literal_sql(lower, upper),
                params,
                (lower, upper),
            )
        if step is not None:
            steps.append(step)
            advance(step.rows)
            # Aim the next window at batch_size rows (within a factor of 2 per step).
            width = width * max(0.5, min(2.0, batch_size / step.rows))
        elif indexed:
            width = width * 2
        lower = upper
    return steps


def _prune_null_time_rows(
    work: Work,
    batch: _Batch,
    cutoff: datetime,
    advance: Callable[[int], None],
) -> list[PruneStep]:
    """Rows without a change time (written before it was recorded), by their transaction's
    time, in batches of blocks (``ctid`` ranges) of the relation holding them."""
    plan = batch.plan
    assert plan.null_holder is not None
    spec = plan.target.spec
    holder = plan.null_holder
    blocks = int(work.conn.execute(blocks_query(holder)).scalar() or 0)
    old = Window(spec.time_column, TIMESTAMP_COLUMN)
    where = f"{old.sql(lower=False)} AND {CTID_RANGE}"
    steps: list[PruneStep] = []
    for first in range(0, blocks + 1, BLOCKS_PER_BATCH):
        last = first + BLOCKS_PER_BATCH
        params: dict[str, object] = {"upper": cutoff, **ctid_params(first, last)}
        literal = (
            f"{old.literal_sql(None, cutoff)} AND ctid >= '({first},0)' AND ctid < '({last},0)'"
        )
        with batch.committed(work) as conn:
            step = batch.run(conn, holder, where, literal, params, (None, cutoff))
        if step is not None:
            steps.append(step)
            advance(step.rows)
    return steps


__all__ = ["PruneReport", "PruneStep", "prune"]
