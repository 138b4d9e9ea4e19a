"""pg_partman keeping the partitions of partitioned audit tables (optional).

Runs where the server has pg_partman (Debian: ``apt-get install postgresql-15-partman``;
``.ci/run`` installs it); skipped elsewhere, the embedded PostgreSQL included.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

import alembic_audit
from alembic_audit.cli import main
from alembic_audit.core.errors import AuditError


@pytest.fixture
def partman(engine: Engine) -> Iterator[Engine]:
    with engine.connect() as conn:
        available = conn.execute(
            sa.text("SELECT EXISTS (SELECT FROM pg_available_extensions WHERE name = 'pg_partman')")
        ).scalar()
    if not available:
        pytest.skip(
            "pg_partman is not installed on this PostgreSQL server (Debian/Ubuntu: apt-get "
            "install postgresql-15-partman, as .ci/run does; the embedded server has none)"
        )
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE SCHEMA partman")
        conn.exec_driver_sql("CREATE EXTENSION pg_partman SCHEMA partman")
    yield engine


def audited(engine: Engine, by: str = "week") -> sa.Table:
    md = sa.MetaData()
    item = sa.Table(
        "item",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        info={
            "audit.options": {
                "enabled": True,
                "append_only": True,
                "partition": {"by": by, "ahead": 3},
            }
        },
    )
    md.create_all(engine)
    alembic_audit.install_audit_triggers(md, engine)
    return item


def partitions(engine: Engine) -> dict[str, bool]:
    """{partition of item_audit: has the append-only guard}."""
    with engine.connect() as conn:
        return dict(
            conn.execute(
                sa.text(
                    "SELECT c.relname, EXISTS (SELECT FROM pg_trigger t WHERE t.tgrelid = c.oid"
                    " AND t.tgname = 'public_item_audit_append_only')"
                    " FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                    " WHERE i.inhparent = 'item_audit'::regclass"
                )
            ).all()
        )


def test_pg_partman_takes_over_the_partitions_and_prune_removes_its_partitions(
    partman: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = partman
    item = audited(engine)
    with engine.begin() as conn:
        conn.execute(item.insert().values(id=1))  # into our default partition, for now
    steps = alembic_audit.use_pg_partman(engine)
    with engine.connect() as conn:
        config = conn.execute(
            sa.text("SELECT parent_table, partition_interval, premake FROM partman.part_config")
        ).all()
        where = conn.execute(sa.text("SELECT tableoid::regclass::text FROM item_audit")).scalar()
    assert config == [("public.item_audit", "7 days", 3)]
    found = partitions(engine)
    # pg_partman's partitions, named as ours, with the guard; the row moved out of the
    # default partition into the current week's.
    assert len(steps) == 4 and all("w" in s.partition for s in steps)
    assert where in found and where != "item_audit_default"
    assert all(found.values())
    assert [r["action"] for r in alembic_audit.maintenance_log(engine)] == ["move"]
    # Registering again changes nothing (from the command line too); check reads
    # pg_partman's premake.
    assert alembic_audit.use_pg_partman(engine) == []
    url = engine.url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    assert main(["--url", url, "partitions", "partman"]) == 0
    assert "pg_partman keeps the partitions now; it made 0 partition(s)" in capsys.readouterr().out
    (status,) = alembic_audit.check_partitions(engine)
    assert (status.managed_by, status.ahead, status.wanted_ahead, status.problems) == (
        "pg_partman",
        3,
        3,
        [],
    )
    # A hand-made week in the past, a row waiting in the default partition for it, and
    # maintenance through pg_partman.
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO item_audit (id, audit_operation, audit_operation_timestamp,"
            " audit_current_user, audit_change_timestamp)"
            " VALUES (2, 'I', now() - interval '60 days', 'x', now() - interval '60 days')"
        )
    report = alembic_audit.create_partitions(engine)
    assert [s.rows_moved for s in report.created] == [1]
    # prune by bounds: everything older than 30 days, pg_partman's partitions included.
    before = set(partitions(engine))
    pruned = alembic_audit.prune(engine, older_than="30d")
    assert [s.action for s in pruned.steps] == ["drop"]
    assert set(partitions(engine)) == before - {pruned.steps[0].relation.split(".")[1]}
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT id FROM item_audit")).scalars().all() == [1]


def test_use_pg_partman_says_how_to_install_it(engine: Engine) -> None:
    audited(engine)
    with pytest.raises(AuditError, match="pg_partman is not installed in this database; install"):
        alembic_audit.use_pg_partman(engine)
