"""The plans PL/pgSQL caches for the statement-level copy do not depend on history.

A trigger function's ``INSERT ... SELECT FROM <transition table>`` is planned once per
session and reused.  Two ways that went wrong before the function pinned its planner
settings, both seen here through ``auto_explain`` (the plan of the nested statement):

- after the plan was rebuilt during a bulk statement (any invalidation: TRUNCATE or
  ANALYZE of the audit table), every later one-row call was re-planned (a custom plan,
  showing the settings as constants instead of parameters);
- the ``skip_unchanged`` old/new join planned during a one-row UPDATE was a nested
  loop, reused for a later bulk UPDATE (quadratic).

``auto_explain`` ships with PostgreSQL's contrib; the behaviour tests are skipped on a
server without it (the catalog test always runs).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

import alembic_audit

_counter = itertools.count()


def _install(engine: Engine, **options: object) -> tuple[str, str]:
    alembic_audit.enable()
    md = sa.MetaData()
    name = f"plan_{next(_counter)}"
    sa.Table(
        name,
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("v", sa.Integer),
        info={
            "audit.options": {
                "enabled": True,
                "session_settings": [sa.Column("username", sa.String(40))],
                **options,
            }
        },
    )
    md.create_all(engine)
    alembic_audit.install_audit_triggers(md, engine)
    return name, f"{name}_audit"


def _config(engine: Engine, table: str) -> set[str]:
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT DISTINCT unnest(p.proconfig) FROM pg_trigger t "
            "JOIN pg_proc p ON p.oid = t.tgfoid "
            "WHERE t.tgrelid = CAST(%(t)s AS regclass) AND NOT t.tgisinternal",
            {"t": table},
        )
        return {r[0] for r in rows}


def test_planner_settings_in_catalog(psycopg_engine: Engine) -> None:
    stmt, _ = _install(psycopg_engine, level="statement")
    skip, _ = _install(psycopg_engine, level="statement", skip_unchanged=True)
    row, _ = _install(psycopg_engine, level="row", skip_unchanged=True)
    path = "search_path=pg_catalog, pg_temp"
    assert _config(psycopg_engine, stmt) == {path, "plan_cache_mode=force_generic_plan"}
    assert _config(psycopg_engine, skip) == {
        path,
        "plan_cache_mode=force_generic_plan",
        "enable_nestloop=off",
    }
    assert _config(psycopg_engine, row) == {path}


class Explained:
    """A psycopg connection logging the plan of every nested statement as a notice."""

    def __init__(self, url: URL) -> None:
        self.conn = psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)
        self.plans: list[str] = []
        self.conn.add_notice_handler(lambda d: self.plans.append(d.message_primary or ""))
        try:
            self.conn.execute("LOAD 'auto_explain'")
        except psycopg.Error:
            self.conn.close()
            pytest.skip("auto_explain is not available on this server")
        for setting, value in (
            ("auto_explain.log_min_duration", "0"),
            ("auto_explain.log_nested_statements", "on"),
            ("auto_explain.log_verbose", "on"),
            ("auto_explain.log_level", "notice"),
            ("client_min_messages", "notice"),
        ):
            self.conn.execute("SELECT set_config(%s, %s, false)", (setting, value))

    def audit_plans(self, sql: str, audit_table: str) -> list[str]:
        """Plans of the statements writing into ``audit_table`` while ``sql`` runs."""
        self.plans.clear()
        self.conn.execute(sql)
        return [p for p in self.plans if f"Insert on public.{audit_table}" in p]


@pytest.fixture
def explained(database_url: URL) -> Iterator[Explained]:
    e = Explained(database_url)
    yield e
    e.conn.close()


def test_one_row_copy_keeps_its_generic_plan_after_a_bulk_rebuild(
    psycopg_engine: Engine, explained: Explained
) -> None:
    table, audit = _install(psycopg_engine, level="statement")
    explained.conn.execute("SET audit.username = 'alice'")
    for i in range(8):
        explained.conn.execute(f"INSERT INTO {table} VALUES ({i}, 0)")
    # Invalidates the cached plan; the next call (a bulk one) rebuilds it.
    explained.conn.execute(f"TRUNCATE {audit}")
    explained.conn.execute(f"INSERT INTO {table} SELECT g, 0 FROM generate_series(100, 2099) g")
    for i in range(3):
        (plan,) = explained.audit_plans(f"INSERT INTO {table} VALUES ({10 + i}, 0)", audit)
        # A generic plan reads the settings as parameters; a custom one (re-planned for
        # this call) shows their values.
        assert "$" in plan and "alice" not in plan, plan
    with psycopg_engine.connect() as conn:
        count = conn.exec_driver_sql(f"SELECT count(*) FROM {audit}").scalar()
    assert count == 2000 + 3


def test_bulk_skip_unchanged_update_never_uses_a_nested_loop(
    psycopg_engine: Engine, explained: Explained
) -> None:
    table, audit = _install(psycopg_engine, level="statement", skip_unchanged=True)
    explained.conn.execute(f"INSERT INTO {table} SELECT g, 0 FROM generate_series(1, 2000) g")
    for i in range(1, 9):  # one-row UPDATEs first: the plan is built on a 1-row estimate
        explained.conn.execute(f"UPDATE {table} SET v = v + 1 WHERE id = {i}")
    (plan,) = explained.audit_plans(f"UPDATE {table} SET v = v + (id % 2)", audit)
    assert "Nested Loop" not in plan and ("Hash" in plan or "Merge" in plan), plan
    with psycopg_engine.connect() as conn:
        count = conn.exec_driver_sql(
            f"SELECT count(*) FROM {audit} WHERE audit_operation = 'U'"
        ).scalar()
    assert count == 8 + 1000  # the odd ids changed, the even ones were skipped
