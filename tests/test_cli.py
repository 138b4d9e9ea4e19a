"""The ``alembic-audit`` command line: finding the database, tables, JSON, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

import alembic_audit
from alembic_audit.cli import main
from tests.fixtures.db import with_driver


def _url(database_url: URL) -> str:
    return with_driver(database_url, "psycopg").render_as_string(hide_password=False)


@pytest.fixture
def shop(psycopg_engine: Engine) -> Engine:
    md = sa.MetaData()
    item = sa.Table(
        "item",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        info={"audit.options": {"enabled": True}},
    )
    sa.Table(
        "event",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        info={"audit.options": {"enabled": True, "level": "row"}},
    )
    md.create_all(psycopg_engine)
    alembic_audit.install_audit_triggers(md, psycopg_engine)
    with psycopg_engine.begin() as conn:
        conn.execute(item.insert().values([{"id": 1}, {"id": 2}]))
    return psycopg_engine


def test_tables_plain_and_json(
    shop: Engine, database_url: URL, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--url", _url(database_url), "tables"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["table", "audit", "table", "level", "rows"]
    assert [line.split() for line in lines[1:]] == [
        ["public.event", "public.event_audit", "row", "0"],
        ["public.item", "public.item_audit", "statement", "2"],
    ]
    assert main(["--url", _url(database_url), "--json", "tables"]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {"table": "public.event", "audit_table": "public.event_audit", "level": "row", "rows": 0},
        {
            "table": "public.item",
            "audit_table": "public.item_audit",
            "level": "statement",
            "rows": 2,
        },
    ]


def test_the_url_comes_from_the_environment_then_alembic_ini(
    shop: Engine,
    database_url: URL,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert main(["tables"]) == 1
    assert capsys.readouterr().err == (
        "alembic-audit: error: no database: pass --url, set DATABASE_URL, or run where "
        "alembic.ini is\n"
    )
    (tmp_path / "alembic.ini").write_text(
        "[alembic]\nsqlalchemy.url = " + _url(database_url).replace("%", "%%") + "\n"
    )
    assert main(["--json", "tables"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 2
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/nothing")
    assert main(["tables"]) == 1  # the environment comes before alembic.ini
    err = capsys.readouterr().err
    assert err.startswith("alembic-audit: error: cannot use the database ")
    assert err.count("\n") == 1 and "Traceback" not in err


def test_the_console_script_is_installed(shop: Engine, database_url: URL) -> None:
    script = Path(sys.executable).parent / "alembic-audit"
    if not script.exists():
        pytest.skip(f"{script} is not installed: pip install -e . installs it")
    done = subprocess.run(
        [str(script), "--url", _url(database_url), "tables"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "public.item_audit" in done.stdout
    bad = subprocess.run(
        [str(script), "--url", "not a url", "tables"], capture_output=True, text=True, check=False
    )
    assert bad.returncode == 1
    assert bad.stderr.startswith("alembic-audit: error: not a usable database URL")
    assert "Traceback" not in bad.stderr
