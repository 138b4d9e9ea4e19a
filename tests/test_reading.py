"""The history API: history, diffs, as_of, changes, restore and revert_transaction.

Each test writes a small shop through real triggers (statement and row level), then
reads it back with the API in four modes (psycopg2, psycopg 3, asyncpg, psycopg 3
async; the ``reader`` fixture), on Connections and Sessions.
"""

from __future__ import annotations

import datetime
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import URL, Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

import alembic_audit
from alembic_audit.reading.timeline import timeline_query
from tests.fixtures.db import with_driver
from tests.fixtures.reading import Reader

LEVELS = ("statement", "row")


def shop(level: str, **options: Any) -> sa.MetaData:
    """orders (enum, array, jsonb, an excluded column), lines (composite key)."""
    md = sa.MetaData()
    audit = {
        "enabled": True,
        "level": level,
        "session_settings": [
            sa.Column("username", sa.String(40), nullable=False),
            sa.Column("request_id", postgresql.UUID(as_uuid=True)),
        ],
        **options,
    }
    sa.Table(
        "orders",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("status", sa.Enum("new", "paid", "shipped", name="order_status")),
        sa.Column("tags", postgresql.ARRAY(sa.Text)),
        sa.Column("data", postgresql.JSONB),
        sa.Column("note", sa.String, server_default="n/a", nullable=False),
        info={"audit.options": {**audit, "exclude": ["note"]}},
    )
    sa.Table(
        "lines",
        md,
        sa.Column("order_id", sa.Integer, primary_key=True),
        sa.Column("product_id", sa.Integer, primary_key=True),
        sa.Column("qty", sa.Integer, nullable=False),
        info={"audit.options": audit},
    )
    return md


@dataclass
class Shop:
    """The written history: transaction ids and the moments between writes."""

    engine: Engine
    md: sa.MetaData
    xids: dict[str, int] = field(default_factory=dict)
    moments: dict[str, datetime.datetime] = field(default_factory=dict)

    @property
    def orders(self) -> sa.Table:
        return self.md.tables["orders"]

    @property
    def lines(self) -> sa.Table:
        return self.md.tables["lines"]

    def write(self, name: str, username: str, *statements: Any) -> None:
        with self.engine.begin() as conn:
            alembic_audit.set_session_vars(conn, username=username, request_id=uuid.uuid4())
            for stmt in statements:
                conn.execute(stmt)
            self.xids[name] = conn.execute(
                sa.text("SELECT pg_current_xact_id()::text::bigint")
            ).scalar_one()
        self.mark(f"after {name}")

    def mark(self, name: str) -> None:
        with self.engine.connect() as conn:
            self.moments[name] = conn.execute(sa.text("SELECT clock_timestamp()")).scalar_one()

    def state(self) -> dict[str, list[tuple[Any, ...]]]:
        with self.engine.connect() as conn:
            return {
                "orders": [
                    tuple(r)
                    for r in conn.execute(
                        sa.select(self.orders.c.id, self.orders.c.status).order_by(self.orders.c.id)
                    )
                ],
                "lines": [
                    tuple(r)
                    for r in conn.execute(sa.select(self.lines).order_by(*self.lines.primary_key))
                ],
            }


def build(database_url: URL, level: str, **options: Any) -> Shop:
    engine = sa.create_engine(with_driver(database_url, "psycopg"), poolclass=sa.NullPool)
    md = shop(level, **options)
    md.create_all(engine)
    alembic_audit.install_audit_triggers(md, engine)
    s = Shop(engine, md)
    o, li = s.orders, s.lines
    s.mark("start")
    s.write(
        "t1",
        "alice",
        o.insert().values(id=1, status="new", tags=["a"], data={"k": 1}, note="secret"),
        o.insert().values(id=2, status="new", tags=[], data=None),
        li.insert().values(order_id=1, product_id=1, qty=2),
        li.insert().values(order_id=1, product_id=2, qty=1),
    )
    s.write(
        "t2",
        "bob",
        o.update().where(o.c.id == 1).values(status="paid", tags=["a", "b"], data={"k": 2}),
        li.update().where(li.c.product_id == 1).values(qty=5),
        li.delete().where(li.c.product_id == 2),
    )
    s.write(
        "t3",
        "carol",
        o.delete().where(o.c.id == 2),
        o.insert().values(id=2, status="shipped", tags=["z"], data={"v": [1, 2]}),
    )
    return s


