"""audit_context: who and which request travel with the code, not with each transaction.

Run: ``python examples/audit_context.py [DATABASE_URL]``; without a URL it starts an
embedded PostgreSQL (``pip install alembic-audit[embedded]``).
"""

from __future__ import annotations

import sys
import tempfile
import uuid

from sqlalchemy import Column, Integer, String, create_engine, select
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

import alembic_audit
from alembic_audit import audit_context

alembic_audit.enable()  # before any audited table is defined


class Base(DeclarativeBase):
    pass


class Product(Base):
    __tablename__ = "product"
    __table_args__ = {
        "info": {
            "audit.options": {
                "enabled": True,
                "session_settings": [
                    Column("username", String(50), nullable=False),  # required
                    Column("request_id", UUID),  # optional
                ],
            }
        }
    }
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    price: Mapped[int]


product = Product.__table__
product_audit = Base.metadata.tables["product_audit"]


@audit_context(username="nightly-reprice")
def reprice(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(product.update().values(price=product.c.price + 10))


def main(url: str) -> None:
    engine = create_engine(url)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    alembic_audit.install_audit_triggers(Base.metadata, engine)
    alembic_audit.install_context(engine)  # once, at startup

    request_id = uuid.UUID(int=1)
    with audit_context(username="alice", request_id=request_id):
        with Session(engine) as session, session.begin():
            session.add(Product(id=1, name="pen", price=150))  # no set_session_vars
        with audit_context(username="bob"), engine.begin() as conn:  # request_id stays
            conn.execute(product.update().values(price=175))
    reprice(engine)

    with engine.connect() as conn:
        rows = conn.execute(
            select(
                product_audit.c.audit_operation,
                product_audit.c.audit_username,
                product_audit.c.audit_request_id,
                product_audit.c.price,
            ).order_by(product_audit.c.audit_operation_timestamp, product_audit.c.price)
        ).all()
    print(f"{'op':<3} {'user':<16} {'request':<8} {'price':>5}")
    for op, user, rid, price in rows:
        print(f"{op:<3} {user:<16} {str(rid)[-8:] if rid else '-':<8} {price:>5}")
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
