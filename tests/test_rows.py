"""Audit rows that can be ordered, grouped by transaction and found fast, and the baseline
('S' snapshot rows) of the rows that existed before auditing began."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

import alembic_audit
from alembic_audit.core.errors import AuditError
from tests.fixtures.alembic_project import AlembicProject
from tests.fixtures.autogen import assert_clean, autogen, models, upgrade_part

LEVELS = ("row", "statement")


def _item(md: sa.MetaData, name: str = "item", **options: Any) -> sa.Table:
    return sa.Table(
        name,
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("qty", sa.Integer),
        info={
            "audit.options": {
                "enabled": True,
                "session_settings": [sa.Column("username", sa.String(20))],
                **options,
            }
        },
    )


@pytest.fixture
def installed(engine: Engine) -> Iterator[tuple[Engine, sa.MetaData]]:
    md = sa.MetaData()
    for level in LEVELS:
        _item(md, f"item_{level}", level=level)
    md.create_all(engine)
    alembic_audit.install_audit_triggers(md, engine)
    yield engine, md


# -- order ---------------------------------------------------------------------------


@pytest.mark.parametrize("level", LEVELS)
def test_audit_id_follows_the_order_of_the_changes_not_of_the_transactions(
    engine: Engine, level: str
) -> None:
    """T1 begins first but changes the row last; audit_id orders the changes as they
    happened, where the transaction time (now()) orders them the other way round."""
    md = sa.MetaData()
    item = _item(md, level=level)
    md.create_all(engine)
    alembic_audit.install_audit_triggers(md, engine)
    audit = md.tables["item_audit"]
    with engine.begin() as conn:
        conn.execute(item.insert().values(id=1, qty=0))

    first = engine.connect()
    second = engine.connect()
    try:
        t1 = first.begin()
        first.execute(sa.select(sa.func.now()))  # T1's time is taken here, first
        time.sleep(0.05)
        with second.begin():
            second.execute(item.update().values(qty=2))  # T2 begins later, writes first
        first.execute(item.update().values(qty=1))
        t1.commit()
    finally:
        first.close()
        second.close()
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(audit.c.qty, audit.c.audit_operation_timestamp).order_by(audit.c.audit_id)
        ).all()
    assert [r.qty for r in rows] == [0, 2, 1]  # the order in which the row changed
    assert rows[2].audit_operation_timestamp < rows[1].audit_operation_timestamp  # now() lies


@pytest.mark.parametrize("level", LEVELS)
def test_waiting_writer_is_numbered_after_the_one_it_waited_for(engine: Engine, level: str) -> None:
    """T1 holds the row lock; T2's change waits for T1's commit and is numbered after it."""
    md = sa.MetaData()
    item = _item(md, level=level)
    md.create_all(engine)
    alembic_audit.install_audit_triggers(md, engine)
    audit = md.tables["item_audit"]
    with engine.begin() as conn:
        conn.execute(item.insert().values(id=1, qty=0))
    first, second = engine.connect(), engine.connect()
    try:
        second_began = second.begin()
        second.execute(sa.select(sa.func.now()))  # T2 begins first
        t1 = first.begin()
        first.execute(item.update().values(qty=1))  # T1 holds the row
        done = threading.Event()

        def t2() -> None:
            second.execute(item.update().values(qty=2))  # waits for T1
            second_began.commit()
            done.set()

        thread = threading.Thread(target=t2)
        thread.start()
        time.sleep(0.1)
        assert not done.is_set()  # really waiting
        t1.commit()
        thread.join(10)
        assert done.is_set()
    finally:
        first.close()
        second.close()
    with engine.connect() as conn:
        qty = conn.execute(sa.select(audit.c.qty).order_by(audit.c.audit_id)).scalars().all()
    assert qty == [0, 1, 2]


# -- transaction, change time ------------------------------------------------------------


def test_one_transactions_rows_share_its_id_across_tables(
    installed: tuple[Engine, sa.MetaData],
) -> None:
    engine, md = installed
    tables = [md.tables[f"item_{level}"] for level in LEVELS]
    audits = [md.tables[f"item_{level}_audit"] for level in LEVELS]
    with engine.begin() as conn:
        for table in tables:
            conn.execute(table.insert().values([{"id": 1, "qty": 1}, {"id": 2, "qty": 2}]))
        first = conn.execute(sa.select(sa.func.pg_current_xact_id())).scalar()
    with engine.begin() as conn:
        conn.execute(tables[0].update().values(qty=5))
        second = conn.execute(sa.select(sa.func.pg_current_xact_id())).scalar()
    with engine.connect() as conn:
        found = [
            conn.execute(
                sa.select(a.c.audit_transaction_id, sa.func.count())
                .group_by(a.c.audit_transaction_id)
                .order_by(a.c.audit_transaction_id)
            ).all()
            for a in audits
        ]
        # The transaction id as a bind parameter finds them (XID8 binds through text).
        grouped = conn.execute(
            sa.select(sa.func.count()).where(audits[1].c.audit_transaction_id == int(str(first)))
        ).scalar()
    assert found[0] == [(int(str(first)), 2), (int(str(second)), 2)]
    assert found[1] == [(int(str(first)), 2)]
    assert grouped == 2


def test_change_time_is_the_time_of_each_statement(installed: tuple[Engine, sa.MetaData]) -> None:
    engine, md = installed
    for level in LEVELS:
        table, audit = md.tables[f"item_{level}"], md.tables[f"item_{level}_audit"]
        with engine.begin() as conn:
            conn.execute(table.insert().values(id=1, qty=1))
            time.sleep(0.02)
            conn.execute(table.update().values(qty=2))
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(
                    audit.c.audit_operation_timestamp, audit.c.audit_change_timestamp
                ).order_by(audit.c.audit_id)
            ).all()
        assert rows[0][0] == rows[1][0]  # one transaction: one transaction time
        assert rows[0][0] <= rows[0][1] < rows[1][1]  # the changes: 20 ms apart
        assert (rows[1][1] - rows[0][1]).total_seconds() >= 0.02


# -- options ------------------------------------------------------------------------


def test_each_new_column_and_index_can_be_switched_off(engine: Engine) -> None:
    md = sa.MetaData()
    bare = _item(
        md,
        "bare",
        identity=False,
        transaction_id=False,
        change_timestamp=False,
        indexes=False,
    )
    some = _item(md, "some", indexes=["transaction"])
    md.create_all(engine)
    alembic_audit.install_audit_triggers(md, engine)
    with engine.begin() as conn:
        alembic_audit.set_session_vars(conn, username="u")
        conn.execute(bare.insert().values(id=1, qty=1))
        conn.execute(some.insert().values(id=1, qty=1))
    inspector = sa.inspect(engine)
    assert [c["name"] for c in inspector.get_columns("bare_audit")] == [
        "id",
        "qty",
        "audit_operation",
        "audit_operation_timestamp",
        "audit_current_user",
        "audit_username",
    ]
    assert inspector.get_indexes("bare_audit") == []
    assert [i["name"] for i in inspector.get_indexes("some_audit")] == [
        "some_audit_transaction_idx"
    ]
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT qty, audit_username FROM bare_audit").all() == [
            (1, "u")
        ]


def test_the_indexes_are_what_one_rows_history_and_a_transaction_read(
    installed: tuple[Engine, sa.MetaData],
) -> None:
    engine, md = installed
    table, audit = md.tables["item_statement"], md.tables["item_statement_audit"]
    with engine.begin() as conn:
        conn.execute(table.insert().values([{"id": i, "qty": i} for i in range(2000)]))
        conn.execute(table.update().values(qty=table.c.qty + 1))
        conn.exec_driver_sql("ANALYZE item_statement_audit")
    with engine.connect() as conn:
        plan = "\n".join(
            conn.exec_driver_sql(
                "EXPLAIN SELECT * FROM item_statement_audit WHERE id = 7 ORDER BY audit_id"
            ).scalars()
        )
        # The index also gives the history in order, with no sort (the plan chosen on
        # large tables; on this small one a bitmap scan plus a sort is as cheap).
        conn.exec_driver_sql("SET enable_bitmapscan = off")
        ordered = "\n".join(
            conn.exec_driver_sql(
                "EXPLAIN SELECT * FROM item_statement_audit WHERE id = 7 ORDER BY audit_id"
            ).scalars()
        )
        xact_plan = "\n".join(
            conn.exec_driver_sql(
                "EXPLAIN SELECT * FROM item_statement_audit WHERE audit_transaction_id = '5'::xid8"
            ).scalars()
        )
        indexes = dict(
            conn.exec_driver_sql(
                "SELECT indexname, indexdef FROM pg_indexes"
                " WHERE tablename = 'item_statement_audit'"
            ).all()
        )
    assert "item_statement_audit_row_idx" in plan
    assert "Index Scan using item_statement_audit_row_idx" in ordered and "Sort" not in ordered
    assert "item_statement_audit_transaction_idx" in xact_plan
    assert (
        "USING btree (audit_change_timestamp, audit_id)" in indexes["item_statement_audit_time_idx"]
    )
    assert "(id, audit_id)" in indexes["item_statement_audit_row_idx"]
    del audit


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"indexes": ["row", "nope"]}, "'indexes' names unknown kind(s) ['nope']"),
        ({"indexes": "row"}, "'indexes' must be True, False or a list"),
        ({"identity": "yes"}, "'identity' must be a bool"),
        ({"snapshot": 1}, "'snapshot' must be a bool"),
        (
            {"transaction_id": False, "indexes": ["transaction"]},
            "asks for the 'transaction' index, which needs 'transaction_id'",
        ),
    ],
)
def test_bad_options_name_the_table_and_the_option(options: dict[str, Any], message: str) -> None:
    with pytest.raises(AuditError, match=f"table 'item': .*{_re(message)}"):
        _item(sa.MetaData(), **options)


def _re(text: str) -> str:
    import re

    return re.escape(text)


def test_a_column_named_like_a_new_audit_column_needs_the_option_off() -> None:
    def table(md: sa.MetaData, **options: Any) -> sa.Table:
        return sa.Table(
            "ledger",
            md,
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("audit_id", sa.Integer),  # an application's own column
            info={"audit.options": {"enabled": True, **options}},
        )

    with pytest.raises(AuditError, match=r"table 'ledger': column\(s\) \['audit_id'\] clash"):
        table(sa.MetaData())
    table(sa.MetaData(), identity=False)  # fine: the audit table has no audit_id then
    with pytest.raises(AuditError, match=r"session setting column\(s\) \['audit_id'\] clash"):
        _item(sa.MetaData(), session_settings=[sa.Column("id", sa.String)])


# -- snapshot ('S' rows) -------------------------------------------------------------


def _table_with_rows(engine: Engine, md: sa.MetaData, table: sa.Table) -> None:
    """The audited table as it was before auditing: created, with rows."""
    table.create(engine)
    with engine.begin() as conn:
        conn.execute(table.insert().values([{"id": 1, "qty": 10}, {"id": 2, "qty": None}]))


@pytest.mark.parametrize("level", LEVELS)
def test_install_with_snapshot_records_existing_rows_once(engine: Engine, level: str) -> None:
    md = sa.MetaData()
    item = _item(md, level=level)
    _table_with_rows(engine, md, item)
    md.tables["item_audit"].create(engine)
    with engine.begin() as conn:
        alembic_audit.set_session_vars(conn, username="migrator")
        alembic_audit.install_audit_triggers(md, conn, snapshot=True)
        xid = conn.execute(sa.select(sa.func.pg_current_xact_id())).scalar()
        user = conn.execute(sa.select(sa.func.current_user())).scalar()
    alembic_audit.install_audit_triggers(md, engine, snapshot=True)  # installed: no 2nd
    audit = md.tables["item_audit"]
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                audit.c.id,
                audit.c.qty,
                audit.c.audit_operation,
                audit.c.audit_current_user,
                audit.c.audit_username,
                audit.c.audit_transaction_id,
            ).order_by(audit.c.audit_id)
        ).all()
    assert rows == [
        (1, 10, "S", user, "migrator", int(str(xid))),
        (2, None, "S", user, "migrator", int(str(xid))),
    ]


def test_snapshot_op_online_and_offline(alembic_project: AlembicProject) -> None:
    project = alembic_project
    project.write_migration(
        "r0",
        None,
        upgrade="""
            op.create_table("item", sa.Column("id", sa.Integer, primary_key=True),
                            sa.Column("qty", sa.Integer))
            op.execute("INSERT INTO item VALUES (1, 5), (2, 6)")
        """,
        downgrade='op.drop_table("item")',
    )
    project.write_migration(
        "r1",
        "r0",
        imports="import alembic_audit.operations",
        upgrade="""
            op.create_audit_trigger("item", columns=[("id", "INTEGER"), ("qty", "INTEGER")],
                                    primary_key=["id"], create_audit_table=True, snapshot=True)
        """,
        downgrade='op.drop_audit_trigger("item", drop_audit_table=True)',
    )
    offline = project.upgrade("r1", sql=True)
    assert "DO $audit$" in offline and "'S'" in offline
    project.upgrade("head")
    engine = sa.create_engine(project.url)
    try:
        with engine.connect() as conn:
            online = conn.exec_driver_sql(
                "SELECT id, qty, audit_operation FROM item_audit ORDER BY audit_id"
            ).all()
        project.downgrade("base")
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        project.psql(offline)  # the script, through psql
        with engine.connect() as conn:
            by_script = conn.exec_driver_sql(
                "SELECT id, qty, audit_operation FROM item_audit ORDER BY audit_id"
            ).all()
    finally:
        engine.dispose()
    assert online == by_script == [(1, 5, "S"), (2, 6, "S")]


def test_autogenerate_snapshots_an_existing_table_not_a_new_one(
    alembic_project: AlembicProject,
) -> None:
    project = alembic_project
    table = """
