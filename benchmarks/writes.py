"""Write overhead of the audit triggers, measured side by side.

Runs the same workloads on identical tables that differ only in how they are audited:

- ``none``: no trigger (the cost of the write itself);
- ``row``: alembic-audit at ``level="row"``;
- ``statement``: alembic-audit at ``level="statement"`` (transition tables);
- ``bare``: no trigger, plus the bare ``INSERT INTO audit SELECT ...`` copy of the same
  rows (same columns, the transaction id and change time included) in the same
  transaction, into an audit table with the same indexes: the physical floor of a
  mirror-table audit.  For bulk work it is two statements (copy after INSERT/UPDATE,
  before DELETE); for single-row work one statement (``WITH w AS (<write> RETURNING *)
  INSERT INTO audit SELECT ... FROM w``), so that it costs no extra round trip;
- ``plain``: the same bare copy into an audit table without indexes (what the indexes
  cost);
- ``legacy``: the statement level as the first release made it (no ``audit_id``,
  transaction id, change time or indexes): today's write ratios, next to the new ones;
- ``minimal``: the least a statement-level trigger can do: the same columns, filled by
  column defaults, no SECURITY DEFINER, no SET clauses, no checks (written here as a
  user would write it);
- ``jsonb`` (with ``--peers``): a statement trigger writing ``to_jsonb`` images into one
  shared log table, in the style of postgresql-audit (written here from the idea).

Workloads: bulk INSERT, UPDATE and DELETE of ``--rows`` rows (one statement, one
transaction each), then ``--single`` one-row INSERT and UPDATE transactions.  Every
transaction, in every design (no trigger included), is the unit an application sends:
``set_config('audit.username', ..., true)`` (what ``set_session_vars`` sends), the write,
COMMIT: three round trips, the same work apart from the audit.  Designs are interleaved
inside every repetition (the order rotates), and the table prints medians and ratios.
Timing includes the COMMIT.  Run it with ``--synchronous-commit on`` as well (the durable
default: every COMMIT waits for its WAL flush) and fewer ``--single`` transactions.

Usage::

    python benchmarks/writes.py                       # server at 127.0.0.1:5432
    python benchmarks/writes.py --url postgresql://user@host/db --repeat 9
    python benchmarks/writes.py --embedded            # embedded PostgreSQL (pgserver)

The script creates and drops its own database (``alembic_audit_bench``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg  # noqa: E402
import sqlalchemy as sa  # noqa: E402

import alembic_audit  # noqa: E402
from alembic_audit.sql.objects import drop_statements  # noqa: E402
from alembic_audit.sql.quoting import quote  # noqa: E402
from alembic_audit.testing import postgresql_server, scratch_database  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DATABASE = "alembic_audit_bench"
DESIGNS = ("none", "row", "statement", "bare", "plain", "legacy", "minimal")
PEERS = ("jsonb",)
BULK = ("bulk insert", "bulk update", "bulk delete")
SINGLE = ("1-row insert", "1-row update")

COLUMNS = ("id", "name", "qty", "price", "updated_at", "note")
META = (
    "audit_operation, audit_operation_timestamp, audit_current_user, audit_transaction_id, "
    "audit_change_timestamp, audit_username"
)
#: The first release's audit rows: no audit_id, transaction id, change time or indexes.
LEGACY = {"identity": False, "transaction_id": False, "change_timestamp": False, "indexes": False}


def metadata() -> sa.MetaData:
    """The benchmark tables: one per design, identical columns."""
    alembic_audit.enable()
    md = sa.MetaData()
    for design in DESIGNS + PEERS:
        options: dict[str, Any] = {
            "enabled": design in ("row", "statement", "bare", "plain", "legacy"),
            "session_settings": [sa.Column("username", sa.String(40))],
        }
        if design in ("row", "statement"):
            options["level"] = design
        if design == "legacy":
            options.update(LEGACY)
        if design == "plain":
            options["indexes"] = False
        bench_table(f"bench_{design}", md, options)
    return md


def bench_table(name: str, md: sa.MetaData, options: dict[str, Any]) -> sa.Table:
    """The benchmark table: the same six columns (``COLUMNS``) for every design."""
    return sa.Table(
        name,
        md,
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("qty", sa.Integer, nullable=False),
        sa.Column("price", sa.Numeric(10, 2)),
        sa.Column("updated_at", sa.DateTime(timezone=True)),
        sa.Column("note", sa.Text),
        info={"audit.options": options},
    )


# A JSONB statement trigger in the style of postgresql-audit: one log table for all
# tables, whole rows as jsonb, updates store old and new images paired by key.
JSONB_DDL = """
CREATE TABLE bench_jsonb_log (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    table_name text NOT NULL,
    verb text NOT NULL,
    issued_at timestamptz NOT NULL DEFAULT now(),
    actor text NOT NULL DEFAULT current_user,
    username text DEFAULT NULLIF(current_setting('audit.username', true), ''),
    old_data jsonb,
    changed_data jsonb
);
CREATE FUNCTION bench_jsonb_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO bench_jsonb_log (table_name, verb, changed_data)
        SELECT TG_TABLE_NAME, 'insert', to_jsonb(n) FROM new_rows n;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO bench_jsonb_log (table_name, verb, old_data, changed_data)
        SELECT TG_TABLE_NAME, 'update', to_jsonb(o),
               (SELECT jsonb_object_agg(e.key, e.value) FROM jsonb_each(to_jsonb(n)) e
                WHERE to_jsonb(o) -> e.key IS DISTINCT FROM e.value)
        FROM new_rows n JOIN old_rows o USING (id);
    ELSE
        INSERT INTO bench_jsonb_log (table_name, verb, old_data)
        SELECT TG_TABLE_NAME, 'delete', to_jsonb(o) FROM old_rows o;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER bench_jsonb_i AFTER INSERT ON bench_jsonb
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION bench_jsonb_audit();
CREATE TRIGGER bench_jsonb_u AFTER UPDATE ON bench_jsonb
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bench_jsonb_audit();
CREATE TRIGGER bench_jsonb_d AFTER DELETE ON bench_jsonb
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION bench_jsonb_audit();
"""


# The least a statement-level trigger can do for the same audit rows: column defaults
# fill the metadata, no SECURITY DEFINER, no SET clauses, no checks.
def minimal_ddl(table: str) -> str:
    """The minimal trigger and its audit table, for the table ``table``."""
    return f"""
