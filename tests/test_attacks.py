"""Attacks by a role holding the application role, played for real (issue 12).

Set up as the README's "Security model" recommends: a migration role (not a
superuser) owns the tables, the audit tables and the trigger functions; the
application role owns nothing.  Each test plays one attack as the application role
and checks that it is refused, or that it changes nothing the owner relies on.  Where
PostgreSQL 13/14 let every role create in ``public``, the test grants that in its
own database (``GRANT CREATE ON SCHEMA public TO PUBLIC``).
"""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

import alembic_audit
from alembic_audit import AuditError, grant_audit_access, install_audit_triggers
from alembic_audit.reflection import PGAdvancedInspector
from alembic_audit.sql.marker import spec_comment
from alembic_audit.sql.quoting import dollar_quote
from tests.fixtures.alembic_project import AlembicProject

if TYPE_CHECKING:
    from tests.fixtures.roles import Roles


LEVELS = ("row", "statement")


class Setup:
    """A migration role ``owner`` and an application role ``writer``, with engines."""

    def __init__(self, roles: Roles, driver: str = "psycopg", *, public_create: bool = False):
        self.roles = roles
        self.owner = roles.create("owner")
        self.writer = roles.create("writer")
        self.su = roles.superuser_engine(driver)
        with self.su.begin() as conn:
            conn.exec_driver_sql(f'GRANT CREATE, USAGE ON SCHEMA public TO "{self.owner}"')
            if public_create:  # PostgreSQL 13/14's default
                conn.exec_driver_sql("GRANT CREATE ON SCHEMA public TO PUBLIC")
        self.owner_engine = roles.engine(self.owner, driver)
        self.writer_engine = roles.engine(self.writer, driver)

    def sql(self, engine: Engine, *statements: str) -> None:
        with engine.begin() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)


def make_model(**options: Any) -> tuple[sa.MetaData, sa.Table, sa.Table]:
    md = sa.MetaData()
    product = sa.Table(
        "product",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("name", sa.String(50)),
        sa.Column("tenant", sa.String(63)),
        info={"audit.options": {"enabled": True, **options}},
    )
    return md, product, product.info["audit.audit_table"]


def audit_rows(engine: Engine, audit: sa.Table) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        stmt = sa.select(audit.c.audit_operation, audit.c.id, audit.c.name).order_by(
            audit.c.audit_operation_timestamp, audit.c.id, audit.c.audit_operation
        )
        return [tuple(r) for r in conn.execute(stmt)]


def sqlstate(error: DBAPIError) -> str | None:
    """The SQLSTATE of a driver error, psycopg 3 or psycopg2."""
    orig = error.orig
    return getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)


def user_triggers(conn: Connection) -> list[str]:
    return list(
        conn.exec_driver_sql(
            "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1"
        ).scalars()
    )


# -- 1. autogenerate poisoning ----------------------------------------------------------

MODELS = """
import sqlalchemy as sa
import alembic_audit

alembic_audit.enable()
metadata = sa.MetaData()
sa.Table(
    "product", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(50)),
    info={"audit.options": {"enabled": True, "append_only": True}},
)
"""


def owner_project(tmp_path: Path, database_url: sa.URL, setup: Setup) -> AlembicProject:
    """The owner's Alembic project, at head: the audit trigger and its append-only guard."""
    project = AlembicProject(tmp_path / "migrations", database_url.set(username=setup.owner))
    project.write_models(MODELS)
    project.revision("create", rev_id="r1")
    project.upgrade("head")
    return project


def forged_body(table_field: str = '"product_audit"') -> str:
    """A spec comment naming the audit table as an audited table, whose function and
    trigger are the append-only guard's: dropping that "audit trigger" drops the guard."""
    exec(MODELS, namespace := {})  # noqa: S102 - the same models, for their spec
    spec = alembic_audit.get_audit_spec(namespace["metadata"].tables["product"])
    forged = spec.replace(
        table_name="product_audit",
        function_name=spec.guard_function_name,
        trigger_name=spec.guard_trigger_name,
        level="row",
        record_truncate=False,
        append_only=False,
    )
    comment = spec_comment(forged)
    comment = comment.replace('"table_name": "product_audit"', f'"table_name": {table_field}')
    return dollar_quote(f"\n{comment}\nBEGIN RETURN NULL; END;\n")


