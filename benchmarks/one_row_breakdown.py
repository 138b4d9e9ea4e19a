"""Where a one-row audited write spends its time, measured inside the server.

``writes.py`` measures what an application sees, round trips included.  This script
takes the client out: for each design a procedure runs, ``--transactions`` times,
``set_config('audit.username', ...)``, a one-row INSERT (or UPDATE) and ``COMMIT``, so
the printed microseconds are the server's own cost per transaction.  Designs, run in
interleaved blocks (the order rotates every round):

- ``none``: no trigger;
- ``empty``: a statement trigger with a transition table whose PL/pgSQL function only
  returns (the price of any trigger);
- ``bare``: no trigger, the bare copy into the audit table in the same statement
  (``WITH w AS (<write> RETURNING *) INSERT INTO audit SELECT ... FROM w``);
- ``row`` and ``statement``: alembic-audit at each level;
- ``unpinned``: the statement level with its function's ``search_path`` setting
  removed, to show what pinning it costs;
- ``invoker``: the statement level without SECURITY DEFINER;
- ``legacy``: the statement level as the first release made it (no ``audit_id``,
  transaction id, change time or indexes on the audit table);
- ``minimal``: the least a statement trigger can do for the same audit rows (column
  defaults; no SECURITY DEFINER, SET clauses or checks; see ``writes.py``);
- ``context``: the statement level with the three context columns on
  (``application_name``, ``client_address``, ``statement_text``).
- ``--cpu`` times the backend's CPU (``/proc/<pid>/schedstat``) instead of the wall clock,
  for a machine busy with other work;
- with ``--before DIR``: ``row_before`` and ``statement_before``, the same tables audited by
  the ``alembic_audit`` package found in ``DIR`` (an older checkout, e.g. made with
  ``git worktree add /tmp/before <commit>``), so that a change to the trigger function is
  measured against the previous one in the same run; the report ends with the
  ``after / before`` ratio of each level (median of the paired rounds).

Under the table: what each safety feature and each new column costs, per transaction.

Usage::

    python benchmarks/one_row_breakdown.py            # server at 127.0.0.1:5432
    python benchmarks/one_row_breakdown.py --embedded --workload update
    python benchmarks/one_row_breakdown.py --before /tmp/before   # this tree vs another
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]

import psycopg  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from writes import (  # noqa: E402
    COLUMNS,
    LEGACY,
    bench_database,
    bench_table,
    copy_sql,
    minimal_ddl,
    server_arguments,
    setup,
)

import alembic_audit  # noqa: E402

DATABASE = "alembic_audit_breakdown"
DESIGNS = (
    "none",
    "empty",
    "bare",
    "row",
    "statement",
    "unpinned",
    "invoker",
    "legacy",
    "minimal",
    "context",
)
AUDITED = ("bare", "row", "statement", "unpinned", "invoker", "legacy", "context")
CONTEXT = {"application_name": True, "client_address": True, "statement_text": True}


def metadata() -> sa.MetaData:
    """One table per design, identical columns; audited ones carry a username setting."""
    alembic_audit.enable()
    md = sa.MetaData()
    for design in DESIGNS:
        options: dict[str, Any] = {
            "enabled": design in AUDITED,
            "session_settings": [sa.Column("username", sa.String(40))],
            "level": "row" if design == "row" else "statement",
            "security_definer": design != "invoker",
        }
        if design == "legacy":
            options.update(LEGACY)
        if design == "context":
            options.update(CONTEXT)
        bench_table(f"t_{design}", md, options)
    return md


EXTRA_DDL = """
CREATE FUNCTION empty_trigger() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER t_empty_i AFTER INSERT ON t_empty REFERENCING NEW TABLE AS audit_new
    FOR EACH STATEMENT EXECUTE FUNCTION empty_trigger();
CREATE TRIGGER t_empty_u AFTER UPDATE ON t_empty REFERENCING NEW TABLE AS audit_new
    FOR EACH STATEMENT EXECUTE FUNCTION empty_trigger();
