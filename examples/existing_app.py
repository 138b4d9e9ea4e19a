"""Auditing an existing application: models written without auditing, one ``audit()`` call,
the first autogenerate, then writes as a user, and ``alembic check``.

Run: ``python examples/existing_app.py [DATABASE_URL]``; without a URL it starts an embedded
PostgreSQL (``pip install alembic-audit[embedded]``).  It writes a throwaway Alembic project
into a temporary directory; its ``env.py`` imports this file's models, as yours imports your
application's.
"""

from __future__ import annotations

import io
import sys
import tempfile
import uuid
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

import alembic_audit


# -- the application's models, as they were before auditing --------------------------------
class Base(DeclarativeBase):
    pass


class Customer(Base):
    __tablename__ = "customer"
    __table_args__ = (sa.UniqueConstraint("email"),)  # its own table args: no mixin possible
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(200))
    password_hash: Mapped[str | None] = mapped_column(sa.String(100))


class Order(Base):
    __tablename__ = "order"
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(sa.ForeignKey("customer.id"))
    total: Mapped[int]


order_tag = sa.Table(  # a Core association table
    "order_tag",
    Base.metadata,
    sa.Column("order_id", sa.ForeignKey("order.id"), primary_key=True),
    sa.Column("tag", sa.String(30), primary_key=True),
)

sessions = sa.Table("sessions", Base.metadata, sa.Column("key", sa.String(64), primary_key=True))

# -- step 2: one call, once every model is imported ------------------------------------------
alembic_audit.audit(
    Base.metadata,
    exclude=["sessions"],
    session_settings=[sa.Column("username", sa.String(50))],
    table_options={"customer": {"exclude": ["password_hash"]}, "order": {"level": "row"}},
)

ENV_PY = """
import importlib.util
import sys

from alembic import context
from sqlalchemy import create_engine

# In your env.py: from myapp.models import Base (which imports the models, then audits them).
spec = importlib.util.spec_from_file_location("existing_app", {models!r})
models = sys.modules["existing_app"] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(models)

engine = create_engine(context.config.get_main_option("sqlalchemy.url"))
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=models.Base.metadata)
    with context.begin_transaction():
        context.run_migrations()
"""


def main(url: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        (project / "versions").mkdir()
        (project / "env.py").write_text(ENV_PY.format(models=str(Path(__file__).resolve())))
        template = Path(command.__file__).parent / "templates" / "generic" / "script.py.mako"
        (project / "script.py.mako").write_text(template.read_text())
        config = Config(stdout=io.StringIO())
        config.set_main_option("script_location", str(project))
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))

        # -- step 4: the first autogenerate ----------------------------------------------------
        script = command.revision(config, "audit every table", autogenerate=True)
        assert script is not None and not isinstance(script, list) and script.path
        source = Path(script.path).read_text()
        print("audit triggers in the first revision:", source.count("op.create_audit_trigger("))
        command.upgrade(config, "head")

        # -- step 5: the application tells the trail who writes -------------------------------
        engine = sa.create_engine(url)
        with Session(engine) as session, session.begin():
            alembic_audit.set_session_vars(session, username="alice")
            customer = Customer(email=f"ada.{uuid.uuid4().hex[:6]}@example.org")
            session.add(customer)
            session.flush()
            session.add(Order(customer_id=customer.id, total=42))
            session.flush()
            session.execute(order_tag.insert().values(order_id=1, tag="gift"))
        with engine.connect() as conn:
            for name in ("customer_audit", "order_audit", "order_tag_audit"):
                table = Base.metadata.tables[name]
                rows = conn.execute(sa.select(table.c.audit_operation, table.c.audit_username))
                print(f"{name}: {[tuple(r) for r in rows]}")
        print("password_hash audited:", "password_hash" in Base.metadata.tables["customer_audit"].c)
        engine.dispose()
        command.check(config)  # raises if autogenerate would find anything
        print("alembic check: nothing to do")
        command.downgrade(config, "base")


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
