"""Reading audit rows: one row's history in a large audit table, with and without the index,
and the time a baseline snapshot takes.

It builds an audit table the way alembic-audit creates it (the same DDL, the same three
indexes), fills it with ``--rows`` audit rows for ``--keys`` rows of the audited table
(``rows / keys`` versions each, in time order, as a trigger writes them), then measures
server time with ``EXPLAIN (ANALYZE)``:

- one row's whole history, ``WHERE <key> = ? ORDER BY audit_id``, through the row index,
  for ``--samples`` random keys;
- the same query with the row index dropped (in a transaction rolled back afterwards),
  for ``--samples-without`` keys: what every history read costs without it;
- one transaction's rows, through the transaction index;
- a one-hour time range, through the time index.

Then ``--snapshot-rows`` rows in an audited table get their baseline
(``op.create_audit_trigger(..., snapshot=True)`` runs the same statement): wall time.

Usage::

    python benchmarks/reads.py                          # 10 million rows, server at 127.0.0.1
    python benchmarks/reads.py --rows 1000000 --keys 100000
    python benchmarks/reads.py --embedded

The script creates and drops its own database (``alembic_audit_bench_reads``).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]

import psycopg  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from writes import bench_database, bench_table, server_arguments  # noqa: E402

import alembic_audit  # noqa: E402
from alembic_audit.sql.objects import snapshot_statement  # noqa: E402
from alembic_audit.sql.tables import create_audit_table_sql, create_index_sql  # noqa: E402

DATABASE = "alembic_audit_bench_reads"


def spec_of(name: str) -> alembic_audit.AuditSpec:
    alembic_audit.enable()
    md = sa.MetaData()
    table = bench_table(
        name,
        md,
        {"enabled": True, "session_settings": [sa.Column("username", sa.String(40))]},
    )
    return alembic_audit.get_audit_spec(table)


def explain(conn: psycopg.Connection[Any], query: str, params: tuple[Any, ...]) -> dict[str, Any]:
    """Server time (ms) and the plan's top node of one execution."""
    row = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {query}", params).fetchone()
    assert row is not None
    plan = row[0][0]
    return {"ms": plan["Execution Time"], "plan": plan["Plan"]}


def nodes(plan: dict[str, Any]) -> list[str]:
    """The plan's node types, with the index each scan uses."""
    found = [plan["Node Type"] + (f" ({plan['Index Name']})" if "Index Name" in plan else "")]
    for child in plan.get("Plans", []):
        found += nodes(child)
    return found


