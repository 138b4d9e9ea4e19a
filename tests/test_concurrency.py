"""Eight concurrent writers, thousands of mixed transactions, a share rolled back:
the audit rows are exactly the committed changes, none lost and none phantom.

Every transaction tags itself with a session setting (``audit_txn``) and records,
through ``RETURNING``, the row images the audit must hold (new image for INSERT and
UPDATE, old image for DELETE).  All writers also update a few shared "hot" rows, so
they wait on each other's row locks; each transaction touches at most one hot row,
which keeps them free of deadlocks.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy import Column, Integer, MetaData, String, Table
from sqlalchemy.engine import URL, Connection, Engine

from alembic_audit import install_audit_triggers, set_session_vars
from tests.fixtures.db import with_driver

WRITERS = 8
TRANSACTIONS_PER_WRITER = 250  # 2,000 transactions in all, about 5,000 statements
ROLLBACK_SHARE = 0.2
HOT_ROWS = 4
RANGE = 1_000_000  # writer w owns ids w * RANGE + 1 ...

Image = tuple[str, int, int, int]  # (operation, id, owner, amount)


def make_model(level: str) -> tuple[MetaData, Table, Table]:
    md = MetaData()
    acct = Table(
        "acct",
        md,
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("owner", Integer, nullable=False),
        Column("amount", Integer, nullable=False),
        info={
            "audit.options": {
                "enabled": True,
                "level": level,
                "session_settings": [Column("txn", String, nullable=False)],
            }
        },
    )
    return md, acct, md.tables["acct_audit"]


@pytest.fixture
def pool_engine(database_url: URL) -> Iterator[Engine]:
    engine = sa.create_engine(
        with_driver(database_url, "psycopg"), pool_size=WRITERS, max_overflow=0
    )
    yield engine
    engine.dispose()


def _writer(
    engine: Engine,
    acct: Table,
    writer: int,
    committed: dict[str, list[Image]],
    rolled_back: set[str],
    errors: list[BaseException],
) -> None:
    rng = random.Random(writer)
    mine: dict[int, int] = {}  # id -> amount of the writer's committed rows
    next_id = writer * RANGE + 1
    try:
        with engine.connect() as conn:
            for n in range(TRANSACTIONS_PER_WRITER):
                tag = f"w{writer}-{n}"
                images: list[Image] = []
                pending = dict(mine)
                with conn.begin() as tx:
                    set_session_vars(conn, txn=tag)
                    hot_done = False
                    for _ in range(rng.randint(1, 3)):
                        images += _one_change(conn, acct, rng, writer, pending, next_id, hot_done)
                        if images and images[-1][1] <= HOT_ROWS:
                            hot_done = True
                        next_id = max([next_id, *(i[1] + 1 for i in images if i[1] > HOT_ROWS)])
                    if rng.random() < ROLLBACK_SHARE:
                        tx.rollback()
                        rolled_back.add(tag)
                        continue
                committed[tag] = images
                mine = pending
    except BaseException as exc:  # reported by the main thread
        errors.append(exc)


def _one_change(
    conn: Connection,
    acct: Table,
    rng: random.Random,
    writer: int,
    pending: dict[int, int],
    next_id: int,
    hot_done: bool,
) -> list[Image]:
    choice = rng.random()
    if choice < 0.4 or not pending:
        ids = [next_id + i for i in range(rng.randint(1, 3))]
        rows = [{"id": i, "owner": writer, "amount": rng.randint(0, 99)} for i in ids]
        result = conn.execute(acct.insert().returning(*acct.c), rows)
        out = [("I", r.id, r.owner, r.amount) for r in result]
    elif choice < 0.65 and not hot_done:
        hot = rng.randint(1, HOT_ROWS)
        result = conn.execute(
            acct.update()
            .where(acct.c.id == hot)
            .values(amount=acct.c.amount + 1, owner=writer)
            .returning(*acct.c)
        )
        return [("U", r.id, r.owner, r.amount) for r in result]
    elif choice < 0.85:
        target = rng.choice(sorted(pending))
        result = conn.execute(
            acct.update()
            .where(acct.c.id == target)
            .values(amount=acct.c.amount + rng.randint(1, 9))
            .returning(*acct.c)
        )
        out = [("U", r.id, r.owner, r.amount) for r in result]
    else:
        target = rng.choice(sorted(pending))
        result = conn.execute(acct.delete().where(acct.c.id == target).returning(*acct.c))
        out = [("D", r.id, r.owner, r.amount) for r in result]
        pending.pop(target, None)
        return out
    for op, id_, _, amount in out:
        if op != "D":
            pending[id_] = amount
    return out


@pytest.mark.parametrize("level", ["row", "statement"])
def test_concurrent_writers_audit_exactly_the_committed_changes(
    pool_engine: Engine, level: str
) -> None:
    md, acct, audit = make_model(level)
    md.create_all(pool_engine)
    install_audit_triggers(md, pool_engine)
    with pool_engine.begin() as conn:
        set_session_vars(conn, txn="setup")
        conn.execute(acct.insert(), [{"id": i, "owner": 0, "amount": 0} for i in range(1, 5)])

    committed: dict[str, list[Image]] = {"setup": [("I", i, 0, 0) for i in range(1, 5)]}
    rolled_back: set[str] = set()
    errors: list[BaseException] = []
    threads = [
        threading.Thread(
            target=_writer, args=(pool_engine, acct, w, committed, rolled_back, errors)
        )
        for w in range(1, WRITERS + 1)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(committed) + len(rolled_back) == WRITERS * TRANSACTIONS_PER_WRITER + 1
    assert len(rolled_back) > 0.1 * WRITERS * TRANSACTIONS_PER_WRITER

    with pool_engine.connect() as conn:
        found: dict[str, Counter[Image]] = {}
        for r in conn.execute(
            sa.select(
                audit.c.audit_txn,
                audit.c.audit_operation,
                audit.c.id,
                audit.c.owner,
                audit.c.amount,
            )
        ):
            found.setdefault(r[0], Counter())[(r[1], r[2], r[3], r[4])] += 1
        final = {r.id: r.amount for r in conn.execute(sa.select(acct))}

    expected = {tag: Counter(images) for tag, images in committed.items() if images}
    assert set(found) & rolled_back == set()  # no phantom rows from rolled-back work
    assert found == expected  # nothing lost, nothing extra, per transaction
    assert sum(sum(c.values()) for c in found.values()) > 2 * WRITERS * TRANSACTIONS_PER_WRITER

    # The hot rows' final amounts equal the number of committed increments...
    increments = Counter(
        image[1] for images in committed.values() for image in images if image[1] <= HOT_ROWS
    )
    for hot in range(1, HOT_ROWS + 1):
        assert final[hot] == increments[hot] - 1  # minus its setup INSERT

    # ... and audit_id orders each row's changes as they happened, whichever transaction
    # began first: replayed in that order, a hot row counts up one by one, and every
    # row's last image is its final state (or it is deleted).
    with pool_engine.connect() as conn:
        history = conn.execute(
            sa.select(
                audit.c.id,
                audit.c.audit_operation,
                audit.c.amount,
                audit.c.audit_txn,
                audit.c.audit_transaction_id,
            ).order_by(audit.c.audit_id)
        ).all()
    by_row: dict[int, list[tuple[str, int]]] = {}
    xids: dict[str, set[int]] = {}
    for id_, op, amount, tag, xid in history:
        by_row.setdefault(id_, []).append((op, amount))
        xids.setdefault(tag, set()).add(xid)
    for hot in range(1, HOT_ROWS + 1):
        assert [amount for _, amount in by_row[hot]] == list(range(final[hot] + 1))
    for id_, changes in by_row.items():
        op, amount = changes[-1]
        assert (op == "D") if id_ not in final else (amount == final[id_])
    # One transaction, one transaction id; no two transactions share one.
    assert all(len(ids) == 1 for ids in xids.values())
    assert len({next(iter(ids)) for ids in xids.values()}) == len(xids)
