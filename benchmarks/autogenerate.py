"""Cost of the audit comparator in a no-op autogenerate, measured side by side.

For 10, 100, 500 and 1,000 audited tables (all functions and triggers installed, models
unchanged, so autogenerate must find nothing) it runs Alembic's ``compare_metadata``
(what ``alembic check`` runs) with and without the ``alembic_audit`` comparator,
interleaved in the same process, and prints:

- the catalog queries the comparator adds (must stay constant: three, functions, triggers and
  audit tables; Alembic reflects its tables schema by schema, so hiding the audit tables
  from it saves time, not queries);
- the median time with and without it, and the ratio (goal: under 1.20 at 1,000).

With ``--realistic N`` it measures whole commands instead: ``alembic check`` (and, with
``--commands check,autogenerate``, ``alembic revision --autogenerate``) run as separate
processes on a realistic schema of N tables in two schemas (9 columns each: integer and
UUID keys, a foreign key, two indexes and a unique constraint, JSONB, ARRAY, NUMERIC,
timestamps), once with every table audited and once without auditing, each on a database
of its own, interleaved, and prints the medians and the ratio (goal: ``alembic check``
within 1.15x at 150 tables).

With ``--peer`` it then does the same for alembic_utils at 100 and 300 tables, with
the equivalent objects (one function and one row trigger per table; alembic-audit is
measured on the same shape, ``level="row"``, no TRUNCATE trigger).  alembic_utils is
installed into a virtualenv of its own (``--peer-venv``), never into the project's.

Usage::

    python benchmarks/autogenerate.py                         # server at 127.0.0.1:5432
    python benchmarks/autogenerate.py --sizes 10,100 --repeat 3
    python benchmarks/autogenerate.py --peer                  # plus alembic_utils
    python benchmarks/autogenerate.py --realistic 150 --repeat 7   # whole commands

The script creates and drops its own database (``alembic_audit_bench_autogen``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import alembic
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


def models(n: int, options: dict[str, Any], first: int = 0) -> sa.MetaData:
    """Audited tables ``t<first>`` .. ``t<n - 1>`` (three columns each)."""
    metadata = sa.MetaData()
    for i in range(first, n):
        sa.Table(
            f"t{i:04d}",
            metadata,
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("name", sa.String(40)),
            sa.Column("price", sa.Numeric(10, 2)),
            info={"audit.options": {"enabled": True, **options}},
        )
    return metadata


#: Tables installed per transaction: one transaction for 1,000 audited tables (each with
#: its audit table, identity sequence and indexes) needs more locks than PostgreSQL's
#: default lock table holds ("out of shared memory").
INSTALL_CHUNK = 200


def install(engine: Engine, n: int, options: dict[str, Any]) -> None:
    """The tables of ``models(n, options)``, their audit tables, functions and triggers."""
    for first in range(0, n, INSTALL_CHUNK):
        chunk = models(min(first + INSTALL_CHUNK, n), options, first)
        with engine.begin() as conn:
            chunk.create_all(conn)
            alembic_audit.install_audit_triggers(chunk, conn)


# -- the comparator on and off --------------------------------------------------------


@contextmanager
def global_comparator_removed() -> Iterator[None]:
    """Take the comparator that enable() put in Alembic's global registry out for a
    while, so that only ``autogenerate_plugins`` decides whether it runs."""
    import alembic.autogenerate.compare as compare

    from alembic_audit.autogen.plugin import comparator, preparer

    saved = {k: list(v) for k, v in compare.comparators._registry.items()}
    for entries in compare.comparators._registry.values():
        entries[:] = [e for e in entries if e[0] not in (comparator, preparer)]
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

    originals = compare.prepare_audit, compare.compare_audit
    spent: list[float] = []

    def timed(original: Any, last: bool) -> Any:
        def run(*args: Any, **kw: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kw)
            finally:
                spent.append(time.perf_counter() - started)
                if last:  # one run: the preparing and the comparing comparator
                    _comparator_seconds.append(sum(spent))
                    spent.clear()

        return run

    compare.prepare_audit = timed(originals[0], False)  # type: ignore[assignment]
    compare.compare_audit = timed(originals[1], True)  # type: ignore[assignment]
    try:
        yield
    finally:
        compare.prepare_audit, compare.compare_audit = originals  # type: ignore[assignment]


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
        install(engine, n, options)
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
import alembic
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
        install(engine, n, options)
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


# -- whole commands on a realistic schema ---------------------------------------------

REALISTIC_SCHEMAS = (None, "sales")

#: env.py of the throwaway project: models and database come from the environment, so
#: the audited and the plain run differ in nothing else.
REALISTIC_ENV = """
import importlib.util
import os

