"""Row-level and statement-level triggers write identical audit rows.

Every test builds the same table twice, one audited at ``level="row"`` and one at
``level="statement"``, runs the same statements on both inside one transaction (so
``now()`` and ``current_user`` are shared), and compares the audit rows users see:
data values, operation, timestamp, user and session settings, as multisets.
"""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSON
from sqlalchemy.engine import Connection, Engine

import alembic_audit
from alembic_audit import get_audit_spec, spec_from_table
from alembic_audit.core.constants import CHANGE_TIMESTAMP_COLUMN, ID_COLUMN, TRANSACTION_COLUMN
from alembic_audit.schema.builder import refresh_spec

from .fixtures.catalog import triggers

LEVELS = ("row", "statement")
_counter = itertools.count()

# A column name that needs quoting everywhere, including in the statement-level join.
ODD = 'Odd "name":%s'


def _columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(30)),
        sa.Column(ODD, sa.Numeric(10, 2)),
        sa.Column("doc", JSON),  # json has no equality operator
        sa.Column("touched", sa.DateTime(timezone=True)),
    ]


class Pair:
    """The same table audited at both levels; statements run on both."""

    def __init__(
        self,
        engine: Engine,
        columns: Callable[[], list[sa.Column[Any]]] = _columns,
        *,
        settings: Callable[[], list[sa.Column[Any]]] | None = None,
        **options: Any,
    ) -> None:
        self.engine = engine
        self.metadata = sa.MetaData()
        self.tables: dict[str, sa.Table] = {}
        n = next(_counter)
        for level in LEVELS:
            opts: dict[str, Any] = {"enabled": True, "level": level, **options}
            if settings is not None:
                opts["session_settings"] = settings()
            self.tables[level] = sa.Table(
                f"t{n}_{level}", self.metadata, *columns(), info={"audit.options": opts}
            )
        self.metadata.create_all(engine)
        alembic_audit.install_audit_triggers(self.metadata, engine)

    def audit(self, level: str) -> sa.Table:
        return self.metadata.tables[get_audit_spec(self.tables[level]).audit_table_name]

    def run(self, conn: Connection, make: Callable[[sa.Table], Any]) -> None:
        for level in LEVELS:
            conn.execute(make(self.tables[level]))

    def sql(self, conn: Connection, template: str) -> None:
        """Run raw SQL with ``{t}`` replaced by each quoted table name."""
        for level in LEVELS:
            conn.exec_driver_sql(template.format(t=f'"{self.tables[level].name}"'))

    def audit_rows(self, conn: Connection | None = None) -> dict[str, list[tuple[Any, ...]]]:
        """Each level's audit rows, without what differs between two tables by nature
        (``audit_id``, numbered per table; the change time, read by each trigger), and
        with the transaction id last (so the positions of the other columns hold)."""
        result = {}
        for level in LEVELS:
            audit = self.audit(level)
            same = [
                c
                for c in audit.c
                if c.name not in (ID_COLUMN, CHANGE_TIMESTAMP_COLUMN, TRANSACTION_COLUMN)
            ]
            stmt = sa.select(*same, audit.c[TRANSACTION_COLUMN])
            if conn is None:
                with self.engine.connect() as c:
                    found = c.execute(stmt).all()
            else:
                found = conn.execute(stmt).all()
            result[level] = sorted((tuple(r) for r in found), key=repr)
        return result

    def assert_same(self, expected_count: int) -> list[tuple[Any, ...]]:
        """Both audit tables hold the same rows (and this many); return them.

        Both also number every row and record its change time, the numbers following
        the order of the writes.
        """
        found = self.audit_rows()
        assert found["row"] == found["statement"]
        assert len(found["row"]) == expected_count
        for level in LEVELS:
            audit = self.audit(level)
            with self.engine.connect() as conn:
                numbered = conn.execute(
                    sa.select(audit.c[ID_COLUMN], audit.c[CHANGE_TIMESTAMP_COLUMN]).order_by(
                        audit.c[ID_COLUMN]
                    )
                ).all()
            ids, times = [r[0] for r in numbered], [r[1] for r in numbered]
            assert len(set(ids)) == expected_count and None not in times
            assert list(times) == sorted(times)  # numbered in the order of the changes
        return found["row"]


