"""Alembic environment of the sample shop.

The two lines that matter for alembic-audit:

- ``from shop.models import metadata``: importing the models runs
  ``alembic_audit.enable()`` first, so the audit tables are part of ``metadata``;
- ``autogenerate_plugins=[..., "alembic_audit"]``: the comparator that writes
  ``op.create_audit_trigger`` / ``op.replace_audit_trigger`` / ``op.drop_audit_trigger``.

``include_schemas=True`` because the shop uses three schemas (``public``,
``inventory``, ``audit``); ``include_name`` keeps autogenerate away from any other
schema of the database.
"""

from __future__ import annotations

import os
from logging.config import fileConfig

from alembic import context
from shop.models import metadata
from sqlalchemy import Connection, create_engine, pool

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

SCHEMAS = {None, "public", "inventory", "audit"}


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Only the shop's schemas; within them, every table."""
    if type_ == "schema":
        return name in SCHEMAS
    return True


def configure_options() -> dict[str, object]:
    return dict(
        target_metadata=metadata,
        include_schemas=True,
        include_name=include_name,
        compare_type=True,
        autogenerate_plugins=["alembic.autogenerate.*", "alembic_audit"],
    )


def database_url() -> str:
    return os.environ.get("SHOP_DATABASE_URL") or config.get_main_option("sqlalchemy.url") or ""


def run_migrations_offline() -> None:
    """``alembic upgrade --sql``: write the SQL script instead of running it."""
    context.configure(
        url=database_url(),
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **configure_options(),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    # A caller (pytest-alembic, the demo) may hand over a connection or an engine.
    given = config.attributes.get("connection")
    if isinstance(given, Connection):
        run_migrations(given)
        return
    connectable = (
        given if given is not None else create_engine(database_url(), poolclass=pool.NullPool)
    )
    with connectable.connect() as connection:
        run_migrations(connection)


def run_migrations(connection: Connection) -> None:
    context.configure(connection=connection, **configure_options())
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
