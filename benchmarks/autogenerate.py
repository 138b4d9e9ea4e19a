"""Cost of the audit comparator in a no-op autogenerate, measured side by side.

For 10, 100, 500 and 1,000 audited tables (all functions and triggers installed, models
unchanged, so autogenerate must find nothing) it runs Alembic's ``compare_metadata``
(what ``alembic check`` runs) with and without the ``alembic_audit`` comparator,
interleaved in the same process, and prints:

- the catalog queries the comparator adds (must stay constant: it is two);
- the median time with and without it, and the ratio (goal: under 1.20 at 1,000).

With ``--peer`` it then does the same for alembic_utils at 100 and 300 tables, with
the equivalent objects (one function and one row trigger per table; alembic-audit is
measured on the same shape, ``level="row"``, no TRUNCATE trigger).  alembic_utils is
installed into a virtualenv of its own (``--peer-venv``), never into the project's.

Usage::

    python benchmarks/autogenerate.py                         # server at 127.0.0.1:5432
    python benchmarks/autogenerate.py --sizes 10,100 --repeat 3
    python benchmarks/autogenerate.py --peer                  # plus alembic_utils

The script creates and drops its own database (``alembic_audit_bench_autogen``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import URL, Engine, make_url

import alembic_audit
from alembic_audit.sql.function import audit_function
from alembic_audit.sql.quoting import quote
from alembic_audit.sql.triggers import audit_triggers
from alembic_audit.testing import scratch_database

DB_NAME = "alembic_audit_bench_autogen"
DEFAULT_PLUGINS = ["alembic.autogenerate.*"]
WITH_PLUGIN = ["alembic.autogenerate.*", "alembic_audit"]


# -- the database ---------------------------------------------------------------------


def fresh_database(server: URL) -> AbstractContextManager[URL]:
    """The benchmark's database (``DB_NAME``) on ``server``: new, dropped afterwards."""
    return scratch_database(
        server.set(drivername="postgresql+psycopg2"), DB_NAME, replace=True, template=None
    )


def models(n: int, options: dict[str, Any]) -> sa.MetaData:
    metadata = sa.MetaData()
    for i in range(n):
        sa.Table(
            f"t{i:04d}",
            metadata,
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("name", sa.String(40)),
            sa.Column("price", sa.Numeric(10, 2)),
            info={"audit.options": {"enabled": True, **options}},
        )
    return metadata


def install(engine: Engine, metadata: sa.MetaData) -> None:
    with engine.begin() as conn:
        metadata.create_all(conn)
        alembic_audit.install_audit_triggers(metadata, conn)


# -- the comparator on and off --------------------------------------------------------


@contextmanager
def global_comparator_removed() -> Iterator[None]:
    """Take the comparator that enable() put in Alembic's global registry out for a
    while, so that only ``autogenerate_plugins`` decides whether it runs."""
    import alembic.autogenerate.compare as compare

    from alembic_audit.autogen.plugin import comparator

    saved = {k: list(v) for k, v in compare.comparators._registry.items()}
    for entries in compare.comparators._registry.values():
        entries[:] = [e for e in entries if e[0] is not comparator]
    try:
        yield
    finally:
        for key, entries in saved.items():
            compare.comparators._registry[key][:] = entries


#: Seconds spent inside the audit comparator itself, per ``compare_metadata`` call.
_comparator_seconds: list[float] = []


@contextmanager
def comparator_timed() -> Iterator[None]:
    """Time the comparator's own work (inspector queries included).

    The with/without ratio of whole ``compare_metadata`` runs carries the noise of
    Alembic's reflection of every table; the comparator's own time does not.
    """
    from alembic_audit.autogen import compare

    original = compare.compare_audit

    def timed(*args: Any, **kw: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kw)
        finally:
            _comparator_seconds.append(time.perf_counter() - started)

    compare.compare_audit = timed  # type: ignore[assignment]
    try:
        yield
    finally:
        compare.compare_audit = original  # type: ignore[assignment]


