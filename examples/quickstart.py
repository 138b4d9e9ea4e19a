"""Quick start: audit one table, write a few rows as two users, print the trail.

Run: ``python examples/quickstart.py [DATABASE_URL]``; without a URL it starts an
embedded PostgreSQL (``pip install alembic-audit[embedded]``).
"""

from __future__ import annotations

import sys
import tempfile
import uuid

from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, select
from sqlalchemy.dialects.postgresql import UUID

import alembic_audit

alembic_audit.enable()  # before any audited table is defined

metadata = MetaData()
product = Table(
    "product",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(80), nullable=False),
    Column("price", Integer, nullable=False),
    info={
        "audit.options": {
            "enabled": True,
            "session_settings": [
                Column("username", String(50), nullable=False),  # required
                Column("request_id", UUID),  # optional
            ],
        }
    },
)
product_audit = metadata.tables["product_audit"]


def main(url: str) -> None:
    engine = create_engine(url)
    metadata.drop_all(engine)
    metadata.create_all(engine)
    alembic_audit.install_audit_triggers(metadata, engine)

    with engine.begin() as conn:
        alembic_audit.set_session_vars(conn, username="alice", request_id=uuid.uuid4())
        conn.execute(product.insert(), [{"id": 1, "name": "pen", "price": 150}])
    with engine.begin() as conn:
        alembic_audit.set_session_vars(conn, username="bob")
        conn.execute(product.update().where(product.c.id == 1).values(price=175))
        conn.execute(product.delete().where(product.c.id == 1))

    with engine.connect() as conn:
        rows = conn.execute(
            select(
                product_audit.c.audit_operation,
                product_audit.c.audit_username,
                product_audit.c.id,
                product_audit.c.name,
                product_audit.c.price,
            ).order_by(product_audit.c.audit_operation_timestamp)
        ).all()
    print(f"{'op':<3} {'user':<8} {'id':>3} {'name':<6} {'price':>6}")
    for op, user, id_, name, price in rows:
        print(f"{op:<3} {user:<8} {id_:>3} {name:<6} {price:>6}")
    assert [r[0] for r in rows] == ["I", "U", "D"], rows
    engine.dispose()


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(sys.argv[1])
    else:
        import pgserver

        with tempfile.TemporaryDirectory() as datadir:
            server = pgserver.get_server(datadir, cleanup_mode="stop")
            try:
                main(server.get_uri().replace("postgresql://", "postgresql+psycopg://", 1))
            finally:
                server.cleanup()