@pytest.mark.parametrize("place", ["pg_temp", "public"])
def test_forged_spec_comment_does_not_steer_autogenerate(
    tmp_path: Path, database_url: sa.URL, roles: Roles, caplog: Any, place: str
) -> None:
    setup = Setup(roles, public_create=place == "public")
    project = owner_project(tmp_path, database_url, setup)
    # The writer's session stays open while the owner autogenerates: its pg_temp lives.
    with setup.writer_engine.connect() as writer:
        writer.exec_driver_sql(
            f"CREATE FUNCTION {place}.f() RETURNS trigger LANGUAGE plpgsql AS {forged_body()}"
        )
        writer.commit()
        with caplog.at_level(logging.WARNING, logger="alembic.autogenerate.audit"):
            command.check(project.config)  # nothing to do: no AutogenerateDiffsDetected
            path = project.revision("after the attack", rev_id="r2")
    source = path.read_text()
    assert "drop_audit_trigger" not in source and "audit_trigger" not in source
    assert f"Ignoring audit function '{writer_schema(place)}" in caplog.text
    project.upgrade("head")
    with setup.owner_engine.connect() as conn:
        assert "public_product_audit_append_only" in user_triggers(conn)


def writer_schema(place: str) -> str:
    return "pg_temp_" if place == "pg_temp" else "public.f"


@pytest.mark.parametrize("who", ["owner", "writer"])
def test_malformed_spec_comment_is_logged_not_a_crash(
    tmp_path: Path, database_url: sa.URL, roles: Roles, caplog: Any, who: str
) -> None:
    setup = Setup(roles, public_create=True)
    project = owner_project(tmp_path, database_url, setup)
    engine = setup.owner_engine if who == "owner" else setup.writer_engine
    setup.sql(
        engine,
        f"CREATE FUNCTION public.f() RETURNS trigger LANGUAGE plpgsql AS {forged_body('5')}",
    )
    with caplog.at_level(logging.WARNING, logger="alembic.autogenerate.audit"):
        command.check(project.config)  # used to be a TypeError
    if who == "owner":
        assert (
            "Ignoring the spec comment of function 'public.f': spec comment: 'table_name' must "
            "be a non-empty string, got 5" in caplog.text
        )
    else:
        assert f"its owner '{setup.writer}' is neither the current role" in caplog.text


def test_the_inspector_trusts_the_current_role_and_the_roles_it_inherits(
    roles: Roles, caplog: Any
) -> None:
    """Who counts as "the migration role": itself, and roles whose privileges it inherits
    through grants.  A superuser is no exception: pg_has_role would say yes for every
    owner, and a superuser running autogenerate would trust what anybody planted."""
    setup = Setup(roles)
    md, _, _ = make_model()
    with setup.owner_engine.begin() as conn:
        md.create_all(conn)
        install_audit_triggers(md, conn)
    migrator = roles.create("migrator")
    noinherit = roles.create("noinherit", "LOGIN NOINHERIT")
    with setup.su.begin() as conn:
        conn.exec_driver_sql(f'GRANT "{setup.owner}" TO "{migrator}"')
        conn.exec_driver_sql(f'GRANT "{setup.owner}" TO "{noinherit}"')
    found = {}
    for who, engine in (
        ("owner", setup.owner_engine),
        ("migrator", roles.engine(migrator)),
        ("noinherit", roles.engine(noinherit)),
        ("superuser", setup.su),
    ):
        with engine.connect() as conn:
            found[who] = [f.name for f in PGAdvancedInspector(conn).reflect().functions]
    assert found == {
        "owner": ["public_product_audit"],
        "migrator": ["public_product_audit"],
        "noinherit": [],
        "superuser": [],
    }
    assert f"its owner '{setup.owner}' is neither the current role" in caplog.text