def no_op_compare(engine: Engine, metadata: sa.MetaData, plugins: list[str]) -> tuple[float, int]:
    """Seconds and statements of one ``compare_metadata``; fails if it finds anything."""
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    with engine.connect() as conn:
        sa.event.listen(conn, "before_cursor_execute", count)
        context = MigrationContext.configure(
            conn,
            opts={
                "target_metadata": metadata,
                "compare_type": True,
                "autogenerate_plugins": plugins,
            },
        )
        started = time.perf_counter()
        diffs = compare_metadata(context, metadata)
        elapsed = time.perf_counter() - started
    if diffs:
        raise AssertionError(f"autogenerate is not empty: {diffs[:3]}")
    return elapsed, len(statements)


def measure(url: URL, n: int, repeat: int, options: dict[str, Any]) -> dict[str, float]:
    engine = sa.create_engine(url.set(drivername="postgresql+psycopg2"))
    try:
        metadata = models(n, options)
        install(engine, metadata)
        with_times: list[float] = []
        without_times: list[float] = []
        with global_comparator_removed(), comparator_timed():
            _comparator_seconds.clear()
            no_op_compare(engine, metadata, WITH_PLUGIN)  # warm caches
            cold = _comparator_seconds[-1]
            _comparator_seconds.clear()
            for i in range(repeat):
                # Interleaved, order alternating: drift in the machine hits both sides.
                order = [(WITH_PLUGIN, with_times), (DEFAULT_PLUGINS, without_times)]
                for plugins, times in order if i % 2 == 0 else reversed(order):
                    elapsed, _ = no_op_compare(engine, metadata, plugins)
                    times.append(elapsed)
            warm = statistics.median(_comparator_seconds)
            _, q_with = no_op_compare(engine, metadata, WITH_PLUGIN)
            _, q_without = no_op_compare(engine, metadata, DEFAULT_PLUGINS)
    finally:
        engine.dispose()
    t_with, t_without = statistics.median(with_times), statistics.median(without_times)
    return {
        "tables": n,
        "added_queries": q_with - q_without,
        "with_s": t_with,
        "without_s": t_without,
        "ratio": t_with / t_without,
        "comparator_cold_s": cold,
        "comparator_warm_s": warm,
        # The comparator's cost relative to Alembic's own no-op autogenerate: its
        # first (cold) run in a process, i.e. what one `alembic check` pays.
        "own_ratio": (t_without + cold) / t_without,
    }


# -- alembic_utils, in its own virtualenv ---------------------------------------------

PEER_SCRIPT = r"""
import json, statistics, sys, time
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic_utils.pg_function import PGFunction
from alembic_utils.pg_trigger import PGTrigger
from alembic_utils.replaceable_entity import register_entities

job = json.load(open(sys.argv[1]))
engine = sa.create_engine(job["url"])
metadata = sa.MetaData()
for t in job["tables"]:
    sa.Table(t, metadata, sa.Column("id", sa.Integer, primary_key=True),
             sa.Column("name", sa.String(40)), sa.Column("price", sa.Numeric(10, 2)))
entities = []
for e in job["entities"]:
    entities.append(PGFunction(schema="public", signature=e["function"] + "()",
                               definition=e["function_def"]))
    entities.append(PGTrigger(schema="public", signature=e["trigger"],
                              on_entity="public." + e["table"], definition=e["trigger_def"]))

def run():
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"target_metadata": metadata,
                                                     "compare_type": True,
                                                     "include_schemas": False})
        t = time.perf_counter()
        diffs = compare_metadata(ctx, metadata)
        return time.perf_counter() - t, diffs

without = [run()[0] for _ in range(job["repeat"])]
register_entities(entities)
with_ = []
for _ in range(job["repeat"]):
    elapsed, diffs = run()
    with_.append(elapsed)
print(json.dumps({"with_s": statistics.median(with_), "without_s": statistics.median(without),
                  "diffs": len(diffs)}))
"""


def peer_python(venv: Path) -> Path:
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "alembic_utils", "psycopg2-binary"],
            check=True,
        )
    return python