@pytest.fixture
def pair(psycopg_engine: Engine) -> Iterator[Callable[..., Pair]]:
    yield lambda *a, **kw: Pair(psycopg_engine, *a, **kw)


def _values(i: int) -> dict[str, Any]:
    return {
        "id": i,
        "name": None if i % 3 == 0 else f"n{i}",
        ODD: None if i % 4 == 0 else i * 1.5,
        "doc": {"i": i, "tags": ["a", "%s", ":x"]},
        "touched": datetime.datetime(2024, 1, i % 28 + 1, tzinfo=datetime.timezone.utc),
    }


def _seed(pair: Pair, n: int = 5) -> None:
    with pair.engine.begin() as conn:
        pair.run(conn, lambda t: t.insert().values([_values(i) for i in range(1, n + 1)]))


def test_multi_row_insert_update_delete(pair: Callable[..., Pair], psycopg_engine: Engine) -> None:
    p = pair()
    with psycopg_engine.begin() as conn:
        now, user = conn.execute(sa.select(sa.func.now(), sa.func.current_user())).one()
        pair_rows = p.run
        pair_rows(conn, lambda t: t.insert().values([_values(i) for i in range(1, 6)]))
        pair_rows(conn, lambda t: t.update().where(t.c.id > 2).values(name=t.c.name + "!"))
        pair_rows(conn, lambda t: t.delete().where(t.c.id.in_([1, 4])))
    rows = p.assert_same(5 + 3 + 2)
    ops = sorted(r[5] for r in rows)
    assert ops == ["D"] * 2 + ["I"] * 5 + ["U"] * 3
    assert {r[6] for r in rows} == {now} and {r[7] for r in rows} == {user}
    # Values are the images users expect: new rows for I/U, old rows for D.
    assert sorted((r[0], r[1]) for r in rows if r[5] == "U") == [(3, None), (4, "n4!"), (5, "n5!")]
    assert sorted(r[0] for r in rows if r[5] == "D") == [1, 4]


def test_statements_in_separate_transactions_share_nothing(pair: Callable[..., Pair]) -> None:
    p = pair()
    _seed(p)
    with p.engine.begin() as conn:
        p.run(conn, lambda t: t.update().values({ODD: 0}))
    with p.engine.begin() as conn:
        p.run(conn, lambda t: t.delete())
    rows = p.assert_same(15)
    assert len({r[6] for r in rows}) == 3  # one timestamp per transaction


def test_session_settings(pair: Callable[..., Pair]) -> None:
    from sqlalchemy.dialects.postgresql import UUID

    p = pair(
        settings=lambda: [
            sa.Column("username", sa.String(20), nullable=False),
            sa.Column("request_id", UUID),
            sa.Column("tenant", sa.Integer),
        ]
    )
    with p.engine.begin() as conn:
        alembic_audit.set_session_vars(
            conn, username="alice", request_id="9a0e9c39-9fa8-4ad9-b4b5-1d1d0e1d1a55"
        )
        p.run(conn, lambda t: t.insert().values([_values(i) for i in range(1, 4)]))
        alembic_audit.set_session_vars(conn, username="bob", tenant=7, request_id=None)
        p.run(conn, lambda t: t.update().where(t.c.id == 2).values(name="x"))
        p.run(conn, lambda t: t.delete().where(t.c.id == 3))
    rows = p.assert_same(5)
    settings = sorted((r[5], r[8], r[9], r[10]) for r in rows)
    assert [s[0] for s in settings] == ["D", "I", "I", "I", "U"]
    assert settings[0][1:] == ("bob", None, 7)
    assert str(settings[1][2]) == "9a0e9c39-9fa8-4ad9-b4b5-1d1d0e1d1a55"


