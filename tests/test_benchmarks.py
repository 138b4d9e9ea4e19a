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
}

EXPECTED = {
    "writes": ["1-row update: statement / none =", "| jsonb peer / none |"],
    "one_row_breakdown": ["| unpinned |", "| statement |"],
    "autogenerate": ["\n3 | 3 | "],  # 3 tables, 3 catalog queries added
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
