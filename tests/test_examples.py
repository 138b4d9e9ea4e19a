"""The runnable examples the README points to."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy.engine import URL

from .fixtures.db import with_driver

ROOT = Path(__file__).resolve().parents[1]


def test_quickstart_prints_the_audit_trail(database_url: URL) -> None:
    url = with_driver(database_url, "psycopg").render_as_string(hide_password=False)
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py"), url],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["op", "user", "id", "name", "price"]
    assert [line.split() for line in lines[1:]] == [
        ["I", "alice", "1", "pen", "150"],
        ["U", "bob", "1", "pen", "175"],
        ["D", "bob", "1", "pen", "175"],
    ]


def test_audit_context_example_prints_each_writer(database_url: URL) -> None:
    url = with_driver(database_url, "psycopg").render_as_string(hide_password=False)
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "audit_context.py"), url],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert [line.split() for line in out.stdout.splitlines()] == [
        ["op", "user", "request", "price"],
        ["I", "alice", "00000001", "150"],
        ["U", "bob", "00000001", "175"],
        ["U", "nightly-reprice", "-", "185"],
    ]


def test_existing_app_is_audited_in_one_call(database_url: URL) -> None:
    url = with_driver(database_url, "psycopg").render_as_string(hide_password=False)
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "existing_app.py"), url],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "audit triggers in the first revision: 3" in out.stdout
    for name in ("customer_audit", "order_audit", "order_tag_audit"):
        assert f"{name}: [('I', 'alice')]" in out.stdout
    assert "password_hash audited: False" in out.stdout
    assert "alembic check: nothing to do" in out.stdout
