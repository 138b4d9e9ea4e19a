"""Partitioned audit tables against plain ones, measured side by side in one run.

1. **Writes**: bulk INSERT, UPDATE, DELETE of ``--rows`` rows and ``--single`` one-row
   INSERT and UPDATE transactions on three identical tables: no trigger, audited into a
   plain audit table, audited into a monthly-partitioned one (statement level, every
   index; the current month's partition made).  Designs interleaved, ``--repeat`` times,
   as ``writes.py`` does.
2. **Conversion**: a plain audit table of ``--history-rows`` rows over ``--months``
   months converted to monthly partitions by ``op.partition_audit_table``'s code: wall
   time.
3. **Reads** on the same rows, plain and partitioned, server time from ``EXPLAIN
   ANALYZE``, interleaved: one row's whole history; ``as_of`` of one row (its latest
   version at a moment: ``WHERE id = ? AND time <= ? ORDER BY audit_id DESC LIMIT 1``,
   what the history API runs); ``as_of`` of the whole table (the latest version of every
   key at a moment, ``DISTINCT ON``); one hour's rows; with the partitions each plan reads.
4. **Pruning one month**: ``alembic_audit.prune`` of the oldest month on both tables
   (a partition detached and dropped, against a batched DELETE of the same rows): wall time.

Usage::

    python benchmarks/partitions.py                 # 10 million rows, 24 months
    python benchmarks/partitions.py --history-rows 1000000 --months 12
    python benchmarks/partitions.py --embedded

The script creates and drops its own database (``alembic_audit_bench_partitions``).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]

import psycopg  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from writes import (  # noqa: E402
    BULK,
    COLUMNS,
    SINGLE,
    bench_database,
    bench_table,
    interleaved,
    rotate,
    server_arguments,
)

import alembic_audit  # noqa: E402
from alembic_audit.core.spec import Partitioning  # noqa: E402
from alembic_audit.maintenance.conversion import partition_table  # noqa: E402
from alembic_audit.maintenance.log import ensure_log  # noqa: E402
from alembic_audit.sql.tables import create_audit_table_sql, create_index_sql  # noqa: E402

DATABASE = "alembic_audit_bench_partitions"
UTC = timezone.utc
WRITE_DESIGNS = ("none", "plain", "partitioned")
START = datetime(2024, 1, 1, tzinfo=UTC)


def write_metadata() -> sa.MetaData:
    alembic_audit.enable()
    md = sa.MetaData()
    settings = [sa.Column("username", sa.String(40))]
    bench_table("w_none", md, {"enabled": False})
    bench_table("w_plain", md, {"enabled": True, "session_settings": settings})
    bench_table(
        "w_partitioned",
        md,
        {"enabled": True, "session_settings": settings, "partition": {"by": "month"}},
    )
    return md


def bulk_sql(design: str, workload: str, rows: int) -> list[str]:
    table = f"w_{design}"
    return [
        {
            "bulk insert": (
                f"INSERT INTO {table} ({', '.join(COLUMNS)}) "
                f"SELECT g, 'name ' || g, g % 100, g * 0.01, now(), repeat('x', 20) "
                f"FROM generate_series(1, {rows}) AS g"
            ),
            "bulk update": f"UPDATE {table} SET qty = qty + 1, updated_at = now()",
            "bulk delete": f"DELETE FROM {table}",
        }[workload]
    ]


def single_sql(design: str, workload: str) -> str:
    table = f"w_{design}"
    return {
        "1-row insert": (
            f"INSERT INTO {table} ({', '.join(COLUMNS)}) "
            "VALUES (%(id)s, 'single', 1, 1.5, now(), 'note')"
        ),
        "1-row update": f"UPDATE {table} SET qty = qty + 1 WHERE id = %(id)s",
    }[workload]


def reset(conn: psycopg.Connection[Any], design: str) -> None:
    audit = "" if design == "none" else f", w_{design}_audit"
    conn.execute(f"TRUNCATE w_{design}{audit}")
    conn.commit()


def writes(url: str, args: argparse.Namespace) -> dict[str, dict[str, list[float]]]:
    md = write_metadata()
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    md.create_all(engine)
    alembic_audit.install_audit_triggers(md, engine)
    alembic_audit.create_partitions(engine, ahead=1)
    with engine.begin() as conn:
        # Plain tables and partitions (a partitioned table has no storage of its own).
        plain = (
            "SELECT relname FROM pg_class"
            " WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace"
        )
        for name in conn.exec_driver_sql(plain).scalars().all():
            conn.exec_driver_sql(f"ALTER TABLE {name} SET (autovacuum_enabled = false)")
    engine.dispose()
    times: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    with psycopg.connect(url) as conn:
        conn.execute("SET synchronous_commit = off")
        conn.commit()
        interleaved(
            conn,
            WRITE_DESIGNS,
            args,
            sql=(bulk_sql, single_sql),
            reset=reset,
            into=times,
            label="writes: repetition",
        )
    return times


# -- history -----------------------------------------------------------------------------


def history_spec(name: str) -> alembic_audit.AuditSpec:
    alembic_audit.enable()
    md = sa.MetaData()
    table = bench_table(
        name, md, {"enabled": True, "session_settings": [sa.Column("username", sa.String(40))]}
    )
    return alembic_audit.get_audit_spec(table)


def fill(conn: psycopg.Connection[Any], table: str, rows: int, keys: int, months: int) -> None:
    """``rows`` audit rows, in time order over ``months`` months from 2024-01-01, versions of
    ``keys`` rows, a transaction per 3 rows (as reads.py builds them)."""
    step = (months * 30.4 * 86400) / rows
    conn.execute(
        f"INSERT INTO {table} (id, name, qty, price, updated_at, note, audit_operation,"
        " audit_operation_timestamp, audit_current_user, audit_transaction_id,"
        " audit_change_timestamp, audit_username)"
        " SELECT g %% %(keys)s, 'name ' || g, g %% 100, g * 0.01, t, 'note',"
        " CASE WHEN g < %(keys)s THEN 'I' ELSE 'U' END, t, 'app', (g / 3 + 1000)::text::xid8,"
        " t, 'user ' || g %% 50"
        " FROM generate_series(0, %(rows)s - 1) AS g,"
        " LATERAL (SELECT timestamptz '2024-01-01+00' + g * %(step)s * interval '1 second'"
        " AS t) AS x",
        {"rows": rows, "keys": keys, "step": step},
    )


def explain(conn: psycopg.Connection[Any], query: str, params: tuple[Any, ...]) -> dict[str, Any]:
    row = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {query}", params).fetchone()
    assert row is not None
    plan = row[0][0]
    return {"ms": plan["Execution Time"], "plan": plan["Plan"]}


def relations(plan: dict[str, Any]) -> set[str]:
    """The relations a plan reads."""
    found = {plan["Relation Name"]} if "Relation Name" in plan else set()
    for child in plan.get("Plans", []):
        found |= relations(child)
    return found


def history(url: str, args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    plain, part = history_spec("hist"), history_spec("hist")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(create_audit_table_sql(plain))
        started = time.perf_counter()
        fill(conn, "hist_audit", args.history_rows, args.keys, args.months)
        for index in plain.indexes_on_audit_table:
            conn.execute(create_index_sql(plain, index))
        conn.execute("VACUUM (ANALYZE) hist_audit")
        print(
            f"  built {args.history_rows} rows in {time.perf_counter() - started:.1f} s",
            file=sys.stderr,
        )
    # The conversion, as op.partition_audit_table runs it (one transaction).
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    partitioned = part.replace(partition=Partitioning("month", ahead=0))
    now = START + timedelta(days=30.4 * args.months)
    with engine.begin() as conn:
        started = time.perf_counter()
        report = partition_table(conn, part, partitioned, now=now, show_progress=False)
    out["conversion"] = {
        "seconds": time.perf_counter() - started,
        "rows": report.rows,
        "partitions": report.partitions,
    }
    # A plain copy of the same rows beside it, for the side-by-side reads.
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) hist_audit")
        conn.execute("CREATE TABLE flat_audit (LIKE hist_audit)")
        conn.execute("INSERT INTO flat_audit SELECT * FROM hist_audit ORDER BY audit_id")
        flat = plain.replace(audit_table_name="flat_audit")
        for index in flat.indexes_on_audit_table:
            conn.execute(create_index_sql(flat, index))
        conn.execute("VACUUM (ANALYZE) flat_audit")
        out["reads"] = reads(conn, args)
    engine.dispose()
    out["prune"] = prune_one_month(url, args)
    return out


def reads(conn: psycopg.Connection[Any], args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(1)
    span = timedelta(days=30.4 * args.months)
    queries = {
        "one row's history": (
            "SELECT * FROM {t} WHERE id = %s ORDER BY audit_id",
            lambda: (rng.randrange(args.keys),),
        ),
        "as_of one row": (
            "SELECT * FROM {t} WHERE id = %s AND audit_change_timestamp <= %s"
            " ORDER BY audit_id DESC LIMIT 1",
            lambda: (rng.randrange(args.keys), START + span * rng.uniform(0.05, 0.3)),
        ),
        "as_of the table": (
            "SELECT DISTINCT ON (id) * FROM {t} WHERE audit_change_timestamp <= %s"
            " ORDER BY id, audit_id DESC",
            lambda: (START + span * 0.1,),
        ),
        "one hour": (
            "SELECT count(*) FROM {t} WHERE audit_change_timestamp >= %s"
            " AND audit_change_timestamp < %s + interval '1 hour'",
            lambda: (lambda t: (t, t))(START + span * rng.uniform(0, 0.95)),
        ),
    }
    out: dict[str, Any] = {}
    for name, (query, params) in queries.items():
        runs: dict[str, list[dict[str, Any]]] = {"flat_audit": [], "hist_audit": []}
        samples = args.samples if name != "as_of the table" else max(1, args.samples // 10)
        for n in range(samples + 1):
            values = params()
            for table in rotate(("flat_audit", "hist_audit"), n):
                result = explain(conn, query.format(t=table), values)
                if n:  # the first round warms the cache
                    runs[table].append(result)
        out[name] = runs
    return out


def prune_one_month(url: str, args: argparse.Namespace) -> dict[str, float]:
    """The oldest month, pruned from the partitioned table (a partition dropped, its rows
    counted for the log) and from the plain one (batched DELETE of the same rows); then the
    next month, the partition's row count taken from its statistics
    (``exact_counts=False``)."""
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    spec = history_spec("hist").replace(partition=Partitioning("month", ahead=0))
    flat = history_spec("hist").replace(audit_table_name="flat_audit")
    out: dict[str, float] = {}
    with engine.begin() as conn:
        # The log exists first, so that the first prune timed does not pay for making it.
        ensure_log(conn, "public")
        out["partitions"] = conn.exec_driver_sql(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'hist_audit'::regclass"
        ).scalar_one()
    runs = (
        ("partition", spec, START.replace(month=2), True),
        ("delete", flat, START.replace(month=2), True),
        ("partition, estimated count", spec, START.replace(month=3), False),
        ("delete, second month", flat, START.replace(month=3), True),
    )
    for label, target, cutoff, exact in runs:
        started = time.perf_counter()
        report = alembic_audit.prune(
            engine, before=cutoff, tables=[target], show_progress=False, exact_counts=exact
        )
        out[label] = time.perf_counter() - started
        out[f"{label} rows"] = report.rows
    engine.dispose()
    return out


def report(
    times: dict[str, dict[str, list[float]]], hist: dict[str, Any], args: argparse.Namespace
) -> str:
    lines = write_report(times, args) if times else []
    if hist:
        lines += history_report(hist, args)
    return "\n".join(lines)


def write_report(times: dict[str, dict[str, list[float]]], args: argparse.Namespace) -> list[str]:
    lines = ["## writes (statement level; medians of the per-repetition ratios, min-max)", ""]
    workloads = [w for w in BULK + SINGLE if w in times]
    lines += ["| ratio | " + " | ".join(workloads) + " |", "|---" * (len(workloads) + 1) + "|"]
    for a, b in (("partitioned", "plain"), ("plain", "none"), ("partitioned", "none")):
        cells = []
        for w in workloads:
            r = [x / y for x, y in zip(times[w][a], times[w][b], strict=True)]
            cells.append(f"{statistics.median(r):.2f}x ({min(r):.2f}-{max(r):.2f})")
        lines.append(f"| {a} / {b} | " + " | ".join(cells) + " |")
    # The absolute cost of a one-row transaction (a ratio also moves with the baseline).
    lines.append("")
    for w in SINGLE:
        if w in times:
            per = {d: statistics.median(times[w][d]) / args.single * 1e3 for d in WRITE_DESIGNS}
            cells = ", ".join(f"{d} {v:.3f}" for d, v in per.items())
            lines.append(f"  {w}, ms per transaction (medians): {cells}")
    return lines


def history_report(hist: dict[str, Any], args: argparse.Namespace) -> list[str]:
    conv = hist["conversion"]
    lines = [
        "",
        f"## conversion: {conv['rows']} rows into {conv['partitions']} partitions "
        f"(op.partition_audit_table): {conv['seconds']:.1f} s",
        "",
        f"## reads: {args.history_rows} rows, {args.keys} keys, {args.months} monthly "
        "partitions (server ms, medians; partitions read of the partitioned table)",
        "",
        "| query | plain ms | partitioned ms | partitioned / plain | partitions read |",
        "|---|---|---|---|---|",
    ]
    total = int(hist["prune"]["partitions"])
    for name, runs in hist["reads"].items():
        flat = statistics.median(r["ms"] for r in runs["flat_audit"])
        part = statistics.median(r["ms"] for r in runs["hist_audit"])
        read = statistics.median(len(relations(r["plan"])) for r in runs["hist_audit"])
        lines.append(
            f"| {name} | {flat:.3f} | {part:.3f} | {part / flat:.2f}x | {read:.0f} of {total} |"
        )
    pruned = hist["prune"]
    lines += [
        "",
        f"## pruning one month ({pruned['partition rows']:.0f} rows): by partition "
        f"{pruned['partition']:.3f} s, by DELETE {pruned['delete']:.3f} s "
        f"(DELETE / partition = {pruned['delete'] / pruned['partition']:.1f}x)",
        f"## the next month ({pruned['delete, second month rows']:.0f} rows), the partition's "
        f"count from its statistics: by partition {pruned['partition, estimated count']:.3f} s, "
        f"by DELETE {pruned['delete, second month']:.3f} s (DELETE / partition = "
        f"{pruned['delete, second month'] / pruned['partition, estimated count']:.1f}x)",
    ]
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    server_arguments(parser)
    parser.add_argument("--rows", type=int, default=100_000, help="rows per bulk statement")
    parser.add_argument("--single", type=int, default=3_000, help="one-row transactions")
    parser.add_argument("--block", type=int, default=250, help="one-row transactions in a row")
    parser.add_argument("--repeat", type=int, default=5, help="write repetitions")
    parser.add_argument("--history-rows", type=int, default=10_000_000, help="audit rows")
    parser.add_argument("--keys", type=int, default=1_000_000, help="distinct audited rows")
    parser.add_argument("--months", type=int, default=24, help="months of history")
    parser.add_argument("--samples", type=int, default=30, help="reads measured per query")
    parser.add_argument(
        "--only", choices=("writes", "history"), help="measure only the writes, or only the rest"
    )
    parser.add_argument("--json", action="store_true", help="print the raw measurements")
    args = parser.parse_args(argv)
    with bench_database(args, DATABASE) as (url, version):
        times = writes(url, args) if args.only != "history" else {}
        hist = history(url, args) if args.only != "writes" else {}
    print(
        f"PostgreSQL {version}; writes: {args.rows} rows per bulk statement, {args.single} "
        f"one-row transactions, {args.repeat} interleaved repetitions, synchronous_commit off"
    )
    print(report(times, hist, args))
    if args.json:
        print(
            json.dumps({"writes": times, **{k: hist[k] for k in ("conversion", "prune") if hist}})
        )


if __name__ == "__main__":
    main()
