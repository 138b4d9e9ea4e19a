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
    "partitions": [
        "| partitioned / plain |",
        "## conversion: 6000 rows into",
        "| as_of one row |",
        "## pruning one month (",
    ],
    "autogenerate": ["\n3 | 2 | "],  # 3 tables, 2 catalog queries added
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
