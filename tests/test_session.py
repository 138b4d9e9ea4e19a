"""set_session_vars with every kind of connectable, and the engine plugin."""

from __future__ import annotations

import asyncio
import datetime
import subprocess
import sys
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import Session

import alembic_audit
from alembic_audit.runtime.session import session_vars_statement

from .fixtures.db import with_driver

READ = sa.text(
    "SELECT current_setting('audit.username', true), current_setting('audit.request_id', true)"
)


def test_connection(engine: Engine) -> None:
    rid = uuid.uuid4()
    with engine.begin() as conn:
        alembic_audit.set_session_vars(conn, username="alice", request_id=rid)
        assert conn.execute(READ).one() == ("alice", str(rid))
    with engine.begin() as conn:  # transaction-local: gone in the next transaction
        assert conn.execute(READ).one() in {("", ""), (None, None)}


def test_session(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        alembic_audit.set_session_vars(session, username="bob")
        assert session.execute(READ).one()[0] == "bob"


@pytest.mark.parametrize("kind", ["connection", "session"])
def test_async(database_url: URL, kind: str) -> None:
    async def run() -> str:
        engine = create_async_engine(with_driver(database_url, "psycopg"))
        try:
            if kind == "connection":
                async with engine.begin() as conn:
                    await alembic_audit.set_session_vars(conn, username="carol")
                    return (await conn.execute(READ)).one()[0]
            async with AsyncSession(engine) as session, session.begin():
                await alembic_audit.set_session_vars(session, username="carol")
                return (await session.execute(READ)).one()[0]
        finally:
            await engine.dispose()

    assert asyncio.run(run()) == "carol"


def test_values_are_bind_parameters_never_sql_text() -> None:
    hostile = "x'); DROP TABLE item; --"
    stmt, params = session_vars_statement(username=hostile, when=datetime.date(2024, 1, 2))
    sql = str(stmt.compile())
    assert hostile not in sql and "DROP" not in sql and "2024" not in sql
    assert params == {
        "name_0": "audit.username",
        "value_0": hostile,
        "name_1": "audit.when",
        "value_1": "2024-01-02",
    }


def test_value_types(engine: Engine) -> None:
    with engine.begin() as conn:
        alembic_audit.set_session_vars(conn, a=True, b=3, c=None, d=1.5)
        got = conn.execute(
            sa.text(
                "SELECT current_setting('audit.a'), current_setting('audit.b'),"
                " current_setting('audit.c'), current_setting('audit.d')"
            )
        ).one()
    assert got == ("true", "3", "", "1.5")


@pytest.mark.parametrize("name", ["user name", "1st", "a.b", "x;y", ""])
def test_invalid_setting_name_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match=r"set_session_vars: session setting name .* not a valid"):
        session_vars_statement(**{name: "v"})


def test_unsupported_value_type_is_refused() -> None:
    with pytest.raises(TypeError, match=r"value of 'username' must be str"):
        session_vars_statement(username=object())


def test_no_settings_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one setting"):
        session_vars_statement()


def test_seed_compatible_set_session_var_stmt(engine: Engine) -> None:
    stmt, params = alembic_audit.set_session_var_stmt(username="dave")
    with engine.begin() as conn:
        conn.execute(stmt, params)
        assert conn.execute(READ).one()[0] == "dave"


ENGINE_PLUGIN_CHECK = """
import sys
import sqlalchemy as sa
from alembic_audit.schema import builder
assert not builder.is_listening()
url = sys.argv[1]
if sys.argv[2] == "kwarg":
    engine = sa.create_engine(url, plugins=["audit"])
else:
    engine = sa.create_engine(url + ("&" if "?" in url else "?") + "plugin=audit")
assert builder.is_listening()
md = sa.MetaData()
sa.Table("t", md, sa.Column("id", sa.Integer), info={"audit.options": {"enabled": True}})
assert "t_audit" in md.tables, md.tables
with engine.connect() as conn:
    conn.exec_driver_sql("select 1")
print("ok")
"""


@pytest.mark.parametrize("style", ["kwarg", "url"])
def test_engine_plugin_enables_the_builder(database_url: URL, style: str) -> None:
    # A fresh interpreter: enable() is process-global and the test session already ran it.
    url = with_driver(database_url, "psycopg").render_as_string(hide_password=False)
    out = subprocess.run(
        [sys.executable, "-c", ENGINE_PLUGIN_CHECK, url, style],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
