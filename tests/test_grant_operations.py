"""op.grant_audit_access / op.revoke_audit_access: rendered text, and real roles on a real
server through real Alembic migrations (online and offline with psql).

The migrations run as a migration role that owns the tables (not a superuser); the
application role owns nothing.  The downgrade must leave every ACL (pg_class.relacl,
pg_namespace.nspacl) and every effective privilege exactly as before the upgrade.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import render_op_text
from alembic.autogenerate.api import AutogenContext
from alembic.operations import Operations, ops
from alembic.runtime.migration import MigrationContext
from sqlalchemy.exc import DBAPIError

import alembic_audit.autogen.render  # noqa: F401  (registers the renderers)
from alembic_audit import OfflineOperationError
from alembic_audit.autogen.render import IMPORT
from alembic_audit.migration import AuditAccess, GrantAuditAccess, RevokeAuditAccess
from tests.fixtures.alembic_project import AlembicProject

if TYPE_CHECKING:
    from tests.fixtures.roles import Roles


ACCESS = AuditAccess(
    table_name="item",
    role='app "writer"',
    schema=None,
    audit_table_name="item_audit",
    audit_schema="history",
    security_definer=True,
    sequences=(("public", "item_id_seq"),),
    read_history=True,
)


def _render(op: ops.MigrateOperation) -> tuple[str, set[str]]:
    context = AutogenContext(MigrationContext.configure(dialect_name="postgresql"))
    return render_op_text(context, op), context.imports


ARGS = """\
    "item",
    "app \\"writer\\"",
    schema=None,
    audit_table_name="item_audit",
    audit_schema="history",
    security_definer=True,
    sequences=[
        ("public", "item_id_seq"),
    ],
    read_history=True,
    schema_usage=True,
)"""


def test_render_exact_text() -> None:
    text, imports = _render(GrantAuditAccess(ACCESS))
    assert text == "op.grant_audit_access(\n" + ARGS
    assert imports == {IMPORT}
    text, _ = _render(RevokeAuditAccess(ACCESS))
    assert text == "op.revoke_audit_access(\n" + ARGS


def test_sql_quotes_every_identifier_and_revoke_mirrors_grant() -> None:
    assert ACCESS.grant_sqls() == [
        'GRANT USAGE ON SCHEMA "public" TO "app ""writer"""',
        'GRANT USAGE ON SCHEMA "history" TO "app ""writer"""',
        'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE "public"."item" TO "app ""writer"""',
        'GRANT USAGE ON SEQUENCE "public"."item_id_seq" TO "app ""writer"""',
        'GRANT SELECT ON TABLE "history"."item_audit" TO "app ""writer"""',
    ]
    assert ACCESS.revoke_sqls() == [
        s.replace("GRANT", "REVOKE").replace(" TO ", " FROM ")
        for s in reversed(ACCESS.grant_sqls())
    ]
    invoker = AuditAccess("item", "w", audit_table_name="item_audit", security_definer=False)
    assert invoker.grant_sqls()[-1] == 'GRANT INSERT ON TABLE "public"."item_audit" TO "w"'


def test_reverse_diff_tuples_and_typed_module() -> None:
    grant, revoke = GrantAuditAccess(ACCESS), RevokeAuditAccess(ACCESS)
    assert grant.to_diff_tuple() == ("add_audit_access", ACCESS)
    assert revoke.to_diff_tuple() == ("remove_audit_access", ACCESS)
    assert isinstance(grant.reverse(), RevokeAuditAccess) and grant.reverse().access == ACCESS
    assert isinstance(revoke.reverse(), GrantAuditAccess) and revoke.reverse().access == ACCESS
    assert AuditAccess.from_dict(ACCESS.to_dict()) == ACCESS

    from alembic_audit import op as audit_op

    for name in ("grant_audit_access", "revoke_audit_access"):
        registered = inspect.signature(getattr(Operations, name))
        typed = inspect.signature(getattr(audit_op, name))
        expected = [(p.name, p.kind, p.default) for p in registered.parameters.values()][1:]
        assert [(p.name, p.kind, p.default) for p in typed.parameters.values()] == expected
        assert getattr(audit_op, name).__doc__


