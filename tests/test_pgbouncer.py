"""audit_context behind a real PgBouncer in transaction pooling mode.

Two clients share one server connection (``default_pool_size = 1``); their transactions
interleave on it.  Every audit row carries its own client's values, and a transaction
without a context gets none, even right after another client's on the same server
session.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.engine import URL, Engine

import alembic_audit
from alembic_audit import audit_context

from .fixtures.db import with_driver

#: (driver, same_round_trip); psycopg 3 needs prepare_threshold=None behind PgBouncer
#: (1.21 and older keep no prepared statements across server connections).
CLIENTS = {
    "psycopg2": ("psycopg2", True),
    "psycopg": ("psycopg", True),
    "psycopg-apart": ("psycopg", False),
}

WHO = sa.text(
    "SELECT pg_backend_pid(), current_setting('audit.username', true), "
    "current_setting('audit.request_id', true)"
)


def model() -> tuple[sa.MetaData, sa.Table, sa.Table]:
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
                    sa.Column("username", sa.String(20)),
                    sa.Column("request_id", UUID),
                ],
            }
        },
    )
    return md, item, md.tables["item_audit"]


def client(url: URL, kind: str) -> Engine:
    driver, same_round_trip = CLIENTS[kind]
    connect_args = {"prepare_threshold": None} if driver == "psycopg" else {}
    engine = sa.create_engine(
        with_driver(url, driver), pool_size=1, max_overflow=0, connect_args=connect_args
    )
    alembic_audit.install_context(engine, same_round_trip=same_round_trip)
    return engine


def prepare(database_url: URL) -> tuple[sa.Table, sa.Table]:
    md, item, audit = model()
    direct = sa.create_engine(with_driver(database_url, "psycopg"), poolclass=sa.NullPool)
    md.create_all(direct)
    alembic_audit.install_audit_triggers(md, direct)
    direct.dispose()
    return item, audit


def rows(database_url: URL, audit: sa.Table) -> list[tuple[Any, ...]]:
    direct = sa.create_engine(with_driver(database_url, "psycopg"), poolclass=sa.NullPool)
    try:
        with direct.connect() as conn:
            query = sa.select(audit.c.name, audit.c.audit_username, audit.c.audit_request_id)
            return [tuple(r) for r in conn.execute(query.order_by(audit.c.id))]
    finally:
        direct.dispose()


@pytest.mark.parametrize("kind", sorted(CLIENTS))
def test_two_clients_interleave_on_one_server_connection(
    database_url: URL, pgbouncer: URL, kind: str
) -> None:
    item, audit = prepare(database_url)
    alice, bob = client(pgbouncer, kind), client(pgbouncer, kind)
    rid = {"alice": uuid.uuid4(), "bob": uuid.uuid4()}
    pids: set[int] = set()
    seen_without_context: list[tuple[Any, ...]] = []
    n = 0

    def write(engine: Engine, name: str, **values: Any) -> None:
        nonlocal n
        n += 1
        with audit_context(**values) if values else _no_context(), engine.begin() as conn:
            conn.execute(item.insert().values(id=n, name=name))
            pid, *settings = conn.execute(WHO).one()
            pids.add(pid)
            if not values:
                seen_without_context.append(tuple(settings))

    try:
        for round_ in range(4):
            write(alice, f"alice {round_}", username="alice", request_id=rid["alice"])
            write(bob, f"bob {round_}", username="bob", request_id=rid["bob"])
            write(alice, f"alice {round_} bare")
            write(bob, f"bob {round_} bare")
            write(bob, f"bob {round_} again", username="bob", request_id=rid["bob"])
            write(alice, f"alice {round_} again", username="alice")
    finally:
        alice.dispose()
        bob.dispose()

    assert len(pids) == 1, "the clients did not share one server connection"
    # Nothing of the other client's (nor of one's own last) transaction is visible.
    assert set(seen_without_context) <= {(None, None), ("", ""), ("", None), (None, "")}
    expected = []
    for round_ in range(4):
        expected += [
            (f"alice {round_}", "alice", rid["alice"]),
            (f"bob {round_}", "bob", rid["bob"]),
            (f"alice {round_} bare", None, None),
            (f"bob {round_} bare", None, None),
            (f"bob {round_} again", "bob", rid["bob"]),
            (f"alice {round_} again", "alice", None),
        ]
    assert rows(database_url, audit) == expected


class _no_context:  # noqa: N801
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


@pytest.mark.parametrize("kind", ["psycopg2", "psycopg"])
def test_concurrent_clients_through_one_server_connection(
    database_url: URL, pgbouncer: URL, kind: str
) -> None:
    item, audit = prepare(database_url)
    engines = [client(pgbouncer, kind) for _ in range(3)]
    pids: set[int] = set()

    def work(k: int) -> None:
        for step in range(15):
            with audit_context(username=f"client{k}"), engines[k].begin() as conn:
                conn.execute(item.insert().values(id=k * 100 + step, name=f"client{k}"))
                pids.add(conn.execute(WHO).one()[0])
            if step % 3 == 0:  # and some transactions outside any context
                with engines[k].begin() as conn:
                    conn.execute(item.insert().values(id=k * 100 + 50 + step, name="bare"))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for engine in engines:
        engine.dispose()
    found = rows(database_url, audit)
    assert len(pids) == 1
    assert len(found) == 3 * 15 + 3 * 5
    for name, user, _ in found:
        assert user == (None if name == "bare" else name), (name, user)