from alembic import context
from sqlalchemy import create_engine, pool

spec = importlib.util.spec_from_file_location("bench_models", os.environ["BENCH_MODELS"])
models = importlib.util.module_from_spec(spec)
spec.loader.exec_module(models)


def include_name(name, type_, parent_names):
    return type_ != "schema" or name in (None, "public", "sales")


engine = create_engine(os.environ["BENCH_URL"], poolclass=pool.NullPool)
with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=models.metadata,
        include_schemas=True,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()
"""

REALISTIC_INI = """[alembic]
script_location = %(here)s
path_separator = os
"""


def realistic_models_source(n: int, audited: bool) -> str:
    """``models.py`` of N tables, alternately in ``public`` and ``sales``, 9 columns each.

    Each table has an integer key, a UUID with a unique constraint, an indexed name, a
    foreign key to the previous table (across schemas half of the time, indexed), NUMERIC,
    JSONB, an ARRAY, a timestamp with a server default and a boolean.  Audited, every table
    gets an audit table with a ``username`` session setting.
    """
    lines = [
        "import sqlalchemy as sa",
        "from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID",
    ]
    if audited:
        lines += ["import alembic_audit", "", "alembic_audit.enable()"]
    lines += ["", "metadata = sa.MetaData()", ""]
    options = (
        '{"enabled": True, "session_settings": [sa.Column("username", sa.String(50))]}'
        if audited
        else None
    )
    for i in range(n):
        schema = REALISTIC_SCHEMAS[i % 2]
        parent = None if i == 0 else (REALISTIC_SCHEMAS[(i - 1) % 2], f"t{i - 1:04d}")
        parent_ref = None if parent is None else ".".join(p for p in parent if p)
        fk = (
            f'sa.ForeignKey("{parent_ref}.id", ondelete="CASCADE")'
            if parent_ref
            else "nullable=True"
        )
        lines += [
            "sa.Table(",
            f'    "t{i:04d}",',
            "    metadata,",
            '    sa.Column("id", sa.Integer, primary_key=True),',
            f'    sa.Column("parent_id", sa.Integer, {fk}, index=True),',
            '    sa.Column("public_id", UUID(as_uuid=True), nullable=False, unique=True),',
            '    sa.Column("name", sa.String(120), nullable=False, index=True),',
            '    sa.Column("price", sa.Numeric(12, 2)),',
            '    sa.Column("data", JSONB),',
            '    sa.Column("tags", ARRAY(sa.String(30))),',
            '    sa.Column("created_at", sa.DateTime(timezone=True), '
            "server_default=sa.func.now(), nullable=False),",
            '    sa.Column("is_active", sa.Boolean, server_default=sa.true(), nullable=False),',
            f"    schema={schema!r},",
        ]
        if options:
            lines.append(f'    info={{"audit.options": {options}}},')
        lines += [")", ""]
    return "\n".join(lines)


def load_models(path: Path) -> sa.MetaData:
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"bench_models_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    metadata: sa.MetaData = module.metadata
    return metadata


@contextmanager
def named_databases(server: URL, names: list[str]) -> Iterator[list[URL]]:
    """Fresh databases of these names on the server, dropped afterwards."""
    admin = sa.create_engine(
        server.set(drivername="postgresql+psycopg2"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        for name in names:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield [server.set(database=name) for name in names]
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def realistic_setup(url: URL, models: Path, audited: bool) -> None:
    metadata = load_models(models)
    engine = sa.create_engine(url.set(drivername="postgresql+psycopg2"))
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE SCHEMA sales")
            metadata.create_all(conn)
            if audited:
                alembic_audit.install_audit_triggers(metadata, conn)
    finally:
        engine.dispose()


COMMANDS = {
    "check": ["check"],
    "autogenerate": ["revision", "--autogenerate", "-m", "bench"],
}


def run_command(project: Path, url: URL, models: Path, command: str) -> tuple[float, float]:
    """Seconds of one whole ``alembic`` command in a new process, wall clock and the
    process's CPU time (user + system: what a loaded machine disturbs least); fails
    loudly if the command fails or, for ``check``, finds anything."""
    env = {
        **os.environ,
        "BENCH_URL": url.set(drivername="postgresql+psycopg2").render_as_string(False),
        "BENCH_MODELS": str(models),
    }
    args = [sys.executable, "-m", "alembic", "-c", str(project / "alembic.ini")]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(args + COMMANDS[command], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"alembic {command} failed:\n{proc.stdout}\n{proc.stderr[-3000:]}")
    for written in (project / "versions").glob("*.py"):
        written.unlink()  # autogenerate wrote an (empty) revision: not part of the state
    return elapsed, cpu


def measure_realistic(
    server: URL, n: int, repeat: int, commands: list[str], workdir: Path
) -> list[dict[str, Any]]:
    """Whole commands, audited against plain, each on its own database, interleaved."""
    project = workdir / "project"
    (project / "versions").mkdir(parents=True, exist_ok=True)
    (project / "env.py").write_text(REALISTIC_ENV)
    (project / "alembic.ini").write_text(REALISTIC_INI)
    shutil.copyfile(
        Path(alembic.__file__).parent / "templates" / "generic" / "script.py.mako",
        project / "script.py.mako",
    )
    models = {
        audited: workdir / f"models_{'audited' if audited else 'plain'}.py"
        for audited in (True, False)
    }
    for audited, path in models.items():
        path.write_text(realistic_models_source(n, audited))
    names = [f"{DB_NAME}_audited", f"{DB_NAME}_plain"]
    rows = []
    with named_databases(server, names) as (audited_url, plain_url):
        urls = {True: audited_url, False: plain_url}
        for audited in (True, False):
            realistic_setup(urls[audited], models[audited], audited)
        for command in commands:
            times: dict[bool, list[float]] = {True: [], False: []}
            cpus: dict[bool, list[float]] = {True: [], False: []}
            for audited in (True, False):  # warm the server's caches and the bytecode
                run_command(project, urls[audited], models[audited], command)
            ratios, cpu_ratios = [], []
            for i in range(repeat):
                # Interleaved, order alternating: drift in the machine hits both sides.
                order = (True, False) if i % 2 == 0 else (False, True)
                for audited in order:
                    wall, cpu = run_command(project, urls[audited], models[audited], command)
                    times[audited].append(wall)
                    cpus[audited].append(cpu)
                ratios.append(times[True][-1] / times[False][-1])
                cpu_ratios.append(cpus[True][-1] / cpus[False][-1])
                print(f"  {command} {i + 1}/{repeat}: {ratios[-1]:.2f}x", file=sys.stderr)
            rows.append(
                {
                    "command": f"alembic {command}",
                    "tables": n,
                    "without_s": statistics.median(times[False]),
                    "with_s": statistics.median(times[True]),
                    "ratio": statistics.median(ratios),
                    "range": f"{min(ratios):.2f}-{max(ratios):.2f}",
                    "cpu_without_s": statistics.median(cpus[False]),
                    "cpu_with_s": statistics.median(cpus[True]),
                    "cpu_ratio": statistics.median(cpu_ratios),
                }
            )
    return rows


def realistic_report(rows: list[dict[str, Any]]) -> str:
    secs = "{:.3f}".format
    return table(
        rows,
        [
            ("command", "command", str),
            ("tables", "audited tables", str),
            ("without_s", "without auditing (s)", secs),
            ("with_s", "with auditing (s)", secs),
            ("ratio", "ratio (median)", "{:.2f}x".format),
            ("range", "ratio min-max", str),
            ("cpu_without_s", "CPU without (s)", secs),
            ("cpu_with_s", "CPU with (s)", secs),
            ("cpu_ratio", "CPU ratio", "{:.2f}x".format),
        ],
    )


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
    parser.add_argument(
        "--realistic",
        type=int,
        metavar="TABLES",
        help="measure whole commands on a realistic schema of TABLES audited tables",
    )
    parser.add_argument(
        "--commands",
        default="check",
        help="with --realistic: alembic commands to time (check, autogenerate)",
    )
    args = parser.parse_args()
    alembic_audit.enable()
    server = make_url(args.url)
    secs = "{:.3f}".format

    if args.realistic:
        with tempfile.TemporaryDirectory(prefix="alembic-audit-bench-") as workdir:
            rows = measure_realistic(
                server, args.realistic, args.repeat, args.commands.split(","), Path(workdir)
            )
        print("whole commands, realistic schema, with auditing against without")
        print(realistic_report(rows))
        return

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