ALTER FUNCTION public_t_unpinned_audit() RESET search_path;
CREATE SEQUENCE ids;
""" + minimal_ddl("t_minimal")


#: Run with the ``alembic_audit`` of another tree first on sys.path: prints the DDL of
#: the ``*_before`` tables (the shape of :func:`writes.bench_table`) and their audit objects.
BEFORE_DDL = """
import sys
sys.path.insert(0, sys.argv[1])
import sqlalchemy as sa
import alembic_audit
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateTable

alembic_audit.enable()
md = sa.MetaData()
for level in ("row", "statement"):
    sa.Table(
        f"t_{level}_before", md,
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("qty", sa.Integer, nullable=False),
        sa.Column("price", sa.Numeric(10, 2)),
        sa.Column("updated_at", sa.DateTime(timezone=True)),
        sa.Column("note", sa.Text),
        info={"audit.options": {"enabled": True, "level": level,
              "session_settings": [sa.Column("username", sa.String(40))]}},
    )
dialect = postgresql.dialect()
for table in md.sorted_tables:
    print(str(CreateTable(table).compile(dialect=dialect)).strip() + ";")
print(alembic_audit.install_audit_triggers(md))
print("-- from", alembic_audit.__file__)
"""


def before_ddl(tree: str) -> str:
    """The DDL of the ``*_before`` designs, written by the package in ``tree``."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-c", BEFORE_DDL, os.path.abspath(tree)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd=os.path.abspath(tree),
    )
    if done.returncode != 0:
        raise SystemExit(f"--before {tree}: could not write its DDL:\n{done.stderr}")
    out = done.stdout
    origin = out.rsplit("-- from", 1)[-1].strip()
    if not origin.startswith(os.path.abspath(tree)):
        raise SystemExit(f"--before {tree}: imported alembic_audit from {origin}, not from there")
    return out


def backend_cpu_clock(pid: int) -> Callable[[], float]:
    """Seconds of CPU the server backend ``pid`` has run (``/proc/<pid>/schedstat``, Linux,
    server on this machine): unlike wall time, barely moved by other work on the machine."""
    path = Path(f"/proc/{pid}/schedstat")
    if not path.exists():
        raise SystemExit(f"--cpu: {path} is not readable (Linux, and the server on this machine)")

    def clock() -> float:
        return int(path.read_text().split()[0]) / 1e9

    return clock


def write_sql(design: str, workload: str) -> str:
    table = f"t_{design}"
    cols = ", ".join(COLUMNS)
    if workload == "insert":
        write = (
            f"INSERT INTO {table} ({cols}) VALUES (nextval('ids'), 'single', 1, 1.5, now(), 'note')"
        )
    else:
        write = f"UPDATE {table} SET qty = qty + 1 WHERE id = i % 2000 + 1"
    if design != "bare":
        return write
    return f"WITH w AS ({write} RETURNING *) {copy_sql('t_bare_audit', workload[0].upper(), 'w')}"