# -- 2. squatting the audit table or its schema -------------------------------------------

AUDIT_COLUMNS = (
    "(id integer, name varchar(50), tenant varchar(63), audit_operation varchar(1), "
    "audit_operation_timestamp timestamptz, audit_current_user varchar)"
)


def test_squatted_audit_table_is_refused_by_install_and_grants(roles: Roles, driver: str) -> None:
    setup = Setup(roles, driver, public_create=True)
    md, product, audit = make_model()
    # The writer creates the audit table first, and would own the history.
    setup.sql(setup.writer_engine, f"CREATE TABLE public.product_audit {AUDIT_COLUMNS}")
    with setup.owner_engine.begin() as conn:
        md.create_all(conn)  # skips product_audit: it exists
    message = (
        f"audit table 'public.product_audit' of table 'public.product' is owned by role "
        f"'{setup.writer}', not by the role '{setup.owner}' that owns (or, creating it, will "
        "own) the audit function 'public.public_product_audit'"
    )
    with pytest.raises(AuditError, match="^install_audit_triggers: ") as info:
        install_audit_triggers(md, setup.owner_engine)
    assert message in str(info.value)
    with pytest.raises(AuditError, match="^grant_audit_access: ") as info:
        grant_audit_access(md, setup.writer, setup.owner_engine)
    assert message in str(info.value)
    with setup.owner_engine.connect() as conn:
        assert user_triggers(conn) == []
        assert not conn.exec_driver_sql(
            f"SELECT has_table_privilege('{setup.writer}', 'public.product', 'INSERT')"
        ).scalar()


def test_squatted_audit_table_is_refused_by_the_ops(
    tmp_path: Path, database_url: sa.URL, roles: Roles
) -> None:
    setup = Setup(roles, public_create=True)
    setup.sql(
        setup.owner_engine,
        "CREATE TABLE public.product (id integer PRIMARY KEY, name varchar(50))",
        f'GRANT SELECT ON public.product TO "{setup.writer}"',
    )
    setup.sql(setup.writer_engine, f"CREATE TABLE public.product_audit {AUDIT_COLUMNS}")
    project = AlembicProject(tmp_path / "migrations", database_url.set(username=setup.owner))
    project.write_migration(
        "r1",
        None,
        imports="import alembic_audit.operations",
        upgrade='op.create_audit_trigger("product")',
    )
    with pytest.raises(AuditError, match="owned by role") as info:
        project.upgrade("head")
    assert str(info.value).startswith("op.create_audit_trigger('product'): audit table")
    assert project.current() is None
    with setup.owner_engine.connect() as conn:
        assert user_triggers(conn) == []


def test_audit_schema_owned_by_the_writer_is_refused(roles: Roles) -> None:
    setup = Setup(roles)
    with setup.su.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA history AUTHORIZATION "{setup.writer}"')
    # The writer lets the owner create there: then it can drop the owner's audit table.
    setup.sql(setup.writer_engine, f'GRANT CREATE, USAGE ON SCHEMA history TO "{setup.owner}"')
    md, _, _ = make_model(schema="history")
    with setup.owner_engine.begin() as conn:
        md.create_all(conn)
    with pytest.raises(AuditError) as info:
        install_audit_triggers(md, setup.owner_engine)
    assert (
        f"audit schema 'history' of table 'public.product' is owned by role '{setup.writer}'"
        in str(info.value)
    )


# -- 3. forging rows through the audit function -----------------------------------------