def measure_peer(url: URL, n: int, repeat: int, venv: Path) -> dict[str, float]:
    options = {"level": "row", "record_truncate": False}
    metadata = models(n, options)
    engine = sa.create_engine(url.set(drivername="postgresql+psycopg2"))
    try:
        install(engine, metadata)
    finally:
        engine.dispose()
    entities = []
    for table in alembic_audit.audited_tables(metadata):
        spec = alembic_audit.get_audit_spec(table)
        # The same function and trigger, in the form alembic_utils wants (unqualified
        # names in its signature, definitions as pg_get_*def prints them).
        (trigger_sql,) = [t.create_sql() for t in audit_triggers(spec)]
        function_sql = audit_function(spec).create_sql()
        entities.append(
            {
                "table": spec.table_name,
                "function": spec.function_name,
                "function_def": function_sql.split("()\n", 1)[1],
                "trigger": spec.trigger_names[0],
                "trigger_def": trigger_sql.split(f"{quote(spec.trigger_names[0])} ", 1)[1],
            }
        )
    job = {
        "url": url.set(drivername="postgresql+psycopg2").render_as_string(hide_password=False),
        "tables": [t.name for t in alembic_audit.audited_tables(metadata)],
        "entities": entities,
        "repeat": repeat,
    }
    job_file = Path(os.environ.get("TMPDIR", "/tmp")) / "alembic_audit_peer_job.json"
    job_file.write_text(json.dumps(job))
    script = job_file.with_suffix(".py")
    script.write_text(PEER_SCRIPT)
    proc = subprocess.run(
        [str(peer_python(venv)), str(script), str(job_file)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise SystemExit(f"alembic_utils run failed:\n{proc.stderr[-3000:]}")
    out = proc.stdout
    result = json.loads(out.strip().splitlines()[-1])
    result["ratio"] = result["with_s"] / result["without_s"]
    return result


# -- main ---------------------------------------------------------------------------


def table(rows: list[dict[str, Any]], columns: list[tuple[str, str, Callable[[Any], str]]]) -> str:
    head = " | ".join(title for _, title, _ in columns)
    lines = [head, "-" * len(head)]
    for row in rows:
        lines.append(" | ".join(fmt(row[key]) for key, _, fmt in columns))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--sizes", default="10,100,500,1000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--peer", action="store_true", help="also measure alembic_utils")
    parser.add_argument("--peer-sizes", default="100,300")
    parser.add_argument(
        "--peer-venv",
        type=Path,
        default=Path.home() / ".cache" / "alembic-audit-bench" / "alembic-utils-venv",
    )
    args = parser.parse_args()
    alembic_audit.enable()
    server = make_url(args.url)
    secs = "{:.3f}".format

    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        with fresh_database(server) as url:
            rows.append(measure(url, n, args.repeat, {}))
        print(f"  measured {n} tables", file=sys.stderr)
    print("alembic-audit, no-op compare_metadata (statement level, 4 triggers per table)")
    print(
        table(
            rows,
            [
                ("tables", "tables", str),
                ("added_queries", "queries added", str),
                ("without_s", "without (s)", secs),
                ("with_s", "with (s)", secs),
                ("ratio", "ratio", "{:.2f}".format),
                ("comparator_cold_s", "comparator cold (s)", secs),
                ("comparator_warm_s", "comparator warm (s)", secs),
                ("own_ratio", "(without + cold) / without", "{:.3f}".format),
            ],
        )
    )
    if not args.peer:
        return
    peer_rows = []
    for n in (int(s) for s in args.peer_sizes.split(",")):
        with fresh_database(server) as url:
            ours = measure(url, n, args.repeat, {"level": "row", "record_truncate": False})
        with fresh_database(server) as url:
            theirs = measure_peer(url, n, max(1, args.repeat // 2), args.peer_venv)
        peer_rows.append(
            {
                "tables": n,
                "base": ours["without_s"],
                "ours": ours["with_s"],
                "ours_ratio": ours["ratio"],
                "peer_base": theirs["without_s"],
                "peer": theirs["with_s"],
                "peer_ratio": theirs["ratio"],
                "peer_diffs": theirs["diffs"],
            }
        )
        print(f"  measured peer at {n} tables", file=sys.stderr)
    print()
    print("side by side: one function + one row trigger per table")
    print(
        table(
            peer_rows,
            [
                ("tables", "tables", str),
                ("base", "alembic alone (s)", secs),
                ("ours", "+ alembic-audit (s)", secs),
                ("ours_ratio", "ratio", "{:.2f}".format),
                ("peer_base", "alembic alone (s)", secs),
                ("peer", "+ alembic_utils (s)", secs),
                ("peer_ratio", "ratio", "{:.2f}".format),
                ("peer_diffs", "alembic_utils false diffs", str),
            ],
        )
    )


if __name__ == "__main__":
    main()
