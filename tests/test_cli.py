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


# -- log, show, as-of, revert -------------------------------------------------------------


@pytest.fixture
def sample(psycopg_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """A product written twice by two users, its audit rows given fixed times, transaction
    ids and role, so that the output is the same on every run."""
    monkeypatch.setenv("PGTZ", "UTC")
    md = sa.MetaData()
    product = sa.Table(
        "product",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(40)),
        sa.Column("price", sa.Numeric(10, 2)),
        sa.Column("tags", sa.ARRAY(sa.Text)),
        info={
            "audit.options": {
                "enabled": True,
                "session_settings": [sa.Column("username", sa.String(20))],
            }
        },
    )
    md.create_all(psycopg_engine)
    alembic_audit.install_audit_triggers(md, psycopg_engine)
    for user, stmt in [
        ("alice", product.insert().values(id=1, name="pen", price=1.5, tags=["office"])),
        ("bob", product.update().values(name="blue pen", price=2)),
    ]:
        with psycopg_engine.begin() as conn:
            alembic_audit.set_session_vars(conn, username=user)
            conn.execute(stmt)
    with psycopg_engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE product_audit SET audit_current_user = 'app',"
            " audit_transaction_id = (700 + audit_id)::text::xid8,"
            " audit_operation_timestamp"
            " = timestamptz '2025-01-01 10:00:00+00' + audit_id * interval '1 hour',"
            " audit_change_timestamp"
            " = timestamptz '2025-01-01 10:00:00.5+00' + audit_id * interval '1 hour'"
        )
    return psycopg_engine


LOG = """\
insert public.product id=1 (audit_id 1)
Date:        2025-01-01T11:00:00.500000+00:00
Transaction: 701
User:        app
Settings:    username='alice'

+   id: 1
+   name: 'pen'
+   price: 1.50
+   tags: ["office"]

update public.product id=1 (audit_id 2)
Date:        2025-01-01T12:00:00.500000+00:00
Transaction: 702
User:        app
Settings:    username='bob'

-   name: 'pen'
+   name: 'blue pen'
-   price: 1.50
+   price: 2.00

"""


def test_log_plain_and_json(
    sample: Engine, database_url: URL, capsys: pytest.CaptureFixture[str]
) -> None:
    url = _url(database_url)
    assert main(["--url", url, "log", "product", "1"]) == 0
    assert capsys.readouterr().out == LOG
    assert main(["--url", url, "log", "public.product", "id=1"]) == 0  # qualified, named
    assert capsys.readouterr().out == LOG
    assert main(["--url", url, "--color", "always", "log", "product", "1"]) == 0
    coloured = capsys.readouterr().out
    assert "\033[33minsert public.product id=1 (audit_id 1)\033[0m" in coloured
    assert "\033[31m-   name: 'pen'\033[0m\n\033[32m+   name: 'blue pen'\033[0m" in coloured
    assert main(["--url", url, "--json", "log", "product", "1"]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {
            "table": "public.product",
            "key": {"id": 1},
            "operation": "I",
            "audit_id": 1,
            "transaction_id": 701,
            "timestamp": "2025-01-01T11:00:00.500000+00:00",
            "transaction_timestamp": "2025-01-01T11:00:00+00:00",
            "user": "app",
            "settings": {"username": "alice"},
            "values": {"id": 1, "name": "pen", "price": "1.50", "tags": ["office"]},
            "changes": {
                "id": [None, 1],
                "name": [None, "pen"],
                "price": [None, "1.50"],
                "tags": [None, ["office"]],
            },
        },
        {
            "table": "public.product",
            "key": {"id": 1},
            "operation": "U",
            "audit_id": 2,
            "transaction_id": 702,
            "timestamp": "2025-01-01T12:00:00.500000+00:00",
            "transaction_timestamp": "2025-01-01T12:00:00+00:00",
            "user": "app",
            "settings": {"username": "bob"},
            "values": {"id": 1, "name": "blue pen", "price": "2.00", "tags": ["office"]},
            "changes": {"name": ["pen", "blue pen"], "price": ["1.50", "2.00"]},
        },
    ]