@pytest.mark.parametrize("level", LEVELS)
def test_audit_function_refuses_to_run_for_another_table(
    roles: Roles, driver: str, level: str
) -> None:
    setup = Setup(roles, driver)
    md, _, audit = make_model(level=level)
    with setup.owner_engine.begin() as conn:
        # The way EXECUTE reaches the writer in the issue: default privileges.
        conn.exec_driver_sql(
            f'ALTER DEFAULT PRIVILEGES GRANT EXECUTE ON FUNCTIONS TO "{setup.writer}"'
        )
        md.create_all(conn)
        install_audit_triggers(md, conn)
    referencing = "REFERENCING NEW TABLE AS audit_new FOR EACH STATEMENT"
    with setup.writer_engine.begin() as conn:
        conn.exec_driver_sql("CREATE TEMP TABLE mine (id integer, name varchar(50), tenant text)")
        conn.exec_driver_sql(
            "CREATE TRIGGER t AFTER INSERT ON mine "
            + (referencing if level == "statement" else "FOR EACH ROW")
            + " EXECUTE FUNCTION public.public_product_audit()"
        )
        with pytest.raises(DBAPIError) as info:
            conn.exec_driver_sql("INSERT INTO mine VALUES (666, 'never existed', 'x')")
    message = str(info.value.orig)
    assert (
        "audit function public.public_product_audit records changes to public.product only, "
        "not to pg_temp_" in message
    )
    assert sqlstate(info.value) == "09000"  # triggered_action_exception
    assert audit_rows(setup.owner_engine, audit) == []


# -- 4. privileges through group roles and PUBLIC ---------------------------------------

HELD = {
    "delete": ("GRANT DELETE ON public.product_audit TO {to}", "DELETE on table"),
    "truncate": ("GRANT TRUNCATE ON public.product_audit TO {to}", "TRUNCATE on table"),
    "trigger": ("GRANT TRIGGER ON public.product_audit TO {to}", "TRIGGER on table"),
    "execute": (
        "GRANT EXECUTE ON FUNCTION public.public_product_audit() TO {to}",
        "EXECUTE on function public.public_product_audit()",
    ),
}


@pytest.mark.parametrize("route", ["group", "PUBLIC"])
@pytest.mark.parametrize("held", sorted(HELD))
def test_grant_helper_refuses_privileges_held_through_another_role(
    roles: Roles, driver: str, route: str, held: str
) -> None:
    setup = Setup(roles, driver)
    md, _, audit = make_model()
    group = roles.create("writers", "NOLOGIN")
    grant, what = HELD[held]
    with setup.owner_engine.begin() as conn:
        md.create_all(conn)
        install_audit_triggers(md, conn)
        conn.exec_driver_sql(grant.format(to="PUBLIC" if route == "PUBLIC" else f'"{group}"'))
    with setup.su.begin() as conn:
        conn.exec_driver_sql(f'GRANT "{group}" TO "{setup.writer}"')
    via = "through PUBLIC" if route == "PUBLIC" else f"through role '{group}'"
    with pytest.raises(AuditError) as info:
        grant_audit_access(md, setup.writer, setup.owner_engine)
    assert str(info.value).startswith(f"grant_audit_access: role '{setup.writer}' would keep ")
    assert what in str(info.value) and via in str(info.value)
    assert "nothing was granted" in str(info.value)
    with setup.owner_engine.connect() as conn:  # and nothing was
        assert not conn.exec_driver_sql(
            f"SELECT has_table_privilege('{setup.writer}', 'public.product', 'INSERT')"
        ).scalar()


def test_grant_helper_refuses_the_predefined_write_all_data_role(roles: Roles) -> None:
    setup = Setup(roles)
    md, _, _ = make_model()
    with setup.owner_engine.begin() as conn:
        md.create_all(conn)
        install_audit_triggers(md, conn)
    with setup.su.begin() as conn:
        if conn.dialect.server_version_info < (14,):
            pytest.skip("pg_write_all_data exists from PostgreSQL 14")
        conn.exec_driver_sql(f'GRANT pg_write_all_data TO "{setup.writer}"')
    with pytest.raises(AuditError) as info:
        grant_audit_access(md, setup.writer, setup.owner_engine)
    assert (
        "would keep DELETE on table public.product_audit, INSERT on table "
        "public.product_audit, UPDATE on table public.product_audit through role "
        "'pg_write_all_data'" in str(info.value)
    )