def test_required_setting_missing_fails_alike_but_not_for_zero_rows(
    pair: Callable[..., Pair],
) -> None:
    p = pair(settings=lambda: [sa.Column("username", sa.String(20), nullable=False)])
    for level in LEVELS:
        table = p.tables[level]
        with pytest.raises(sa.exc.DBAPIError) as info, p.engine.begin() as conn:
            conn.execute(table.insert().values(_values(1)))
        message = str(info.value.orig)
        expected = f"is not set for a change to public.{table.name}"
        assert f'required audit setting "audit.username" {expected}' in message
        # TRUNCATE, even of an empty table, is a change that needs the setting.
        with pytest.raises(sa.exc.DBAPIError) as info, p.engine.begin() as conn:
            conn.exec_driver_sql(f'TRUNCATE "{table.name}"')
        assert expected in str(info.value.orig)
    # Statements that change no row need no setting and write nothing, at both levels.
    with p.engine.begin() as conn:
        p.run(conn, lambda t: t.insert().from_select(list(t.c), sa.select(t).where(sa.false())))
        p.run(conn, lambda t: t.update().where(sa.false()).values(name="x"))
        p.run(conn, lambda t: t.delete().where(sa.false()))
    p.assert_same(0)


def test_zero_row_statements_write_nothing(pair: Callable[..., Pair]) -> None:
    p = pair()
    _seed(p, 2)
    with p.engine.begin() as conn:
        p.run(conn, lambda t: t.update().where(t.c.id > 100).values(name="x"))
        p.run(conn, lambda t: t.delete().where(t.c.id > 100))
        p.run(conn, lambda t: t.insert().from_select(list(t.c), sa.select(t).where(sa.false())))
    p.assert_same(2)


@pytest.mark.parametrize("skip_unchanged", [False, True])
def test_no_op_updates(pair: Callable[..., Pair], skip_unchanged: bool) -> None:
    p = pair(skip_unchanged=skip_unchanged)
    _seed(p)
    with p.engine.begin() as conn:
        # Nothing changes; then one of five rows changes; json compared by content bytes.
        p.run(conn, lambda t: t.update().values(name=t.c.name))
        p.run(conn, lambda t: t.update().values(name=sa.case((t.c.id == 2, "two"), else_=t.c.name)))
        p.run(conn, lambda t: t.update().where(t.c.id == 3).values(doc={"i": 3, "tags": ["b"]}))
    rows = p.assert_same(5 + (2 if skip_unchanged else 11))
    if skip_unchanged:
        assert sorted((r[0], r[5]) for r in rows if r[5] == "U") == [(2, "U"), (3, "U")]


@pytest.mark.parametrize("skip_unchanged", [False, True])
def test_excluded_columns(pair: Callable[..., Pair], skip_unchanged: bool) -> None:
    p = pair(exclude=["touched", "doc"], skip_unchanged=skip_unchanged)
    assert "touched" not in p.audit("statement").c and "doc" not in p.audit("row").c
    _seed(p, 3)
    with p.engine.begin() as conn:
        # Only excluded columns change: a no-op for skip_unchanged.
        p.run(conn, lambda t: t.update().values(touched=sa.func.now(), doc={"new": 1}))
        p.run(conn, lambda t: t.update().where(t.c.id == 1).values(name="one"))
        p.run(conn, lambda t: t.delete().where(t.c.id == 2))
    rows = p.assert_same(3 + (1 if skip_unchanged else 4) + 1)
    # id, name, ODD, operation, timestamp, user, transaction id
    assert all(len(r) == 7 for r in rows)


def _deferrable_key_columns() -> list[sa.Column[Any] | sa.PrimaryKeyConstraint]:
    # A deferred key lets one UPDATE move a row onto a key another row gives up.
    cols: list[Any] = _columns()
    cols[0] = sa.Column("id", sa.Integer)
    return [*cols, sa.PrimaryKeyConstraint("id", deferrable=True, initially="DEFERRED")]


@pytest.mark.parametrize("skip_unchanged", [False, True])
def test_primary_key_changing_updates(pair: Callable[..., Pair], skip_unchanged: bool) -> None:
    p = pair(_deferrable_key_columns, skip_unchanged=skip_unchanged)
    _seed(p, 4)
    with p.engine.begin() as conn:
        p.run(conn, lambda t: t.update().where(t.c.id <= 2).values(id=t.c.id + 100))
        # Keys swapped between rows whose other values differ: both recorded.
        p.run(conn, lambda t: t.update().where(t.c.id.in_([3, 4])).values(id=7 - t.c.id))
    rows = p.assert_same(4 + 4)
    assert sorted(r[0] for r in rows if r[5] == "U") == [3, 4, 101, 102]


