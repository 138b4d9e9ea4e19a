"""The partitions of partitioned audit tables: which to make, making them, and their state.

Partitions cover whole intervals of the audit time (UTC months, ISO weeks or days).  A
row whose time no partition covers goes to the default partition, so a write never
fails; making a partition for a range the default partition holds rows of moves those
rows into it (``DELETE ... RETURNING`` into the new table, recorded in the maintenance
log as ``move``), then attaches it.  Partitions made by hand or by pg_partman are read
by their bounds, not their names: a planned interval they cover, even in part, is not
made again; what they leave free is.

Example::

    with work.unit() as conn:
        steps = ensure_partitions(conn, spec, now=inspector.now(), ahead=4)
    [step.partition for step in steps]  # ['public.item_audit_p2025_04', ...]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.engine import Connection

from ..core.constants import TIMESTAMP_COLUMN
from ..core.intervals import UTC, interval_start, intervals, next_start, partition_suffix
from ..core.naming import fit_with_suffix
from ..core.spec import AuditSpec
from ..reflection.inspector import PartitionInfo, PGAdvancedInspector
from ..sql.audit_partitions import RangePartition, add_partition_guards_sql
from ..sql.maintenance import advisory_lock_query
from ..sql.rows import (
    Window,
    attach_partition_sql,
    count_query,
    create_like_sql,
    interval_counts_query,
    move_rows_query,
    span_query,
)
from ..sql.statement import AuditDDL
from .log import LogEntry, setting_names, write_log

Range = tuple[datetime, datetime]


@dataclass(frozen=True)
class PartitionStep:
    """A partition made (``rows_moved``: rows it took over from the default partition).

    Example::

        PartitionStep("public.item_audit", "public.item_audit_p2025_04",
                      datetime(2025, 4, 1, tzinfo=timezone.utc),
                      datetime(2025, 5, 1, tzinfo=timezone.utc), rows_moved=0)
    """

    audit_table: str
    partition: str
    lower: datetime
    upper: datetime
    rows_moved: int = 0


@dataclass
class PartitionStatus:
    """The state of one partitioned audit table, and what needs attention.

    ``covered_until``: the end of the contiguous run of partitions from the current
    interval on (``None`` if the current interval has none); ``ahead``: how many whole
    intervals after the current one that run covers, against ``wanted_ahead``.
    ``default_rows``: rows in the default partition (``default_null_time`` of them
    without a time, written before the change time was recorded), spanning
    ``default_first`` to ``default_last``.  ``unguarded``: partitions lacking the
    append-only guard.  ``problems``: the above, in words.

    Example::

        status.problems  # ['12 rows in the default partition (2025-01-03 to 2025-01-09)']
    """

    audit_table: str
    interval: str
    managed_by: str
    partitions: int
    first: datetime | None
    covered_until: datetime | None
    ahead: int
    wanted_ahead: int
    default_partition: str | None
    default_rows: int
    default_null_time: int
    default_first: datetime | None
    default_last: datetime | None
    unguarded: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def free_pieces(wanted: Range, taken: Iterable[Range]) -> list[Range]:
    """The parts of ``wanted`` no range of ``taken`` covers, in order.

    Example::

        free_pieces((jan, apr), [(feb, mar)])  # [(jan, feb), (mar, apr)]
    """
    pieces = [wanted]
    for low, high in taken:
        out: list[Range] = []
        for start, end in pieces:
            if high <= start or low >= end:
                out.append((start, end))
                continue
            if start < low:
                out.append((start, low))
            if high < end:
                out.append((high, end))
        pieces = out
    return pieces


def _taken(parts: Sequence[PartitionInfo]) -> list[Range]:
    lowest = datetime.min.replace(tzinfo=UTC)
    highest = datetime.max.replace(tzinfo=UTC)
    return [(p.lower or lowest, p.upper or highest) for p in parts if not p.is_default]


def _piece_partition(spec: AuditSpec, piece: Range) -> RangePartition:
    assert spec.partition is not None
    by = spec.partition.by
    start, end = piece
    whole = interval_start(by, start)
    if start == whole and end == next_start(by, whole):
        suffix = partition_suffix(by, start)
    else:
        # Part of an interval, beside a partition made by hand or by pg_partman.
        suffix = partition_suffix(by, whole) + start.strftime("_from_%Y%m%dT%H%M%S")
    name = fit_with_suffix(spec.audit_table_name, suffix)
    return RangePartition(spec.effective_audit_schema, name, spec.qualified_audit_table, start, end)


def plan(
    spec: AuditSpec,
    parts: Sequence[PartitionInfo],
    now: datetime,
    ahead: int,
    with_rows: Iterable[datetime] = (),
) -> list[RangePartition]:
    """The partitions to make: the current interval and ``ahead`` more, plus the intervals
    ``with_rows`` (rows waiting in the default partition, or in a table being converted),
    minus what existing partitions cover.

    Example::

        [p.name for p in plan(spec, [], now, 1)]  # ['item_audit_p2025_04', 'item_audit_p2025_05']
    """
    assert spec.partition is not None
    by = spec.partition.by
    wanted = {start for start, _ in intervals(by, now, ahead + 1)}
    wanted |= {interval_start(by, moment) for moment in with_rows}
    taken = _taken(parts)
    out: list[RangePartition] = []
    for start in sorted(wanted):
        for piece in free_pieces((start, next_start(by, start)), taken):
            out.append(_piece_partition(spec, piece))
    return out


def default_partition(parts: Sequence[PartitionInfo]) -> PartitionInfo | None:
    """The default partition among ``parts``, if there is one.

    Example::

        default_partition(inspector.partitions([t])[t]).name  # 'item_audit_default'
    """
    return next((p for p in parts if p.is_default), None)


def rows_by_interval(
    conn: Connection, spec: AuditSpec, table: tuple[str, str]
) -> dict[datetime, int]:
    """Rows per interval of ``spec``'s partitioning in ``table`` (UTC interval starts).

    Example::

        rows_by_interval(conn, spec, spec.qualified_default_partition)
        # {datetime(2025, 1, 1, tzinfo=timezone.utc): 12}
    """
    assert spec.partition is not None
    rows = conn.execute(
        interval_counts_query(table, spec.time_column), {"by": spec.partition.by}
    ).all()
    return {start.replace(tzinfo=UTC): int(n) for start, n in rows}


def make_partition(
    conn: Connection, spec: AuditSpec, part: RangePartition, default: PartitionInfo | None
) -> PartitionStep:
    """Make one partition, taking over the rows the default partition holds for its range.

    Example::

        make_partition(conn, spec, plan(spec, parts, now, 0)[0], default_partition(parts))
    """
    window = Window(spec.time_column)
    params = Window.params(part.start, part.end)
    moving = 0
    if default is not None:
        moving = int(
            conn.execute(count_query(default.qualified_name, window.sql()), params).scalar() or 0
        )
    label = ".".join(part.qualified_name)
    if not moving:
        conn.execute(AuditDDL(part.create_sql()))
        return PartitionStep(".".join(spec.qualified_audit_table), label, *_bounds(part))
    # PostgreSQL refuses a partition whose range the default partition holds rows of:
    # make it as a table, move the rows in (through the audit table, so that the guard
    # sees the log row), then attach it.
    assert default is not None
    columns = PGAdvancedInspector(conn).columns([spec.qualified_audit_table])[
        spec.qualified_audit_table
    ]
    conn.execute(AuditDDL(create_like_sql(part.qualified_name, spec.qualified_audit_table)))
    write_log(
        conn,
        LogEntry(
            "move",
            spec.qualified_audit_table,
            relation=".".join(default.qualified_name),
            time_from=part.start,
            time_to=part.end,
            row_count=moving,
            destination=label,
            note="rows of the default partition moved into a new partition",
        ),
        settings=setting_names(spec),
    )
    moved = conn.execute(
        move_rows_query(spec.qualified_audit_table, part.qualified_name, columns, window.sql()),
        params,
    ).rowcount
    if moved != moving:
        raise RuntimeError(
            f"moving rows of {label}: counted {moving} in the default partition, moved {moved}"
        )
    conn.execute(
        AuditDDL(
            attach_partition_sql(spec.qualified_audit_table, part.qualified_name, part.bounds_sql())
        )
    )
    return PartitionStep(".".join(spec.qualified_audit_table), label, *_bounds(part), moving)


def _bounds(part: RangePartition) -> tuple[datetime, datetime]:
    assert part.start is not None and part.end is not None
    return (part.start, part.end)


def lock_partitions(conn: Connection, spec: AuditSpec) -> None:
    """Take turns with other maintenance of the same audit table's partitions.

    Example::

        lock_partitions(conn, spec)
    """
    conn.execute(
        advisory_lock_query("alembic_audit partitions " + ".".join(spec.qualified_audit_table))
    )


def ensure_partitions(
    conn: Connection,
    spec: AuditSpec,
    *,
    now: datetime,
    ahead: int,
    backfill: bool = True,
    dry_run: bool = False,
) -> list[PartitionStep]:
    """Make the partitions :func:`plan` asks for (in the caller's transaction), and give
    every partition the append-only guard when the spec asks for it.  ``backfill``: also
    make partitions for the past intervals whose rows wait in the default partition.

    Example::

        ensure_partitions(conn, spec, now=now, ahead=spec.partition.ahead)
    """
    inspector = PGAdvancedInspector(conn)
    if not dry_run:
        lock_partitions(conn, spec)
    parts = inspector.partitions([spec.qualified_audit_table])[spec.qualified_audit_table]
    default = default_partition(parts)
    waiting = rows_by_interval(conn, spec, default.qualified_name) if default and backfill else {}
    planned = plan(spec, parts, now, ahead, waiting)
    assert spec.partition is not None
    by = spec.partition.by
    if dry_run:
        # What would move is the rows waiting for the whole interval (a part of an
        # interval beside a hand-made partition may take fewer).
        table = ".".join(spec.qualified_audit_table)
        return [
            PartitionStep(
                table,
                ".".join(part.qualified_name),
                *_bounds(part),
                waiting.get(interval_start(by, _bounds(part)[0]), 0),
            )
            for part in planned
        ]
    steps = [make_partition(conn, spec, part, default) for part in planned]
    if spec.append_only:
        conn.execute(AuditDDL(add_partition_guards_sql(spec)))
    return steps


def partition_status(
    conn: Connection, spec: AuditSpec, *, now: datetime, managed_by: str = "alembic-audit"
) -> PartitionStatus:
    """Read the state of a partitioned audit table (read-only).

    Example::

        partition_status(conn, spec, now=now).problems  # []
    """
    assert spec.partition is not None
    by = spec.partition.by
    parts = PGAdvancedInspector(conn).partitions([spec.qualified_audit_table])[
        spec.qualified_audit_table
    ]
    ranges = sorted(_taken(parts))
    current = interval_start(by, now)
    covered: datetime | None = None
    for low, high in ranges:
        # The run of partitions from the current interval on, as long as they touch.
        reach = current if covered is None else covered
        if low <= reach < high:
            covered = high
    ahead = 0
    if covered is not None:
        start = next_start(by, current)
        while next_start(by, start) <= covered and ahead <= spec.partition.ahead + 1000:
            ahead += 1
            start = next_start(by, start)
    default = default_partition(parts)
    status = PartitionStatus(
        audit_table=".".join(spec.qualified_audit_table),
        interval=by,
        managed_by=managed_by,
        partitions=len(parts),
        first=ranges[0][0] if ranges else None,
        covered_until=covered,
        ahead=ahead,
        wanted_ahead=spec.partition.ahead,
        default_partition=".".join(default.qualified_name) if default else None,
        default_rows=0,
        default_null_time=0,
        default_first=None,
        default_last=None,
    )
    if default is not None:
        n, first, last = conn.execute(
            span_query(default.qualified_name, spec.time_column, "true")
        ).one()
        status.default_rows = int(n)
        status.default_first, status.default_last = first, last
        status.default_null_time = int(
            conn.execute(
                count_query(
                    default.qualified_name,
                    Window(spec.time_column, TIMESTAMP_COLUMN).sql(lower=False, upper=False),
                )
            ).scalar()
            or 0
        )
    if spec.append_only:
        status.unguarded = [
            ".".join(p.qualified_name) for p in parts if spec.guard_trigger_name not in p.triggers
        ]
    if default is None:
        status.problems.append(
            "no default partition: a write whose time no partition covers fails; run "
            "alembic_audit.install_audit_triggers or a migration's audit op to make it"
        )
    if status.default_rows:
        timed = status.default_rows - status.default_null_time
        words = []
        if timed:
            words.append(
                f"{timed} rows with a time no partition covers "
                f"({_day(status.default_first)} to {_day(status.default_last)}): "
                "alembic-audit partitions create moves them into partitions"
            )
        if status.default_null_time:
            words.append(
                f"{status.default_null_time} rows without a change time (written before it "
                "was recorded): they stay there, pruned by their transaction time"
            )
        status.problems.append(
            f"{status.default_rows} rows in the default partition: " + "; ".join(words)
        )
    if covered is None:
        status.problems.append(
            f"no partition for the current {by}: its rows go to the default partition"
        )
    elif ahead < spec.partition.ahead:
        status.problems.append(
            f"{ahead} {by}(s) ahead are partitioned, {spec.partition.ahead} wanted"
        )
    if status.unguarded:
        status.problems.append(
            f"partitions without the append-only guard: {', '.join(status.unguarded)}"
        )
    return status


def _day(moment: datetime | None) -> str:
    return "?" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d")


__all__ = [
    "PartitionStatus",
    "PartitionStep",
    "default_partition",
    "ensure_partitions",
    "free_pieces",
    "lock_partitions",
    "make_partition",
    "partition_status",
    "plan",
    "rows_by_interval",
]