def run(url: str, args: argparse.Namespace) -> dict[str, list[float]]:
    setup(url, metadata(), ["t_bare"], EXTRA_DDL)
    designs = DESIGNS + (("row_before", "statement_before") if args.before else ())

    per_txn: dict[str, list[float]] = {d: [] for d in designs}
    with psycopg.connect(url, autocommit=True) as conn:
        if args.before:
            conn.execute(before_ddl(args.before))
        conn.execute(f"SET synchronous_commit = {args.synchronous_commit}")
        for design in designs:
            conn.execute(
                f"CREATE PROCEDURE p_{design}(n int) LANGUAGE plpgsql AS $$ BEGIN "
                "FOR i IN 1..n LOOP "
                "PERFORM set_config('audit.username', 'bench', true); "
                f"{write_sql(design, args.workload)}; COMMIT; END LOOP; END $$"
            )
            if args.workload == "update":
                conn.execute(
                    f"INSERT INTO t_{design} ({', '.join(COLUMNS)}) "
                    "SELECT g, 'x', 1, 1.5, now(), 'n' FROM generate_series(1, 2000) g"
                )
            conn.execute(f"CALL p_{design}(200)")  # warm: plans cached, pages in memory
        conn.execute("VACUUM ANALYZE")
        clock = time.perf_counter
        if args.cpu:
            row = conn.execute("SELECT pg_backend_pid()").fetchone()
            clock = backend_cpu_clock(int(row[0]) if row else 0)
        for n in range(args.rounds):
            k = n % len(designs)
            for design in designs[k:] + designs[:k]:
                start = clock()
                conn.execute(f"CALL p_{design}({args.transactions})")
                per_txn[design].append((clock() - start) / args.transactions * 1e6)
    return per_txn


def report(per_txn: dict[str, list[float]]) -> str:
    base = per_txn["none"]
    lines = [
        "| design | us per transaction (median) | minimum | added to none (median of pairs) |",
        "|---|---|---|---|",
    ]
    for design, values in per_txn.items():
        added = statistics.median(x - y for x, y in zip(values, base, strict=True))
        lines.append(
            f"| {design} | {statistics.median(values):.2f} | {min(values):.2f} | +{added:.2f} |"
        )

    def cost(a: str, b: str) -> float:
        # Paired, round by round: both ran back to back.
        return statistics.median(x - y for x, y in zip(per_txn[a], per_txn[b], strict=True))

    lines += ["", "what each part costs, us per transaction (median of paired rounds)", ""]
    lines += [
        f"- pinned search_path (statement - unpinned): {cost('statement', 'unpinned'):+.2f}",
        f"- SECURITY DEFINER (statement - invoker): {cost('statement', 'invoker'):+.2f}",
        "- audit_id, transaction id, change time and indexes (statement - legacy): "
        f"{cost('statement', 'legacy'):+.2f}",
        f"- everything over the minimal trigger (statement - minimal): "
        f"{cost('statement', 'minimal'):+.2f}",
        f"- the minimal trigger itself (minimal - none): {cost('minimal', 'none'):+.2f}",
        "- application_name, client address and statement text (context - statement): "
        f"{cost('context', 'statement'):+.2f}",
        "- statement / minimal: "
        f"{statistics.median(per_txn['statement']) / statistics.median(per_txn['minimal']):.3f}x",
    ]
    for level in ("row", "statement"):
        if f"{level}_before" in per_txn:
            pairs = zip(per_txn[level], per_txn[f"{level}_before"], strict=True)
            ratio = statistics.median(after / before for after, before in pairs)
            lines.append(f"{level}: after / before = {ratio:.3f} (median of paired rounds)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    server_arguments(parser)
    parser.add_argument("--workload", choices=("insert", "update"), default="insert")
    parser.add_argument("--rounds", type=int, default=30, help="interleaved rounds")
    parser.add_argument("--transactions", type=int, default=2000, help="per design and round")
    parser.add_argument("--synchronous-commit", choices=("on", "off"), default="off")
    parser.add_argument(
        "--before", metavar="DIR", help="also measure the alembic_audit package of another tree"
    )
    parser.add_argument(
        "--cpu",
        action="store_true",
        help="time the server backend's CPU (Linux, local server) instead of the wall clock",
    )
    args = parser.parse_args(argv)
    with bench_database(args, DATABASE) as (url, version):
        per_txn = run(url, args)
    print(
        f"PostgreSQL {version}; one-row {args.workload} transactions "
        f"run inside the server, {args.rounds} interleaved rounds of {args.transactions}, "
        f"synchronous_commit {args.synchronous_commit}"
        + ("; backend CPU time" if args.cpu else "; wall time")
    )
    print(report(per_txn))


if __name__ == "__main__":
    main()