def test_show_as_of_and_revert(
    sample: Engine, database_url: URL, capsys: pytest.CaptureFixture[str]
) -> None:
    url = _url(database_url)
    assert main(["--url", url, "show", "702"]) == 0
    assert capsys.readouterr().out == (
        "transaction 702: 1 change(s) in public.product\n\n" + LOG.split("\n\n", 2)[2]
    )
    assert main(["--url", url, "as-of", "product", "2025-01-01 11:30+00"]) == 0
    assert capsys.readouterr().out == "id  name  price  tags\n1   pen   1.50   ['office']\n"
    assert main(["--url", url, "--json", "as-of", "product", "--transaction", "702"]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {"id": 1, "name": "blue pen", "price": "2.00", "tags": ["office"]}
    ]
    assert main(["--url", url, "as-of", "product", "2025-01-01 09:00+00"]) == 0
    assert capsys.readouterr().out == "id  name  price  tags\n(none)\n"

    assert main(["--url", url, "revert", "702", "--dry-run"]) == 0
    assert capsys.readouterr().out == (
        "transaction 702: would run 1 statement(s) (nothing changed: dry run)\n"
        "UPDATE public.product SET name='pen', price=1.50 WHERE public.product.id = 1;\n"
    )
    assert main(["--url", url, "--json", "revert", "702", "--set", "username=admin"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "transaction_id": 702,
        "dry_run": False,
        "statements": [
            {
                "table": "public.product",
                "key": {"id": 1},
                "action": "UPDATE",
                "values": {"name": "pen", "price": "1.50"},
                "kept": [],
                "sql": "UPDATE public.product SET name='pen', price=1.50"
                " WHERE public.product.id = 1",
            }
        ],
    }
    with sample.connect() as conn:
        assert conn.exec_driver_sql("SELECT name FROM product").scalar() == "pen"
        assert (
            conn.exec_driver_sql(
                "SELECT audit_username FROM product_audit ORDER BY audit_id DESC LIMIT 1"
            ).scalar()
            == "admin"
        )
    # Reverting 701 now conflicts with 702 and with the revert itself.
    assert main(["--url", url, "revert", "701"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(
        "alembic-audit: error: revert_transaction(701): refused, 1 row(s) changed by later "
        "transactions: public.product id=1 (transaction 702 and 1 more change(s)); pass "
        "force=True"
    )
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["log", "nope", "1"], "table 'nope' does not exist"),
        (["log", "product_audit", "1"], "'product_audit' is the audit table of 'public.product'"),
        (["log", "product", "x"], "bad key: column 'id' of 'public.product' (INTEGER) cannot hold"),
        (["log", "product", "1", "2"], "the key of 'public.product' is id (1 value(s)); got 2"),
        (["log", "product", "9"], "public.product id=9 has no audit rows"),
        (["as-of", "product", "yesterday-ish"], "not a time: 'yesterday-ish'"),
        (["as-of", "product"], "as-of: give a time (WHEN) or --transaction, not both"),
        (["show", "5"], "transaction 5 wrote no audit row"),
        (["revert", "5"], "revert_transaction(5): the transaction wrote no audit row in"),
    ],
)
def test_history_commands_fail_in_one_line(
    sample: Engine,
    database_url: URL,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    with sample.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE plain (id int PRIMARY KEY)")
    assert main(["--url", _url(database_url), *argv]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"alembic-audit: error: {message}"), err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_a_table_that_is_not_audited(
    sample: Engine, database_url: URL, capsys: pytest.CaptureFixture[str]
) -> None:
    with sample.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE plain (id int PRIMARY KEY)")
    assert main(["--url", _url(database_url), "log", "plain", "1"]) == 1
    assert capsys.readouterr().err == (
        "alembic-audit: error: table 'plain' is not audited (no audit function names it); "
        "'alembic-audit tables' lists the audited tables\n"
    )
