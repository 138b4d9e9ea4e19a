"""The SQL we hand out runs unchanged through every path a user would try.

``table.info["audit.create_ddl"]`` / ``["audit.drop_ddl"]`` (the seed's way into
Alembic was ``op.execute`` of them) and the scripts returned by
``install_audit_triggers(metadata)``, ``uninstall_audit_triggers(metadata)``,
``grant_audit_access(metadata, role)`` and ``revoke_audit_access(metadata, role)``, run
through ``conn.execute(text(...))``, ``conn.exec_driver_sql(...)``, ``conn.execute(DDL(...))``,
``op.execute(...)`` online and offline (``alembic upgrade --sql``, then psql) and psql, on
psycopg2 and psycopg 3.  Like the seed's, they run again: create on an installed table,
drop where nothing is installed.

Names are hostile (':' and '%' in table, schema and column names, quotes, reserved
words, mixed case), one table is audited at row level (its audit table partitioned) and
one at statement level, both with settings, ``append_only`` and ``skip_unchanged``;
every run ends with audit rows written through what the scripts installed, and none
after the drop scripts ran.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa
from sqlalchemy import DDL, Column, Integer, MetaData, String, Table, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.engine import URL, Engine

import alembic_audit
from alembic_audit.sql.objects import spec_triggers
from alembic_audit.sql.quoting import qualify
from tests.fixtures.alembic_project import AlembicProject
from tests.fixtures.db import with_driver

if TYPE_CHECKING:
    from tests.fixtures.roles import Roles


SCHEMA = "we:ird%schema"
COLUMNS = ["a:b", "50%", 'q"uote', "select", "Mixed Case", ":name", "%(x)s"]
REQUEST_ID = uuid.UUID("6f1c1b62-8d0e-4c55-9d0a-3f1e2b7c9a01")


def models() -> MetaData:
    metadata = MetaData()

    def settings() -> list[Column[Any]]:
        return [Column("username", String(50), nullable=False), Column("request_id", UUID)]

    Table(
        "row:level%",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=False),
        *(Column(c, String) for c in COLUMNS),
        schema=SCHEMA,
        info={
            "audit.options": {
                "enabled": True,
                "level": "row",
                "skip_unchanged": True,
                "append_only": True,
                "session_settings": settings(),
                # A partitioned audit table: its default partition and the guard's DO
                # blocks (names as string literals) run through every path too.
                "partition": {"by": "month"},
            }
        },
    )
    Table(
        "order",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=False),
        *(Column(c, String) for c in COLUMNS),
        info={
            "audit.options": {
                "enabled": True,
                "level": "statement",
                "skip_unchanged": True,
                "append_only": True,
                "session_settings": settings(),
            }
        },
    )
    return metadata


def audited(metadata: MetaData) -> list[Table]:
    return alembic_audit.audited_tables(metadata)


def audit_table_of(table: Table) -> Table:
    audit = table.info["audit.audit_table"]
    assert isinstance(audit, Table)
    return audit


# -- the paths ---------------------------------------------------------------------------

Run = Callable[[list[str]], None]


def sqlalchemy_path(engine: Engine, how: str) -> Run:
    def run(scripts: list[str]) -> None:
        with engine.begin() as conn:
            for script in scripts:
                if how == "text":
                    conn.execute(text(script))
                elif how == "exec_driver_sql":
                    conn.exec_driver_sql(script)
                else:
                    conn.execute(DDL(script))

    return run


class AlembicPath:
    """Each call is a new hand-written revision calling ``op.execute(script)`` per script,
    applied online, or written with ``alembic upgrade --sql`` and applied with psql."""

    def __init__(self, project: AlembicProject, *, offline: bool) -> None:
        self.project = project
        self.offline = offline
        self.head: str | None = None
        self.count = 0

    def __call__(self, scripts: list[str]) -> None:
        self.count += 1
        revision = f"r{self.count}"
        self.project.write_migration(
            revision,
            self.head,
            upgrade="\n".join(f"op.execute({s!r})" for s in scripts),
        )
        if self.offline:
            span = f"{self.head}:{revision}" if self.head else revision
            self.project.psql(self.project.upgrade(span, sql=True))
        else:
            self.project.upgrade(revision)
        self.head = revision


PATHS = [
    ("text", "psycopg2"),
    ("text", "psycopg"),
    ("exec_driver_sql", "psycopg2"),
    ("exec_driver_sql", "psycopg"),
    ("DDL", "psycopg2"),
    ("DDL", "psycopg"),
    ("op.execute", "psycopg2"),
    ("op.execute", "psycopg"),
    ("op.execute --sql, psql", "psycopg"),
    ("psql", "psycopg"),
]


# -- what the database holds ------------------------------------------------------------


def installed(engine: Engine) -> Counter[tuple[str, str]]:
    """(table, trigger) of every user trigger, counted (a second install must not add any)."""
    sql = """
        SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        WHERE NOT t.tgisinternal
    """
    with engine.connect() as conn:
        return Counter((r, t) for r, t in conn.execute(text(sql)))


def expected_triggers(metadata: MetaData) -> Counter[tuple[str, str]]:
    """Each trigger of each spec once: the audit triggers and the append-only guard (on
    the default partition too, for a partitioned audit table)."""
    found = Counter(
        (trigger.table, trigger.name)
        for table in audited(metadata)
        for trigger in spec_triggers(alembic_audit.get_audit_spec(table))
    )
    for table in audited(metadata):
        spec = alembic_audit.get_audit_spec(table)
        if spec.partition is not None and spec.append_only:
            found[(spec.default_partition_name, spec.guard_trigger_name)] += 1
    return found


def audit_functions(engine: Engine) -> set[str]:
    sql = """
        SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
    """
    with engine.connect() as conn:
        return set(conn.execute(text(sql)).scalars())


def write_everything(engine: Engine, owner: Engine, table: Table) -> None:
    """Insert two rows, change one, "change" the other to the same values (skipped by
    skip_unchanged), delete it, truncate (as the owner: the writer role may not): each in
    its own transaction, with settings."""
    values = {c: f"v-{c}" for c in COLUMNS}

    def step(stmt: Any) -> None:
        with engine.begin() as conn:
            alembic_audit.set_session_vars(conn, username="writer", request_id=REQUEST_ID)
            conn.execute(stmt)

    step(table.insert().values([{"id": 1, **values}, {"id": 2, **values}]))
    step(table.update().where(table.c.id == 1).values({"a:b": "changed", "50%": "100%"}))
    step(table.update().where(table.c.id == 2).values({"a:b": values["a:b"]}))
    step(table.delete().where(table.c.id == 2))
    with owner.begin() as conn:
        alembic_audit.set_session_vars(conn, username="writer", request_id=REQUEST_ID)
        # Quoted as U&"..." where needed: the name holds ':' and '%'.
        conn.exec_driver_sql(f"TRUNCATE {qualify(table.schema or 'public', table.name)}")


def audit_rows(engine: Engine, table: Table) -> Counter[tuple[Any, ...]]:
    audit = audit_table_of(table)
    columns = [
        audit.c.audit_operation,
        audit.c.id,
        audit.c["a:b"],
        audit.c["50%"],
        audit.c['q"uote'],
        audit.c["%(x)s"],
        audit.c.audit_current_user,
        audit.c.audit_username,
        audit.c.audit_request_id,
    ]
    with engine.connect() as conn:
        return Counter(tuple(r) for r in conn.execute(sa.select(*columns)))


def expected_rows(user: str, owner: str) -> Counter[tuple[Any, ...]]:
    v = {c: f"v-{c}" for c in COLUMNS}
    row = (v["a:b"], v["50%"], v['q"uote'], v["%(x)s"], user, "writer", REQUEST_ID)
    return Counter(
        [
            ("I", 1, *row),
            ("I", 2, *row),
            ("U", 1, "changed", "100%", *row[2:]),
            ("D", 2, *row),
            ("T", None, None, None, None, None, owner, "writer", REQUEST_ID),
        ]
    )


# -- the test ----------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "driver"), PATHS, ids=[f"{p}-{d}" for p, d in PATHS])
def test_scripts_run_through_every_path_and_again(
    path: str, driver: str, database_url: URL, tmp_path: Path, roles: Roles
) -> None:
    metadata = models()
    tables = audited(metadata)
    writer = roles.create("writer")
    engine = sa.create_engine(with_driver(database_url, driver), poolclass=sa.NullPool)
    project = AlembicProject(tmp_path / "migrations", database_url, driver)
    run: Run
    if path in ("text", "exec_driver_sql", "DDL"):
        run = sqlalchemy_path(engine, path)
    elif path == "psql":

        def run(scripts: list[str]) -> None:
            for script in scripts:
                project.psql(script)

    else:
        run = AlembicPath(project, offline="--sql" in path)

    create_ddl = [t.info["audit.create_ddl"] for t in tables]
    drop_ddl = [t.info["audit.drop_ddl"] for t in tables]
    install = alembic_audit.install_audit_triggers(metadata)
    uninstall = alembic_audit.uninstall_audit_triggers(metadata)
    grant = alembic_audit.grant_audit_access(metadata, writer, read_history=True)
    revoke = alembic_audit.revoke_audit_access(metadata, writer)
    assert install and uninstall and grant and revoke

    try:
        with engine.begin() as conn:
            conn.execute(sa.schema.CreateSchema(SCHEMA))
        # Drop where nothing exists yet (not even the tables), then where nothing is
        # installed.
        run(drop_ddl + [uninstall])
        metadata.create_all(engine)
        run(drop_ddl + [uninstall])
        with engine.connect() as conn:
            owner = conn.execute(text("SELECT current_user")).scalar()
        assert installed(engine) == Counter()

        # Create twice (the second run replaces), then the install script over it.
        run(create_ddl)
        run(create_ddl + [install])
        assert installed(engine) == expected_triggers(metadata)

        # The grant script, twice: the writer writes, the audit rows come from the
        # SECURITY DEFINER functions the scripts installed.
        run([grant, grant])
        writer_engine = roles.engine(writer, driver)
        for table in tables:
            write_everything(writer_engine, engine, table)
            assert audit_rows(engine, table) == expected_rows(writer, owner)
            with writer_engine.connect() as conn:  # read_history=True
                count = sa.select(sa.func.count()).select_from(audit_table_of(table))
                assert conn.execute(count).scalar() == 5
        # append_only: the guard the scripts installed refuses even the owner.
        for table in tables:
            with (
                pytest.raises(sa.exc.DBAPIError, match="append-only: DELETE refused"),
                engine.begin() as conn,
            ):
                conn.execute(audit_table_of(table).delete())

        run([revoke])
        with (
            pytest.raises(sa.exc.ProgrammingError, match="permission denied"),
            writer_engine.begin() as conn,
        ):
            conn.execute(tables[1].insert().values(id=9))

        # Drop, and drop again on nothing: no function, no trigger, history kept.
        run(drop_ddl)
        run(drop_ddl + [uninstall])
        assert installed(engine) == Counter()
        assert audit_functions(engine) == set()
        for table in tables:
            with engine.begin() as conn:
                conn.execute(table.insert().values(id=3))
            assert audit_rows(engine, table) == expected_rows(writer, owner)
    finally:
        engine.dispose()


def test_create_ddl_holds_no_bind_parameter_nor_format_character() -> None:
    """What makes every path work, stated for each script: ``text()`` finds no bind
    parameter, and no ``%`` is left for ``DDL()`` or a DBAPI to format."""
    metadata = models()
    keys = ("audit.create_ddl", "audit.drop_ddl")
    scripts = [t.info[key] for t in audited(metadata) for key in keys]
    scripts += [
        alembic_audit.install_audit_triggers(metadata),
        alembic_audit.uninstall_audit_triggers(metadata),
        alembic_audit.grant_audit_access(metadata, "app:writer%"),
        alembic_audit.revoke_audit_access(metadata, "app:writer%"),
    ]
    for script in scripts:
        assert isinstance(script, str)
        assert text(script).compile().params == {}
        assert "%" not in script