@pytest.mark.parametrize("route", ["group", "PUBLIC"])
def test_grant_op_refuses_privileges_held_through_another_role(
    tmp_path: Path, database_url: sa.URL, roles: Roles, route: str
) -> None:
    setup = Setup(roles)
    group = roles.create("writers", "NOLOGIN")
    with setup.su.begin() as conn:
        conn.exec_driver_sql(f'GRANT "{group}" TO "{setup.writer}"')
    project = AlembicProject(tmp_path / "migrations", database_url.set(username=setup.owner))
    project.write_migration(
        "r1",
        None,
        imports="import alembic_audit.operations",
        upgrade="""
            op.create_table("product", sa.Column("id", sa.Integer, primary_key=True))
            op.create_audit_trigger("product", create_audit_table=True)
        """,
    )
    project.upgrade("r1")
    to = "PUBLIC" if route == "PUBLIC" else f'"{group}"'
    setup.sql(setup.owner_engine, f"GRANT DELETE ON public.product_audit TO {to}")
    project.write_migration(
        "r2",
        "r1",
        imports="import alembic_audit.operations",
        upgrade=f'op.grant_audit_access("product", "{setup.writer}", schema_usage=False)',
        downgrade=f'op.revoke_audit_access("product", "{setup.writer}", schema_usage=False)',
    )
    with pytest.raises(AuditError) as info:
        project.upgrade("r2")
    via = "through PUBLIC" if route == "PUBLIC" else f"through role '{group}'"
    assert f"would keep DELETE on table public.product_audit {via}" in str(info.value)
    assert project.current() == "r1"


def test_grant_op_refuses_execute_granted_to_the_role_itself(
    tmp_path: Path, database_url: sa.URL, roles: Roles
) -> None:
    """The op's downgrade must restore what was there, so it does not revoke a grant it
    did not make: it refuses, where ``grant_audit_access`` revokes."""
    setup = Setup(roles)
    project = AlembicProject(tmp_path / "migrations", database_url.set(username=setup.owner))
    project.write_migration(
        "r1",
        None,
        imports="import alembic_audit.operations",
        upgrade="""
            op.create_table("product", sa.Column("id", sa.Integer, primary_key=True))
            op.create_audit_trigger("product", create_audit_table=True)
        """,
    )
    project.upgrade("r1")
    setup.sql(
        setup.owner_engine,
        f'GRANT EXECUTE ON FUNCTION public.public_product_audit() TO "{setup.writer}"',
    )
    project.write_migration(
        "r2",
        "r1",
        imports="import alembic_audit.operations",
        upgrade=f'op.grant_audit_access("product", "{setup.writer}", schema_usage=False)',
    )
    with pytest.raises(AuditError) as info:
        project.upgrade("r2")
    assert (
        "would keep EXECUTE on function public.public_product_audit() through a grant to it "
        "directly" in str(info.value)
    )


# -- 6. row-level security --------------------------------------------------------------


def _rls_setup(setup: Setup, md: sa.MetaData, product: sa.Table) -> None:
    with setup.owner_engine.begin() as conn:
        md.create_all(conn)
        conn.exec_driver_sql("ALTER TABLE product ENABLE ROW LEVEL SECURITY")
        conn.exec_driver_sql("CREATE POLICY tenant_rows ON product USING (tenant = current_user)")
        install_audit_triggers(md, conn)
        conn.execute(
            product.insert(),
            [
                {"id": 1, "name": "mine", "tenant": setup.writer},
                {"id": 2, "name": "theirs", "tenant": "someone else"},
            ],
        )


