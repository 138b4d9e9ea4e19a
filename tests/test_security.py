"""Least privilege and tamper resistance, with real roles on a real server.

A migration role owns the tables and the trigger functions; an application role
that owns nothing writes the audited table.  The writer's changes are audited under
its own name, and it can neither change nor forge audit rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Column, Integer, MetaData, String, Table
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, ProgrammingError

from alembic_audit import (
    AuditDDL,
    grant_audit_access,
    install_audit_triggers,
    revoke_audit_access,
    uninstall_audit_triggers,
)
from alembic_audit.sql.objects import drop_statements
from tests.fixtures.catalog import triggers

if TYPE_CHECKING:
    from tests.fixtures.roles import Roles


LEVELS = ("row", "statement")


def make_model(**options: Any) -> tuple[MetaData, Table, Table]:
    md = MetaData()
    item = Table(
        "item",
        md,
        Column("id", Integer, primary_key=True),  # serial: the writer needs the sequence
        Column("name", String(50)),
        info={"audit.options": {"enabled": True, **options}},
    )
    return md, item, md.tables["item_audit"]


def setup_roles(roles: Roles) -> tuple[str, str, Engine, Engine]:
    """A non-superuser owner that may create in public, and a writer owning nothing."""
    owner = roles.create("owner")
    writer = roles.create("writer")
    with roles.superuser_engine().begin() as conn:
        conn.exec_driver_sql(f'GRANT CREATE, USAGE ON SCHEMA public TO "{owner}"')
    return owner, writer, roles.engine(owner), roles.engine(writer)


def install(owner_engine: Engine, md: MetaData, writer: str, **kw: Any) -> None:
    with owner_engine.begin() as conn:
        md.create_all(conn)
        install_audit_triggers(md, conn)
        grant_audit_access(md, writer, conn, **kw)


def audit_rows(conn: Connection, audit: Table) -> list[tuple[Any, ...]]:
    stmt = sa.select(
        audit.c.audit_operation, audit.c.id, audit.c.name, audit.c.audit_current_user
    ).order_by(audit.c.audit_operation_timestamp, audit.c.id, audit.c.audit_operation)
    return [tuple(r) for r in conn.execute(stmt)]


def assert_refused(engine: Engine, sql: str, message: str) -> None:
    with engine.connect() as conn, pytest.raises(DBAPIError) as err:
        conn.exec_driver_sql(sql)
    assert message in str(err.value.orig)


@pytest.mark.parametrize("level", LEVELS)
def test_writer_is_audited_by_name_and_cannot_touch_audit_rows(roles: Roles, level: str) -> None:
    md, item, audit = make_model(level=level)
    owner, writer, owner_engine, writer_engine = setup_roles(roles)
    install(owner_engine, md, writer)

    with writer_engine.begin() as conn:
        conn.execute(item.insert().values(name="pen"))  # id from the serial sequence
    with writer_engine.begin() as conn:
        conn.execute(item.update().values(name="ink"))
    with writer_engine.begin() as conn:
        conn.execute(item.delete())

    with owner_engine.connect() as conn:
        assert audit_rows(conn, audit) == [
            ("I", 1, "pen", writer),
            ("U", 1, "ink", writer),
            ("D", 1, "ink", writer),
        ]
    for sql in (
        "UPDATE item_audit SET audit_current_user = 'someone'",
        "DELETE FROM item_audit",
        "TRUNCATE item_audit",
        "INSERT INTO item_audit (audit_operation, audit_operation_timestamp, "
        "audit_current_user) VALUES ('I', now(), 'forged')",
        "SELECT * FROM item_audit",
    ):
        assert_refused(writer_engine, sql, "permission denied for table item_audit")
    with owner_engine.connect() as conn:
        assert len(audit_rows(conn, audit)) == 3


def test_trigger_function_is_security_definer_and_not_executable_by_public(
    roles: Roles,
) -> None:
    md, _, _ = make_model()
    owner, writer, owner_engine, writer_engine = setup_roles(roles)
    install(owner_engine, md, writer)
    with owner_engine.connect() as conn:
        row = conn.exec_driver_sql(
            "SELECT p.prosecdef, pg_get_userbyid(p.proowner), "
            "has_function_privilege('public', p.oid, 'EXECUTE'), "
            "has_function_privilege(%(w)s, p.oid, 'EXECUTE') "
            "FROM pg_proc p WHERE p.proname = 'public_item_audit'",
            {"w": writer},
        ).one()
    assert tuple(row) == (True, owner, False, False)
    # Attaching the function (which runs as its owner) to a table of the writer's own
    # would let it write forged audit rows; EXECUTE is needed for that and is revoked.
    with writer_engine.begin() as conn:
        conn.exec_driver_sql("CREATE TEMP TABLE mine (id integer, name varchar(50))")
        with pytest.raises(ProgrammingError, match="permission denied for function"):
            conn.exec_driver_sql(
                "CREATE TRIGGER t AFTER INSERT ON mine FOR EACH ROW "
                "EXECUTE FUNCTION public.public_item_audit()"
            )


@pytest.mark.parametrize("level", LEVELS)
def test_audit_user_is_the_acting_role_under_set_role_and_session_authorization(
    roles: Roles, level: str
) -> None:
    md, item, audit = make_model(level=level)
    owner, writer, owner_engine, writer_engine = setup_roles(roles)
    deputy = roles.create("deputy", "NOLOGIN")
    install(owner_engine, md, writer)
    su = roles.superuser_engine()
    with su.begin() as conn:
        grant_audit_access(md, deputy, conn)
        conn.exec_driver_sql(f'GRANT "{deputy}" TO "{writer}"')

    def insert_as(conn: Connection, id_: int) -> None:
        conn.execute(item.insert().values(id=id_, name=f"n{id_}"))

    with su.begin() as conn:  # session_user is the superuser, SET ROLE the writer
        conn.exec_driver_sql(f'SET LOCAL ROLE "{writer}"')
        insert_as(conn, 1)
    with su.begin() as conn:  # session authorization: session_user is the writer
        conn.exec_driver_sql(f'SET SESSION AUTHORIZATION "{writer}"')
        insert_as(conn, 2)
        conn.exec_driver_sql(f'SET LOCAL ROLE "{deputy}"')
        insert_as(conn, 3)
        conn.exec_driver_sql("RESET SESSION AUTHORIZATION")
    with writer_engine.begin() as conn:  # logged in as the writer, acting as the deputy
        conn.exec_driver_sql(f'SET LOCAL ROLE "{deputy}"')
        insert_as(conn, 4)
    with su.begin() as conn:  # the superuser itself
        insert_as(conn, 5)
    with owner_engine.connect() as conn:
        users = [(r[1], r[3]) for r in audit_rows(conn, audit)]
    su_name = su.url.username or "postgres"
    assert sorted(users) == [(1, writer), (2, writer), (3, deputy), (4, deputy), (5, su_name)]

    # The "role" setting read by the trigger cannot name a role the session may not use.
    with writer_engine.begin() as conn, pytest.raises(DBAPIError, match="permission denied"):
        conn.exec_driver_sql(f"SELECT set_config('role', '{owner}', true)")


def test_invoker_function_needs_insert_and_records_current_user(roles: Roles) -> None:
    md, item, audit = make_model(security_definer=False)
    owner, writer, owner_engine, writer_engine = setup_roles(roles)
    install(owner_engine, md, writer)
    with owner_engine.connect() as conn:
        secdef = conn.exec_driver_sql(
            "SELECT prosecdef FROM pg_proc WHERE proname = 'public_item_audit'"
        ).scalar()
    assert secdef is False
    with writer_engine.begin() as conn:
        conn.execute(item.insert().values(name="pen"))
    with owner_engine.connect() as conn:
        assert audit_rows(conn, audit) == [("I", 1, "pen", writer)]
    assert_refused(writer_engine, "DELETE FROM item_audit", "permission denied")
    assert_refused(writer_engine, "UPDATE item_audit SET name = 'x'", "permission denied")


def test_read_history_and_revoke(roles: Roles) -> None:
    md, item, audit = make_model()
    owner, writer, owner_engine, writer_engine = setup_roles(roles)
    install(owner_engine, md, writer, read_history=True)
    with writer_engine.begin() as conn:
        conn.execute(item.insert().values(name="pen"))
        assert audit_rows(conn, audit) == [("I", 1, "pen", writer)]
    assert_refused(writer_engine, "DELETE FROM item_audit", "permission denied")

    with owner_engine.begin() as conn:
        revoke_audit_access(md, writer, conn)
    assert_refused(writer_engine, "INSERT INTO item (name) VALUES ('x')", "permission denied")
    assert_refused(writer_engine, "SELECT * FROM item_audit", "permission denied")


def test_grant_script_and_bad_role_name() -> None:
    md, _, _ = make_model()
    script = grant_audit_access(md, 'app "writer"', read_history=True)
    assert script == (
        'REVOKE ALL ON TABLE "public"."item_audit" FROM "app ""writer""";\n\n'
        'REVOKE ALL ON FUNCTION "public"."public_item_audit"() FROM "app ""writer""";\n\n'
        'GRANT USAGE ON SCHEMA "public" TO "app ""writer""";\n\n'
        'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE "public"."item" TO "app ""writer""";\n\n'
        'GRANT SELECT ON TABLE "public"."item_audit" TO "app ""writer""";\n\n'
    )
    for bad in ("", "x" * 64, "a\x00b"):
        with pytest.raises(ValueError, match="role name"):
            grant_audit_access(md, bad)


