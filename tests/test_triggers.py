"""Trigger DDL on real PostgreSQL: the audit rows users see, for both drivers."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.engine import Engine

import alembic_audit
from alembic_audit import get_audit_spec, install_audit_triggers, uninstall_audit_triggers

from .fixtures.catalog import audit_functions, rows, triggers


def make_model(level: str = "statement", **extra: object) -> tuple[sa.MetaData, sa.Table, sa.Table]:
    md = sa.MetaData()
    item = sa.Table(
        "item",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(50)),
        sa.Column("price", sa.Numeric(10, 2)),
        info={
            "audit.options": {
                "enabled": True,
                "level": level,
                "session_settings": [
                    sa.Column("username", sa.String(30), nullable=False),
                    sa.Column("request_id", UUID),
                    sa.Column("tenant", sa.Integer),
                ],
                **extra,
            }
        },
    )
    return md, item, md.tables["item_audit"]


def setup(engine: Engine, md: sa.MetaData) -> None:
    md.create_all(engine)
    install_audit_triggers(md, engine)


@pytest.mark.parametrize("level", ["row", "statement"])
def test_insert_update_delete_write_audit_rows(engine: Engine, level: str) -> None:
    md, item, audit = make_model(level)
    setup(engine, md)
    rid = uuid.uuid4()
    with engine.begin() as conn:
        alembic_audit.set_session_vars(conn, username="alice", request_id=rid, tenant=7)
        conn.execute(
            item.insert(),
            [{"id": 1, "name": "pen", "price": 1.5}, {"id": 2, "name": "ink", "price": None}],
        )
        conn.execute(item.update().where(item.c.id == 1).values(price=2))
        conn.execute(item.delete().where(item.c.id == 2))
        tx_time, role = conn.exec_driver_sql("SELECT now(), current_user").one()
    got = rows(engine, audit, "audit_operation", "id")
    assert [(r["audit_operation"], r["id"], r["name"], r["price"]) for r in got] == [
        ("D", 2, "ink", None),
        ("I", 1, "pen", 1.5),
        ("I", 2, "ink", None),
        ("U", 1, "pen", 2),
    ]
    for r in got:
        assert r["audit_operation_timestamp"] == tx_time
        assert r["audit_current_user"] == role
        assert (r["audit_username"], r["audit_request_id"], r["audit_tenant"]) == ("alice", rid, 7)


@pytest.mark.parametrize("level", ["row", "statement"])
def test_required_setting_missing_names_setting_and_table_and_rolls_back(
    engine: Engine, level: str
) -> None:
    md, item, audit = make_model(level)
    setup(engine, md)
    with pytest.raises(sa.exc.IntegrityError) as err, engine.begin() as conn:
        conn.execute(item.insert().values(id=1, name="pen"))
    message = str(err.value.orig)
    assert 'required audit setting "audit.username" is not set' in message
    assert "public.item" in message
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(item)).scalar() == 0
    assert rows(engine, audit) == []


@pytest.mark.parametrize("level", ["row", "statement"])
def test_empty_setting_left_by_pooled_connection_counts_as_unset(
    engine: Engine, level: str
) -> None:
    md, item, audit = make_model(level)
    setup(engine, md)
    with engine.connect() as conn:  # one physical connection for both transactions
        with conn.begin():
            alembic_audit.set_session_vars(conn, username="alice", tenant=3)
            conn.execute(item.insert().values(id=1))
        with conn.begin():  # the settings now read '' on this session, not NULL
            setting = conn.exec_driver_sql("SELECT current_setting('audit.username', true)")
            assert setting.scalar() == ""
        with pytest.raises(sa.exc.IntegrityError, match="audit.username"), conn.begin():
            conn.execute(item.insert().values(id=2))
        with conn.begin():
            alembic_audit.set_session_vars(conn, username="bob")
            conn.execute(item.insert().values(id=3))
    got = rows(engine, audit, "id")
    assert [(r["id"], r["audit_username"], r["audit_tenant"]) for r in got] == [
        (1, "alice", 3),
        (3, "bob", None),  # optional tenant left '' by the earlier transaction -> NULL
    ]


def test_setting_is_cast_to_its_column_type(engine: Engine) -> None:
    md, item, audit = make_model()
    setup(engine, md)
    with pytest.raises(sa.exc.DataError, match="uuid"), engine.begin() as conn:
        alembic_audit.set_session_vars(conn, username="alice", request_id="not-a-uuid")
        conn.execute(item.insert().values(id=1))
    assert rows(engine, audit) == []


HOSTILE_VALUES = [
    "o'brien",
    "x'); DROP TABLE item; --",
    "; SELECT pg_sleep(10)",
    "$audit$ $$ \\ %s %(x)s :name",
    "Zoë 北京 🚀",
    "",  # empty: stored as NULL (unset), by design
]


@pytest.mark.parametrize("level", ["row", "statement"])
def test_hostile_setting_values_are_stored_literally(engine: Engine, level: str) -> None:
    md, item, audit = make_model(level)
    setup(engine, md)
    for i, value in enumerate(HOSTILE_VALUES):
        with engine.begin() as conn:
            alembic_audit.set_session_vars(conn, username="u", request_id=None)
            # username required: use a separate optional-like check through the name column
            alembic_audit.set_session_vars(conn, username=value or "u")
            conn.execute(item.insert().values(id=i, name=value))
    got = rows(engine, audit, "id")
    assert [r["audit_username"] for r in got] == [v or "u" for v in HOSTILE_VALUES]
    assert [r["name"] for r in got] == HOSTILE_VALUES
    with engine.connect() as conn:
        assert sa.inspect(conn).has_table("item")


HOSTILE_NAMES = {
    "schema": 'Sch ema"; --',
    "table": 'Order "Lines" $audit$',
    "columns": ["select", "MixedCase", "with space", 'quo"te', "per%cent", "co:lon", "dollar$1"],
}


@pytest.mark.parametrize("level", ["row", "statement"])
def test_hostile_identifiers_work(engine: Engine, level: str) -> None:
    md = sa.MetaData()
    cols = [sa.Column(c, sa.Text) for c in HOSTILE_NAMES["columns"]]
    table = sa.Table(
        HOSTILE_NAMES["table"],
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        *cols,
        schema=HOSTILE_NAMES["schema"],
        info={"audit.options": {"enabled": True, "level": level, "skip_unchanged": True}},
    )
    audit = md.tables[f"{HOSTILE_NAMES['schema']}.{HOSTILE_NAMES['table']}_audit"]
    with engine.begin() as conn:
        conn.execute(sa.schema.CreateSchema(HOSTILE_NAMES["schema"]))
    setup(engine, md)
    values = {c: f"v-{c}" for c in HOSTILE_NAMES["columns"]}
    with engine.begin() as conn:
        conn.execute(table.insert().values(id=1, **values))
        conn.execute(table.update().values(**values))  # unchanged: skipped
        conn.execute(table.update().values(select="changed"))
        conn.execute(table.delete())
    got = rows(engine, audit, "audit_operation")
    assert [r["audit_operation"] for r in got] == ["D", "I", "U"]
    assert got[1] | {} == got[1] and all(got[1][c] == v for c, v in values.items())
    assert got[2]["select"] == "changed"
    spec = get_audit_spec(table)
    assert set(audit_functions(engine)) == {spec.qualified_function}


def test_rolled_back_transaction_leaves_no_audit_rows(engine: Engine) -> None:
    md, item, audit = make_model()
    setup(engine, md)
    with engine.connect() as conn:
        tx = conn.begin()
        alembic_audit.set_session_vars(conn, username="alice")
        conn.execute(item.insert().values(id=1))
        tx.rollback()
        with conn.begin():
            alembic_audit.set_session_vars(conn, username="alice")
            conn.execute(item.insert().values(id=2))
            sp = conn.begin_nested()
            conn.execute(item.insert().values(id=3))
            sp.rollback()
    assert [r["id"] for r in rows(engine, audit, "id")] == [2]


def test_truncate_is_recorded_as_a_marker_row(engine: Engine) -> None:
    md, item, audit = make_model()
    setup(engine, md)
    with engine.begin() as conn:
        alembic_audit.set_session_vars(conn, username="alice")
        conn.execute(item.insert().values(id=1, name="pen"))
        conn.exec_driver_sql("TRUNCATE item")
    got = rows(engine, audit, "audit_operation")
    assert [(r["audit_operation"], r["id"], r["audit_username"]) for r in got] == [
        ("I", 1, "alice"),
        ("T", None, "alice"),
    ]


def test_install_is_idempotent_and_uninstall_leaves_nothing(engine: Engine) -> None:
    md, item, audit = make_model()
    md.create_all(engine)
    install_audit_triggers(md, engine)
    first = (audit_functions(engine), triggers(engine))
    install_audit_triggers(md, engine)
    assert (audit_functions(engine), triggers(engine)) == first
    assert len(first[1]) == 4  # insert, update, delete, truncate
    uninstall_audit_triggers(md, engine)
    uninstall_audit_triggers(md, engine)  # idempotent
    assert audit_functions(engine) == {} and triggers(engine) == {}
    with engine.connect() as conn:  # the audit table and its history are kept
        assert sa.inspect(conn).has_table("item_audit")


def test_level_change_by_reinstall_leaves_no_stale_trigger(engine: Engine) -> None:
    md, _, _ = make_model("statement")
    setup(engine, md)
    md_row, _, _ = make_model("row")
    install_audit_triggers(md_row, engine)
    assert sorted(t[2] for t in triggers(engine)) == [
        "public_item_audit",
        "public_item_audit_truncate",
    ]


def test_install_inside_callers_transaction_and_sql_script(engine: Engine) -> None:
    md, _, _ = make_model()
    md.create_all(engine)
    script = install_audit_triggers(md)
    assert script is not None and script.count("CREATE TRIGGER") == 4
    assert 'CREATE OR REPLACE FUNCTION "public"."public_item_audit"()' in script
    with engine.connect() as conn:
        conn.begin()
        assert install_audit_triggers(md, conn) is None
        conn.rollback()  # the caller's transaction owned the DDL
    assert audit_functions(engine) == {}
    sql_down = uninstall_audit_triggers(md)
    assert sql_down == 'DROP FUNCTION IF EXISTS "public"."public_item_audit"() CASCADE;\n\n'


def test_search_path_of_session_cannot_redirect_audit_insert(engine: Engine) -> None:
    md, item, audit = make_model()
    setup(engine, md)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE SCHEMA decoy")
        conn.exec_driver_sql("CREATE TABLE decoy.item_audit (LIKE public.item_audit)")
        conn.exec_driver_sql("SET LOCAL search_path = decoy, public")
        alembic_audit.set_session_vars(conn, username="alice")
        conn.execute(sa.text("INSERT INTO item (id) VALUES (1)"))
        assert conn.exec_driver_sql("SELECT count(*) FROM decoy.item_audit").scalar() == 0
    assert [r["id"] for r in rows(engine, audit)] == [1]


def test_function_definition_in_catalog_is_pinned_and_qualified(engine: Engine) -> None:
    md, item, _ = make_model()
    setup(engine, md)
    ((key, definition),) = audit_functions(engine).items()
    assert key == ("public", "public_item_audit")
    assert "SET search_path TO 'pg_catalog', 'pg_temp'" in definition
    assert 'INSERT INTO "public"."item_audit"' in definition
    assert "current_setting('audit.username', true)" in definition


def test_to_metadata_copy_into_another_schema_audits_the_copy(engine: Engine) -> None:
    md, item, _ = make_model()
    tenant = sa.MetaData()
    for table in md.sorted_tables:
        table.to_metadata(tenant, schema="tenant1")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE SCHEMA tenant1")
    tenant.create_all(engine)
    install_audit_triggers(tenant, engine)
    copy, copy_audit = tenant.tables["tenant1.item"], tenant.tables["tenant1.item_audit"]
    with engine.begin() as conn:
        alembic_audit.set_session_vars(conn, username="alice")
        conn.execute(copy.insert().values(id=1, name="pen"))
    assert [(r["id"], r["audit_username"]) for r in rows(engine, copy_audit)] == [(1, "alice")]
    assert set(audit_functions(engine)) == {("tenant1", "tenant1_item_audit")}