def test_skip_unchanged_pairs_by_key_at_statement_level(pair: Callable[..., Pair]) -> None:
    """The one documented difference: an UPDATE that only permutes keys among rows that
    are otherwise identical leaves every key with the same row, so the statement level
    (which pairs old and new rows by key) sees no change; the row level sees each row
    change its key."""
    p = pair(_deferrable_key_columns, skip_unchanged=True, exclude=["doc", "touched"])
    with p.engine.begin() as conn:
        p.run(conn, lambda t: t.insert().values([{"id": 1, "name": "x"}, {"id": 2, "name": "x"}]))
        p.run(conn, lambda t: t.update().values(id=3 - t.c.id))
    found = p.audit_rows()
    assert len(found["row"]) == 4 and len(found["statement"]) == 2


def test_composite_primary_key_with_skip_unchanged(pair: Callable[..., Pair]) -> None:
    def columns() -> list[sa.Column[Any]]:
        return [
            sa.Column("Tenant", sa.String(10), primary_key=True),
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("v", sa.Integer),
        ]

    p = pair(columns, skip_unchanged=True)
    with p.engine.begin() as conn:
        p.run(conn, lambda t: t.insert().values([("a", 1, 1), ("a", 2, 2), ("b", 1, 1)]))
        p.run(conn, lambda t: t.update().values(v=t.c.v))  # no-op
        p.run(conn, lambda t: t.update().where(t.c.id == 1).values(v=t.c.v + 1))
        p.run(conn, lambda t: t.update().where(t.c.Tenant == "b").values(Tenant="c"))
    rows = p.assert_same(3 + 2 + 1)
    assert sorted(r[:3] for r in rows if r[3] == "U") == [("a", 1, 2), ("b", 1, 2), ("c", 1, 2)]


def test_insert_on_conflict_and_writable_ctes(pair: Callable[..., Pair]) -> None:
    p = pair()
    _seed(p, 2)
    with p.engine.begin() as conn:
        p.sql(
            conn,
            "INSERT INTO {t} (id, name) VALUES (1, 'up'), (3, 'new') "
            "ON CONFLICT (id) DO UPDATE SET name = excluded.name",
        )
        # Two inserts and a delete on the same table in one statement.
        p.sql(
            conn,
            "WITH a AS (INSERT INTO {t} (id, name) VALUES (10, 'a') RETURNING id), "
            "b AS (INSERT INTO {t} (id, name) VALUES (11, 'b') RETURNING id), "
            "d AS (DELETE FROM {t} WHERE id = 2 RETURNING id) "
            "SELECT * FROM a, b, d",
        )
    rows = p.assert_same(2 + 2 + 3)
    assert sorted((r[0], r[5]) for r in rows) == [
        (1, "I"),
        (1, "U"),
        (2, "D"),
        (2, "I"),
        (3, "I"),
        (10, "I"),
        (11, "I"),
    ]


def test_truncate_marker_row(pair: Callable[..., Pair]) -> None:
    p = pair(settings=lambda: [sa.Column("username", sa.String(20))])
    _seed(p, 3)
    with p.engine.begin() as conn:
        alembic_audit.set_session_vars(conn, username="carol")
        p.sql(conn, "TRUNCATE {t}")
        p.sql(conn, "TRUNCATE {t}")  # an empty table: still a marker, as TRUNCATE ran
    rows = p.assert_same(3 + 2)
    markers = [r for r in rows if r[5] == "T"]
    assert len(markers) == 2
    assert all(r[:5] == (None,) * 5 and r[8] == "carol" for r in markers)


def test_snapshot_rows_are_the_same_at_both_levels(pair: Callable[..., Pair]) -> None:
    p = pair(settings=lambda: [sa.Column("username", sa.String(20))])
    _seed(p, 3)
    alembic_audit.uninstall_audit_triggers(p.metadata, p.engine)
    with p.engine.begin() as conn:
        alembic_audit.set_session_vars(conn, username="baseline")
        alembic_audit.install_audit_triggers(p.metadata, conn, snapshot=True)
    rows = p.assert_same(3 + 3)
    assert [r[8] for r in rows if r[5] == "S"] == ["baseline"] * 3


