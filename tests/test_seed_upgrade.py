"""A database built by sqlalchemy-postgresql-audit 0.5.2 upgrades cleanly, and back.

``tests/fixtures/seed_0_5_2.sql`` is that database (the seed docs' "Example" tables,
audit columns first, ``timestamp`` and ``varchar(64)``, one row-level trigger and
function per table, audit rows written by those triggers).  The models are the same
tables with the same options under ``alembic_audit.enable()`` (``bar`` at row level,
``foo`` at the default statement level).  Autogenerate replaces the seed's functions and
triggers (saying so), keeps the seed's timestamp column as it is (saying how to
convert it), ``alembic check`` is clean, audit rows carry the settings, the README's
conversion of the timestamps is exact, and ``alembic downgrade base`` gives back the
seed's catalog; the old audit rows are intact at every step.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import Table
from sqlalchemy.engine import Engine

import alembic_audit
from tests.fixtures.alembic_project import AlembicProject
from tests.fixtures.catalog import audit_functions, columns, triggers

SEED_SQL = Path(__file__).parent / "fixtures" / "seed_0_5_2.sql"
#: The TimeZone the seed's sessions ran in (the fixture's, and the application's later).
ZONE = "America/New_York"

MODELS = """
from sqlalchemy import Column, Integer, MetaData, String, Table
from sqlalchemy.dialects.postgresql import UUID
import alembic_audit

# The seed docs' naming conventions.
NAMING_CONVENTIONS = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
    "audit.table": "%(table_name)s_audr",
}
alembic_audit.enable()
metadata = MetaData(naming_convention=NAMING_CONVENTIONS)
bar = Table(
    "bar",
    metadata,
    Column("foo", String),
    info={"audit.options": {"enabled": True, "level": "row"}},
)
foo = Table(
    "foo",
    metadata,
    Column("bar", String),
    Column("baz", String),
    info={
        "audit.options": {
            "enabled": True,
            "session_settings": [
                Column("username", String, nullable=False),
                Column("app_uuid", UUID),
            ],
        }
    },
)
stock = Table(
    "stock",
    metadata,
    Column("sku", String, primary_key=True),
    Column("quantity", Integer),
    Column("Location", String),
    schema="inventory",
    info={
        "audit.options": {
            "enabled": True,
            "skip_unchanged": True,
            "append_only": True,
            "session_settings": [Column("username", String, nullable=False)],
        }
    },
)
"""

#: Audit tables of the seed database, (schema, name).
AUDIT_TABLES = [(None, "bar_audr"), (None, "foo_audr"), ("inventory", "stock_audr")]

# The README's conversion of the seed's timestamps (and widening of audit_current_user), for
# every audit table.
CONVERT = """
for schema, table in [(None, "bar_audr"), (None, "foo_audr"), ("inventory", "stock_audr")]:
    op.alter_column(
        table,
        "audit_operation_timestamp",
        schema=schema,
        type_=sa.DateTime(timezone=True),
        existing_type=sa.DateTime(),
        existing_nullable=False,
        postgresql_using="audit_operation_timestamp AT TIME ZONE 'America/New_York'",
    )
    op.alter_column(
        table, "audit_current_user", schema=schema, type_=sa.String(), existing_type=sa.String(64)
    )
"""
CONVERT_BACK = """
for schema, table in [(None, "bar_audr"), (None, "foo_audr"), ("inventory", "stock_audr")]:
    op.alter_column(
        table,
        "audit_operation_timestamp",
        schema=schema,
        type_=sa.DateTime(),
        existing_type=sa.DateTime(timezone=True),
        existing_nullable=False,
        postgresql_using="audit_operation_timestamp AT TIME ZONE 'America/New_York'",
    )
    op.alter_column(
        table, "audit_current_user", schema=schema, type_=sa.String(64), existing_type=sa.String()
    )
"""


def build_seed_database(engine: Engine) -> None:
    """Run the fixture as psql would: one session (its SET TimeZone stays there), the
    script's own BEGIN/COMMIT."""
    seeding = sa.create_engine(engine.url, poolclass=sa.NullPool)
    raw = seeding.raw_connection()
    try:
        raw.driver_connection.autocommit = True  # type: ignore[union-attr]
        with raw.cursor() as cursor:
            cursor.execute(SEED_SQL.read_text())
    finally:
        raw.close()
        seeding.dispose()


