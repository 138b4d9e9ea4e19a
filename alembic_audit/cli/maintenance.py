"""``alembic-audit partitions``, ``prune`` and ``maintenance-log``: keep audit tables in shape.

Example::

    $ alembic-audit partitions create              # cron: daily
    $ alembic-audit partitions check               # exit code 1 when a table needs attention
    $ alembic-audit prune --older-than 400d --dry-run
    $ alembic-audit prune --older-than 400d --export /backups/audit
    $ alembic-audit maintenance-log --limit 20
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from datetime import datetime
from typing import Any

from ..core.errors import AuditError
from ..core.intervals import parse_age, utc
from ..maintenance import (
    check_partitions,
    create_partitions,
    maintenance_log,
    prune,
    use_pg_partman,
)
from ..maintenance.partitions import PartitionStatus
from .common import CliError, Output, connect, show


def register(commands: Any) -> None:
    """Add ``partitions``, ``prune`` and ``maintenance-log`` to the command line.

    Example::

        register(parser.add_subparsers())
    """
    partitions = commands.add_parser(
        "partitions",
        help="make and check the partitions of partitioned audit tables",
        description="Partitioned audit tables (audit option 'partition') need partitions "
        "ahead of time; run 'partitions create' regularly (a daily cron job).",
    )
    actions = partitions.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser(
        "create",
        help="make partitions ahead, move rows waiting in the default partition",
        description="Make the partitions of the current interval and of the next ones "
        "(the table's 'ahead', or --ahead), and of past intervals whose rows wait in the "
        "default partition (moved into them, recorded in the maintenance log); give every "
        "partition the append-only guard.  Tables pg_partman manages are maintained by it.",
    )
    _tables_option(create)
    create.add_argument("--ahead", type=int, help="intervals after the current one to make")
    create.add_argument(
        "--no-backfill",
        action="store_true",
        help="leave rows waiting in the default partition where they are",
    )
    create.add_argument("--dry-run", action="store_true", help="say what would be made")
    create.set_defaults(handler=partitions_create)
    check = actions.add_parser(
        "check",
        help="report partitions ahead, rows in default partitions, missing guards",
        description="Report the state of partitioned audit tables; exit code 1 when one "
        "needs attention (for monitoring).",
    )
    _tables_option(check)
    check.set_defaults(handler=partitions_check)
    partman = actions.add_parser(
        "partman",
        help="let pg_partman keep the partitions (pg_partman must be installed)",
        description="Register partitioned audit tables with pg_partman (create_parent), "
        "whose maintenance then makes their partitions ahead.",
    )
    _tables_option(partman)
    partman.set_defaults(handler=partitions_partman)

    pruning = commands.add_parser(
        "prune",
        help="remove the audit rows older than a cutoff (recorded in the maintenance log)",
        description="Remove the audit rows older than the cutoff, and exactly those: whole "
        "partitions are dropped (or archived, or exported), other rows go by batched "
        "DELETE.  Every step is recorded in the audit-maintenance log.",
    )
    when = pruning.add_mutually_exclusive_group(required=True)
    when.add_argument("--older-than", metavar="AGE", help="e.g. 90d, 12w, 36h, 2y")
    when.add_argument("--before", metavar="TIME", help="an ISO time, e.g. 2025-01-01 (UTC)")
    _tables_option(pruning)
    keep = pruning.add_mutually_exclusive_group()
    keep.add_argument(
        "--archive-schema", metavar="SCHEMA", help="move what goes into this (existing) schema"
    )
    keep.add_argument("--export", metavar="DIR", help="write what goes to CSV files in DIR first")
    pruning.add_argument(
        "--dry-run", action="store_true", help="print what would go, change nothing"
    )
    pruning.add_argument("--batch-size", type=int, default=50_000, help="rows per DELETE")
    pruning.add_argument(
        "--estimate-counts",
        action="store_true",
        help="log a dropped partition's row count from its statistics instead of counting",
    )
    pruning.add_argument("--note", help="a note recorded with each step in the log")
    pruning.set_defaults(handler=prune_command)

    log = commands.add_parser(
        "maintenance-log",
        help="what prune, partition maintenance and redact did, and who",
        description="The audit-maintenance log, newest first.",
    )
    log.add_argument("--schema", help="only the log of this schema")
    log.add_argument("--limit", type=int, default=50, help="rows to show (default 50)")
    log.set_defaults(handler=log_command)


def _tables_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--table",
        action="append",
        dest="tables",
        metavar="TABLE",
        help="an audited or audit table (schema.name or name); repeat for more (default: all)",
    )


def partitions_create(args: argparse.Namespace, out: Output) -> int:
    """Make partitions ahead (``alembic-audit partitions create``).

    Example::

        $ alembic-audit partitions create --ahead 6
    """
    with connect(args) as conn:
        report = create_partitions(
            conn,
            args.tables,
            ahead=args.ahead,
            backfill=not args.no_backfill,
            dry_run=args.dry_run,
        )
        conn.commit()
    verb = "would make" if args.dry_run else "made"
    out.table(
        ["audit table", "partition", "from", "to", "rows moved"],
        [(s.audit_table, s.partition, s.lower, s.upper, s.rows_moved) for s in report.created],
    )
    out.text(f"{verb} {len(report.created)} partition(s)")
    _problems(out, report.tables)
    out.data(
        {
            "dry_run": args.dry_run,
            "created": [asdict(s) for s in report.created],
            "tables": [asdict(t) for t in report.tables],
        }
    )
    return 0


def _problems(out: Output, tables: list[PartitionStatus]) -> None:
    for status in tables:
        for problem in status.problems:
            out.text(out.paint(f"{status.audit_table}: {problem}", "yellow"))


def partitions_check(args: argparse.Namespace, out: Output) -> int:
    """Report the partitions' state; exit code 1 when one needs attention.

    Example::

        $ alembic-audit partitions check || alert "audit partitions need attention"
    """
    with connect(args) as conn:
        statuses = check_partitions(conn, args.tables)
    out.table(
        ["audit table", "by", "managed by", "partitions", "covered until", "ahead", "default rows"],
        [
            (
                s.audit_table,
                s.interval,
                s.managed_by,
                s.partitions,
                s.covered_until,
                f"{s.ahead}/{s.wanted_ahead}",
                s.default_rows,
            )
            for s in statuses
        ],
    )
    _problems(out, statuses)
    out.data([asdict(s) for s in statuses])
    return 1 if any(s.problems for s in statuses) else 0


def partitions_partman(args: argparse.Namespace, out: Output) -> int:
    """Let pg_partman keep the partitions (``partitions partman``).

    Example::

        $ alembic-audit partitions partman --table order
    """
    with connect(args) as conn:
        steps = use_pg_partman(conn, args.tables)
        conn.commit()
    out.table(
        ["audit table", "partition", "from", "to"],
        [(s.audit_table, s.partition, s.lower, s.upper) for s in steps],
    )
    out.text(f"pg_partman keeps the partitions now; it made {len(steps)} partition(s)")
    out.data([asdict(s) for s in steps])
    return 0


def _before(value: str) -> datetime:
    try:
        return utc(datetime.fromisoformat(value))
    except ValueError:
        raise CliError(
            f"--before {value!r} is not an ISO time (2025-01-01 or 2025-01-01T12:00)"
        ) from None


def prune_command(args: argparse.Namespace, out: Output) -> int:
    """Remove the audit rows older than the cutoff (``alembic-audit prune``).

    Example::

        $ alembic-audit prune --older-than 400d --archive-schema audit_archive
    """
    if args.older_than is not None:
        try:
            parse_age(args.older_than)
        except AuditError as exc:
            raise CliError(f"--older-than: {exc}") from None
    with connect(args) as conn:
        report = prune(
            conn,
            older_than=args.older_than,
            before=_before(args.before) if args.before else None,
            tables=args.tables,
            archive_schema=args.archive_schema,
            export_dir=args.export,
            dry_run=args.dry_run,
            batch_size=args.batch_size,
            exact_counts=not args.estimate_counts,
            note=args.note,
        )
        conn.commit()
    out.table(
        ["audit table", "action", "relation", "from", "to", "rows", "destination"],
        [
            (
                s.audit_table,
                s.action,
                s.relation,
                s.time_from or "",
                s.time_to,
                s.rows if s.exact else f"~{s.rows}",
                s.destination or "",
            )
            for s in report.steps
        ],
    )
    verb = "would remove" if args.dry_run else "removed"
    out.text(
        f"{verb} {report.rows} audit row(s) older than {show(report.cutoff)}"
        + (" (dry run: nothing changed)" if args.dry_run else "")
    )
    out.data(
        {
            "cutoff": report.cutoff,
            "dry_run": report.dry_run,
            "rows": report.rows,
            "steps": [asdict(s) for s in report.steps],
        }
    )
    return 0


def log_command(args: argparse.Namespace, out: Output) -> int:
    """Print the audit-maintenance log (``alembic-audit maintenance-log``).

    Example::

        $ alembic-audit --json maintenance-log --limit 5
    """
    with connect(args) as conn:
        rows = maintenance_log(conn, schema=args.schema, limit=args.limit)
    out.table(
        ["id", "logged at", "role", "action", "audit table", "relation", "from", "to", "rows"],
        [
            (
                r["id"],
                r["logged_at"],
                r["database_role"],
                r["action"],
                f"{r['audit_schema']}.{r['audit_table']}",
                r["relation"] or "",
                r["time_from"] or "",
                r["time_to"] or "",
                r["row_count"],
            )
            for r in rows
        ],
    )
    out.data(rows)
    return 0


__all__ = ["register"]