# -- append-only audit tables -------------------------------------------------------


@pytest.mark.parametrize("level", LEVELS)
def test_append_only_refuses_changes_to_audit_rows_even_for_the_owner(
    psycopg_engine: Engine, level: str
) -> None:
    md, item, audit = make_model(level=level, append_only=True)
    md.create_all(psycopg_engine)
    install_audit_triggers(md, psycopg_engine)
    with psycopg_engine.begin() as conn:
        conn.execute(item.insert().values(id=1, name="pen"))
        conn.execute(item.update().values(name="ink"))
    with psycopg_engine.begin() as conn:
        conn.exec_driver_sql("TRUNCATE item")  # the audited table: recorded, allowed

    for sql, op in (
        ("UPDATE item_audit SET name = 'forged'", "UPDATE"),
        ("DELETE FROM item_audit", "DELETE"),
        ("DELETE FROM item_audit WHERE false", "DELETE"),
        ("TRUNCATE item_audit", "TRUNCATE"),
    ):
        with psycopg_engine.connect() as conn, pytest.raises(DBAPIError) as err:
            conn.exec_driver_sql(sql)
        assert f"audit table public.item_audit is append-only: {op} refused" in str(err.value.orig)
        assert err.value.orig.sqlstate == "42501"  # type: ignore[union-attr]
    with psycopg_engine.connect() as conn:
        ops = [r[0] for r in conn.execute(sa.select(audit.c.audit_operation))]
    assert sorted(ops) == ["I", "T", "U"]


