"""The benchmark scripts run end to end (tiny sizes; their numbers are not checked here).

Speed is measured by running the scripts, never asserted in tests; this only keeps
them runnable, against the server under test, and their reports complete.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

ROOT = Path(__file__).resolve().parents[1]

RUNS = {
    "writes": ["--rows", "50", "--single", "20", "--block", "10", "--repeat", "1", "--peers"],
    "one_row_breakdown": ["--rounds", "1", "--transactions", "20", "--workload", "update"],
    "autogenerate": ["--sizes", "3", "--repeat", "1"],
    "history_api": [
        "--rows",
        "3000",
        "--keys",
        "300",
        "--samples",
        "3",
        "--depths",
        "100,1000",
        "--page",
        "20",
        "--asof-rows",
        "2000",
        "--asof-keys",
        "200",
        "--lookup",
        "50",
        "--asof-repeat",
        "1",
    ],
    "partitions": [
        "--rows",
        "200",
        "--single",
        "20",
        "--block",
        "10",
        "--repeat",
        "1",
        "--history-rows",
        "6000",
        "--keys",
        "600",
        "--months",
        "3",
        "--samples",
        "2",
    ],
    "reads": [
        "--rows",
        "3000",
        "--keys",
        "300",
        "--samples",
        "3",
        "--samples-without",
        "1",
        "--snapshot-rows",
        "100",
    ],
    "context": ["--transactions", "5", "--rounds", "1"],
}

EXPECTED = {
    "writes": [
        "1-row update: statement / none =",
        "| jsonb peer / none |",
        "statement / minimal trigger =",
        "| statement / first release |",
    ],
    "one_row_breakdown": [
        "| unpinned |",
        "| statement |",
        "SECURITY DEFINER (statement - invoker)",
    ],
    "reads": ["one row's history:", "hist_audit_row_idx", "snapshot of 100 rows:"],
    "history_api": [
        "history of one row:",
        "as_of for 50 keys over 2000 audit rows: one query,",
        "asof_audit_row_idx",
        "| 2980 |",
        "deepest page / first page:",
        "hist_audit_time_idx",
        "with a BRIN time index instead, page at depth 0:",
    ],
    "autogenerate": ["\n3 | 3 | "],  # 3 tables, 3 catalog queries added
    # Round trips are counted, not timed: audit_context adds none on psycopg2 (BEGIN,
    # INSERT, COMMIT), set_session_vars one.
    "context": ["| psycopg2 | 3 | 3 | 4 | 3 | 4 |", "| asyncpg |", "context / explicit ="],
    "partitions": [
        "| partitioned / plain |",
        "## conversion: 6000 rows into",
        "| as_of one row |",
        "## pruning one month (",
    ],
}


@pytest.mark.parametrize("script", sorted(RUNS))
def test_benchmark_runs_and_reports(server_url: URL, script: str) -> None:
    url = server_url.render_as_string(hide_password=False)
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / f"{script}.py"), "--url", url, *RUNS[script]],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    for line in EXPECTED[script]:
        assert line in out.stdout, out.stdout


def test_one_row_breakdown_measures_another_tree_side_by_side(server_url: URL) -> None:
    """``--before DIR`` builds the ``*_before`` designs with the package in DIR (here this
    tree itself, so only the code path is checked)."""
    url = server_url.render_as_string(hide_password=False)
    script = ROOT / "benchmarks" / "one_row_breakdown.py"
    args = ["--url", url, "--rounds", "1", "--transactions", "20", "--before", str(ROOT)]
    out = subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    for line in ("| statement_before |", "statement: after / before = "):
        assert line in out.stdout, out.stdout


def test_realistic_autogenerate_benchmark_runs_and_reports(server_url: URL) -> None:
    """``--realistic``: whole ``alembic`` commands on an app-like schema, audited or not."""
    url = server_url.render_as_string(hide_password=False)
    args = ["--realistic", "4", "--repeat", "1", "--commands", "check,autogenerate"]
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "autogenerate.py"), "--url", url, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "alembic check | 4 | " in out.stdout, out.stdout
    assert "alembic autogenerate | 4 | " in out.stdout, out.stdout
