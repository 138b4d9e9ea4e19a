"""Partitioned audit tables (option ``partition``): the table, its default partition, the
partitions made ahead, reads that prune partitions, and the migrations that make, convert
and drop them."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

import alembic_audit
from alembic_audit.core.errors import AuditError, OfflineOperationError
from tests.fixtures.alembic_project import AlembicProject
from tests.fixtures.autogen import assert_clean, autogen, downgrade_part, models, upgrade_part
from tests.fixtures.catalog import audit_functions, triggers

UTC = timezone.utc
JAN = datetime(2025, 1, 15, 12, tzinfo=UTC)


def _item(md: sa.MetaData, name: str = "item", **options: Any) -> sa.Table:
    return sa.Table(
        name,
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("qty", sa.Integer),
        info={"audit.options": {"enabled": True, "partition": {"by": "month"}, **options}},
    )


def installed(engine: Engine, **options: Any) -> tuple[sa.Table, sa.Table]:
    md = sa.MetaData()
    item = _item(md, **options)
    md.create_all(engine)
    alembic_audit.install_audit_triggers(md, engine)
    return item, md.tables["item_audit"]


def partitions(conn: Connection | Engine, table: str = "item_audit") -> dict[str, str]:
    """{partition: its bound, as pg_get_expr prints it in UTC}."""
    sql = """
        SET LOCAL TimeZone = 'UTC';
        SELECT c.relname, pg_get_expr(c.relpartbound, c.oid)
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = CAST(:t AS regclass) ORDER BY 1
    """
    if isinstance(conn, Engine):
        with conn.begin() as c:
            return partitions(c, table)
    conn.exec_driver_sql("SET LOCAL TimeZone = 'UTC'")
    return dict(conn.execute(sa.text(sql.split(";", 1)[1]), {"t": table}).all())


def backdate(conn: Connection, rows: list[tuple[int, datetime | None]]) -> None:
    """Audit rows as if written at these times (``None``: before the change time was
    recorded; the transaction time is then 400 days ago)."""
    for key, moment in rows:
        conn.execute(
            sa.text(
                "INSERT INTO item_audit (id, qty, audit_operation, audit_operation_timestamp,"
                " audit_current_user, audit_change_timestamp)"
                " VALUES (:id, 0, 'U', COALESCE(:t, now() - interval '400 days'), 'past', :t)"
            ),
            {"id": key, "t": moment},
        )


# -- the option ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"by": "year"}, "needs 'by' set to one of ['month', 'week', 'day'], got 'year'"),
        ({}, "needs 'by' set to one of"),
        ("month", "must be None or a dict"),
        ({"by": "month", "ahead": -1}, "'ahead' must be a whole number of intervals"),
        ({"by": "month", "ahead": True}, "'ahead' must be a whole number of intervals"),
        ({"by": "month", "premake": 4}, "unknown key(s) ['premake']"),
    ],
)
def test_the_partition_option_is_checked_naming_the_table(value: object, message: str) -> None:
    with pytest.raises(AuditError) as err:
        _item(sa.MetaData(), partition=value)
    assert str(err.value).startswith("table 'item': audit option 'partition'")
    assert message in str(err.value)


def test_create_all_makes_a_range_partitioned_audit_table_with_a_default_partition(
    engine: Engine,
) -> None:
    md = sa.MetaData()
    _item(md)
    _item(md, "event", change_timestamp=False, partition={"by": "day", "ahead": 1})
    md.create_all(engine)
    with engine.connect() as conn:
        keys = conn.execute(
            sa.text(
                "SELECT c.relname, p.partstrat, a.attname,"
                " pg_get_serial_sequence(c.relname, 'audit_id') IS NOT NULL"
                " FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid"
                " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = p.partattrs[0]"
                " ORDER BY 1"
            )
        ).all()
        indexes = (
            conn.execute(
                sa.text(
                    "SELECT indexrelid::regclass::text FROM pg_index"
                    " WHERE indrelid = 'item_audit_default'::regclass ORDER BY 1"
                )
            )
            .scalars()
            .all()
        )
    assert keys == [
        ("event_audit", "r", "audit_operation_timestamp", True),
        ("item_audit", "r", "audit_change_timestamp", True),
    ]
    assert partitions(engine) == {"item_audit_default": "DEFAULT"}
    # The audit table's indexes are on every partition.
    assert len(indexes) == 3


def test_install_refuses_a_plain_audit_table_the_options_want_partitioned(
    engine: Engine,
) -> None:
    md = sa.MetaData()
    _item(md, partition=None)
    md.create_all(engine)
    partitioned = sa.MetaData()
    _item(partitioned)
    with pytest.raises(AuditError, match=r"\['public.item_audit'\] are plain tables"):
        alembic_audit.install_audit_triggers(partitioned, engine)
    assert audit_functions(engine) == {}


@pytest.mark.parametrize("level", ["row", "statement"])
def test_a_write_no_partition_covers_goes_to_the_default_partition_and_moves_in_later(
    engine: Engine, level: str
) -> None:
    item, audit = installed(engine, level=level)
    with engine.begin() as conn:
        conn.execute(item.insert().values(id=1, qty=1))
    with engine.connect() as conn:
        before = conn.execute(
            sa.text("SELECT tableoid::regclass::text, audit_id FROM item_audit")
        ).all()
    assert [r[0] for r in before] == ["item_audit_default"]

    report = alembic_audit.create_partitions(engine)
    current = [s for s in report.created if s.rows_moved]
    assert len(current) == 1 and current[0].rows_moved == 1
    with engine.connect() as conn:
        after = conn.execute(
            sa.text("SELECT tableoid::regclass::text, audit_id FROM item_audit")
        ).all()
    assert after == [(current[0].partition.split(".")[1], before[0][1])]
    log = alembic_audit.maintenance_log(engine)
    assert [(r["action"], r["relation"], r["destination"], r["row_count"]) for r in log] == [
        ("move", "public.item_audit_default", current[0].partition, 1)
    ]
    assert report.tables[0].problems == []


@pytest.mark.parametrize(
    ("by", "names"),
    [
        ("month", ["item_audit_p2025_01", "item_audit_p2025_02", "item_audit_p2025_03"]),
        ("week", ["item_audit_p2025w03", "item_audit_p2025w04", "item_audit_p2025w05"]),
        ("day", ["item_audit_p2025_01_15", "item_audit_p2025_01_16", "item_audit_p2025_01_17"]),
    ],
)
def test_create_partitions_makes_the_current_interval_and_those_ahead(
    engine: Engine, by: str, names: list[str]
) -> None:
    installed(engine, partition={"by": by, "ahead": 2})
    report = alembic_audit.create_partitions(engine, now=JAN)
    assert [s.partition for s in report.created] == [f"public.{n}" for n in names]
    found = partitions(engine)
    assert sorted(found) == sorted([*names, "item_audit_default"])
    first = {"month": "2025-01-01", "week": "2025-01-13", "day": "2025-01-15"}[by]
    assert found[names[0]].startswith(f"FOR VALUES FROM ('{first} 00:00:00+00')")
    # Again: nothing to make.  A larger --ahead makes more.
    assert alembic_audit.create_partitions(engine, now=JAN).created == []
    assert len(alembic_audit.create_partitions(engine, now=JAN, ahead=4).created) == 2


def test_partitions_made_by_hand_are_respected(engine: Engine) -> None:
    installed(engine, partition={"by": "month", "ahead": 1})
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE mine PARTITION OF item_audit"
            " FOR VALUES FROM ('2025-02-10+00') TO ('2025-02-20+00')"
        )
    report = alembic_audit.create_partitions(engine, now=JAN)
    assert [(s.partition, s.lower.day, s.upper.day) for s in report.created] == [
        ("public.item_audit_p2025_01", 1, 1),
        # Parts of February around it: named after the interval and where they start.
        ("public.item_audit_p2025_02_from_20250201T000000", 1, 10),
        ("public.item_audit_p2025_02_from_20250220T000000", 20, 1),
    ]


def test_dry_run_and_check_change_nothing_and_say_what_needs_attention(engine: Engine) -> None:
    installed(engine, partition={"by": "month", "ahead": 1})
    with engine.begin() as conn:
        backdate(conn, [(1, datetime(2024, 11, 3, tzinfo=UTC)), (2, None)])
    (status,) = alembic_audit.check_partitions(engine, now=JAN)
    assert status.default_rows == 2 and status.default_null_time == 1
    assert status.problems == [
        "2 rows in the default partition: 1 rows with a time no partition covers (2024-11-03 "
        "to 2024-11-03): alembic-audit partitions create moves them into partitions; 1 rows "
        "without a change time (written before it was recorded): they stay there, pruned by "
        "their transaction time",
        "no partition for the current month: its rows go to the default partition",
    ]
    report = alembic_audit.create_partitions(engine, now=JAN, dry_run=True)
    assert [(s.partition, s.rows_moved) for s in report.created] == [
        ("public.item_audit_p2024_11", 1),
        ("public.item_audit_p2025_01", 0),
        ("public.item_audit_p2025_02", 0),
    ]
    assert partitions(engine) == {"item_audit_default": "DEFAULT"}
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT to_regclass('audit_maintenance_log')")).scalar() is None
    # For real: the rows of November move into their own partition.
    alembic_audit.create_partitions(engine, now=JAN)
    (status,) = alembic_audit.check_partitions(engine, now=JAN)
    assert status.default_rows == 1 and status.ahead == 1
    assert len(status.problems) == 1  # the row without a time stays in the default partition


def test_every_partition_is_append_only_and_maintenance_guards_hand_made_ones(
    engine: Engine,
) -> None:
    installed(engine, append_only=True)
    alembic_audit.create_partitions(engine, now=JAN)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE mine PARTITION OF item_audit"
            " FOR VALUES FROM ('2020-01-01+00') TO ('2020-02-01+00')"
        )
    (status,) = alembic_audit.check_partitions(engine, now=JAN)
    assert status.unguarded == ["public.mine"]
    alembic_audit.create_partitions(engine, now=JAN)
    guarded = {t for (_, t, name) in triggers(engine) if name == "public_item_audit_append_only"}
    assert guarded == {*partitions(engine), "item_audit"}
    for table in ("item_audit_p2025_01", "mine", "item_audit_default", "item_audit"):
        for statement in (
            f"DELETE FROM {table}",
            f"UPDATE {table} SET qty = 1",
            f"TRUNCATE {table}",
        ):
            with pytest.raises(sa.exc.DBAPIError, match="is append-only"), engine.begin() as c:
                c.exec_driver_sql(statement)


def test_history_reads_scan_only_the_partitions_of_their_time(engine: Engine) -> None:
    """The row index is on every partition; a read bounded in time (as_of: the latest
    version of a row at a moment) is planned over the partitions before it only."""
    installed(engine, partition={"by": "month", "ahead": 0})
    months = [datetime(2024, m, 10, tzinfo=UTC) for m in range(1, 13)]
    with engine.begin() as conn:
        backdate(conn, [(k, m + timedelta(hours=k)) for m in months for k in range(50)])
    alembic_audit.create_partitions(engine, now=datetime(2024, 12, 20, tzinfo=UTC))
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE item_audit")
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        plan = conn.execute(
            sa.text(
                "EXPLAIN (ANALYZE, COSTS OFF, FORMAT JSON) SELECT * FROM item_audit"
                " WHERE id = 7 AND audit_change_timestamp <= :t"
                " ORDER BY audit_id DESC LIMIT 1"
            ),
            {"t": datetime(2024, 3, 20, tzinfo=UTC)},
        ).scalar()
    text = json.dumps(plan)
    scanned = {m for m in partitions(engine) if f'"{m}"' in text}
    # The default partition may hold any time, so it is always read (it is kept small).
    assert scanned == {
        "item_audit_p2024_01",
        "item_audit_p2024_02",
        "item_audit_p2024_03",
        "item_audit_default",
    }
    assert text.count('"Index Scan"') == 4 and "_id_audit_id_idx" in text


# -- migrations -------------------------------------------------------------------------------

PARTITIONED = '{"enabled": True, "append_only": True, "partition": {"by": "month", "ahead": 2}}'


def test_autogenerate_creates_a_partitioned_audit_table_and_downgrades_exactly(
    alembic_project: AlembicProject, engine: Engine
) -> None:
    alembic_project.write_models(
        models(
            """
            sa.Table(
                "item", metadata,
                sa.Column("id", sa.Integer, primary_key=True),
                info={"audit.options": PARTITIONED},
            )
            """.replace("PARTITIONED", PARTITIONED)
        )
    )
    source = autogen(alembic_project, "r1")
    up = upgrade_part(source)
    assert "sa.Column('audit_id', alembic_audit.types.AuditSerial(), nullable=False)" in up
    assert "postgresql_partition_by='RANGE (\"audit_change_timestamp\")'" in up
    assert 'partition={\n            "by": "month",\n            "ahead": 2,\n        },' in up
    assert "drop_audit_trigger" in downgrade_part(source)
    alembic_project.upgrade()
    found = partitions(engine)
    assert len(found) == 4 and "item_audit_default" in found  # current, 2 ahead, default
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO item VALUES (1)")
    # Partitions, the serial and the maintenance log are no change to the models.
    alembic_audit.create_partitions(engine, ahead=5)
    assert_clean(alembic_project)
    alembic_project.downgrade("base")
    assert audit_functions(engine) == {}
    with engine.connect() as conn:
        tables = (
            conn.execute(
                sa.text(
                    "SELECT relname FROM pg_class WHERE relkind IN ('r', 'p', 'S')"
                    " AND relnamespace = 'public'::regnamespace AND relname <> 'alembic_version'"
                )
            )
            .scalars()
            .all()
        )
    assert tables == []


UNPARTITIONED = '{"enabled": True, "append_only": True}'


def _catalog(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        return {
            "columns": conn.execute(
                sa.text(
                    "SELECT attname, format_type(atttypid, atttypmod), attnotnull, attidentity"
                    " FROM pg_attribute WHERE attrelid = 'item_audit'::regclass AND attnum > 0"
                    " AND NOT attisdropped ORDER BY attnum"
                )
            ).all(),
            "indexes": conn.execute(
                sa.text(
                    "SELECT pg_get_indexdef(indexrelid) FROM pg_index"
                    " WHERE indrelid = 'item_audit'::regclass ORDER BY 1"
                )
            )
            .scalars()
            .all(),
            "acl": conn.execute(
                sa.text("SELECT relacl::text FROM pg_class WHERE oid = 'item_audit'::regclass")
            ).scalar(),
            "sequence": conn.execute(
                sa.text("SELECT pg_get_serial_sequence('item_audit', 'audit_id')")
            ).scalar(),
        }


def _rows(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT audit_id, id, name, audit_operation, audit_change_timestamp"
                " FROM item_audit ORDER BY audit_id"
            )
        ).all()


def test_autogenerate_converts_an_audit_table_to_partitions_and_back_keeping_every_row(
    alembic_project: AlembicProject, engine: Engine, roles: Any
) -> None:
    table = """
        sa.Table(
            "item", metadata,
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("name", sa.String(20)),
            info={"audit.options": %s},
        )
    """
    alembic_project.write_models(models(table % UNPARTITIONED))
    autogen(alembic_project, "r1")
    alembic_project.upgrade()
    reader = roles.create("reader")
    with engine.begin() as conn:
        conn.exec_driver_sql(f'GRANT SELECT ON item_audit TO "{reader}"')
        conn.exec_driver_sql("INSERT INTO item SELECT g, 'n' FROM generate_series(1, 30) g")
        conn.exec_driver_sql("UPDATE item SET name = 'm' WHERE id <= 10")
        # History of other months, and a row of the first release (no change time).
        conn.exec_driver_sql(
            "INSERT INTO item_audit (id, name, audit_operation, audit_operation_timestamp,"
            " audit_current_user, audit_change_timestamp) VALUES"
            " (1, 'a', 'I', '2024-05-03+00', 'x', '2024-05-03+00'),"
            " (2, 'b', 'I', '2024-07-09+00', 'x', '2024-07-09+00'),"
            " (3, 'c', 'I', '2023-01-01+00', 'x', NULL)"
        )
    before_rows, before_catalog = _rows(engine), _catalog(engine)
    before_functions = audit_functions(engine)

    alembic_project.write_models(models(table % PARTITIONED))
    source = autogen(alembic_project, "r2")
    up, down = upgrade_part(source), downgrade_part(source)
    assert up.count("op.") == 1 and "op.partition_audit_table(" in up
    assert 'by="month",\n        ahead=2,' in up and "partition=None," in up
    assert "op.unpartition_audit_table(" in down
    alembic_project.upgrade()
    assert _rows(engine) == before_rows
    found = partitions(engine)
    assert {"item_audit_p2024_05", "item_audit_p2024_07", "item_audit_default"} <= set(found)
    with engine.begin() as conn:
        assert (
            conn.execute(
                sa.text("SELECT tableoid::regclass::text FROM item_audit WHERE name = 'c'")
            ).scalar()
            == "item_audit_default"
        )
        conn.exec_driver_sql("INSERT INTO item VALUES (99, 'new')")
        new_id = conn.execute(sa.text("SELECT audit_id FROM item_audit WHERE id = 99")).scalar()
    assert new_id == max(r[0] for r in before_rows) + 1
    after = _catalog(engine)
    assert after["acl"] == before_catalog["acl"]
    assert [c[:3] for c in after["columns"]] == [c[:3] for c in before_catalog["columns"]]
    with roles.engine(reader).connect() as conn:
        assert (
            conn.execute(sa.text("SELECT count(*) FROM item_audit")).scalar()
            == len(before_rows) + 1
        )
    assert_clean(alembic_project)

    alembic_project.downgrade("r1")
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM item WHERE id = 99")
    rows = _rows(engine)
    assert rows[: len(before_rows)] == before_rows
    assert _catalog(engine) == before_catalog
    assert audit_functions(engine) == before_functions
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO item VALUES (100, 'again')")
        assert (
            conn.execute(sa.text("SELECT max(audit_id) FROM item_audit")).scalar()
            == rows[-1][0] + 1
        )


def test_a_change_of_interval_converts_through_a_plain_table(
    alembic_project: AlembicProject, engine: Engine
) -> None:
    table = """
        sa.Table("item", metadata, sa.Column("id", sa.Integer, primary_key=True),
                 info={"audit.options": {"enabled": True, "partition": %s}})
    """
    alembic_project.write_models(models(table % '{"by": "month"}'))
    autogen(alembic_project, "r1")
    alembic_project.upgrade()
    alembic_project.write_models(models(table % '{"by": "week", "ahead": 8}'))
    up = upgrade_part(autogen(alembic_project, "r2"))
    assert up.index("op.unpartition_audit_table(") < up.index("op.partition_audit_table(")
    alembic_project.upgrade()
    assert_clean(alembic_project)
    weekly = [name for name in partitions(engine) if name != "item_audit_default"]
    assert len(weekly) == 9 and all("w" in name for name in weekly)
    alembic_project.downgrade("r1")
    monthly = [name for name in partitions(engine) if name != "item_audit_default"]
    assert len(monthly) == 5 and not any("w" in name for name in monthly)


def test_conversion_ops_need_the_live_database_and_a_plain_table(
    alembic_project: AlembicProject, engine: Engine
) -> None:
    md = sa.MetaData()
    sa.Table(
        "item",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        info={"audit.options": {"enabled": True}},
    )
    md.create_all(engine)
    alembic_audit.install_audit_triggers(md, engine)
    alembic_project.write_migration(
        "p1",
        None,
        upgrade='op.partition_audit_table("item", by="week")',
        downgrade='op.unpartition_audit_table("item")',
        imports="import alembic_audit.operations",
    )
    with pytest.raises(OfflineOperationError, match="cannot read the installed audit trigger"):
        alembic_project.upgrade("head", sql=True)
    alembic_project.upgrade()
    assert "item_audit_default" in partitions(engine)
    alembic_project.write_migration(
        "p2",
        "p1",
        upgrade='op.partition_audit_table("item", by="week")',
        imports="import alembic_audit.operations",
    )
    with pytest.raises(AuditError, match=r"partitioned already \(by week\)"):
        alembic_project.upgrade()
    alembic_project.downgrade("base")
    assert partitions(engine) == {}


def test_an_autogenerated_partitioned_audit_table_is_made_offline_too(
    alembic_project: AlembicProject, engine: Engine
) -> None:
    alembic_project.write_models(
        models(
            """
            sa.Table(
                "item", metadata,
                sa.Column("id", sa.Integer, primary_key=True),
                info={"audit.options": PARTITIONED},
            )
            """.replace("PARTITIONED", PARTITIONED)
        )
    )
    autogen(alembic_project, "r1")
    script = alembic_project.upgrade("head", sql=True)
    with engine.begin() as conn:  # left by autogenerate; the script makes it
        conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    assert "PARTITION BY RANGE" in script and "CREATE TABLE IF NOT EXISTS" in script
    alembic_project.psql(script)
    found = partitions(engine)
    assert len(found) == 4 and found["item_audit_default"] == "DEFAULT"
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO item VALUES (1)")
        where = conn.execute(sa.text("SELECT tableoid::regclass::text FROM item_audit")).scalar()
    assert where != "item_audit_default"
    guarded = {t for (_, t, name) in triggers(engine) if name == "public_item_audit_append_only"}
    assert guarded == {*found, "item_audit"}


def test_a_change_of_ahead_only_replaces_the_function(
    alembic_project: AlembicProject, engine: Engine
) -> None:
    table = """
        sa.Table("item", metadata, sa.Column("id", sa.Integer, primary_key=True),
                 info={"audit.options": {"enabled": True, "partition": %s}})
    """
    alembic_project.write_models(models(table % '{"by": "day", "ahead": 2}'))
    autogen(alembic_project, "r1")
    alembic_project.upgrade()
    before = audit_functions(engine)
    alembic_project.write_models(models(table % '{"by": "day", "ahead": 9}'))
    source = autogen(alembic_project, "r2")
    up = upgrade_part(source)
    assert up.count("op.") == 1 and "op.replace_audit_trigger(" in up
    alembic_project.upgrade()
    assert_clean(alembic_project)
    assert alembic_audit.check_partitions(engine)[0].wanted_ahead == 9
    assert len(alembic_audit.create_partitions(engine).created) == 7
    alembic_project.downgrade("r1")
    assert audit_functions(engine) == before
