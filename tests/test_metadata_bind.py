"""``meta.bind = engine``, left by a script written for sqlalchemy-postgresql-audit on
SQLAlchemy 1.x: ``install_audit_triggers(meta)`` and the other helpers run on that bind
(with a DeprecationWarning saying to pass it), as the seed did; they never hand back a
script in silence, and anything else in ``meta.bind`` is refused before any DDL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa
from sqlalchemy import Column, Integer, MetaData, String, Table
from sqlalchemy.engine import Engine

import alembic_audit
from alembic_audit import AuditError
from tests.fixtures.catalog import triggers

if TYPE_CHECKING:
    from tests.fixtures.roles import Roles


def models() -> tuple[MetaData, Table]:
    metadata = MetaData()
    item = Table(
        "item",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("name", String),
        info={"audit.options": {"enabled": True}},
    )
    return metadata, item


@pytest.mark.parametrize("bound", ["engine", "connection"])
def test_install_and_uninstall_run_on_metadata_bind(engine: Engine, bound: str) -> None:
    metadata, item = models()
    metadata.create_all(engine)
    with engine.connect() as conn:
        metadata.bind = engine if bound == "engine" else conn  # type: ignore[attr-defined]
        with pytest.warns(
            DeprecationWarning,
            match=r"pass the engine instead: install_audit_triggers\(metadata, engine\)",
        ):
            assert alembic_audit.install_audit_triggers(metadata) is None
        if bound == "connection":
            conn.commit()
    assert len(triggers(engine)) == 4  # statement level: one trigger per event
    with engine.begin() as conn:
        conn.execute(item.insert().values(id=1, name="pen"))
    with engine.connect() as conn:
        assert conn.execute(sa.select(metadata.tables["item_audit"].c.name)).all() == [("pen",)]

    metadata.bind = engine  # type: ignore[attr-defined]
    with pytest.warns(DeprecationWarning, match=r"uninstall_audit_triggers\(metadata, engine\)"):
        assert alembic_audit.uninstall_audit_triggers(metadata) is None
    assert triggers(engine) == {}


def test_grants_run_on_metadata_bind(psycopg_engine: Engine, roles: Roles) -> None:
    metadata, _ = models()
    metadata.create_all(psycopg_engine)
    alembic_audit.install_audit_triggers(metadata, psycopg_engine)  # grants need it
    writer = roles.create("writer")
    metadata.bind = psycopg_engine  # type: ignore[attr-defined]
    with pytest.warns(DeprecationWarning, match=r"grant_audit_access\(metadata, engine\)"):
        assert alembic_audit.grant_audit_access(metadata, writer) is None
    with psycopg_engine.connect() as conn:
        granted = conn.execute(
            sa.text("SELECT has_table_privilege(:role, 'public.item', 'INSERT')"),
            {"role": writer},
        ).scalar()
    assert granted is True
    with pytest.warns(DeprecationWarning, match=r"revoke_audit_access\(metadata, engine\)"):
        assert alembic_audit.revoke_audit_access(metadata, writer) is None


@pytest.mark.parametrize(
    "call",
    [
        alembic_audit.install_audit_triggers,
        alembic_audit.uninstall_audit_triggers,
        lambda metadata: alembic_audit.grant_audit_access(metadata, "app"),
        lambda metadata: alembic_audit.revoke_audit_access(metadata, "app"),
    ],
    ids=["install", "uninstall", "grant", "revoke"],
)
def test_metadata_bind_that_cannot_run_anything_is_refused(call: object) -> None:
    metadata, _ = models()
    metadata.bind = "postgresql://localhost/shop"  # type: ignore[attr-defined]
    with pytest.raises(AuditError, match=r"metadata\.bind is a str, not an Engine") as error:
        call(metadata)  # type: ignore[operator]
    assert "pass the engine" in str(error.value)


def test_without_any_bind_the_script_is_returned() -> None:
    metadata, _ = models()
    script = alembic_audit.install_audit_triggers(metadata)
    assert script is not None and "CREATE OR REPLACE FUNCTION" in script
