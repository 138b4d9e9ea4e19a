"""The history API's own SQL on large audit tables: server times from EXPLAIN (ANALYZE).

It builds audit tables the way alembic-audit creates them (the same DDL and indexes),
fills them as triggers would (versions in time order, ``audit_id`` in that order), and
sends the statements the API itself builds (compiled from ``alembic_audit.reading``):

- ``history`` of one row in a ``--rows`` audit table (default 10 million), for
  ``--samples`` random keys (goal: under 1 ms of server time);
- ``as_of`` for ``--lookup`` keys (1,000) over an ``--asof-rows`` audit table
  (1 million): one query, ``select(as_of(t, when)).where(t.id.in_(keys))``; its time
  and the plan's nodes (index scans expected);
- ``changes`` pages of ``--page`` rows (100) at increasing depth of the timeline of the
  ``--rows`` table: both round trips of a page (positions through the time index, then
  the rows by ``ctid`` with their previous versions), side by side with the same page
  read with ``OFFSET`` (what keyset pages avoid) and with a BRIN time index instead of
  the btree (issue 14's first choice: it cannot give rows in order).

Usage::

    python benchmarks/history_api.py                       # server at 127.0.0.1
    python benchmarks/history_api.py --rows 1000000 --keys 100000
    python benchmarks/history_api.py --embedded

The script creates and drops its own database (``alembic_audit_bench_history``).
"""

from __future__ import annotations

import argparse
import datetime
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
from reads import explain, nodes  # noqa: E402
from sqlalchemy.dialects.postgresql import psycopg as psycopg_dialect  # noqa: E402
from writes import bench_database, bench_table, server_arguments  # noqa: E402

import alembic_audit  # noqa: E402
from alembic_audit.reading.source import AuditedTable, audited_table  # noqa: E402
from alembic_audit.reading.timeline import Position, rows_query, timeline_query  # noqa: E402
from alembic_audit.reading.versions import history_query  # noqa: E402
from alembic_audit.sql.tables import create_audit_table_sql, create_index_sql  # noqa: E402

DATABASE = "alembic_audit_bench_history"
DIALECT = psycopg_dialect.dialect()  # type: ignore[no-untyped-call]
START = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)


def sql_of(statement: Any) -> tuple[str, dict[str, Any]]:
    """The SQL and parameters the API sends, as psycopg receives them."""
    compiled = statement.compile(dialect=DIALECT, compile_kwargs={"render_postcompile": True})
    return str(compiled), dict(compiled.params)


def source_of(name: str) -> AuditedTable:
    alembic_audit.enable()
    md = sa.MetaData()
    table = bench_table(
        name,
        md,
        {"enabled": True, "session_settings": [sa.Column("username", sa.String(40))]},
    )
    return audited_table(table)