# -- real roles, real migrations ---------------------------------------------------------

R0 = dict(
    imports="import alembic_audit.operations",
    upgrade="""
        op.create_table(
            "item",
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("name", sa.String(80)),
        )
        op.create_table("other", sa.Column("id", sa.Integer, sa.Identity(), primary_key=True))
        op.create_audit_trigger("item", create_audit_table=True)
    """,
    downgrade="""
        op.drop_audit_trigger("item", drop_audit_table=True)
        op.drop_table("other")
        op.drop_table("item")
    """,
)

PRIVILEGES_SQL = """
    SELECT 'rel', c.relname,
           COALESCE(c.relacl, pg_catalog.acldefault(
               CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END::"char", c.relowner))::text,
           CASE WHEN c.relkind = 'S'
                THEN ARRAY[pg_catalog.has_sequence_privilege(:w, c.oid, 'USAGE')]
                ELSE ARRAY[pg_catalog.has_table_privilege(:w, c.oid, 'SELECT'),
                           pg_catalog.has_table_privilege(:w, c.oid, 'INSERT'),
                           pg_catalog.has_table_privilege(:w, c.oid, 'UPDATE'),
                           pg_catalog.has_table_privilege(:w, c.oid, 'DELETE'),
                           pg_catalog.has_table_privilege(:w, c.oid, 'TRUNCATE')] END
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname IN ('public', 'history') AND c.relkind IN ('r', 'S')
      AND c.relname <> 'alembic_version'
    UNION ALL
    SELECT 'schema', n.nspname,
           COALESCE(n.nspacl, pg_catalog.acldefault('n', n.nspowner))::text,
           ARRAY[pg_catalog.has_schema_privilege(:w, n.oid, 'USAGE')]
    FROM pg_catalog.pg_namespace n WHERE n.nspname IN ('public', 'history')
    ORDER BY 1, 2
"""


def privileges(url: sa.URL, writer: str) -> list[tuple[Any, ...]]:
    """Every ACL and the writer's effective privileges on the project's objects.

    A NULL ACL (the owner's defaults, never granted on) reads as those defaults,
    spelled out: after any GRANT and its REVOKE PostgreSQL stores them explicitly,
    and no statement sets the column back to NULL.  The privileges are the same.
    """
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(PRIVILEGES_SQL), {"w": writer})]
    finally:
        engine.dispose()


def owner_project(tmp_path: Any, database_url: sa.URL, roles: Roles) -> tuple[AlembicProject, str]:
    """An Alembic project run by a non-superuser migration role; returns it and the writer."""
    owner = roles.create("owner")
    writer = roles.create("writer")
    with roles.superuser_engine().begin() as conn:
        # The migration role owns the schema, as the owner of the database does (PG 15+).
        conn.exec_driver_sql(f'ALTER SCHEMA public OWNER TO "{owner}"')
    project = AlembicProject(tmp_path / "migrations", database_url.set(username=owner))
    project.write_migration("r0", None, **R0)
    return project, writer


def grant_migration(project: AlembicProject, writer: str, args: str = "") -> None:
    project.write_migration(
        "r1",
        "r0",
        imports="import alembic_audit.operations",
        upgrade=f'op.grant_audit_access("item", {writer!r}{args})',
        downgrade=f'op.revoke_audit_access("item", {writer!r}{args})',
    )


def assert_refused(engine: sa.Engine, sql: str) -> None:
    with engine.connect() as conn, pytest.raises(DBAPIError) as err:
        conn.exec_driver_sql(sql)
    assert "permission denied for table item_audit" in str(err.value.orig)