def build(conn: psycopg.Connection[Any], rows: int, keys: int) -> alembic_audit.AuditSpec:
    spec = spec_of("hist")
    conn.execute(create_audit_table_sql(spec))
    started = time.perf_counter()
    # Versions in time order, as triggers write them: key g % keys, one second apart, a
    # transaction per 3 rows; audit_id numbers them in that order.
    conn.execute(
        "INSERT INTO hist_audit (id, name, qty, price, updated_at, note, audit_operation,"
        " audit_operation_timestamp, audit_current_user, audit_transaction_id,"
        " audit_change_timestamp, audit_username)"
        " SELECT g %% %(keys)s, 'name ' || g, g %% 100, g * 0.01, t, 'note',"
        " CASE WHEN g < %(keys)s THEN 'I' ELSE 'U' END, t, 'app', (g / 3 + 1000)::text::xid8,"
        " t, 'user ' || g %% 50"
        " FROM generate_series(0, %(rows)s - 1) AS g,"
        " LATERAL (SELECT timestamptz '2025-01-01' + g * interval '1 second' AS t) AS x",
        {"rows": rows, "keys": keys},
    )
    for index in spec.indexes_on_audit_table:
        conn.execute(create_index_sql(spec, index))
    conn.execute("VACUUM (ANALYZE) hist_audit")
    print(f"  built {rows} audit rows in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return spec


def measure(url: str, args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(1)
    out: dict[str, Any] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        build(conn, args.rows, args.keys)
        history = "SELECT * FROM hist_audit WHERE id = %s ORDER BY audit_id"
        for key in rng.sample(range(args.keys), min(5, args.keys)):  # warm the cache
            conn.execute(history, (key,)).fetchall()
        with_index = [
            explain(conn, history, (key,))
            for key in rng.sample(range(args.keys), min(args.samples, args.keys))
        ]
        out["history"] = with_index
        with conn.transaction(force_rollback=True):
            conn.execute("DROP INDEX hist_audit_row_idx")
            out["history without index"] = [
                explain(conn, history, (key,))
                for key in rng.sample(range(args.keys), min(args.samples_without, args.keys))
            ]
        xids = rng.sample(range(1000, 1000 + max(1, args.rows // 3)), min(args.samples, 20))
        out["one transaction"] = [
            explain(
                conn,
                "SELECT * FROM hist_audit WHERE audit_transaction_id = %s::text::xid8",
                (str(x),),
            )
            for x in xids
        ]
        hours = max(1, args.rows // 3600)
        out["one hour"] = [
            explain(
                conn,
                "SELECT count(*) FROM hist_audit WHERE audit_change_timestamp"
                " >= timestamptz '2025-01-01' + %s * interval '1 hour'"
                " AND audit_change_timestamp"
                " < timestamptz '2025-01-01' + (%s + 1) * interval '1 hour'",
                (h, h),
            )
            for h in rng.sample(range(hours), min(5, hours))
        ]
        out["snapshot"] = snapshot(conn, args.snapshot_rows)
    return out


def snapshot(conn: psycopg.Connection[Any], rows: int) -> float:
    """Seconds to record ``rows`` existing rows as 'S' audit rows (indexes included)."""
    spec = spec_of("snap")
    conn.execute(
        "CREATE TABLE snap (id bigint PRIMARY KEY, name varchar(40) NOT NULL, qty int NOT NULL,"
        " price numeric(10, 2), updated_at timestamptz, note text)"
    )
    conn.execute(
        "INSERT INTO snap SELECT g, 'name ' || g, g %% 100, g * 0.01, now(), 'note'"
        " FROM generate_series(1, %s) AS g",
        (rows,),
    )
    conn.execute(create_audit_table_sql(spec))
    for index in spec.indexes_on_audit_table:
        conn.execute(create_index_sql(spec, index))
    conn.execute("VACUUM ANALYZE snap")
    started = time.perf_counter()
    with conn.transaction():
        conn.execute(snapshot_statement(spec))
    elapsed = time.perf_counter() - started
    row = conn.execute("SELECT count(*) FROM snap_audit WHERE audit_operation = 'S'").fetchone()
    assert row is not None and row[0] == rows, row
    return elapsed


def report(out: dict[str, Any], args: argparse.Namespace) -> str:
    lines = [
        f"{args.rows} audit rows, {args.keys} keys "
        f"({args.rows // max(args.keys, 1)} versions each)",
        "",
        "| query | server ms, median | max | runs | plan |",
        "|---|---|---|---|---|",
    ]
    for name in ("history", "history without index", "one transaction", "one hour"):
        runs = out[name]
        ms = [r["ms"] for r in runs]
        plan = " > ".join(dict.fromkeys(n for r in runs[:1] for n in nodes(r["plan"])))
        lines.append(
            f"| {name} | {statistics.median(ms):.3f} | {max(ms):.3f} | {len(ms)} | {plan} |"
        )
    with_ms = statistics.median(r["ms"] for r in out["history"])
    without_ms = statistics.median(r["ms"] for r in out["history without index"])
    lines += [
        "",
        f"one row's history: {with_ms:.3f} ms with the row index (goal < 1 ms), "
        f"{without_ms:.1f} ms without it ({without_ms / with_ms:.0f}x)",
        f"snapshot of {args.snapshot_rows} rows: {out['snapshot']:.2f} s "
        f"({out['snapshot'] / max(args.snapshot_rows, 1) * 1e6:.2f} us per row)",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    server_arguments(parser)
    parser.add_argument("--rows", type=int, default=10_000_000, help="audit rows")
    parser.add_argument("--keys", type=int, default=1_000_000, help="distinct audited rows")
    parser.add_argument("--samples", type=int, default=50, help="history reads measured")
    parser.add_argument("--samples-without", type=int, default=3, help="reads without index")
    parser.add_argument("--snapshot-rows", type=int, default=1_000_000)
    parser.add_argument("--json", action="store_true", help="print the raw measurements")
    args = parser.parse_args(argv)
    with bench_database(args, DATABASE) as (url, version):
        out = measure(url, args)
    print(f"PostgreSQL {version}")
    print(report(out, args))
    if args.json:
        print(
            json.dumps({k: v if k == "snapshot" else [r["ms"] for r in v] for k, v in out.items()})
        )


if __name__ == "__main__":
    main()