def test_append_only_guard_follows_install_uninstall_and_drop(psycopg_engine: Engine) -> None:
    md, _, _ = make_model(append_only=True)
    md.create_all(psycopg_engine)
    install_audit_triggers(md, psycopg_engine)
    guard = ("public", "item_audit", "public_item_audit_append_only")
    assert guard in triggers(psycopg_engine)

    plain, _, _ = make_model()
    install_audit_triggers(plain, psycopg_engine)  # option turned off: guard removed
    assert guard not in triggers(psycopg_engine)
    with psycopg_engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM item_audit")
        assert_guard_function(conn, present=False)

    install_audit_triggers(md, psycopg_engine)
    uninstall_audit_triggers(md, psycopg_engine)
    assert triggers(psycopg_engine) == {}
    with psycopg_engine.connect() as conn:
        assert_guard_function(conn, present=False)

    install_audit_triggers(md, psycopg_engine)
    spec = md.tables["item"].info["audit.spec"]
    with psycopg_engine.begin() as conn:
        for stmt in drop_statements(spec):
            conn.execute(AuditDDL(stmt))
        assert triggers(conn) == {}
        assert_guard_function(conn, present=False)


def assert_guard_function(conn: Connection, *, present: bool) -> None:
    found = conn.exec_driver_sql(
        "SELECT count(*) FROM pg_proc WHERE proname = 'public_item_audit_append_only'"
    ).scalar()
    assert found == (1 if present else 0)


def test_append_only_option_is_validated() -> None:
    with pytest.raises(ValueError, match="'append_only' must be a bool"):
        make_model(append_only="yes")
    with pytest.raises(ValueError, match="'security_definer' must be a bool"):
        make_model(security_definer=1)
