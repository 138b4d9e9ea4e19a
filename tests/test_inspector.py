"""The advanced inspector reads what install_audit_triggers created, in two queries."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

import alembic_audit
from alembic_audit.reflection import PGAdvancedInspector
from alembic_audit.sql.function import audit_function
from alembic_audit.sql.objects import spec_triggers
from alembic_audit.sql.quoting import qualify, quote
from tests.fixtures.db import with_driver


def _models(n: int = 3) -> sa.MetaData:
    metadata = sa.MetaData()
    sa.Table(
        "Order",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("select", sa.String(20)),
        schema="Mixed Schema",
        info={"audit.options": {"enabled": True, "schema": "audit"}},
    )
    sa.Table(
        "user",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        info={"audit.options": {"enabled": True, "level": "row"}},
    )
    for i in range(n):
        sa.Table(
            f"t{i}",
            metadata,
            sa.Column("id", sa.Integer, primary_key=True),
            info={"audit.options": {"enabled": True}},
        )
    return metadata


def _setup(engine: Engine, metadata: sa.MetaData) -> None:
    with engine.begin() as conn:
        for schema in ("Mixed Schema", "audit"):
            conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {quote(schema)}")
        metadata.create_all(conn)
        alembic_audit.install_audit_triggers(metadata, conn)


@pytest.fixture
def installed(engine: Engine) -> Iterator[tuple[Engine, sa.MetaData]]:
    metadata = _models()
    _setup(engine, metadata)
    yield engine, metadata


def _specs(metadata: sa.MetaData) -> list[alembic_audit.AuditSpec]:
    return [alembic_audit.get_audit_spec(t) for t in alembic_audit.audited_tables(metadata)]


def test_reads_specs_and_triggers_as_created(installed: tuple[Engine, sa.MetaData]) -> None:
    engine, metadata = installed
    specs = _specs(metadata)
    with engine.connect() as conn:
        catalog = PGAdvancedInspector(conn).reflect(specs)
    assert catalog.queries == 2
    assert catalog.orphans == []
    assert set(catalog.by_table) == {s.qualified_table for s in specs}
    for spec in specs:
        found = catalog.by_table[spec.qualified_table]
        assert found.spec == spec
        assert found.function is not None
        # Compared as data: the catalog's rows against the definitions the spec renders.
        assert found.function.source == audit_function(spec).body
        assert found.function.header == audit_function(spec).header
        assert not any(t.extra for t in found.triggers)
        assert sorted((t.trigger for t in found.triggers), key=lambda s: s.key) == sorted(
            spec_triggers(spec), key=lambda s: s.key
        )
        assert {t.enabled for t in found.triggers} == {"O"}
        assert all(t.sql.startswith("CREATE TRIGGER") for t in found.triggers)


def test_without_wanted_specs_finds_everything_by_its_comment(
    installed: tuple[Engine, sa.MetaData],
) -> None:
    engine, metadata = installed
    with engine.connect() as conn:
        catalog = PGAdvancedInspector(conn).reflect()
    assert {f.spec for f in catalog.functions} == set(_specs(metadata))


def _recorder(statements: list[str]) -> Callable[..., None]:
    def record(*args: Any) -> None:
        statements.append(args[2])

    return record


def test_query_count_does_not_grow_with_tables(database_url: URL) -> None:
    engine = sa.create_engine(with_driver(database_url, "psycopg"))
    counts = []
    try:
        for n in (1, 30):
            metadata = _models(n)
            _setup(engine, metadata)
            statements: list[str] = []
            with engine.connect() as conn:
                sa.event.listen(conn, "before_cursor_execute", _recorder(statements))
                catalog = PGAdvancedInspector(conn).reflect(_specs(metadata))
            assert len(catalog.by_table) == n + 2
            counts.append(len(statements))
    finally:
        engine.dispose()
    assert counts == [2, 2]


def test_sees_hand_made_drift(installed: tuple[Engine, sa.MetaData]) -> None:
    engine, metadata = installed
    user = alembic_audit.get_audit_spec(metadata.tables["user"])
    t0 = alembic_audit.get_audit_spec(metadata.tables["t0"])
    t1 = alembic_audit.get_audit_spec(metadata.tables["t1"])
    with engine.begin() as conn:
        # A body rewritten without our comment: still found by its name.
        conn.exec_driver_sql(
            f"CREATE OR REPLACE FUNCTION {qualify(*user.qualified_function)}() "
            "RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NULL; END;$$"
        )
        conn.exec_driver_sql(
            f"ALTER TABLE {qualify(*t0.qualified_table)} "
            f"DISABLE TRIGGER {quote(t0.trigger_names[0])}"
        )
        conn.exec_driver_sql(
            f"DROP TRIGGER {quote(t1.trigger_names[1])} ON {qualify(*t1.qualified_table)}"
        )
        conn.exec_driver_sql(
            f"CREATE TRIGGER {quote(t1.trigger_names[1])} BEFORE UPDATE "
            f"ON {qualify(*t1.qualified_table)} "
            f"FOR EACH ROW EXECUTE FUNCTION {qualify(*t1.qualified_function)}()"
        )
    with engine.connect() as conn:
        catalog = PGAdvancedInspector(conn).reflect(_specs(metadata))
    found_user = catalog.by_table[user.qualified_table]
    assert found_user.function is not None and found_user.spec is None
    assert "BEGIN RETURN NULL" in found_user.function.sql
    assert len(found_user.triggers) == len(user.trigger_names)
    enabled = {t.name: t.enabled for t in catalog.by_table[t0.qualified_table].triggers}
    assert enabled[t0.trigger_names[0]] == "D"
    found_t1 = {t.name: t.trigger for t in catalog.by_table[t1.qualified_table].triggers}
    assert found_t1[t1.trigger_names[1]].timing == "BEFORE"
    assert found_t1[t1.trigger_names[1]].for_each_row
    assert found_t1[t1.trigger_names[1]].new_table is None
    assert found_t1[t1.trigger_names[1]] != spec_triggers(t1)[1]


# -- what the inspector trusts ----------------------------------------------------------------


def test_reads_only_the_schemas_in_scope(
    installed: tuple[Engine, sa.MetaData], caplog: Any
) -> None:
    engine, metadata = installed
    specs = _specs(metadata)
    with engine.connect() as conn:
        inspector = PGAdvancedInspector(conn)
        everything = inspector.reflect()
        public_only = inspector.reflect(schemas=["public"])
        # A wanted spec's function schema is always in scope.
        wanted = inspector.reflect(specs, schemas=["public"])
    assert {f.schema for f in everything.functions} == {"public", "audit"}
    assert {f.schema for f in public_only.functions} == {"public"}
    assert {f.spec for f in wanted.functions} == set(specs)
    assert inspector.queries == 6
    assert "Ignoring" not in caplog.text  # out of scope is silent: not a suspect


MALFORMED = [
    ('"table_name": "user"', '"table_name": 5', "'table_name' must be a non-empty string, got 5"),
    ('"table_name": "user"', '"table_name": ""', "'table_name' must be a non-empty string"),
    ('"level": "row"', '"level": "each"', "'level' must be one of ['row', 'statement']"),
    ('"append_only": false', '"append_only": "no"', "'append_only' must be true or false"),
    ('"columns": [["id", "INTEGER"]]', '"columns": [["id"]]', "'columns' entries must be lists"),
    ('"columns": [["id", "INTEGER"]]', '"columns": []', "'columns' is empty"),
    ('"schema": null', '"schema": 1', "'schema' must be a non-empty string or null"),
    ('"format": 2', '"format": 99', "format 99 was written by a newer alembic-audit"),
    ('"format": 2', '"format": true', "'format' must be a positive integer"),
    ('"table_name": "user"', '"table_name": "user", "owner": "x"', "unknown field(s) ['owner']"),
    (
        '"session_settings": []',
        '"session_settings": [["username\\n", "TEXT", true]]',
        "session setting",
    ),
]


@pytest.mark.parametrize(("good", "bad", "message"), MALFORMED)
def test_spec_comment_is_validated_strictly(good: str, bad: str, message: str) -> None:
    from alembic_audit.sql.marker import MarkerError, check_marker, read_marker

    spec = alembic_audit.get_audit_spec(_models(0).tables["user"])
    body = audit_function(spec).body
    assert good in body
    with pytest.raises(MarkerError) as info:
        check_marker(body.replace(good, bad))
    assert message in str(info.value)
    assert read_marker(body.replace(good, bad)) is None
    assert check_marker(body) is not None and check_marker(body).spec == spec  # type: ignore[union-attr]