def test_read_history_without_row_security_is_refused_where_the_table_has_it(
    roles: Roles,
) -> None:
    setup = Setup(roles)
    md, product, _ = make_model()
    _rls_setup(setup, md, product)
    with pytest.raises(AuditError, match="has row-level security, but its audit table"):
        grant_audit_access(md, setup.writer, setup.owner_engine, read_history=True)
    grant_audit_access(md, setup.writer, setup.owner_engine)  # without read_history: fine


@pytest.mark.parametrize("level", LEVELS)
def test_row_security_option_shows_the_reader_only_its_rows(
    roles: Roles, driver: str, level: str
) -> None:
    setup = Setup(roles, driver)
    md, product, audit = make_model(level=level, row_security=True)
    _rls_setup(setup, md, product)
    grant_audit_access(md, setup.writer, setup.owner_engine, read_history=True)
    with setup.writer_engine.begin() as conn:
        conn.execute(product.update().values(name="mine, renamed"))  # the policy: row 1 only
    with setup.writer_engine.connect() as conn:
        seen = conn.execute(
            sa.select(audit.c.audit_operation, audit.c.id).order_by(
                audit.c.audit_operation_timestamp
            )
        ).all()
    assert [tuple(r) for r in seen] == [("I", 1), ("U", 1)]
    assert sorted(r[1] for r in audit_rows(setup.owner_engine, audit)) == [1, 1, 2]


def test_row_security_needs_a_definer_function() -> None:
    with pytest.raises(AuditError, match="'row_security' needs 'security_definer'"):
        make_model(row_security=True, security_definer=False)


# -- 7. the smaller ones ------------------------------------------------------------------


def settings_model(level: str) -> tuple[sa.MetaData, sa.Table, sa.Table]:
    md = sa.MetaData()
    table = sa.Table(
        "item",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        info={
            "audit.options": {
                "enabled": True,
                "level": level,
                "session_settings": [
                    sa.Column("username", sa.String(50), nullable=False),
                    sa.Column("request_id", sa.Uuid),
                ],
            }
        },
    )
    return md, table, md.tables["item_audit"]


@pytest.mark.parametrize("level", LEVELS)
def test_zero_row_statement_with_a_malformed_optional_setting_never_fails(
    engine: Engine, level: str
) -> None:
    md, item, audit = settings_model(level)
    md.create_all(engine)
    install_audit_triggers(md, engine)
    with engine.begin() as conn:
        alembic_audit.set_session_vars(conn, username="alice", request_id="not-a-uuid")
        conn.execute(item.update().where(sa.false()).values(id=2))
        conn.execute(item.delete().where(sa.false()))
        conn.execute(item.insert().from_select(["id"], sa.select(sa.literal(1)).where(sa.false())))
    with engine.begin() as conn, pytest.raises(DBAPIError) as info:
        alembic_audit.set_session_vars(conn, username="alice", request_id="not-a-uuid")
        conn.execute(item.insert().values(id=1))
    assert 'audit setting "audit.request_id" does not fit audit column audit_request_id' in str(
        info.value.orig
    )
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(audit)).scalar() == 0


@pytest.mark.parametrize("level", LEVELS)
def test_a_value_failing_the_cast_names_the_setting(engine: Engine, level: str) -> None:
    md, item, _ = settings_model(level)
    md.create_all(engine)
    install_audit_triggers(md, engine)
    with engine.begin() as conn, pytest.raises(DBAPIError) as info:
        alembic_audit.set_session_vars(conn, username="x" * 51)
        conn.execute(item.insert().values(id=1))
    message = str(info.value.orig)
    assert (
        'audit setting "audit.username" does not fit audit column audit_username (VARCHAR(50)) '
        "for a change to public.item: value too long for type character varying(50)" in message
    )
    assert sqlstate(info.value) == "22001"  # the cast's own code