CREATE TABLE {table}_audit (
    id bigint, name varchar(40), qty integer, price numeric(10, 2),
    updated_at timestamptz, note text,
    audit_id bigint GENERATED BY DEFAULT AS IDENTITY NOT NULL,
    audit_operation varchar(1) NOT NULL,
    audit_operation_timestamp timestamptz NOT NULL DEFAULT now(),
    audit_current_user varchar NOT NULL DEFAULT current_user,
    audit_transaction_id xid8 DEFAULT pg_current_xact_id(),
    audit_change_timestamp timestamptz DEFAULT clock_timestamp(),
    audit_username varchar(40) DEFAULT NULLIF(current_setting('audit.username', true), '')
);
CREATE INDEX ON {table}_audit (id, audit_id);
CREATE INDEX ON {table}_audit (audit_change_timestamp, audit_id);
CREATE INDEX ON {table}_audit (audit_transaction_id);
CREATE FUNCTION {table}_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO {table}_audit (id, name, qty, price, updated_at, note, audit_operation)
        SELECT id, name, qty, price, updated_at, note, 'I' FROM audit_new;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO {table}_audit (id, name, qty, price, updated_at, note, audit_operation)
        SELECT id, name, qty, price, updated_at, note, 'U' FROM audit_new;
    ELSE
        INSERT INTO {table}_audit (id, name, qty, price, updated_at, note, audit_operation)
        SELECT id, name, qty, price, updated_at, note, 'D' FROM audit_old;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER {table}_i AFTER INSERT ON {table} REFERENCING NEW TABLE AS audit_new
    FOR EACH STATEMENT EXECUTE FUNCTION {table}_audit();
CREATE TRIGGER {table}_u AFTER UPDATE ON {table} REFERENCING NEW TABLE AS audit_new
    FOR EACH STATEMENT EXECUTE FUNCTION {table}_audit();
CREATE TRIGGER {table}_d AFTER DELETE ON {table} REFERENCING OLD TABLE AS audit_old
    FOR EACH STATEMENT EXECUTE FUNCTION {table}_audit();
