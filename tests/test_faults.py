"""Faults: a writer killed mid-transaction leaves no audit rows; a failing migration
step leaves the database exactly as it was (transactional DDL), naming the object."""

from __future__ import annotations

import time
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Column, Integer, MetaData, String, Table
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, ProgrammingError

from alembic_audit import install_audit_triggers, set_session_vars
from tests.fixtures.alembic_project import AlembicProject


def make_model(level: str = "statement", tables: tuple[str, ...] = ("item",)) -> MetaData:
    md = MetaData()
    for name in tables:
        Table(
            name,
            md,
            Column("id", Integer, primary_key=True),
            Column("name", String),
            info={
                "audit.options": {
                    "enabled": True,
                    "level": level,
                    "session_settings": [Column("username", String)],
                }
            },
        )
    return md


def catalog_snapshot(conn: Connection) -> dict[str, Any]:
    """Every user relation, function (with its definition) and trigger of the database."""
    q = {
        "relations": """
            SELECT n.nspname, c.relname, c.relkind FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
              AND n.nspname NOT LIKE 'pg_toast%%' ORDER BY 1, 2""",
        "functions": """
            SELECT n.nspname, p.proname, pg_get_functiondef(p.oid), p.proacl::text
            FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2""",
        "triggers": """
            SELECT tgrelid::regclass::text, tgname, pg_get_triggerdef(oid)
            FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1, 2""",
    }
    return {k: [tuple(r) for r in conn.exec_driver_sql(sql)] for k, sql in q.items()}


@pytest.mark.parametrize("level", ["row", "statement"])
def test_connection_killed_mid_transaction_leaves_no_audit_rows(
    psycopg_engine: Engine, level: str
) -> None:
    md = make_model(level)
    item, audit = md.tables["item"], md.tables["item_audit"]
    md.create_all(psycopg_engine)
    install_audit_triggers(md, psycopg_engine)

    victim = psycopg_engine.connect()
    victim.begin()
    set_session_vars(victim, username="doomed")
    victim.execute(item.insert(), [{"id": i, "name": f"n{i}"} for i in range(1, 51)])
    victim.execute(item.update().values(name="changed"))
    victim.execute(item.delete().where(item.c.id > 25))
    pid = victim.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    in_flight = victim.execute(sa.select(sa.func.count()).select_from(audit)).scalar()
    assert in_flight == 50 + 50 + 25  # written inside the victim's transaction

    with psycopg_engine.connect() as killer:
        assert killer.execute(sa.select(sa.func.count()).select_from(audit)).scalar() == 0
        assert killer.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})").scalar()
        for _ in range(100):  # the backend exits asynchronously
            gone = killer.exec_driver_sql(
                f"SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = {int(pid)}"
            ).scalar()
            if gone:
                break
            time.sleep(0.05)
    with pytest.raises(DBAPIError):
        victim.execute(item.insert().values(id=99, name="after death"))
    victim.invalidate()
    victim.close()

    with psycopg_engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(audit)).scalar() == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(item)).scalar() == 0
    # The trigger still works for everyone else.
    with psycopg_engine.begin() as conn:
        conn.execute(item.insert().values(id=1, name="alive"))
    with psycopg_engine.connect() as conn:
        assert conn.execute(sa.select(audit.c.name)).scalars().all() == ["alive"]


def test_failing_install_changes_nothing_and_names_the_table(psycopg_engine: Engine) -> None:
    first = make_model("statement", ("alpha", "beta"))
    first.create_all(psycopg_engine)
    install_audit_triggers(first, psycopg_engine)
    # beta goes away behind the models' back; a reinstall at another level must fail on
    # it and leave alpha's function and triggers exactly as they were.
    with psycopg_engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE beta RENAME TO beta_elsewhere")
        before = catalog_snapshot(conn)
    second = make_model("row", ("alpha", "beta"))
    with pytest.raises(ProgrammingError) as err:
        install_audit_triggers(second, psycopg_engine)
    assert 'relation "public.beta" does not exist' in str(err.value)
    with psycopg_engine.connect() as conn:
        assert catalog_snapshot(conn) == before


def test_failing_migration_step_rolls_back_every_audit_op(
    alembic_project: AlembicProject,
) -> None:
    alembic_project.write_migration(
        "a1",
        None,
        imports="import sqlalchemy as sa\nimport alembic_audit.operations  # noqa: F401",
        upgrade="""
            op.create_table("alpha", sa.Column("id", sa.Integer, primary_key=True))
            op.create_audit_trigger("alpha", create_audit_table=True, append_only=True)
            op.execute("CREATE TABLE beta (id integer)")
            op.create_audit_trigger("gamma", create_audit_table=True)
        """,
    )
    engine = sa.create_engine(alembic_project.database_url.set(drivername="postgresql+psycopg"))
    try:
        with engine.connect() as conn:
            before = catalog_snapshot(conn)
        with pytest.raises(ValueError) as err:
            alembic_project.upgrade("head")
        assert "'gamma' does not exist" in str(err.value)
        with engine.connect() as conn:
            assert catalog_snapshot(conn) == before  # no alpha, no function, no version row
    finally:
        engine.dispose()


def test_failing_sql_after_audit_ops_rolls_them_back(alembic_project: AlembicProject) -> None:
    alembic_project.write_migration(
        "a1",
        None,
        imports="import sqlalchemy as sa\nimport alembic_audit.operations  # noqa: F401",
        upgrade="""
            op.create_table("alpha", sa.Column("id", sa.Integer, primary_key=True))
            op.create_audit_trigger("alpha", create_audit_table=True)
            op.execute("ALTER TABLE missing_table ADD COLUMN x integer")
        """,
    )
    engine = sa.create_engine(alembic_project.database_url.set(drivername="postgresql+psycopg"))
    try:
        with engine.connect() as conn:
            before = catalog_snapshot(conn)
        with pytest.raises(ProgrammingError, match='relation "missing_table" does not exist'):
            alembic_project.upgrade("head")
        with engine.connect() as conn:
            assert catalog_snapshot(conn) == before
    finally:
        engine.dispose()