def test_upgrade_lets_the_writer_write_and_downgrade_restores_privileges_exactly(
    tmp_path: Any, database_url: sa.URL, roles: Roles
) -> None:
    project, writer = owner_project(tmp_path, database_url, roles)
    project.upgrade("r0")
    owner_engine = sa.create_engine(project.url, poolclass=sa.NullPool)
    with owner_engine.begin() as conn:
        # Privileges the pattern does not manage, held before: they must survive.
        conn.exec_driver_sql(f'GRANT TRUNCATE ON item TO "{writer}"')
        conn.exec_driver_sql(f'GRANT SELECT, UPDATE ON other TO "{writer}"')
    grant_migration(project, writer)
    before = privileges(project.url, writer)

    project.upgrade("r1")
    after = privileges(project.url, writer)
    writer_engine = roles.engine(writer)
    for sql in (
        "INSERT INTO item (name) VALUES ('pen')",  # id from the serial sequence
        "UPDATE item SET name = 'ink'",
        "DELETE FROM item",
    ):
        with writer_engine.begin() as conn:  # one transaction each: ordered timestamps
            conn.exec_driver_sql(sql)
    with owner_engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT audit_operation, id, name, audit_current_user FROM item_audit "
            "ORDER BY audit_operation_timestamp"
        ).all()
    assert [tuple(r) for r in rows] == [
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
        assert_refused(writer_engine, sql)

    project.downgrade("r0")
    assert privileges(project.url, writer) == before
    project.upgrade("r1")
    assert privileges(project.url, writer) == after
    project.downgrade("r0")
    assert privileges(project.url, writer) == before
    owner_engine.dispose()


def test_read_history_and_audit_schema(tmp_path: Any, database_url: sa.URL, roles: Roles) -> None:
    project, writer = owner_project(tmp_path, database_url, roles)
    with roles.superuser_engine().begin() as conn:
        owner = project.url.username
        conn.exec_driver_sql(f'CREATE SCHEMA history AUTHORIZATION "{owner}"')
    project.write_migration(
        "r0",
        None,
        **dict(
            R0,
            upgrade=str(R0["upgrade"]).replace(
                "create_audit_table=True", 'audit_schema="history", create_audit_table=True'
            ),
        ),
    )
    project.upgrade("r0")
    grant_migration(project, writer, ", read_history=True")
    before = privileges(project.url, writer)
    project.upgrade("r1")
    writer_engine = roles.engine(writer)
    with writer_engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO item (name) VALUES ('pen')")
        seen = conn.exec_driver_sql("SELECT name, audit_current_user FROM history.item_audit")
        assert [tuple(r) for r in seen] == [("pen", writer)]
    with writer_engine.connect() as conn, pytest.raises(DBAPIError, match="permission denied"):
        conn.exec_driver_sql("DELETE FROM history.item_audit")
    project.downgrade("r0")
    assert privileges(project.url, writer) == before


@pytest.mark.parametrize(
    ("setup", "role", "message"),
    [
        (
            'GRANT SELECT ON item TO "{writer}"',
            "{writer}",
            "role '{writer}' already holds SELECT on table public.item.",
        ),
        (
            'GRANT UPDATE, DELETE ON item_audit TO "{writer}"',
            "{writer}",
            "role '{writer}' already holds DELETE, UPDATE on table public.item_audit.",
        ),
        (
            'GRANT USAGE ON SCHEMA public TO "{writer}"',
            "{writer}",
            "pass schema_usage=False if the role's USAGE on the schema is managed elsewhere",
        ),
        ("", "aa_nobody_{writer}", "role 'aa_nobody_{writer}' does not exist"),
        ("", "{owner}", "role '{owner}' owns table public.item"),
    ],
    ids=["held-on-table", "held-on-audit", "held-schema", "no-role", "owner"],
)
def test_refusals_name_the_role_and_leave_privileges_unchanged(
    tmp_path: Any, database_url: sa.URL, roles: Roles, setup: str, role: str, message: str
) -> None:
    project, writer = owner_project(tmp_path, database_url, roles)
    project.upgrade("r0")
    names = {"writer": writer, "owner": project.url.username}
    if setup:
        engine = sa.create_engine(project.url, poolclass=sa.NullPool)
        with engine.begin() as conn:
            conn.exec_driver_sql(setup.format(**names))
        engine.dispose()
    grant_migration(project, role.format(**names))
    before = privileges(project.url, writer)
    with pytest.raises(ValueError) as info:
        project.upgrade("r1")
    assert message.format(**names) in str(info.value)
    assert f"op.grant_audit_access('item', '{role.format(**names)}')" in str(info.value)
    assert privileges(project.url, writer) == before
    assert project.current() == "r0"


def test_schema_usage_false_leaves_schema_privileges_alone(
    tmp_path: Any, database_url: sa.URL, roles: Roles
) -> None:
    project, writer = owner_project(tmp_path, database_url, roles)
    project.upgrade("r0")
    with roles.superuser_engine().begin() as conn:
        conn.exec_driver_sql(f'GRANT USAGE ON SCHEMA public TO "{writer}"')
    grant_migration(project, writer, ", schema_usage=False")
    before = privileges(project.url, writer)
    project.upgrade("r1")
    project.downgrade("r0")
    assert privileges(project.url, writer) == before


def test_grant_the_migration_role_cannot_make_is_refused(
    tmp_path: Any, database_url: sa.URL, roles: Roles
) -> None:
    # Without the grant option, GRANT only warns and grants nothing: refused instead.
    project, writer = owner_project(tmp_path, database_url, roles)
    project.upgrade("r0")
    with roles.superuser_engine().begin() as conn:
        conn.exec_driver_sql("ALTER SCHEMA public OWNER TO CURRENT_USER")
        conn.exec_driver_sql(f'GRANT CREATE, USAGE ON SCHEMA public TO "{project.url.username}"')
        conn.exec_driver_sql("GRANT USAGE ON SCHEMA public TO PUBLIC")
    grant_migration(project, writer)
    before = privileges(project.url, writer)
    with pytest.raises(ValueError) as info:
        project.upgrade("r1")
    assert (
        f"the migration role '{project.url.username}' cannot grant USAGE on schema public "
        f"(it neither owns it nor holds the grant option); role '{writer}' has USAGE on it "
        "already (through PUBLIC or a role it belongs to): pass schema_usage=False"
    ) in str(info.value)
    assert privileges(project.url, writer) == before
    grant_migration(project, writer, ", schema_usage=False")
    project.upgrade("r1")
    project.downgrade("r0")
    assert privileges(project.url, writer) == before


def test_revoke_refuses_what_the_role_does_not_hold(
    tmp_path: Any, database_url: sa.URL, roles: Roles
) -> None:
    project, writer = owner_project(tmp_path, database_url, roles)
    grant_migration(project, writer)
    project.upgrade("r1")
    with roles.superuser_engine().begin() as conn:
        conn.exec_driver_sql(f'REVOKE DELETE ON item FROM "{writer}"')
    before = privileges(project.url, writer)
    with pytest.raises(ValueError, match=f"role '{writer}' does not hold DELETE on table"):
        project.downgrade("r0")
    assert privileges(project.url, writer) == before


def test_offline_sql_applies_with_psql_and_matches_online(
    tmp_path: Any, database_url: sa.URL, roles: Roles
) -> None:
    project, writer = owner_project(tmp_path, database_url, roles)
    project.upgrade("r0")
    grant_migration(project, writer)
    with pytest.raises(OfflineOperationError) as info:
        project.upgrade("r0:r1", sql=True)
    assert "op.grant_audit_access('item')" in str(info.value)
    assert "pass sequences=[(schema, name), ...]" in str(info.value)

    # The online run, to compare with.
    before = privileges(project.url, writer)
    project.upgrade("r1")
    online = privileges(project.url, writer)
    project.downgrade("r0")

    # The rendered, self-contained form: every name a literal.
    access = AuditAccess("item", writer, audit_table_name="item_audit")
    access = AuditAccess.from_dict(dict(access.to_dict(), sequences=[("public", "item_id_seq")]))
    project.write_migration(
        "r1",
        "r0",
        imports="import alembic_audit.operations",
        upgrade=_render(GrantAuditAccess(access))[0],
        downgrade=_render(RevokeAuditAccess(access))[0],
    )
    script = project.upgrade("r0:r1", sql=True)
    assert f'GRANT USAGE ON SEQUENCE "public"."item_id_seq" TO "{writer}";' in script
    project.psql(script)
    assert privileges(project.url, writer) == online
    project.psql(project.downgrade("r1:r0", sql=True))
    assert privileges(project.url, writer) == before
