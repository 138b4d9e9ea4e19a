"""audit_context and install_context: the values reach every transaction run inside.

Every test reads what users see: the audit rows (``audit_username``,
``audit_request_id``) and the settings PostgreSQL holds.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.engine import URL, Engine
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import Session

import alembic_audit
from alembic_audit import audit_context, current_audit_context, install_context

from .fixtures.db import with_driver

#: (driver, same_round_trip) of the sync engines under test.
SYNC = {
    "psycopg2": ("psycopg2", True),
    "psycopg2-apart": ("psycopg2", False),
    "psycopg": ("psycopg", True),
    "psycopg-apart": ("psycopg", False),
}
ASYNC = ("asyncpg", "psycopg")

SETTINGS_NOW = sa.text(
    "SELECT current_setting('audit.username', true), current_setting('audit.request_id', true),"
    " current_setting('alembic_audit.context', true)"
)


def model(required: bool = True) -> tuple[sa.MetaData, sa.Table, sa.Table]:
    md = sa.MetaData()
    item = sa.Table(
        "item",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(40)),
        info={
            "audit.options": {
                "enabled": True,
                "session_settings": [
                    sa.Column("username", sa.String(20), nullable=not required),
                    sa.Column("request_id", UUID),
                ],
            }
        },
    )
    return md, item, md.tables["item_audit"]


def create(database_url: URL, md: sa.MetaData) -> None:
    engine = sa.create_engine(with_driver(database_url, "psycopg"), poolclass=sa.NullPool)
    md.create_all(engine)
    alembic_audit.install_audit_triggers(md, engine)
    engine.dispose()


def trail(database_url: URL, audit: sa.Table) -> list[tuple[Any, ...]]:
    """``(name, audit_username, audit_request_id)`` of every audit row, in id order."""
    engine = sa.create_engine(with_driver(database_url, "psycopg"), poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            query = sa.select(audit.c.name, audit.c.audit_username, audit.c.audit_request_id)
            return [tuple(r) for r in conn.execute(query.order_by(audit.c.id))]
    finally:
        engine.dispose()


@pytest.fixture
def hooked(database_url: URL) -> Iterator[Any]:
    """A factory of engines on the test database with install_context applied."""
    engines: list[Engine] = []

    def make(kind: str, **kw: Any) -> Engine:
        driver, same_round_trip = SYNC[kind]
        engine = sa.create_engine(with_driver(database_url, driver), **kw)
        install_context(engine, same_round_trip=same_round_trip)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        alembic_audit.uninstall_context(engine)
        engine.dispose()


@pytest.mark.parametrize("kind", sorted(SYNC))
def test_values_reach_connection_and_session(database_url: URL, hooked: Any, kind: str) -> None:
    md, item, audit = model()
    create(database_url, md)
    engine = hooked(kind)
    rid = uuid.uuid4()
    with audit_context(username="alice", request_id=rid):
        with engine.begin() as conn:
            conn.execute(item.insert().values(id=1, name="by connection"))
            conn.execute(item.update().values(name="updated").where(item.c.id == 1))
        with Session(engine) as session, session.begin():
            session.execute(item.insert().values(id=2, name="by session"))
    with audit_context(username="bob"), Session(engine) as session:
        session.execute(item.insert().values(id=3, name="autobegun"))
        session.commit()
    assert trail(database_url, audit) == [
        ("by connection", "alice", rid),
        ("updated", "alice", rid),
        ("by session", "alice", rid),
        ("autobegun", "bob", None),
    ]


@pytest.mark.parametrize("driver", ASYNC)
def test_values_reach_async_connection_and_session(database_url: URL, driver: str) -> None:
    md, item, audit = model()
    create(database_url, md)
    rid = uuid.uuid4()

    async def run() -> None:
        engine = create_async_engine(with_driver(database_url, driver))
        install_context(engine)
        try:
            with audit_context(username="carol", request_id=rid):
                async with engine.begin() as conn:
                    await conn.execute(item.insert().values(id=1, name="async connection"))
                async with AsyncSession(engine) as session, session.begin():
                    await session.execute(item.insert().values(id=2, name="async session"))
        finally:
            alembic_audit.uninstall_context(engine)
            await engine.dispose()

    asyncio.run(run())
    assert trail(database_url, audit) == [
        ("async connection", "carol", rid),
        ("async session", "carol", rid),
    ]


def test_nesting_overrides_only_named_keys_and_restores_on_exit(
    database_url: URL, hooked: Any
) -> None:
    md, item, audit = model()
    create(database_url, md)
    engine = hooked("psycopg")
    outer, inner = uuid.uuid4(), uuid.uuid4()

    def write(name: str) -> None:
        with engine.begin() as conn:
            conn.execute(item.insert().values(id=len(name) * 1000 + hash(name) % 997, name=name))

    with audit_context(username="alice", request_id=outer):
        write("outer")
        with audit_context(request_id=inner):
            assert current_audit_context() == {"username": "alice", "request_id": str(inner)}
            write("inner keeps username")
            with audit_context(username="bob"):
                write("innermost")
        write("outer again")
        with pytest.raises(RuntimeError), audit_context(username="mallory"):
            raise RuntimeError("the block fails")
        assert current_audit_context() == {"username": "alice", "request_id": str(outer)}
        write("after a failed block")
        with audit_context(request_id=None):  # None unsets inside the block
            write("request id unset")
    assert current_audit_context() == {}
    rows = {name: (user, rid) for name, user, rid in trail(database_url, audit)}
    assert rows == {
        "outer": ("alice", outer),
        "inner keeps username": ("alice", inner),
        "innermost": ("bob", inner),
        "outer again": ("alice", outer),
        "after a failed block": ("alice", outer),
        "request id unset": ("alice", None),
    }


def test_decorator_on_sync_and_async_functions(database_url: URL, hooked: Any) -> None:
    md, item, audit = model()
    create(database_url, md)
    engine = hooked("psycopg2")

    @audit_context(username="nightly")
    def job(n: int) -> str:
        with engine.begin() as conn:
            conn.execute(item.insert().values(id=n, name="sync job"))
        return current_audit_context()["username"]

    @audit_context(username="async-job")
    async def async_job(n: int) -> str:
        await asyncio.sleep(0)
        with engine.begin() as conn:
            conn.execute(item.insert().values(id=n, name="async job"))
        return current_audit_context()["username"]

    assert job(1) == "nightly"
    assert current_audit_context() == {}  # only during the call
    with audit_context(request_id=uuid.UUID(int=5)):
        assert asyncio.run(async_job(2)) == "async-job"
        assert job.__name__ == "job"  # functools.wraps
    rows = trail(database_url, audit)
    assert rows == [("sync job", "nightly", None), ("async job", "async-job", uuid.UUID(int=5))]

    with pytest.raises(alembic_audit.AuditError, match="cannot decorate the generator"):

        @audit_context(username="x")
        def gen() -> Iterator[int]:
            yield 1


def test_isolated_per_asyncio_task(database_url: URL) -> None:
    md, item, audit = model()
    create(database_url, md)

    async def run() -> None:
        engine = create_async_engine(with_driver(database_url, "asyncpg"), pool_size=3)
        install_context(engine)

        async def request(n: int) -> None:
            with audit_context(username=f"user{n}"):
                for step in range(3):
                    async with engine.begin() as conn:
                        await asyncio.sleep(0.001 * (n % 3))  # interleave the tasks
                        await conn.execute(item.insert().values(id=n * 10 + step, name=f"user{n}"))

        try:
            await asyncio.gather(*(request(n) for n in range(12)))
        finally:
            alembic_audit.uninstall_context(engine)
            await engine.dispose()

    asyncio.run(run())
    rows = trail(database_url, audit)
    assert len(rows) == 36
    assert all(name == user for name, user, _ in rows), rows


def test_isolated_per_thread_and_copied_into_new_threads(database_url: URL, hooked: Any) -> None:
    md, item, audit = model(required=False)
    create(database_url, md)
    engine = hooked("psycopg", pool_size=4)
    barrier = threading.Barrier(4)

    def worker(n: int) -> None:
        with audit_context(username=f"thread{n}"):
            barrier.wait()  # all four contexts are active at once
            for step in range(5):
                with engine.begin() as conn:
                    conn.execute(item.insert().values(id=n * 10 + step, name=f"thread{n}"))

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(worker, range(4)))

    seen: list[dict[str, str]] = []

    def in_new_thread() -> None:
        seen.append(current_audit_context())
        _write(engine, item, 100, "new thread")

    with audit_context(username="parent"):
        thread = threading.Thread(target=in_new_thread)
        thread.start()
        thread.join()
        copied = contextvars.copy_context()
        thread = threading.Thread(target=copied.run, args=(_write, engine, item, 101, "copied"))
        thread.start()
        thread.join()
        with ThreadPoolExecutor(1) as pool:
            # An executor's thread has its own context: pass the caller's along.
            pool.submit(contextvars.copy_context().run, _write, engine, item, 102, "copy").result()
            pool.submit(_write, engine, item, 103, "executor").result()
    assert seen == [{}]
    rows = trail(database_url, audit)
    assert all(name == user for name, user, _ in rows if name.startswith("thread")), rows
    assert len([r for r in rows if r[0].startswith("thread")]) == 20
    assert ("new thread", None, None) in rows
    assert ("copied", "parent", None) in rows
    assert ("copy", "parent", None) in rows
    assert ("executor", None, None) in rows


def _write(engine: Engine, item: sa.Table, n: int, name: str) -> None:
    with engine.begin() as conn:
        conn.execute(item.insert().values(id=n, name=name))


@pytest.mark.parametrize("kind", sorted(SYNC))
def test_a_transaction_outside_any_context_sets_nothing(
    database_url: URL, hooked: Any, kind: str
) -> None:
    md, item, audit = model(required=False)
    create(database_url, md)
    engine = hooked(kind, pool_size=1, max_overflow=0)  # one connection, reused
    with engine.begin() as conn:
        # NULL, not '': no set_config of these names ever ran in this session.
        assert conn.execute(SETTINGS_NOW).one() == (None, None, None)
        conn.execute(item.insert().values(id=1, name="no context"))
    with audit_context(username="alice"), engine.begin() as conn:
        conn.execute(item.insert().values(id=2, name="context"))
    with engine.begin() as conn:  # the same connection: nothing left of the last transaction
        assert conn.execute(SETTINGS_NOW).one() == ("", None, "")
        conn.execute(item.insert().values(id=3, name="no context again"))
    assert trail(database_url, audit) == [
        ("no context", None, None),
        ("context", "alice", None),
        ("no context again", None, None),
    ]


@pytest.mark.parametrize("kind", ["psycopg2", "psycopg", "psycopg-apart"])
def test_context_entered_inside_an_open_transaction_applies_from_the_next_statement(
    database_url: URL, hooked: Any, kind: str
) -> None:
    md, item, audit = model(required=False)
    create(database_url, md)
    engine = hooked(kind)
    with engine.begin() as conn:
        conn.execute(item.insert().values(id=1, name="before"))
        with audit_context(username="alice"):
            conn.execute(item.insert().values(id=2, name="inside"))
            with audit_context(username="bob"):
                conn.execute(item.insert().values(id=3, name="nested"))
            conn.execute(item.insert().values(id=4, name="inside again"))
        conn.execute(item.insert().values(id=5, name="after"))
    assert [(n, u) for n, u, _ in trail(database_url, audit)] == [
        ("before", None),
        ("inside", "alice"),
        ("nested", "bob"),
        ("inside again", "alice"),
        ("after", None),
    ]


@pytest.mark.parametrize("kind", ["psycopg2", "psycopg"])
def test_values_set_after_a_savepoint_come_back_after_its_rollback(
    database_url: URL, hooked: Any, kind: str
) -> None:
    md, item, audit = model()
    create(database_url, md)
    engine = hooked(kind)
    with engine.begin() as conn:
        savepoint = conn.begin_nested()
        with audit_context(username="alice"):
            conn.execute(sa.text("SELECT 1"))  # sets alice after the savepoint
            savepoint.rollback()  # ... which undoes it
            conn.execute(item.insert().values(id=1, name="after rollback"))
    assert trail(database_url, audit) == [("after rollback", "alice", None)]


@pytest.mark.parametrize("kind", sorted(SYNC))
def test_values_are_bind_parameters(database_url: URL, hooked: Any, kind: str) -> None:
    md, item, audit = model()
    create(database_url, md)
    engine = hooked(kind)
    sent: list[str] = []
    sa.event.listen(engine, "after_cursor_execute", lambda *a: sent.append(a[2]))
    hostile = "x'); DROP--%s:a"
    with audit_context(username=hostile), engine.begin() as conn:
        conn.execute(item.insert().values(id=1, name="hostile"))
    assert trail(database_url, audit) == [("hostile", hostile, None)]
    assert sent and not any(hostile in s or "DROP" in s for s in sent)


def test_psycopg2_statement_forms_keep_working(database_url: URL, hooked: Any) -> None:
    md, item, audit = model()
    create(database_url, md)
    engine = hooked("psycopg2")
    with audit_context(username="forms"):
        with engine.begin() as conn:  # positional parameters
            conn.exec_driver_sql("INSERT INTO item (id, name) VALUES (%s, %s)", (1, "positional"))
        with engine.begin() as conn:  # no parameters at all: '%' is literal
            conn.exec_driver_sql(
                "INSERT INTO item (id, name) VALUES (2, '100% literal')",
                execution_options={"no_parameters": True},
            )
        with engine.begin() as conn:  # executemany as the first statement
            conn.exec_driver_sql(
                "UPDATE item SET name = name || %(s)s WHERE id = %(id)s",
                [{"s": "!", "id": 1}, {"s": "?", "id": 2}],
            )
        with engine.begin() as conn:  # a server-side cursor first
            result = conn.execute(
                sa.select(item.c.name).order_by(item.c.id),
                execution_options={"stream_results": True},
            )
            assert sorted(r.name for r in result) == ["100% literal?", "positional!"]
            conn.execute(item.insert().values(id=3, name="after streaming"))
        with engine.begin() as conn:  # insertmanyvalues with RETURNING
            ids = conn.execute(
                item.insert().returning(item.c.id), [{"id": 4, "name": "m"}, {"id": 5, "name": "n"}]
            ).scalars()
            assert sorted(ids) == [4, 5]
        with engine.begin() as conn:  # the rowcount is the statement's (the ORM checks it)
            changed = conn.execute(item.update().where(item.c.id > 3).values(name="o"))
            assert changed.rowcount == 2
    assert {user for _, user, _ in trail(database_url, audit)} == {"forms"}
    assert len(trail(database_url, audit)) == 9


@pytest.mark.parametrize("kind", ["psycopg", "psycopg-apart"])
def test_psycopg_statement_forms_keep_working(database_url: URL, hooked: Any, kind: str) -> None:
    md, item, audit = model()
    create(database_url, md)
    engine = hooked(kind)
    with audit_context(username="forms"):
        with engine.begin() as conn:
            result = conn.execute(item.insert().returning(item.c.id).values(id=1, name="returning"))
            assert result.scalar_one() == 1
        with engine.begin() as conn:  # the rowcount is the statement's (the ORM checks it)
            assert conn.execute(item.update().values(name="returning")).rowcount == 1
        with engine.begin() as conn:  # executemany first
            conn.exec_driver_sql(
                "UPDATE item SET name = name || %(s)s WHERE id = %(id)s",
                [{"s": "!", "id": 1}, {"s": "?", "id": 1}],
            )
        with engine.begin() as conn:  # a server-side cursor first
            result = conn.execute(
                sa.select(item.c.name).order_by(item.c.id),
                execution_options={"stream_results": True},
            )
            assert [r.name for r in result] == ["returning!?"]
            conn.execute(item.insert().values(id=2, name="after streaming"))
        # a failing statement raises as usual
        with engine.begin() as conn, pytest.raises(sa.exc.IntegrityError):
            conn.execute(item.insert().values(id=2, name="duplicate"))
    assert {user for _, user, _ in trail(database_url, audit)} == {"forms"}
    assert len(trail(database_url, audit)) == 5


@pytest.mark.parametrize("kind", ["psycopg2", "psycopg"])
def test_autocommit_statements_get_the_values(database_url: URL, hooked: Any, kind: str) -> None:
    md, item, audit = model()
    create(database_url, md)
    engine = hooked(kind, isolation_level="AUTOCOMMIT")
    with audit_context(username="auto"), engine.connect() as conn:
        conn.execute(item.insert().values(id=1, name="one"))
        conn.execute(item.insert().values(id=2, name="two"))  # its own transaction
    assert trail(database_url, audit) == [("one", "auto", None), ("two", "auto", None)]


def test_install_for_all_engines_and_uninstall(database_url: URL) -> None:
    md, item, audit = model()
    create(database_url, md)
    engine = sa.create_engine(with_driver(database_url, "psycopg"))
    sqlite = sa.create_engine("sqlite://")
    install_context()
    install_context()  # idempotent: the values are sent once
    try:
        with audit_context(username="everywhere"):
            with engine.begin() as conn:
                conn.execute(item.insert().values(id=1, name="global hook"))
            with sqlite.connect() as conn:  # other databases are left alone
                assert conn.exec_driver_sql("SELECT 1").scalar() == 1
    finally:
        alembic_audit.uninstall_context()
    with (
        pytest.raises(sa.exc.IntegrityError, match="no audit context was active"),
        audit_context(username="unhooked"),
        engine.begin() as conn,
    ):
        conn.execute(item.insert().values(id=2, name="after uninstall"))
    engine.dispose()
    assert trail(database_url, audit) == [("global hook", "everywhere", None)]


def test_install_refuses_an_unsupported_engine() -> None:
    with pytest.raises(alembic_audit.AuditError, match=r"sqlite\+pysqlite driver is not supported"):
        install_context(sa.create_engine("sqlite://"))


@pytest.mark.parametrize("kind", ["psycopg2", "psycopg", "psycopg-apart"])
def test_missing_required_setting_names_the_active_context(
    database_url: URL, hooked: Any, kind: str
) -> None:
    md, item, audit = model()
    create(database_url, md)
    engine = hooked(kind)
    with (
        pytest.raises(sa.exc.IntegrityError) as raised,
        audit_context(request_id=uuid.uuid4()),
        engine.begin() as conn,
    ):
        conn.execute(item.insert().values(id=1, name="x"))
    message = str(raised.value.orig)
    assert 'required audit setting "audit.username" is not set for a change to public.item' in (
        message
    )
    assert (
        "the active audit context is audit_context(request_id) entered in tests.test_context line"
        in (message)
    )
    assert "audit_context(username=...)" in message  # the hint
    with pytest.raises(sa.exc.IntegrityError) as raised, engine.begin() as conn:
        conn.execute(item.insert().values(id=2, name="y"))
    assert "no audit context was active" in str(raised.value.orig)
    assert trail(database_url, audit) == []


def test_asyncpg_error_names_the_context(database_url: URL) -> None:
    md, item, audit = model()
    create(database_url, md)

    async def run() -> str:
        engine = create_async_engine(with_driver(database_url, "asyncpg"))
        install_context(engine)
        try:
            with audit_context(request_id=uuid.uuid4()):
                async with engine.begin() as conn:
                    await conn.execute(item.insert().values(id=1, name="x"))
        except sa.exc.IntegrityError as error:
            return str(error.orig.__cause__.detail)  # type: ignore[union-attr]
        finally:
            alembic_audit.uninstall_context(engine)
            await engine.dispose()
        return "no error"

    assert asyncio.run(run()).startswith("the active audit context is audit_context(request_id)")