def catalog(engine: Engine) -> dict[str, Any]:
    """What a downgrade must give back: function and trigger definitions, and the
    columns (order, type, NOT NULL) of every table."""
    return {
        "functions": audit_functions(engine),
        "triggers": triggers(engine),
        "columns": columns(engine, exclude=("alembic_version",)),
    }


#: Columns this release adds to every audit table (issue 14); the seed's rows are
#: compared in the seed's own columns.
ADDED = ("audit_id", "audit_transaction_id", "audit_change_timestamp")


def audit_rows(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every audit row, as stored (timestamps included), in a stable order, in the seed's
    columns (in the seed's order)."""
    found = {}
    with engine.connect() as conn:
        for schema, table in AUDIT_TABLES:
            names = [
                n
                for (n,) in conn.exec_driver_sql(
                    "SELECT attname FROM pg_attribute WHERE attrelid = %(t)s::regclass"
                    " AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
                    {"t": f"{schema or 'public'}.{table}"},
                )
                if n not in ADDED
            ]
            quoted = ", ".join('"' + n.replace('"', '""') + '"' for n in names)
            rows = conn.exec_driver_sql(f"SELECT {quoted} FROM {schema or 'public'}.{table}").all()
            found[table] = sorted((tuple(r) for r in rows), key=repr)
    return found


def load_models() -> dict[str, Table]:
    namespace: dict[str, Any] = {}
    exec(MODELS, namespace)
    return {name: namespace[name] for name in ("bar", "foo", "stock")}


def write(engine: Engine, tables: dict[str, Table], username: str, app_uuid: uuid.UUID) -> None:
    """A write with settings, in a session of the application's TimeZone."""
    with engine.begin() as conn:
        conn.exec_driver_sql(f"SET LOCAL TimeZone = '{ZONE}'")
        alembic_audit.set_session_vars(conn, username=username, app_uuid=app_uuid)
        foo = tables["foo"]
        conn.execute(foo.insert().values(bar=f"b-{username}", baz="z9"))
        conn.execute(foo.update().where(foo.c.bar == f"b-{username}").values(baz="z10"))
        conn.execute(tables["bar"].insert().values(foo=f"f-{username}"))
        stock = tables["stock"]
        conn.execute(stock.insert().values(sku=username, quantity=1, Location="B2"))
        conn.execute(stock.update().where(stock.c.sku == username).values(quantity=2))
        conn.execute(stock.update().where(stock.c.sku == username).values(quantity=2))


def new_rows(
    before: dict[str, list[tuple[Any, ...]]], after: dict[str, list[tuple[Any, ...]]]
) -> dict[str, list[tuple[Any, ...]]]:
    """Rows in ``after`` beyond ``before``; fails if a row of ``before`` is gone or changed."""
    added = {}
    for table, rows in before.items():
        remaining = list(after[table])
        for row in rows:
            assert row in remaining, f"audit row {row} of {table} lost or changed"
            remaining.remove(row)
        added[table] = remaining
    return added


def test_seed_database_upgrades_checks_clean_and_downgrades_to_the_seed(
    alembic_project: AlembicProject, psycopg_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    engine = psycopg_engine
    build_seed_database(engine)
    seed = catalog(engine)
    seed_rows = audit_rows(engine)
    assert [len(rows) for rows in seed_rows.values()] == [2, 4, 2]
    # The seed made its functions in the search_path's schema, whatever the table's.
    assert sorted(seed["functions"]) == [
        ("public", "inventory_stock_audit"),
        ("public", "public_bar_audit"),
        ("public", "public_foo_audit"),
    ]
    # The seed's layout, as the fixture claims: audit columns first, its types.
    assert seed["columns"][("public", "foo_audr")][:4] == [
        ("audit_operation", "character varying(1)", True),
        ("audit_operation_timestamp", "timestamp without time zone", True),
        ("audit_current_user", "character varying(64)", True),
        ("audit_username", "character varying", True),
    ]

    alembic_project.write_models(MODELS)
    alembic_project.configure_kwargs["include_schemas"] = True
    with caplog.at_level(logging.INFO, logger="alembic.autogenerate.audit"):
        alembic_project.revision("from sqlalchemy-postgresql-audit", rev_id="s1")
    source = alembic_project.migration_source("s1")
    messages = [m for m in caplog.messages if "sqlalchemy-postgresql-audit" in m]
    for schema, table in (("public", "bar"), ("public", "foo"), ("inventory", "stock")):
        function = f"{schema}_{table}_audit"
        assert (
            f"Detected changed audit trigger on '{schema}.{table}' (function "
            f"'public.{function}' and trigger '{function}' made by "
            "sqlalchemy-postgresql-audit: replacing them with this release's definition; "
            "the downgrade restores them)"
        ) in messages
        kept = [
            m
            for m in messages
            if f"Kept column 'audit_operation_timestamp' of audit table "
            f"'{schema}.{table}_audr' as timestamp without time zone" in m
        ]
        assert len(kept) == 1
        schema_arg = ", schema='inventory'" if schema == "inventory" else ""
        assert (
            f"op.alter_column('{table}_audr', 'audit_operation_timestamp'{schema_arg}, "
            "type_=sa.DateTime(timezone=True), existing_nullable=False, "
            'postgresql_using="audit_operation_timestamp AT TIME ZONE '
            "'<time zone of the old rows>'\")"
        ) in kept[0]
    # The seed's function text is in the migration, for the downgrade; the timestamps
    # are not converted by a guess; the required setting's NOT NULL is relaxed (ours are
    # nullable, so that adding a required setting later cannot fail on old rows).
    upgrade = source.split("def downgrade")[0]
    assert upgrade.count("op.replace_audit_trigger(") == 3
    assert upgrade.count("RETURN NULL; -- result is ignored since this is an AFTER trigger") == 3
    assert "'audit_operation_timestamp'" not in source  # no alter_column of either
    assert "'audit_current_user'" not in source
    assert "op.alter_column('foo_audr', 'audit_username'" in upgrade

    alembic_project.upgrade("head")
    assert audit_rows(engine) == seed_rows
    command.check(alembic_project.config)
    # Ours are in the audited tables' schemas; the seed's are gone, none fires twice.
    assert sorted(audit_functions(engine)) == [
        ("inventory", "inventory_stock_audit"),
        ("inventory", "inventory_stock_audit_append_only"),
        ("public", "public_bar_audit"),
        ("public", "public_foo_audit"),
    ]

    tables = load_models()
    first = uuid.uuid4()
    write(engine, tables, "carol", first)
    added = new_rows(seed_rows, audit_rows(engine))
    # bar_audr: (operation, timestamp, user, foo); foo_audr: (..., username, app_uuid, bar, baz)
    assert [(r[0], r[3]) for r in added["bar_audr"]] == [("I", "f-carol")]
    assert sorted((r[0], r[3], r[4], r[5], r[6]) for r in added["foo_audr"]) == [
        ("I", "carol", first, "b-carol", "z9"),
        ("U", "carol", first, "b-carol", "z10"),
    ]
    # One row per change (skip_unchanged left out the repeated update), in the seed's
    # column order: (operation, timestamp, user, username, sku, quantity, Location).
    assert sorted((r[0], r[3], r[4], r[5], r[6]) for r in added["stock_audr"]) == [
        ("I", "carol", "carol", 1, "B2"),
        ("U", "carol", "carol", 2, "B2"),
    ]
    with (
        pytest.raises(sa.exc.DBAPIError, match="is append-only: DELETE refused"),
        engine.begin() as conn,
    ):
        conn.exec_driver_sql("DELETE FROM inventory.stock_audr")
    # This release's required-setting check, now on the seed's table.
    with (
        pytest.raises(sa.exc.IntegrityError, match='required audit setting "audit.username"'),
        engine.begin() as conn,
    ):
        conn.execute(tables["foo"].insert().values(bar="b0"))
    upgraded_rows = audit_rows(engine)

    # The README's conversion of the seed's timestamps: each becomes the instant it was.
    alembic_project.write_migration("s2", "s1", upgrade=CONVERT, downgrade=CONVERT_BACK)
    alembic_project.upgrade("head")
    command.check(alembic_project.config)
    converted = audit_rows(engine)
    zone = ZoneInfo(ZONE)
    for table, rows in upgraded_rows.items():
        expected = sorted(
            (r[:1] + (r[1].replace(tzinfo=zone),) + r[2:] for r in rows), key=lambda r: r[1:]
        )
        assert sorted(converted[table], key=lambda r: r[1:]) == expected
        assert all(isinstance(r[1], dt.datetime) and r[1].tzinfo for r in converted[table])

    second = uuid.uuid4()
    write(engine, tables, "dave", second)
    added = new_rows(converted, audit_rows(engine))
    assert [len(rows) for rows in added.values()] == [1, 2, 2]

    alembic_project.downgrade("base")
    assert catalog(engine) == seed
    final_rows = audit_rows(engine)
    new_rows(upgraded_rows, final_rows)  # nothing written before the conversion changed
    assert len(new_rows(seed_rows, final_rows)["bar_audr"]) == 2

    # The seed's own trigger writes again, as the seed's set_session_vars set it.
    with engine.begin() as conn:
        conn.exec_driver_sql("set local \"audit.username\" = 'erin'")
        conn.exec_driver_sql(
            "set local \"audit.app_uuid\" = '0b5e0c3d-2a47-4f1e-8c6b-5d9a7e3f1c22'"
        )
        conn.exec_driver_sql("INSERT INTO foo (bar, baz) VALUES ('b11', 'z11')")
    last = new_rows(final_rows, audit_rows(engine))["foo_audr"]
    assert [(r[0], r[3], r[5]) for r in last] == [("I", "erin", "b11")]


def test_install_audit_triggers_takes_over_a_seed_database(psycopg_engine: Engine) -> None:
    """Without Alembic: the seed's setup call, ``install_audit_triggers(metadata, engine)``,
    replaces the seed's function and trigger on the same tables (audit tables as they are)."""
    engine = psycopg_engine
    build_seed_database(engine)
    seed_rows = audit_rows(engine)
    tables = load_models()
    metadata = tables["foo"].metadata
    # The seed's audit tables lack this release's columns: refused before any DDL, with
    # the statements that add them (or switch the options off).
    with pytest.raises(alembic_audit.AuditTableMismatch, match="lack columns") as refused:
        alembic_audit.install_audit_triggers(metadata, engine)
    assert len(refused.value.statements) == 3 * 3  # three tables, three columns each
    with engine.begin() as conn:
        for statement in refused.value.statements:
            conn.execute(alembic_audit.AuditDDL(statement))
    assert alembic_audit.install_audit_triggers(metadata, engine) is None
    assert sorted(name for _, _, name in triggers(engine)) == [
        "inventory_stock_audit_append_only",
        "inventory_stock_audit_delete",
        "inventory_stock_audit_insert",
        "inventory_stock_audit_truncate",
        "inventory_stock_audit_update",
        "public_bar_audit",
        "public_bar_audit_truncate",
        "public_foo_audit_delete",
        "public_foo_audit_insert",
        "public_foo_audit_truncate",
        "public_foo_audit_update",
    ]
    app_uuid = uuid.uuid4()
    write(engine, tables, "carol", app_uuid)
    added = new_rows(seed_rows, audit_rows(engine))
    assert [(r[0], r[3]) for r in added["bar_audr"]] == [("I", "f-carol")]
    assert sorted((r[0], r[3], r[4], r[5], r[6]) for r in added["foo_audr"]) == [
        ("I", "carol", app_uuid, "b-carol", "z9"),
        ("U", "carol", app_uuid, "b-carol", "z10"),
    ]
    # The seed's trigger on inventory.stock is gone (its function, in public, stays,
    # called by nothing): one audit row per change.
    assert sorted((r[0], r[5]) for r in added["stock_audr"]) == [("I", 1), ("U", 2)]