@pytest.fixture(params=LEVELS)
def level(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def written(database_url: URL, level: str) -> Iterator[Shop]:
    s = build(database_url, level)
    yield s
    s.engine.dispose()


def ops(versions: list[alembic_audit.Version]) -> list[str]:
    return [v.operation for v in versions]


# -- history and diffs -----------------------------------------------------------------------


def test_history_with_diffs_settings_and_composite_keys(written: Shop, reader: Reader) -> None:
    s = written
    v1, v2 = reader.call(alembic_audit.history, s.orders, 1)
    assert (v1.operation, v2.operation) == ("I", "U")
    assert v1.table == "public.orders" and v1.key == {"id": 1}
    # The excluded column is absent; enum, array and jsonb values come back typed.
    assert v1.values == {"id": 1, "status": "new", "tags": ["a"], "data": {"k": 1}}
    assert v1.changes == {
        "id": (None, 1),
        "status": (None, "new"),
        "tags": (None, ["a"]),
        "data": (None, {"k": 1}),
    }
    assert v2.changes == {
        "status": ("new", "paid"),
        "tags": (["a"], ["a", "b"]),
        "data": ({"k": 1}, {"k": 2}),
    }
    assert (v1.settings["username"], v2.settings["username"]) == ("alice", "bob")
    assert isinstance(v1.settings["request_id"], uuid.UUID)
    assert (v1.transaction_id, v2.transaction_id) == (s.xids["t1"], s.xids["t2"])
    assert v1.audit_id is not None and v2.audit_id is not None and v1.audit_id < v2.audit_id
    assert s.moments["start"] < v1.timestamp < s.moments["after t1"] < v2.timestamp
    assert v1.transaction_timestamp is not None and v1.transaction_timestamp <= v1.timestamp
    with s.engine.connect() as conn:
        role = conn.execute(sa.text("SELECT current_user")).scalar_one()
    assert v1.user == role

    # Deleted and re-inserted; composite keys as a tuple or a dict.
    assert ops(reader.call(alembic_audit.history, s.orders, 2)) == ["I", "D", "I"]
    deleted = reader.call(alembic_audit.history, s.orders, {"id": 2})[1]
    assert deleted.values["status"] == "new"
    assert deleted.changes["status"] == ("new", None)
    line = reader.call(alembic_audit.history, s.lines, (1, 2))
    assert ops(line) == ["I", "D"]
    assert line[1].changes == {"order_id": (1, None), "product_id": (2, None), "qty": (1, None)}
    by_dict = reader.call(alembic_audit.history, s.lines, {"product_id": 1, "order_id": 1})
    assert [v.values["qty"] for v in by_dict] == [2, 5]
    assert by_dict[1].changes == {"qty": (2, 5)}
    # Through a Session (AsyncSession in the async modes) too; unknown keys: no versions.
    assert ops(reader.call(alembic_audit.history, s.orders, 1, session=True)) == ["I", "U"]
    assert reader.call(alembic_audit.history, s.orders, 99) == []


def test_history_reads_the_spec_from_the_database(written: Shop, reader: Reader) -> None:
    spec = alembic_audit.get_audit_spec(written.orders)
    versions = reader.call(alembic_audit.history, spec, 1)
    assert [v.values["status"] for v in versions] == ["new", "paid"]
    # as_of has no connection: the tables are built from the spec's type text.
    q = alembic_audit.as_of(spec, written.moments["after t1"])
    assert reader.rows(sa.select(q.c.id, q.c.tags, q.c.data).order_by(q.c.id)) == [
        {"id": 1, "tags": ["a"], "data": {"k": 1}},
        {"id": 2, "tags": [], "data": None},
    ]


# -- as_of -------------------------------------------------------------------------------------


def test_as_of_a_time_and_a_transaction(written: Shop, reader: Reader) -> None:
    s = written
    o, li = s.orders, s.lines

    def state(q: Any, *columns: str) -> list[tuple[Any, ...]]:
        order = [q.c[c] for c in columns[:2]]
        return [tuple(r[c] for c in columns) for r in reader.rows(sa.select(q).order_by(*order))]

    assert state(alembic_audit.as_of(o, s.moments["start"]), "id") == []
    after_t1 = alembic_audit.as_of(o, s.moments["after t1"])
    assert state(after_t1, "id", "status", "tags", "data") == [
        (1, "new", ["a"], {"k": 1}),
        (2, "new", [], None),
    ]
    assert "note" not in after_t1.c  # excluded: not recorded
    assert state(alembic_audit.as_of(o, s.moments["after t2"]), "id", "status") == [
        (1, "paid"),
        (2, "new"),
    ]
    assert state(alembic_audit.as_of(o, s.moments["after t3"]), "id", "status") == [
        (1, "paid"),
        (2, "shipped"),
    ]
    assert state(
        alembic_audit.as_of(li, s.moments["after t1"]), "order_id", "product_id", "qty"
    ) == [
        (1, 1, 2),
        (1, 2, 1),
    ]
    assert state(
        alembic_audit.as_of(li, transaction_id=s.xids["t2"]), "order_id", "product_id", "qty"
    ) == [(1, 1, 5)]
    # The version in effect comes with its metadata.
    q = alembic_audit.as_of(o, transaction_id=s.xids["t2"])
    (row,) = reader.rows(sa.select(q).where(q.c.id == 1))
    assert (row["status"], row["audit_operation"], row["audit_username"]) == ("paid", "U", "bob")
    assert row["audit_transaction_id"] == s.xids["t2"]
    # A selectable like any other: joined and filtered.
    orders, lines = (
        alembic_audit.as_of(o, s.moments["after t1"]),
        alembic_audit.as_of(li, s.moments["after t1"]),
    )
    joined = reader.rows(
        sa.select(orders.c.id, orders.c.status, sa.func.sum(lines.c.qty).label("qty"))
        .join(lines, lines.c.order_id == orders.c.id)
        .where(orders.c.status == "new")
        .group_by(orders.c.id, orders.c.status)
    )
    assert joined == [{"id": 1, "status": "new", "qty": 3}]


def test_as_of_an_unknown_transaction_fails(written: Shop, reader: Reader) -> None:
    q = alembic_audit.as_of(written.orders, transaction_id=1)
    with pytest.raises(alembic_audit.UnknownHistoryError) as err:
        reader.rows(sa.select(q))
    assert str(err.value) == (
        "as_of(public.orders, transaction_id=1): the transaction wrote no audit row in "
        "public.orders, public.lines"
    )


def test_overlapping_transactions(database_url: URL, reader: Reader) -> None:
    """T1 starts first (smaller transaction id) but changes row 1 after T2 did: the row's
    history, as_of and the timeline follow the order of the changes, not of the ids."""
    s = build(database_url, "statement")
    o = s.orders
    first = s.engine.connect()
    t1 = first.begin()
    alembic_audit.set_session_vars(first, username="t1")
    first.execute(o.update().where(o.c.id == 2).values(status="paid"))  # T1 gets its id now
    x1 = first.execute(sa.text("SELECT pg_current_xact_id()::text::bigint")).scalar_one()
    s.write("t2", "t2", o.update().where(o.c.id == 1).values(status="shipped"))
    first.execute(o.update().where(o.c.id == 1).values(status="new"))
    t1.commit()
    first.close()
    assert x1 < s.xids["t2"]
    assert [
        (v.transaction_id, v.values["status"]) for v in reader.call(alembic_audit.history, o, 1)
    ][-2:] == [
        (s.xids["t2"], "shipped"),
        (x1, "new"),
    ]
    # Right after T2: row 1 as T2 left it (T1's later change waited for T2's commit); row 2
    # as of T2's last change, which T1 had already made (overlapping, made before it).
    q = alembic_audit.as_of(o, transaction_id=s.xids["t2"])
    assert reader.rows(sa.select(q.c.id, q.c.status).order_by(q.c.id)) == [
        {"id": 1, "status": "shipped"},
        {"id": 2, "status": "paid"},
    ]
    q = alembic_audit.as_of(o, transaction_id=x1)
    assert reader.rows(sa.select(q.c.id, q.c.status).order_by(q.c.id)) == [
        {"id": 1, "status": "new"},
        {"id": 2, "status": "paid"},
    ]
    page = reader.call(alembic_audit.changes, s.md, tables=[o], since=s.moments["after t3"])
    assert [(v.transaction_id, v.key["id"], v.values["status"]) for v in page.items] == [
        (x1, 2, "paid"),
        (s.xids["t2"], 1, "shipped"),
        (x1, 1, "new"),
    ]
    s.engine.dispose()


# -- changes -----------------------------------------------------------------------------------


def test_changes_in_keyset_pages_with_filters(written: Shop, reader: Reader) -> None:
    s = written
    everything = reader.call(alembic_audit.changes, s.md, limit=1000)
    assert everything.next_cursor is None
    got = [(v.table, tuple(v.key.values()), v.operation) for v in everything.items]
    assert got == [
        ("public.lines", (1, 1), "I"),
        ("public.lines", (1, 2), "I"),
        ("public.orders", (1,), "I"),
        ("public.orders", (2,), "I"),
        ("public.lines", (1, 1), "U"),
        ("public.lines", (1, 2), "D"),
        ("public.orders", (1,), "U"),
        ("public.orders", (2,), "D"),
        ("public.orders", (2,), "I"),
    ] or got == [  # row level: each row has its own change time, in statement order
        ("public.orders", (1,), "I"),
        ("public.orders", (2,), "I"),
        ("public.lines", (1, 1), "I"),
        ("public.lines", (1, 2), "I"),
        ("public.orders", (1,), "U"),
        ("public.lines", (1, 1), "U"),
        ("public.lines", (1, 2), "D"),
        ("public.orders", (2,), "D"),
        ("public.orders", (2,), "I"),
    ]
    update = next(v for v in everything.items if v.table == "public.orders" and v.operation == "U")
    assert update.changes["status"] == ("new", "paid")  # diffs against the row's previous version
    # Pages of 2 give the same timeline; the last page has no cursor.
    pages, cursor = [], None
    while True:
        page = reader.call(alembic_audit.changes, s.md, limit=2, after=cursor)
        pages.append(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert [len(p) for p in pages] == [2, 2, 2, 2, 1]
    assert [v.audit_id for p in pages for v in p] == [v.audit_id for v in everything.items]
    # Filters.
    by_bob = reader.call(alembic_audit.changes, s.md, settings={"username": "bob"})
    assert {v.transaction_id for v in by_bob.items} == {s.xids["t2"]} and len(by_bob.items) == 3
    by_tx = reader.call(alembic_audit.changes, s.md, transaction_id=s.xids["t3"])
    assert ops(by_tx.items) == ["D", "I"]
    with s.engine.connect() as conn:
        role = conn.execute(sa.text("SELECT current_user")).scalar_one()
    assert len(reader.call(alembic_audit.changes, s.md, user=role).items) == 9
    assert reader.call(alembic_audit.changes, s.md, user="nobody").items == []
    window = reader.call(
        alembic_audit.changes, s.md, since=s.moments["after t1"], until=s.moments["after t2"]
    )
    assert {v.transaction_id for v in window.items} == {s.xids["t2"]}
    only_lines = reader.call(alembic_audit.changes, s.md, tables=["lines"])
    assert {v.table for v in only_lines.items} == {"public.lines"}
    assert len(reader.call(alembic_audit.changes, [s.orders], session=True).items) == 5


def test_changes_pages_never_use_offset(written: Shop) -> None:
    with written.engine.connect() as conn:
        sources = [
            alembic_audit.AuditedTable.reflect(conn, alembic_audit.get_audit_spec(t))
            for t in (written.orders, written.lines)
        ]
    sql = str(timeline_query(sources, limit=10).compile(dialect=postgresql.dialect()))
    assert "OFFSET" not in sql.upper()
    assert sql.count("LIMIT") == len(sources) * 2 + 1


# -- restore and revert ------------------------------------------------------------------------


def test_restore_a_version_a_time_and_a_deleted_row(written: Shop, reader: Reader) -> None:
    s = written
    o, li = s.orders, s.lines
    first = reader.call(alembic_audit.history, o, 1)[0]
    writes = reader.call(alembic_audit.restore, o, 1, to=first, as_user="dave", commit=True)
    assert [(w.action, w.values, w.kept) for w in writes] == [
        ("UPDATE", {"status": "new", "tags": ["a"], "data": {"k": 1}}, ("note",))
    ]
    restored = reader.call(alembic_audit.history, o, 1)[-1]
    assert (restored.operation, restored.settings["username"]) == ("U", "dave")
    assert restored.changes == {
        "status": ("paid", "new"),
        "tags": (["a", "b"], ["a"]),
        "data": ({"k": 2}, {"k": 1}),
    }
    # Already in that state: nothing to write.
    assert reader.call(alembic_audit.restore, o, 1, to=first, as_user="dave") == []
    # A deleted row is re-inserted; its excluded column gets its default.
    writes = reader.call(
        alembic_audit.restore,
        li,
        (1, 2),
        to=s.moments["after t1"],
        as_user="erin",
        commit=True,
    )
    assert [w.action for w in writes] == ["INSERT"]
    assert s.state()["lines"] == [(1, 1, 5), (1, 2, 1)]
    # A row that did not exist then is deleted; dry_run writes nothing.
    dry = reader.call(alembic_audit.restore, o, 2, to=s.moments["start"], dry_run=True)
    assert [w.action for w in dry] == ["DELETE"]
    assert dry[0].sql == "DELETE FROM orders WHERE orders.id = 2"
    assert [r[0] for r in s.state()["orders"]] == [1, 2]
    with pytest.raises(alembic_audit.AuditError, match="not a version of the row"):
        reader.call(alembic_audit.restore, o, 2, to=first)


def test_revert_a_transaction_and_refused_conflicts(written: Shop, reader: Reader) -> None:
    s = written
    o, li = s.orders, s.lines
    before = s.state()
    dry = reader.call(alembic_audit.revert_transaction, s.xids["t3"], s.md, dry_run=True)
    assert [(w.action, w.key, w.values) for w in dry] == [
        ("DELETE", {"id": 2}, {}),
        ("INSERT", {"id": 2}, {"id": 2, "status": "new", "tags": [], "data": None}),
    ]
    assert dry[0].sql == "DELETE FROM orders WHERE orders.id = 2"
    assert dry[1].sql.startswith("INSERT INTO orders (id, status, tags, data) VALUES ")
    assert s.state() == before  # nothing ran
    writes = reader.call(
        alembic_audit.revert_transaction,
        s.xids["t3"],
        s.md,
        as_user="admin",
        commit=True,
    )
    assert [w.action for w in writes] == ["DELETE", "INSERT"]
    assert s.state()["orders"] == [(1, "paid"), (2, "new")]
    reverted = reader.call(alembic_audit.history, o, 2)
    assert [(v.operation, v.settings["username"]) for v in reverted] == [
        ("I", "alice"),
        ("D", "carol"),
        ("I", "carol"),
        ("D", "admin"),
        ("I", "admin"),
    ]
    assert reverted[-1].values == {"id": 2, "status": "new", "tags": [], "data": None}
    # t2 changed order 1 and line (1, 1); t3's revert did not touch them, but a later
    # write does: refused, naming the row.
    s.write("t4", "frank", li.update().where(li.c.product_id == 1).values(qty=9))
    with pytest.raises(alembic_audit.RevertConflict) as err:
        reader.call(alembic_audit.revert_transaction, s.xids["t2"], s.md, as_user="x")
    assert str(err.value) == (
        f"revert_transaction({s.xids['t2']}): refused, 1 row(s) changed by later transactions: "
        f"public.lines order_id=1, product_id=1 (transaction {s.xids['t4']}); pass force=True "
        "to revert them anyway (their later changes are lost)"
    )
    assert err.value.rows == [("public.lines", {"order_id": 1, "product_id": 1}, (s.xids["t4"],))]
    assert s.state()["lines"] == [(1, 1, 9)]
    writes = reader.call(
        alembic_audit.revert_transaction,
        s.xids["t2"],
        s.md,
        force=True,
        as_user="admin",
        commit=True,
    )
    assert sorted(w.action for w in writes) == ["INSERT", "UPDATE", "UPDATE"]
    assert s.state() == {"orders": [(1, "new"), (2, "new")], "lines": [(1, 1, 2), (1, 2, 1)]}
    with pytest.raises(alembic_audit.UnknownHistoryError, match="wrote no audit row"):
        reader.call(alembic_audit.revert_transaction, 1, s.md)


# -- truncate, baseline, options -----------------------------------------------------------------


def test_truncate_rows(written: Shop, reader: Reader) -> None:
    s = written
    o = s.orders
    s.write("truncate", "ted", sa.text("TRUNCATE orders"), o.insert().values(id=3, status="new"))
    history = reader.call(alembic_audit.history, o, 1)
    assert ops(history) == ["I", "U", "T"]
    assert history[-1].changes["status"] == ("paid", None)
    assert history[-1].values["status"] == "paid"  # the row as it was truncated
    q = alembic_audit.as_of(o, s.moments["after truncate"])
    assert reader.rows(sa.select(q.c.id, q.c.status)) == [{"id": 3, "status": "new"}]
    q = alembic_audit.as_of(o, s.moments["after t3"])
    assert [r["id"] for r in reader.rows(sa.select(q.c.id).order_by(q.c.id))] == [1, 2]
    page = reader.call(alembic_audit.changes, s.md, transaction_id=s.xids["truncate"])
    marker, inserted = page.items
    assert (marker.operation, marker.key, marker.changes) == ("T", {"id": None}, {})
    assert set(marker.values.values()) == {None}
    assert (inserted.operation, inserted.key) == ("I", {"id": 3})
    with pytest.raises(alembic_audit.AuditError, match="truncated 'public.orders'"):
        reader.call(alembic_audit.revert_transaction, s.xids["truncate"], s.md)


@pytest.mark.parametrize("snapshot", [True, False])
def test_rows_from_before_auditing(database_url: URL, reader: Reader, snapshot: bool) -> None:
    engine = sa.create_engine(with_driver(database_url, "psycopg"), poolclass=sa.NullPool)
    md = shop("statement")
    md.create_all(engine)
    o = md.tables["orders"]
    with engine.begin() as conn:
        conn.execute(o.insert().values([{"id": 1, "status": "new"}, {"id": 2, "status": "new"}]))
    alembic_audit.install_audit_triggers(md, engine, snapshot=snapshot)
    s = Shop(engine, md)
    s.write("t1", "alice", o.update().where(o.c.id == 1).values(status="paid"))
    q = alembic_audit.as_of(o, s.moments["after t1"])
    if snapshot:
        assert reader.rows(sa.select(q.c.id, q.c.status, q.c.audit_operation).order_by(q.c.id)) == [
            {"id": 1, "status": "paid", "audit_operation": "U"},
            {"id": 2, "status": "new", "audit_operation": "S"},
        ]
        assert ops(reader.call(alembic_audit.history, o, 1)) == ["S", "U"]
        assert reader.call(alembic_audit.history, o, 1)[1].changes == {"status": ("new", "paid")}
        engine.dispose()
        return
    # Row 2 never changed since auditing began: no audit row, state unknown; row 1's state
    # before its first update is unknown too.  Refused, naming the row, not made up.
    with pytest.raises(alembic_audit.UnknownHistoryError) as err:
        reader.rows(sa.select(q))
    assert str(err.value).startswith(
        f"as_of(public.orders) at {s.moments['after t1'].isoformat()}: the state of the row id=2 "
        "(it has no audit row) is unknown: it existed before auditing began"
    )
    # The known part, asked for by key, is there; unknown="include" flags the rest.
    assert reader.rows(sa.select(q.c.status).where(q.c.id == 1)) == [{"status": "paid"}]
    day_before = s.moments["after t1"] - datetime.timedelta(days=1)
    flagged = alembic_audit.as_of(o, day_before, unknown="include")
    assert reader.rows(
        sa.select(flagged.c.id, flagged.c.status, flagged.c.audit_state_known).order_by(
            flagged.c.id
        )
    ) == [
        {"id": 1, "status": None, "audit_state_known": False},
        {"id": 2, "status": None, "audit_state_known": False},
    ]
    before = alembic_audit.as_of(o, day_before)
    with pytest.raises(
        alembic_audit.UnknownHistoryError, match="the state of the row id=1 is unknown"
    ):
        reader.rows(sa.select(before).where(before.c.id == 1))
    first = reader.call(alembic_audit.history, o, 1)
    assert ops(first) == ["U"] and first[0].changes["status"] == (None, "paid")
    with pytest.raises(alembic_audit.UnknownHistoryError, match="id=1 is unknown"):
        reader.call(alembic_audit.revert_transaction, s.xids["t1"], md)
    engine.dispose()


def test_tables_without_the_new_columns(database_url: URL, reader: Reader) -> None:
    """identity, transaction_id and change_timestamp off: history and as_of work (by the
    transaction's time, then physical order); changes and transaction reads refuse."""
    s = build(database_url, "row", identity=False, transaction_id=False, change_timestamp=False)
    o = s.orders
    history = reader.call(alembic_audit.history, o, 2)
    assert ops(history) == ["I", "D", "I"]
    assert history[0].audit_id is None and history[0].transaction_id is None
    q = alembic_audit.as_of(o, s.moments["after t2"])
    assert reader.rows(sa.select(q.c.id, q.c.status).order_by(q.c.id)) == [
        {"id": 1, "status": "paid"},
        {"id": 2, "status": "new"},
    ]
    with pytest.raises(alembic_audit.AuditError, match="does not number its audit rows"):
        reader.call(alembic_audit.changes, s.md)
    with pytest.raises(alembic_audit.AuditError, match="does not record transaction ids"):
        alembic_audit.as_of(o, transaction_id=1)
    s.engine.dispose()


def test_rows_written_before_the_change_time_existed(written: Shop, reader: Reader) -> None:
    """Audit tables of the first release, upgraded: old rows have no change time and no
    transaction id.  as_of reads them by their transaction's time; the timeline lists
    them first."""
    s = written
    with s.engine.begin() as conn:
        for table in ("orders_audit", "lines_audit"):
            conn.execute(
                sa.text(
                    f"UPDATE {table} SET audit_change_timestamp = NULL, audit_transaction_id = NULL"
                    " WHERE audit_transaction_id = CAST(CAST(:x AS text) AS xid8)"
                ),
                {"x": s.xids["t1"]},
            )
    q = alembic_audit.as_of(s.orders, s.moments["after t1"])
    assert [r["id"] for r in reader.rows(sa.select(q.c.id).order_by(q.c.id))] == [1, 2]
    page = reader.call(alembic_audit.changes, s.md, limit=4)
    assert [(v.transaction_id, v.operation) for v in page.items] == [(None, "I")] * 4
    rest = reader.call(alembic_audit.changes, s.md, after=page.next_cursor)
    assert len(rest.items) == 5 and rest.next_cursor is None
    assert {v.transaction_id for v in rest.items} == {s.xids["t2"], s.xids["t3"]}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c, md: alembic_audit.history(c, md.tables["lines"], 1), "has a composite key"),
        (lambda c, md: alembic_audit.history(c, md.tables["lines"], (1,)), "got 1 value(s)"),
        (lambda c, md: alembic_audit.history(c, md.tables["orders"], {"x": 1}), "is ['id']"),
        (lambda c, md: alembic_audit.history(c, sa.Table("t", sa.MetaData()), 1), "is not audited"),
        (lambda c, md: alembic_audit.history(c, object(), 1), "expected an audited table"),
        (lambda c, md: alembic_audit.changes(c, md, after="nope"), "is not a cursor"),
        (lambda c, md: alembic_audit.changes(c, md, limit=0), "limit must be a positive int"),
        (lambda c, md: alembic_audit.changes(c, md, tables=["nope"]), "names 'nope'"),
        (lambda c, md: alembic_audit.changes(c, md, settings={"nope": 1}), "records the setting"),
        (lambda c, md: alembic_audit.changes(c, sa.MetaData()), "has no audited table"),
        (lambda c, md: alembic_audit.restore(c, md.tables["orders"], 1, to=5), "to= must be"),
    ],
)
def test_bad_input_is_refused_clearly(database_url: URL, call: Any, message: str) -> None:
    written = build(database_url, "statement")
    with (
        written.engine.connect() as conn,
        pytest.raises(alembic_audit.AuditError, match=re.escape(message)),
    ):
        call(conn, written.md)