@pytest.mark.parametrize("level", LEVELS)
def test_setting_values_are_cast_alike_whether_checked_cheaply_or_not(
    psycopg_engine: Engine, level: str
) -> None:
    """Values the cheap test vouches for are assigned at once, the others cast in the
    exception block: the rows are the same, and so are the errors."""
    md = sa.MetaData()
    item = sa.Table(
        "item",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        info={
            "audit.options": {
                "enabled": True,
                "level": level,
                "session_settings": [
                    sa.Column("username", sa.String(5)),
                    sa.Column("request_id", sa.Uuid),
                    sa.Column("n", sa.SmallInteger),
                ],
            }
        },
    )
    audit = md.tables["item_audit"]
    md.create_all(psycopg_engine)
    install_audit_triggers(md, psycopg_engine)
    request = "12345678-1234-5678-1234-567812345678"
    accepted = [
        ({"username": "abcde", "request_id": request, "n": "-9999"}, 1),  # the cheap test
        ({"username": "ab   ", "request_id": request.upper(), "n": "+12"}, 2),  # the block
        ({"username": "abc     ", "request_id": "{" + request + "}", "n": " 7 "}, 3),
    ]
    for values, id_ in accepted:
        with psycopg_engine.begin() as conn:
            alembic_audit.set_session_vars(conn, **values)
            conn.execute(item.insert().values(id=id_))
    with psycopg_engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                audit.c.id, audit.c.audit_username, audit.c.audit_request_id, audit.c.audit_n
            ).order_by(audit.c.id)
        ).all()
    assert [(r[1], str(r[2]), r[3]) for r in rows] == [
        ("abcde", request, -9999),
        ("ab   ", request, 12),
        ("abc  ", request, 7),
    ]
    for values, culprit in (
        ({"username": "abcdef"}, "audit.username"),
        ({"n": "99999"}, "audit.n"),
        ({"request_id": request + "0"}, "audit.request_id"),
    ):
        with psycopg_engine.begin() as conn, pytest.raises(DBAPIError) as info:
            alembic_audit.set_session_vars(conn, **values)
            conn.execute(item.insert().values(id=9))
        assert f'audit setting "{culprit}" does not fit' in str(info.value.orig)


def test_setting_names_with_a_trailing_newline_are_refused(psycopg_engine: Engine) -> None:
    with pytest.raises(AuditError, match="is not a valid identifier"):
        sa.Table(
            "t",
            sa.MetaData(),
            sa.Column("id", sa.Integer, primary_key=True),
            info={
                "audit.options": {
                    "enabled": True,
                    "session_settings": [sa.Column("username\n", sa.String)],
                }
            },
        )
    with psycopg_engine.connect() as conn, pytest.raises(AuditError, match="valid identifier"):
        alembic_audit.set_session_vars(conn, **{"username\n": "alice"})


# -- operators planted on the migration role's search_path ------------------------------

