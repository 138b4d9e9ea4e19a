"""Context the trigger reads from the server itself: application_name, the client's
address and the statement text (options, off by default), and settings any client sets."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

import alembic_audit
from tests.fixtures.alembic_project import psql_path
from tests.fixtures.db import with_driver

LEVELS = ("row", "statement")


def _tables(md: sa.MetaData, **options: Any) -> dict[str, sa.Table]:
    return {
        level: sa.Table(
            f"item_{level}",
            md,
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("qty", sa.Integer),
            info={
                "audit.options": {
                    "enabled": True,
                    "level": level,
                    "session_settings": [sa.Column("username", sa.String(20))],
                    **options,
                }
            },
        )
        for level in LEVELS
    }


@pytest.mark.parametrize("driver_name", ["psycopg2", "psycopg"])
def test_the_trigger_records_application_client_and_statement(
    database_url: URL, driver_name: str
) -> None:
    md = sa.MetaData()
    tables = _tables(md, application_name=True, client_address=True, statement_text=True)
    engine = sa.create_engine(
        with_driver(database_url, driver_name),
        connect_args={"application_name": "billing-worker"},
    )
    try:
        md.create_all(engine)
        alembic_audit.install_audit_triggers(md, engine)
        statements = {}
        with engine.begin() as conn:
            address = conn.execute(sa.text("SELECT inet_client_addr()::text")).scalar()
            for level in tables:
                statements[level] = f"INSERT INTO item_{level} (id, qty) VALUES (1, 5)"
                conn.exec_driver_sql(statements[level])
        with engine.connect() as conn:
            for level in LEVELS:
                row = conn.exec_driver_sql(
                    "SELECT audit_application_name, audit_client_address::text,"
                    f" audit_statement FROM item_{level}_audit"
                ).one()
                assert row == ("billing-worker", address, statements[level])
    finally:
        engine.dispose()


def test_context_columns_are_off_by_default(psycopg_engine: sa.Engine) -> None:
    md = sa.MetaData()
    tables = _tables(md)
    names = {c.name for c in md.tables["item_row_audit"].columns}
    assert not names & {"audit_application_name", "audit_client_address", "audit_statement"}
    del tables


def test_settings_set_by_any_client_reach_the_audit_rows(database_url: URL) -> None:
    """A psql user or a cron job sets audit.* with SET LOCAL / set_config: it is recorded."""
    md = sa.MetaData()
    _tables(md, application_name=True)
    engine = sa.create_engine(with_driver(database_url, "psycopg"))
    try:
        md.create_all(engine)
        alembic_audit.install_audit_triggers(md, engine)
    finally:
        engine.dispose()
    uri = database_url.set(drivername="postgresql").render_as_string(hide_password=False)
    script = (
        "BEGIN;\n"
        "SET LOCAL audit.username = 'cron';\n"
        "INSERT INTO item_row VALUES (1, 1);\n"
        "SELECT set_config('audit.username', 'psql user', true);\n"
        "INSERT INTO item_statement VALUES (1, 1);\n"
        "COMMIT;\n"
    )
    done = subprocess.run(
        [psql_path(), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", uri],
        input=script,
        capture_output=True,
        text=True,
        env={"PGAPPNAME": "nightly-cron", "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    engine = sa.create_engine(with_driver(database_url, "psycopg"))
    try:
        with engine.connect() as conn:
            rows = [
                conn.exec_driver_sql(
                    f"SELECT audit_username, audit_application_name FROM item_{level}_audit"
                ).one()
                for level in LEVELS
            ]
    finally:
        engine.dispose()
    assert rows == [("cron", "nightly-cron"), ("psql user", "nightly-cron")]