sa.Table("{name}", metadata, sa.Column("id", sa.Integer, primary_key=True),
         info={{"audit.options": {options}}})
"""
    project.write_models(models(table.format(name="old", options='{"enabled": False}')))
    autogen(project, "r1")
    project.upgrade()
    engine = sa.create_engine(project.url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO old VALUES (1), (2)")
        project.write_models(
            models(
                table.format(name="old", options='{"enabled": True}')
                + table.format(name="new", options='{"enabled": True}')
                + table.format(name="nosnap", options='{"enabled": True, "snapshot": False}')
            )
        )
        source = upgrade_part(autogen(project, "r2"))
        calls = source.split("op.create_audit_trigger(")[1:]
        snapshots = {c.split('"')[1]: "snapshot=True" in c for c in calls}
        assert snapshots == {"new": False, "nosnap": False, "old": True}
        project.upgrade()
        with engine.connect() as conn:
            ops = conn.exec_driver_sql(
                "SELECT id, audit_operation FROM old_audit ORDER BY audit_id"
            ).all()
        assert ops == [(1, "S"), (2, "S")]
        assert_clean(project)
    finally:
        engine.dispose()


# -- migrations written by the first release ---------------------------------------------


def test_a_first_release_call_replays_what_it_did_then(alembic_project: AlembicProject) -> None:
    """A create_audit_trigger call rendered by 0.1.0 (its 15 fields, none of the later
    ones) works on the audit table that release's create_table made: no new columns."""
    project = alembic_project
    project.write_migration(
        "r0",
        None,
        imports="import alembic_audit.operations",
        upgrade="""
            op.create_table("item", sa.Column("id", sa.Integer, primary_key=True))
            op.create_table(
                "item_audit",
                sa.Column("id", sa.Integer(), nullable=True),
                sa.Column("audit_operation", sa.String(length=1), nullable=False),
                sa.Column("audit_operation_timestamp", sa.DateTime(timezone=True),
                          nullable=False),
                sa.Column("audit_current_user", sa.String(), nullable=False),
            )
            op.create_audit_trigger(
                "item", schema=None, audit_table_name="item_audit", audit_schema=None,
                function_name="public_item_audit", trigger_name="public_item_audit",
                columns=[("id", "INTEGER")], session_settings=[], level="statement",
                skip_unchanged=False, record_truncate=True, primary_key=["id"],
                function_schema=None, security_definer=True, append_only=False,
            )
        """,
    )
    project.upgrade()
    engine = sa.create_engine(project.url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO item VALUES (1)")
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT id, audit_operation FROM item_audit").all()
    finally:
        engine.dispose()
    assert rows == [(1, "I")]


def test_install_refuses_missing_or_outdated_audit_tables_before_any_ddl(engine: Engine) -> None:
    md = sa.MetaData()
    item = _item(md)
    item.create(engine)
    with pytest.raises(AuditError, match=r"audit table\(s\) 'public.item_audit' .* do not exist"):
        alembic_audit.install_audit_triggers(md, engine)
    with engine.begin() as conn:  # the first release's audit table: no new columns
        conn.exec_driver_sql(
            "CREATE TABLE item_audit (id int, qty int, audit_operation varchar(1) NOT NULL,"
            " audit_operation_timestamp timestamptz NOT NULL, audit_current_user varchar NOT NULL,"
            " audit_username varchar(20))"
        )
    with pytest.raises(alembic_audit.AuditTableMismatch, match="lack columns") as refused:
        alembic_audit.install_audit_triggers(md, engine)
    assert [s.split(" ADD COLUMN ")[1].split()[0] for s in refused.value.statements] == [
        '"audit_id"',
        '"audit_transaction_id"',
        '"audit_change_timestamp"',
    ]
    with engine.connect() as conn:  # nothing was installed
        assert (
            conn.exec_driver_sql("SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal").scalar()
            == 0
        )
    with engine.begin() as conn:
        for statement in refused.value.statements:
            conn.execute(alembic_audit.AuditDDL(statement))
    alembic_audit.install_audit_triggers(md, engine)
    with engine.begin() as conn:
        conn.execute(item.insert().values(id=1, qty=1))
        assert conn.exec_driver_sql("SELECT audit_id, qty FROM item_audit").all() == [(1, 1)]