def build(conn: psycopg.Connection[Any], name: str, rows: int, keys: int) -> AuditedTable:
    """An audited table holding every key's final state and its audit table with ``rows``
    versions of ``keys`` keys, one second apart, three rows per transaction."""
    source = source_of(name)
    spec = source.spec
    started = time.perf_counter()
    conn.execute(
        f"CREATE TABLE {name} (id bigint PRIMARY KEY, name varchar(40) NOT NULL,"
        " qty int NOT NULL, price numeric(10, 2), updated_at timestamptz, note text)"
    )
    conn.execute(create_audit_table_sql(spec))
    conn.execute(
        f"INSERT INTO {name}_audit (id, name, qty, price, updated_at, note, audit_operation,"
        " audit_operation_timestamp, audit_current_user, audit_transaction_id,"
        " audit_change_timestamp, audit_username)"
        " SELECT g %% %(keys)s, 'name ' || g, g %% 100, g * 0.01, t, 'note',"
        " CASE WHEN g < %(keys)s THEN 'I' ELSE 'U' END, t, 'app', (g / 3 + 1000)::text::xid8,"
        " t, 'user ' || g %% 50"
        " FROM generate_series(0, %(rows)s - 1) AS g,"
        " LATERAL (SELECT timestamptz '2025-01-01' + g * interval '1 second' AS t) AS x",
        {"rows": rows, "keys": keys},
    )
    conn.execute(
        f"INSERT INTO {name} SELECT DISTINCT ON (id) id, name, qty, price, updated_at, note"
        f" FROM {name}_audit ORDER BY id, audit_id DESC"
    )
    for index in spec.indexes_on_audit_table:
        conn.execute(create_index_sql(spec, index))
    conn.execute(f"VACUUM (ANALYZE) {name}_audit")
    conn.execute(f"VACUUM (ANALYZE) {name}")
    print(
        f"  built {name}_audit: {rows} rows in {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )
    return source


def run(conn: psycopg.Connection[Any], statement: Any) -> dict[str, Any]:
    sql, params = sql_of(statement)
    return explain(conn, sql, params)  # type: ignore[arg-type]


def positions_at(conn: psycopg.Connection[Any], name: str, depth: int) -> Position | None:
    """The cursor of the row at ``depth`` in the timeline (found with OFFSET, untimed)."""
    if depth == 0:
        return None
    row = conn.execute(
        f"SELECT audit_change_timestamp, audit_id FROM {name}_audit"
        " ORDER BY audit_change_timestamp, audit_id OFFSET %s LIMIT 1",
        (depth - 1,),
    ).fetchone()
    assert row is not None
    return Position(row[0], f"public.{name}", row[1])


def page(
    conn: psycopg.Connection[Any], source: AuditedTable, cursor: Position | None, size: int
) -> dict[str, Any]:
    """Both round trips of one page, as ``changes()`` sends them."""
    first = timeline_query([source], cursor=cursor, limit=size + 1)
    found = run(conn, first)
    sql, params = sql_of(first)
    rows = conn.execute(sql, params).fetchall()[:size]  # type: ignore[call-overload]
    second = run(conn, rows_query(source, [r[4] for r in rows], [r[3] for r in rows]))
    return {
        "ms": found["ms"] + second["ms"],
        "positions ms": found["ms"],
        "rows ms": second["ms"],
        "plan": found["plan"],
        "rows plan": second["plan"],
    }


def offset_page(conn: psycopg.Connection[Any], name: str, depth: int, size: int) -> dict[str, Any]:
    return explain(
        conn,
        f"SELECT * FROM {name}_audit ORDER BY audit_change_timestamp, audit_id OFFSET %s LIMIT %s",
        (depth, size),
    )


def measure(url: str, args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(1)
    out: dict[str, Any] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        hist = build(conn, "hist", args.rows, args.keys)
        keys = rng.sample(range(args.keys), min(args.samples, args.keys))
        for key in keys[:5]:  # warm the cache
            sql, params = sql_of(history_query(hist, {"id": key}))
            conn.execute(sql, params).fetchall()  # type: ignore[call-overload]
        out["history"] = [run(conn, history_query(hist, {"id": key})) for key in keys]

        depths = sorted({0, *(d for d in args.depths if d < args.rows - args.page)})
        depths.append(args.rows - args.page)
        out["depths"] = depths
        out["changes"] = []
        out["offset"] = []
        for depth in depths:
            cursor = positions_at(conn, "hist", depth)
            page(conn, hist, cursor, args.page)  # warm
            out["changes"].append(page(conn, hist, cursor, args.page))
            out["offset"].append(offset_page(conn, "hist", depth, args.page))
        with conn.transaction(force_rollback=True):
            conn.execute("DROP INDEX hist_audit_time_idx")
            conn.execute(
                "CREATE INDEX hist_audit_brin ON hist_audit USING brin (audit_change_timestamp)"
            )
            conn.execute("ANALYZE hist_audit")
            out["brin"] = [
                page(conn, hist, positions_at(conn, "hist", d), args.page)
                for d in (0, depths[len(depths) // 2])
            ]
            out["brin depths"] = [0, depths[len(depths) // 2]]

        asof = build(conn, "asof", args.asof_rows, args.asof_keys)
        lookup = rng.sample(range(args.asof_keys), min(args.lookup, args.asof_keys))
        middle = START + datetime.timedelta(seconds=args.asof_rows // 2)
        q = alembic_audit.as_of(asof, middle)
        statement = sa.select(q).where(q.c.id.in_(lookup))
        sql, params = sql_of(statement)
        got = conn.execute(sql, params).fetchall()  # type: ignore[call-overload]
        out["as_of rows"] = len(got)
        run(conn, statement)  # warm
        out["as_of"] = [run(conn, statement) for _ in range(args.asof_repeat)]
        q_all = alembic_audit.as_of(asof, middle)
        out["as_of whole table"] = run(conn, sa.select(sa.func.count()).select_from(q_all))
    return out


def median(runs: list[dict[str, Any]], key: str = "ms") -> float:
    return statistics.median(r[key] for r in runs)


def plan_of(plan: dict[str, Any]) -> str:
    return " > ".join(dict.fromkeys(nodes(plan)))


def report(out: dict[str, Any], args: argparse.Namespace) -> str:
    history_ms = median(out["history"])
    lines = [
        f"history: {args.rows} audit rows, {args.keys} keys ({args.rows // args.keys} versions"
        f" each); as_of: {args.asof_rows} audit rows, {args.asof_keys} keys",
        "",
        f"history of one row: {history_ms:.3f} ms server time, median of {len(out['history'])}"
        f" (max {max(r['ms'] for r in out['history']):.3f}; goal < 1 ms)",
        f"  plan: {plan_of(out['history'][0]['plan'])}",
        "",
        f"as_of for {args.lookup} keys over {args.asof_rows} audit rows: one query,"
        f" {median(out['as_of']):.2f} ms server time (median of {len(out['as_of'])}),"
        f" {out['as_of rows']} rows",
        f"  plan: {plan_of(out['as_of'][0]['plan'])}",
        f"  the whole table as of the same moment (count): {out['as_of whole table']['ms']:.0f} ms",
        "",
        f"changes: pages of {args.page} rows, server ms (both round trips) at each depth",
        "",
        "| depth | keyset page | positions | rows | OFFSET page | OFFSET / keyset |",
        "|---|---|---|---|---|---|",
    ]
    for depth, keyset, offset in zip(out["depths"], out["changes"], out["offset"], strict=True):
        lines.append(
            f"| {depth} | {keyset['ms']:.3f} | {keyset['positions ms']:.3f} |"
            f" {keyset['rows ms']:.3f} | {offset['ms']:.3f} | {offset['ms'] / keyset['ms']:.1f}x |"
        )
    first, deepest = out["changes"][0]["ms"], out["changes"][-1]["ms"]
    lines += [
        "",
        f"deepest page / first page: {deepest / first:.2f} (keyset), "
        f"{out['offset'][-1]['ms'] / out['offset'][0]['ms']:.0f} (OFFSET)",
        f"  positions plan: {plan_of(out['changes'][-1]['plan'])}",
        f"  rows plan: {plan_of(out['changes'][-1]['rows plan'])}",
    ]
    for depth, brin, btree in zip(
        out["brin depths"],
        out["brin"],
        [out["changes"][0], out["changes"][len(out["depths"]) // 2]],
        strict=True,
    ):
        lines.append(
            f"with a BRIN time index instead, page at depth {depth}: {brin['ms']:.1f} ms"
            f" vs {btree['ms']:.3f} ms with the btree ({brin['ms'] / btree['ms']:.0f}x)"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    server_arguments(parser)
    parser.add_argument("--rows", type=int, default=10_000_000, help="audit rows (history)")
    parser.add_argument("--keys", type=int, default=1_000_000, help="distinct rows (history)")
    parser.add_argument("--samples", type=int, default=50, help="history reads measured")
    parser.add_argument("--page", type=int, default=100, help="rows per changes() page")
    parser.add_argument(
        "--depths",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[1_000, 100_000, 1_000_000, 5_000_000],
        help="depths of the pages measured, comma-separated (the first and last are added)",
    )
    parser.add_argument("--asof-rows", type=int, default=1_000_000, help="audit rows (as_of)")
    parser.add_argument("--asof-keys", type=int, default=100_000, help="distinct rows (as_of)")
    parser.add_argument("--lookup", type=int, default=1_000, help="keys as_of reads")
    parser.add_argument("--asof-repeat", type=int, default=5, help="as_of runs measured")
    parser.add_argument("--json", action="store_true", help="print the raw measurements")
    args = parser.parse_args(argv)
    with bench_database(args, DATABASE) as (url, version):
        out = measure(url, args)
    print(f"PostgreSQL {version}")
    print(report(out, args))
    if args.json:
        print(
            json.dumps(
                {
                    "history": [r["ms"] for r in out["history"]],
                    "as_of": [r["ms"] for r in out["as_of"]],
                    "depths": out["depths"],
                    "changes": [r["ms"] for r in out["changes"]],
                    "offset": [r["ms"] for r in out["offset"]],
                    "brin": [r["ms"] for r in out["brin"]],
                }
            )
        )


if __name__ == "__main__":
    main()