# Exact-match operators for every comparison a catalog query of ours could have written
# loosely; each logs the role it runs as.  They would run as the migration role.
OPERATORS = textwrap.dedent(
    """
    CREATE SCHEMA evil;
    GRANT USAGE ON SCHEMA evil TO PUBLIC;
    CREATE TABLE evil.log (who text, what text);
    GRANT INSERT ON evil.log TO PUBLIC;
    CREATE FUNCTION public.logit(what text) RETURNS boolean LANGUAGE sql AS
      $$ INSERT INTO evil.log VALUES (current_user, what) RETURNING false $$;
    CREATE FUNCTION public.f_oid_regclass(oid, regclass) RETURNS boolean LANGUAGE sql
      AS $$ SELECT public.logit('oid = regclass') $$;
    CREATE OPERATOR public.= (LEFTARG = oid, RIGHTARG = regclass,
      FUNCTION = public.f_oid_regclass);
    CREATE FUNCTION public.f_oid_regtype(oid, regtype) RETURNS boolean LANGUAGE sql
      AS $$ SELECT public.logit('oid = regtype') $$;
    CREATE OPERATOR public.= (LEFTARG = oid, RIGHTARG = regtype,
      FUNCTION = public.f_oid_regtype);
    CREATE FUNCTION public.f_oid_regprocedure(oid, regprocedure) RETURNS boolean LANGUAGE sql
      AS $$ SELECT public.logit('oid = regprocedure') $$;
    CREATE OPERATOR public.= (LEFTARG = oid, RIGHTARG = regprocedure,
      FUNCTION = public.f_oid_regprocedure);
    CREATE FUNCTION public.f_oid_regnamespace(oid, regnamespace) RETURNS boolean LANGUAGE sql
      AS $$ SELECT public.logit('oid = regnamespace') $$;
    CREATE OPERATOR public.= (LEFTARG = oid, RIGHTARG = regnamespace,
      FUNCTION = public.f_oid_regnamespace);
    CREATE FUNCTION public.f_oid_regrole(oid, regrole) RETURNS boolean LANGUAGE sql
      AS $$ SELECT public.logit('oid = regrole') $$;
    CREATE OPERATOR public.= (LEFTARG = oid, RIGHTARG = regrole, FUNCTION = public.f_oid_regrole);
    CREATE FUNCTION public.f_name_name(name, name) RETURNS boolean LANGUAGE sql
      AS $$ SELECT public.logit('name ~ name') $$;
    CREATE OPERATOR public.~ (LEFTARG = name, RIGHTARG = name, FUNCTION = public.f_name_name);
    CREATE FUNCTION public.f_jsonb_jsonb(jsonb, jsonb) RETURNS text LANGUAGE sql
      AS $$ SELECT CASE WHEN public.logit('jsonb ->> jsonb') THEN 'x' END $$;
    CREATE OPERATOR public.->> (LEFTARG = jsonb, RIGHTARG = jsonb,
      FUNCTION = public.f_jsonb_jsonb);
    CREATE FUNCTION public.f_oid_int(oid, integer) RETURNS boolean LANGUAGE sql
      AS $$ SELECT public.logit('oid = integer') $$;
    CREATE OPERATOR public.= (LEFTARG = oid, RIGHTARG = integer, FUNCTION = public.f_oid_int);
    """
)


def test_operators_planted_on_the_search_path_never_run_as_the_migration_role(
    tmp_path: Path, database_url: sa.URL, roles: Roles
) -> None:
    setup = Setup(roles, public_create=True)
    with setup.su.begin() as conn:
        conn.exec_driver_sql(
            f'GRANT CREATE ON DATABASE "{database_url.database}" TO "{setup.writer}"'
        )
    project = owner_project(tmp_path, database_url, setup)
    setup.sql(setup.writer_engine, OPERATORS)
    exec(MODELS, namespace := {})  # noqa: S102
    md = namespace["metadata"]
    specs = [alembic_audit.get_audit_spec(t) for t in alembic_audit.audited_tables(md)]
    with setup.owner_engine.connect() as conn:
        # What autogenerate's comparator reads (Alembic's own reflection queries are
        # Alembic's: one of them compares an oid with a regclass, see the README).
        found = PGAdvancedInspector(conn).reflect(specs, schemas=["public"])
    assert found.by_table[("public", "product")].spec == specs[0]
    project.write_migration(
        "r2",
        "r1",
        imports="import alembic_audit.operations",
        upgrade=f"""
            op.replace_audit_trigger("product", level="row")
            op.grant_audit_access("product", "{setup.writer}", schema_usage=False)
        """,
        downgrade=f"""
            op.revoke_audit_access("product", "{setup.writer}", schema_usage=False)
            op.replace_audit_trigger("product", level="statement")
        """,
    )
    project.upgrade("head")
    project.downgrade("r1")
    install_audit_triggers(md, setup.owner_engine)
    grant_audit_access(md, setup.writer, setup.owner_engine)
    with setup.su.connect() as conn:
        ran = conn.exec_driver_sql("SELECT who, what FROM evil.log").all()
    assert [tuple(r) for r in ran if r[0] == setup.owner] == []