def test_truncate_not_recorded_when_disabled(pair: Callable[..., Pair]) -> None:
    p = pair(record_truncate=False)
    _seed(p, 3)
    with p.engine.begin() as conn:
        p.sql(conn, "TRUNCATE {t}")
    p.assert_same(3)
    names = {k[2] for k in triggers(p.engine)}
    assert not any(n.endswith("_truncate") for n in names)


def test_level_change_by_reinstall_leaves_one_trigger_set(psycopg_engine: Engine) -> None:
    md = sa.MetaData()
    table = sa.Table(
        "item",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        info={"audit.options": {"enabled": True, "level": "row"}},
    )
    md.create_all(psycopg_engine)
    alembic_audit.install_audit_triggers(md, psycopg_engine)
    table.info["audit.options"]["level"] = "statement"
    refresh_spec(table)
    alembic_audit.install_audit_triggers(md, psycopg_engine)
    assert sorted(k[2] for k in triggers(psycopg_engine)) == [
        "public_item_audit_delete",
        "public_item_audit_insert",
        "public_item_audit_truncate",
        "public_item_audit_update",
    ]
    with psycopg_engine.begin() as conn:
        conn.execute(table.insert().values(id=1))
        assert conn.execute(sa.text("SELECT count(*) FROM item_audit")).scalar() == 1


def test_skip_unchanged_at_statement_level_needs_a_primary_key() -> None:
    md = sa.MetaData()
    with pytest.raises(ValueError) as info:
        sa.Table(
            "nokey",
            md,
            sa.Column("a", sa.Integer),
            info={"audit.options": {"enabled": True, "skip_unchanged": True}},
        )
    message = str(info.value)
    assert "'nokey'" in message and "'skip_unchanged'" in message and "primary key" in message
    assert "nokey_audit" not in md.tables
    # The same table at row level is fine: each row is compared with its own old image.
    table = sa.Table(
        "nokey",
        sa.MetaData(),
        sa.Column("a", sa.Integer),
        info={"audit.options": {"enabled": True, "skip_unchanged": True, "level": "row"}},
    )
    assert spec_from_table(table).skip_unchanged


def test_skip_unchanged_without_primary_key_at_row_level(psycopg_engine: Engine) -> None:
    md = sa.MetaData()
    table = sa.Table(
        "nokey",
        md,
        sa.Column("a", sa.Integer),
        sa.Column("b", sa.Integer),
        info={"audit.options": {"enabled": True, "skip_unchanged": True, "level": "row"}},
    )
    md.create_all(psycopg_engine)
    alembic_audit.install_audit_triggers(md, psycopg_engine)
    with psycopg_engine.begin() as conn:
        conn.execute(table.insert().values([(1, 1), (1, 1), (2, 2)]))
        conn.execute(table.update().values(b=table.c.b))
        conn.execute(table.update().where(table.c.a == 1).values(b=5))
        ops = conn.exec_driver_sql(
            "SELECT audit_operation, a, b FROM nokey_audit ORDER BY 1, 2, 3"
        ).all()
    assert ops == [("I", 1, 1), ("I", 1, 1), ("I", 2, 2), ("U", 1, 5), ("U", 1, 5)]


@pytest.mark.parametrize("skip_unchanged", [False, True])
def test_update_trigger_captures_old_rows_only_to_compare(
    psycopg_engine: Engine, skip_unchanged: bool
) -> None:
    md = sa.MetaData()
    sa.Table(
        "item",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        info={"audit.options": {"enabled": True, "skip_unchanged": skip_unchanged}},
    )
    md.create_all(psycopg_engine)
    alembic_audit.install_audit_triggers(md, psycopg_engine)
    found = triggers(psycopg_engine)
    update = found["public", "item", "public_item_audit_update"][0]
    assert "NEW TABLE AS audit_new" in update
    assert ("OLD TABLE AS audit_old" in update) is skip_unchanged
    delete = found["public", "item", "public_item_audit_delete"][0]
    assert "OLD TABLE AS audit_old" in delete and "NEW TABLE" not in delete
