"""A PostgreSQL server and scratch databases for tests, benchmarks and demos.

Migrations are best tested on a real PostgreSQL: :func:`postgresql_server` gives the
server at a URL you name, or starts an embedded one (``pip install
alembic-audit[embedded]``) when you name none, and :func:`scratch_database` creates an
empty database on it and drops it afterwards.  Nothing here is imported by
``import alembic_audit``.

Example::

    from alembic_audit.testing import postgresql_server, scratch_database

    with postgresql_server(os.environ.get("TEST_DATABASE_URL")) as server:
        with scratch_database(server.set(drivername="postgresql+psycopg")) as url:
            engine = sqlalchemy.create_engine(url)
            ...  # run the migrations, write, read the audit tables
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from .sql.quoting import quote
from .sql.statement import AuditDDL


@contextmanager
def postgresql_server(url: str | URL | None = None) -> Iterator[URL]:
    """The PostgreSQL server at ``url``, or an embedded one started for the ``with`` block.

    Yields the URL of the server's maintenance database without a driver
    (``postgresql://...``; pick one with ``url.set(drivername="postgresql+psycopg")``).
    Without ``url`` it starts a server from the ``pgserver`` package (the extra
    ``alembic-audit[embedded]``) in a temporary directory, and stops it and removes the
    directory when the block ends.  A given server is left as it is.

    Example::

        with postgresql_server() as server:  # embedded: postgresql://...?host=/tmp/...
            ...
        with postgresql_server("postgresql+psycopg://postgres@localhost/postgres") as server:
            print(server)  # postgresql://postgres@localhost/postgres
    """
    if url is not None:
        yield make_url(url).set(drivername="postgresql")
        return
    try:
        # Optional (alembic-audit[embedded]); where get_server is defined: the
        # package re-exports it without saying so, which mypy --strict refuses.
        from pgserver.postgres_server import get_server
    except ImportError as exc:
        raise ImportError(
            "an embedded PostgreSQL needs the pgserver package "
            "(pip install 'alembic-audit[embedded]'); or give the URL of a server"
        ) from exc
    with tempfile.TemporaryDirectory(
        prefix="alembic-audit-pg-", ignore_cleanup_errors=True
    ) as datadir:
        server = get_server(datadir, cleanup_mode="stop")
        try:
            yield make_url(server.get_uri()).set(drivername="postgresql")
        finally:
            server.cleanup()


@contextmanager
def scratch_database(
    server_url: str | URL,
    name: str | None = None,
    *,
    replace: bool = False,
    template: str | None = "template0",
) -> Iterator[URL]:
    """A new, empty database on the server of ``server_url``, dropped when the block ends.

    It connects as ``server_url`` (its driver included; use a database that exists,
    such as ``postgres``), runs ``CREATE DATABASE``, yields ``server_url`` pointing
    at the new database, and afterwards runs ``DROP DATABASE ... WITH (FORCE)``
    (PostgreSQL 13+), which ends the sessions still connected to it.  Without
    ``name`` the database gets a unique one (``alembic_audit_`` and 12 hex digits).
    ``replace=True`` first drops a database of that ``name`` if it exists (the
    leftover of an interrupted run with a fixed name); without it, an existing
    database is an error and is left untouched.  ``template`` is the database copied
    (``template0`` by default: empty, whatever ``template1`` holds; ``None`` for the
    server's default).

    Example::

        with scratch_database("postgresql+psycopg://postgres@localhost/postgres") as url:
            engine = sqlalchemy.create_engine(url)  # ...@localhost/alembic_audit_3f0c...
        with scratch_database(server, "bench", replace=True) as url:
            ...
    """
    server_url = make_url(server_url)
    if name is None:
        name = f"alembic_audit_{uuid.uuid4().hex[:12]}"
    database = quote(name)
    create = f"CREATE DATABASE {database}"
    if template is not None:
        create += f" TEMPLATE {quote(template)}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    try:
        with admin.connect() as conn:
            if replace:
                conn.execute(AuditDDL(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
            conn.execute(AuditDDL(create))
        try:
            yield server_url.set(database=name)
        finally:
            with admin.connect() as conn:
                conn.execute(AuditDDL(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
    finally:
        admin.dispose()


__all__ = ["postgresql_server", "scratch_database"]
