"""Erasure (``redact``): one key's personal data leaves every audit row of its history, on
the record, and the audit table stays append-only for everything else."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

import alembic_audit
from alembic_audit.core.errors import AuditError


def shop(engine: Engine, **options: Any) -> tuple[sa.Table, sa.Table]:
    md = sa.MetaData()
    customer = sa.Table(
        "customer",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("email", sa.String(12)),
        sa.Column("phone", sa.Text),
        sa.Column("age", sa.Integer),
        info={
            "audit.options": {
                "enabled": True,
                "append_only": True,
                "session_settings": [sa.Column("username", sa.String(40))],
                **options,
            }
        },
    )
    md.create_all(engine)
    alembic_audit.install_audit_triggers(md, engine)
    with engine.begin() as conn:
        alembic_audit.set_session_vars(conn, username="clerk")
        conn.execute(
            customer.insert().values(
                [
                    {"id": 42, "email": "ada@x.org", "phone": "555-1", "age": 36},
                    {"id": 7, "email": "bob@x.org", "phone": "555-2", "age": 50},
                ]
            )
        )
        conn.execute(customer.update().where(customer.c.id == 42).values(phone="555-3"))
        conn.execute(customer.update().where(customer.c.id == 42).values(email="ada@y.org"))
        conn.execute(customer.update().where(customer.c.id == 42).values(age=37))
        conn.execute(customer.delete().where(customer.c.id == 42))
    return customer, md.tables["customer_audit"]


def history(engine: Engine, audit: sa.Table, key: int) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return conn.execute(
            sa.select(audit.c.audit_operation, audit.c.email, audit.c.phone, audit.c.age)
            .where(audit.c.id == key)
            .order_by(audit.c.audit_id)
        ).all()


@pytest.mark.parametrize("partition", [None, {"by": "month"}])
def test_redact_nulls_the_columns_of_every_row_of_the_key_and_nothing_else(
    engine: Engine, partition: Any
) -> None:
    _, audit = shop(engine, partition=partition)
    bob = history(engine, audit, 7)
    report = alembic_audit.redact(engine, "customer", 42, columns=["email", "phone"], note="GDPR")
    assert history(engine, audit, 42) == [
        ("I", None, None, 36),
        ("U", None, None, 36),
        ("U", None, None, 36),
        ("U", None, None, 37),
        ("D", None, None, 37),
    ]
    assert history(engine, audit, 7) == bob
    assert (report.rows, report.columns, report.key) == (5, ("email", "phone"), {"id": 42})
    (entry,) = alembic_audit.maintenance_log(engine)
    assert (entry["action"], entry["row_key"], entry["columns"], entry["row_count"]) == (
        "redact",
        {"id": 42},
        ["email", "phone"],
        5,
    )
    assert (entry["destination"], entry["note"]) == ("null", "GDPR")
    # Append-only for everyone else, the owner included, right after.
    with (
        pytest.raises(sa.exc.DBAPIError, match="append-only: UPDATE refused"),
        engine.begin() as conn,
    ):
        conn.execute(audit.update().values(email=None))


def test_redact_by_hash_keeps_equal_values_equal(engine: Engine) -> None:
    _, audit = shop(engine)
    alembic_audit.redact(
        engine,
        "customer_audit",
        {"id": 42},
        columns=["email", "phone", "audit_username"],
        mode="hash",
        hash_key="k",
    )
    rows = history(engine, audit, 42)
    emails = [r[1] for r in rows]
    phones = [r[2] for r in rows]
    # varchar(12) keeps the first 12 hex digits; the email changed once, the phone once.
    assert all(len(e) == 12 and e not in ("ada@x.org", "ada@y.org") for e in emails)
    assert emails[0] == emails[1] != emails[2] == emails[3] == emails[4]
    assert len(set(phones)) == 2 and all(len(p) == 64 for p in phones)
    with engine.connect() as conn:
        users = set(
            conn.execute(sa.select(audit.c.audit_username).where(audit.c.id == 42)).scalars()
        )
    expected = hashlib.sha256(b"k" + b"555-1").hexdigest()
    assert phones[0] == expected
    assert len(users) == 1 and "clerk" not in users


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((42, ["id"]), {}, "column 'id' is part of the primary key"),
        ((42, ["nope"]), {}, "no column 'nope' to redact"),
        ((42, ["audit_operation"]), {}, "no column 'audit_operation' to redact"),
        ((42, ["age"]), {"mode": "hash"}, "column 'age' is integer, which cannot hold a hash"),
        ((42, []), {}, "columns must be a non-empty list"),
        (((42, 1), ["email"]), {}, "give one value per column"),
        (({"key": 42}, ["email"]), {}, "must give exactly the primary key columns ['id']"),
        ((42, ["email"]), {"mode": "scramble"}, "mode must be one of ['null', 'hash']"),
    ],
)
def test_redact_refuses_bad_input_before_any_change(
    engine: Engine, args: tuple[Any, ...], kwargs: dict[str, Any], message: str
) -> None:
    _, audit = shop(engine)
    before = history(engine, audit, 42)
    with pytest.raises(AuditError) as err:
        alembic_audit.redact(engine, "customer", *args, **kwargs)
    assert message in str(err.value)
    assert history(engine, audit, 42) == before
    assert alembic_audit.maintenance_log(engine) == []