def test_as_of_arguments() -> None:
    md = shop("statement")
    orders = md.tables["orders"]
    with pytest.raises(alembic_audit.AuditError, match="not both"):
        alembic_audit.as_of(orders)
    with pytest.raises(alembic_audit.AuditError, match="must be a datetime"):
        alembic_audit.as_of(orders, "2025-01-01")  # type: ignore[arg-type]
    with pytest.raises(alembic_audit.AuditError, match="unknown= must be"):
        alembic_audit.as_of(orders, datetime.datetime.now(), unknown="skip")  # type: ignore[arg-type]
    keyless = sa.Table(
        "log", md, sa.Column("x", sa.Integer), info={"audit.options": {"enabled": True}}
    )
    with pytest.raises(alembic_audit.AuditError, match="has no primary key"):
        alembic_audit.as_of(keyless, datetime.datetime.now())


def test_orm_classes(database_url: URL, reader: Reader) -> None:
    """ORM classes are accepted wherever a table is."""

    class Base(DeclarativeBase):
        pass

    class Note(Base):
        __tablename__ = "note"
        __table_args__ = {"info": {"audit.options": {"enabled": True}}}
        id: Mapped[int] = mapped_column(primary_key=True)
        text: Mapped[str]

    engine = sa.create_engine(with_driver(database_url, "psycopg"), poolclass=sa.NullPool)
    Base.metadata.create_all(engine)
    alembic_audit.install_audit_triggers(Base.metadata, engine)
    with Session(engine) as session, session.begin():
        session.add(Note(id=1, text="draft"))
    with engine.connect() as conn:
        middle = conn.execute(sa.text("SELECT clock_timestamp()")).scalar_one()
    with Session(engine) as session, session.begin():
        session.get_one(Note, 1).text = "final"
    versions = reader.call(alembic_audit.history, Note, 1, session=True)
    assert [v.changes.get("text") for v in versions] == [(None, "draft"), ("draft", "final")]
    q = alembic_audit.as_of(Note, middle)
    assert reader.rows(sa.select(q.c.text)) == [{"text": "draft"}]
    page = reader.call(alembic_audit.changes, Base.metadata, tables=[Note])
    assert [v.operation for v in page.items] == ["I", "U"]
    writes = reader.call(alembic_audit.restore, Note, 1, to=versions[0], session=True, commit=True)
    assert [w.action for w in writes] == ["UPDATE"]
    with Session(engine) as session:
        assert session.get_one(Note, 1).text == "draft"
    engine.dispose()