"""


def copy_sql(audit: str, code: str, source: str) -> str:
    """The bare mirror copy into ``audit``: the audit row of every row of ``source``, the
    metadata read once per statement (as the trigger does)."""
    cols = ", ".join(COLUMNS)
    return (
        f"INSERT INTO {audit} ({cols}, {META}) "
        f"SELECT {cols}, '{code}', now(), current_user, m.x, m.t, m.u FROM {source}, "
        "(SELECT pg_current_xact_id() AS x, clock_timestamp() AS t, "
        "NULLIF(current_setting('audit.username', true), '') AS u) AS m"
    )


#: The designs that copy by hand, and the audit table each copies into.
COPIES = {"bare": "bench_bare_audit", "plain": "bench_plain_audit"}


def bulk_sql(design: str, workload: str, rows: int) -> list[str]:
    table = f"bench_{design}"
    write = {
        "bulk insert": (
            f"INSERT INTO {table} ({', '.join(COLUMNS)}) "
            f"SELECT g, 'name ' || g, g % 100, g * 0.01, now(), repeat('x', 20) "
            f"FROM generate_series(1, {rows}) AS g"
        ),
        "bulk update": f"UPDATE {table} SET qty = qty + 1, updated_at = now()",
        "bulk delete": f"DELETE FROM {table}",
    }[workload]
    if design not in COPIES:
        return [write]
    code = workload.split()[1][0].upper()
    copy = copy_sql(COPIES[design], code, table)
    return [copy, write] if code == "D" else [write, copy]


def single_sql(design: str, workload: str) -> str:
    table = f"bench_{design}"
    write = {
        "1-row insert": (
            f"INSERT INTO {table} ({', '.join(COLUMNS)}) "
            "VALUES (%(id)s, 'single', 1, 1.5, now(), 'note')"
        ),
        "1-row update": f"UPDATE {table} SET qty = qty + 1 WHERE id = %(id)s",
    }[workload]
    if design not in COPIES:
        return write
    code = workload.split()[1][0].upper()
    return f"WITH w AS ({write} RETURNING *) {copy_sql(COPIES[design], code, 'w')}"


def reset(conn: psycopg.Connection[Any], design: str) -> None:
    audit = {"none": "", "jsonb": ", bench_jsonb_log"}.get(design, f", bench_{design}_audit")
    conn.execute(f"TRUNCATE bench_{design}{audit}")
    conn.commit()


# What set_session_vars sends: a transaction-local setting, read by the triggers and copies.
SET_VARS = "SELECT pg_catalog.set_config('audit.username', %(username)s, true)"
USERNAME = {"username": "bench"}


def checkpoint(conn: psycopg.Connection[Any]) -> None:
    """Start a bulk measurement from a clean state: no checkpoint falls into it, and
    every design pays the same full-page images (the first change to a page after a
    checkpoint logs the whole page).  Run as a superuser; otherwise skipped."""
    if conn.info.parameter_status("is_superuser") == "on":
        conn.execute("CHECKPOINT")


def timed(conn: psycopg.Connection[Any], statements: list[str]) -> float:
    checkpoint(conn)
    start = time.perf_counter()
    conn.execute(SET_VARS, USERNAME)
    for stmt in statements:
        conn.execute(stmt)
    conn.commit()
    return time.perf_counter() - start


def timed_single(conn: psycopg.Connection[Any], statement: str, ids: range) -> float:
    start = time.perf_counter()
    for i in ids:
        conn.execute(SET_VARS, USERNAME, prepare=True)
        conn.execute(statement, {"id": i}, prepare=True)
        conn.commit()
    return time.perf_counter() - start


def setup(url: str, md: sa.MetaData, copies: list[str], extra_ddl: str) -> None:
    """Create the tables of ``md`` and their audit objects, then ``extra_ddl``.

    The ``copies`` tables only borrow their audit tables: their copy is done by hand, so
    their triggers are dropped again.
    """
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    md.create_all(engine)
    alembic_audit.install_audit_triggers(md, engine)
    with engine.begin() as conn:
        for name in copies:
            for stmt in drop_statements(alembic_audit.get_audit_spec(md.tables[name])):
                conn.execute(alembic_audit.AuditDDL(stmt))
        conn.exec_driver_sql(extra_ddl)
        # An autovacuum or autoanalyze run landing in one design's measurement (bulk
        # work churns these tables) would be charged to that design alone.
        for name in sa.inspect(conn).get_table_names():
            conn.execute(
                alembic_audit.AuditDDL(
                    f"ALTER TABLE {quote(name)} SET (autovacuum_enabled = false)"
                )
            )
    engine.dispose()


def run(url: str, args: argparse.Namespace) -> dict[str, dict[str, list[float]]]:
    designs = DESIGNS + (PEERS if args.peers else ())
    setup(url, metadata(), ["bench_bare", "bench_plain"], JSONB_DDL + minimal_ddl("bench_minimal"))

    times: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    with psycopg.connect(url) as conn:
        # Off by default: a commit's fsync is a constant (and noisy, on a shared disk)
        # that would hide the CPU and WAL cost of the trigger, which is what we measure.
        conn.execute(f"SET synchronous_commit = {args.synchronous_commit}")
        conn.commit()
        interleaved(
            conn,
            designs,
            args,
            sql=(bulk_sql, single_sql),
            reset=reset,
            into=times,
            label="repetition",
        )
    return times


Workloads = tuple[Callable[[str, str, int], list[str]], Callable[[str, str], str]]


def interleaved(
    conn: psycopg.Connection[Any],
    designs: tuple[str, ...],
    args: argparse.Namespace,
    *,
    sql: Workloads,
    reset: Callable[[psycopg.Connection[Any], str], None],
    into: dict[str, dict[str, list[float]]],
    label: str,
) -> None:
    """Time every workload on every design, ``args.repeat`` times, into ``into``.

    ``sql`` is the pair ``(bulk_sql, single_sql)`` of the benchmark's own tables; ``reset``
    empties one design's tables.  ``partitions.py`` measures its designs with it too.

    Example::

        interleaved(conn, ("none", "statement"), args, sql=(bulk_sql, single_sql),
                    reset=reset, into=times, label="repetition")
    """
    bulk, single = sql
    # One small unrecorded round first: plans cached, tables and functions warm.
    for design in designs:
        reset(conn, design)
        for workload in BULK:
            timed(conn, bulk(design, workload, 100))
        reset(conn, design)
        for workload in SINGLE:
            timed_single(conn, single(design, workload), range(1, 11))
        reset(conn, design)
    for rep in range(args.repeat):
        # Paired and interleaved at the finest useful grain: every workload runs on
        # all designs back to back, and single-row work alternates designs every
        # --block transactions, so that load from other processes on a shared
        # machine falls on all designs alike.
        for design in designs:
            reset(conn, design)
        for workload in BULK:
            for design in rotate(designs, rep):
                into[workload][design].append(timed(conn, bulk(design, workload, args.rows)))
        for design in designs:
            reset(conn, design)
        for workload in SINGLE:
            spent = dict.fromkeys(designs, 0.0)
            for n, first in enumerate(range(1, args.single + 1, args.block)):
                ids = range(first, min(first + args.block, args.single + 1))
                for design in rotate(designs, rep + n):
                    spent[design] += timed_single(conn, single(design, workload), ids)
            for design in designs:
                into[workload][design].append(spent[design])
        for design in designs:
            reset(conn, design)
        print(f"  {label} {rep + 1}/{args.repeat} done", file=sys.stderr)


def rotate(designs: tuple[str, ...], n: int) -> tuple[str, ...]:
    k = n % len(designs)
    return designs[k:] + designs[:k]


def report(times: dict[str, dict[str, list[float]]], designs: tuple[str, ...], single: int) -> str:
    med = {w: {d: statistics.median(v) for d, v in by.items()} for w, by in times.items()}
    workloads = [w for w in BULK + SINGLE if w in med]
    lines = ["medians, milliseconds (whole workload, COMMIT included)", ""]
    head = "| workload | " + " | ".join(designs) + " |"
    lines += [head, "|---" * (len(designs) + 1) + "|"]
    for w in workloads:
        lines.append(f"| {w} | " + " | ".join(f"{med[w][d] * 1000:.1f}" for d in designs) + " |")
    pairs = [
        ("row", "none"),
        ("statement", "none"),
        ("statement", "bare"),
        ("statement", "row"),
        ("bare", "none"),
        ("bare", "plain"),
        ("legacy", "none"),
        ("statement", "legacy"),
        ("statement", "minimal"),
    ]
    if "jsonb" in designs:
        pairs.append(("jsonb", "none"))
    label = {
        "bare": "(none + bare copy)",
        "plain": "(none + unindexed copy)",
        "legacy": "first release",
        "minimal": "minimal trigger",
        "jsonb": "jsonb peer",
    }

    def ratio(w: str, a: str, b: str) -> float:
        # Median of the per-repetition ratios: each pair was measured side by side.
        return statistics.median(x / y for x, y in zip(times[w][a], times[w][b], strict=True))

    def spread(w: str, a: str, b: str) -> str:
        r = [x / y for x, y in zip(times[w][a], times[w][b], strict=True)]
        return f"{min(r):.2f}-{max(r):.2f}"

    med_ratio = {(w, a, b): ratio(w, a, b) for w in workloads for a, b in pairs}
    lines += ["", "ratios (median of the per-repetition ratios; min-max over repetitions)", ""]
    lines += ["| ratio | " + " | ".join(workloads) + " |", "|---" * (len(workloads) + 1) + "|"]
    for a, b in pairs:
        lines.append(
            f"| {label.get(a, a)} / {label.get(b, b)} | "
            + " | ".join(f"{med_ratio[w, a, b]:.2f}x ({spread(w, a, b)})" for w in workloads)
            + " |"
        )
    lines += ["", "goals"]
    for w in BULK:
        if w in med:
            lines.append(
                f"  {w}: statement / (none + bare copy) = {med_ratio[w, 'statement', 'bare']:.2f}x"
                f" (goal <= 1.15x), statement / row = {med_ratio[w, 'statement', 'row']:.2f}x"
                " (goal <= 1.00x)"
            )
    for w in workloads:
        lines.append(
            f"  {w}: statement / minimal trigger = {med_ratio[w, 'statement', 'minimal']:.2f}x"
            f" (goal <= 1.05x); indexes: bare / unindexed copy = "
            f"{med_ratio[w, 'bare', 'plain']:.2f}x"
        )
    for w in SINGLE:
        if w in med:
            # The absolute cost per transaction: a ratio also moves with the baseline
            # (round trips, commit flush), a difference does not.
            extra = {
                d: statistics.median(
                    (x - y) / single * 1e6
                    for x, y in zip(times[w][d], times[w]["none"], strict=True)
                )
                for d in ("row", "statement")
            }
            lines.append(
                f"  {w}: statement / none = {med_ratio[w, 'statement', 'none']:.2f}x"
                f" (goal <= 1.15x); per transaction: none {med[w]['none'] / single * 1e6:.0f} us,"
                f" statement +{extra['statement']:.0f} us, row +{extra['row']:.0f} us"
            )
    return "\n".join(lines)


def server_arguments(parser: argparse.ArgumentParser) -> None:
    """``--url`` and ``--embedded``, which every benchmark takes (see :func:`server_given`).

    Example::

        server_arguments(parser)
    """
    parser.add_argument("--url", help=f"maintenance database URL (default {DEFAULT_URL})")
    parser.add_argument("--embedded", action="store_true", help="use an embedded PostgreSQL")


def server_given(args: argparse.Namespace) -> str | None:
    """The server to use: ``--url`` (or the default one, if it answers), else ``None``
    for an embedded one (``--embedded``, or no server at the default URL)."""
    if args.embedded:
        return None
    url = args.url or DEFAULT_URL
    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.OperationalError:
        if args.url is not None:  # asked for: its failure is the answer
            raise
        print(f"no server at {url}; starting an embedded one", file=sys.stderr)
        return None
    return str(url)


@contextmanager
def bench_database(args: argparse.Namespace, name: str) -> Iterator[tuple[str, str]]:
    """A new database ``name`` on the benchmark server (see :func:`server_given`),
    dropped afterwards: its URL and the server's version.  The name ends in the process
    id, so that two runs on one server (two test suites) never drop each other's
    database."""
    name = f"{name}_{os.getpid()}"
    with postgresql_server(server_given(args)) as server:
        psycopg_server = server.set(drivername="postgresql+psycopg")
        with scratch_database(psycopg_server, name, replace=True, template=None) as url:
            with psycopg.connect(libpq_url(url)) as conn:
                row = conn.execute("SHOW server_version").fetchone()
            yield libpq_url(url), str(row[0]) if row else "?"


def libpq_url(url: sa.URL) -> str:
    """``url`` as psycopg.connect wants it: no driver, the password written out."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    server_arguments(parser)
    parser.add_argument("--rows", type=int, default=100_000, help="rows per bulk statement")
    parser.add_argument("--single", type=int, default=5_000, help="one-row transactions")
    parser.add_argument(
        "--block", type=int, default=250, help="one-row transactions per design in a row"
    )
    parser.add_argument("--repeat", type=int, default=7, help="repetitions (>= 5 advised)")
    parser.add_argument(
        "--synchronous-commit",
        choices=("on", "off"),
        default="off",
        help="synchronous_commit of the measuring session (default off: no fsync per commit)",
    )
    parser.add_argument("--peers", action="store_true", help="also measure a JSONB peer")
    args = parser.parse_args(argv)
    with bench_database(args, DATABASE) as (url, version):
        times = run(url, args)
    designs = DESIGNS + (PEERS if args.peers else ())
    print(
        f"PostgreSQL {version}; {args.rows} rows per bulk statement, "
        f"{args.single} one-row transactions, {args.repeat} interleaved repetitions, "
        f"synchronous_commit {args.synchronous_commit}"
    )
    print(report(times, designs, args.single))


if __name__ == "__main__":
    main()
