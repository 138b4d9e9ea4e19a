"""A database built by alembic-audit 0.1.0 upgrades to this release's audit rows, and back.

The database comes from ``tests/fixtures/release_0_1_0.sql``: the first release's own
objects (format-1 function bodies), audit tables without ``audit_id``, transaction id or
change time, and audit rows written by three users.  Autogenerate with this release
must bring it to the new shape keeping every row, and the downgrade must restore the
catalog exactly.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

import alembic_audit
from tests.fixtures import catalog
from tests.fixtures.alembic_project import AlembicProject
from tests.fixtures.autogen import assert_clean, autogen, models, upgrade_part

FIXTURE = Path(__file__).parent / "fixtures" / "release_0_1_0.sql"

#: The models the fixture database was built from, as release 0.1.0 read them.
RELEASE_0_1_0_MODELS = """
sa.Table(
    "item", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(50)),
    sa.Column("price", sa.Numeric(10, 2)),
    info={"audit.options": {"enabled": True, "append_only": True, "session_settings": [
        sa.Column("username", sa.String(50), nullable=False), sa.Column("request_id", sa.Uuid)]}},
)
sa.Table(
    "event", metadata,
    sa.Column("a", sa.Integer, primary_key=True),
    sa.Column("b", sa.Integer, primary_key=True),
    sa.Column("note", sa.Text),
    schema="sales",
    info={"audit.options": {"enabled": True, "level": "row", "skip_unchanged": True,
                            "schema": "audit"}},
)
"""

AUDIT_TABLES = (("public", "item_audit"), ("audit", "event_audit"))


def columns(engine: Engine) -> dict[tuple[str, str], list[tuple[str, str, str]]]:
    """(schema, table) -> [(column, type, nullable)] of the audit tables, in order."""
    out: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
    with engine.connect() as conn:
        for schema, table in AUDIT_TABLES:
            rows = conn.execute(
                sa.text(
                    "SELECT column_name, data_type, is_nullable FROM information_schema.columns"
                    " WHERE table_schema = :s AND table_name = :t ORDER BY ordinal_position"
                ),
                {"s": schema, "t": table},
            )
            out[(schema, table)] = [tuple(r) for r in rows]
    return out


def indexes(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        return dict(
            conn.execute(
                sa.text(
                    "SELECT indexname, indexdef FROM pg_indexes"
                    " WHERE schemaname IN ('public', 'audit', 'sales')"
                    " AND tablename <> 'alembic_version'"
                )
            ).all()
        )


def catalog_state(engine: Engine) -> dict[str, Any]:
    return {
        "functions": catalog.audit_functions(engine),
        "triggers": catalog.triggers(engine),
        "columns": columns(engine),
        "indexes": indexes(engine),
    }


def old_rows(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """The audit rows in the first release's columns, in physical order."""
    out = {}
    with engine.connect() as conn:
        out["item"] = conn.exec_driver_sql(
            "SELECT id, name, price, audit_operation, audit_operation_timestamp,"
            " audit_current_user, audit_username, audit_request_id"
            " FROM public.item_audit ORDER BY ctid"
        ).all()
        out["event"] = conn.exec_driver_sql(
            "SELECT a, b, note, audit_operation, audit_operation_timestamp, audit_current_user"
            " FROM audit.event_audit ORDER BY ctid"
        ).all()
    return out


def test_release_0_1_0_database_upgrades_and_downgrades_exactly(
    alembic_project: AlembicProject,
) -> None:
    project = alembic_project
    project.psql(FIXTURE.read_text())
    engine = sa.create_engine(project.url)
    try:
        before = catalog_state(engine)
        rows_before = old_rows(engine)
        assert len(rows_before["item"]) == 7 and len(rows_before["event"]) == 11

        project.write_models(models(RELEASE_0_1_0_MODELS))
        project.configure_kwargs["include_schemas"] = True
        source = upgrade_part(autogen(project, "r1"))
        for table in ("item_audit", "event_audit"):
            for column in ("audit_id", "audit_transaction_id", "audit_change_timestamp"):
                assert f"op.add_column('{table}', sa.Column('{column}'" in source
        assert source.count("op.replace_audit_trigger(") == 2
        # The first release's bodies are replaced, their exact text kept for the downgrade.
        assert source.count("old_function_sql=") == 2

        project.upgrade()
        after = catalog_state(engine)
        assert {n for n in after["indexes"] if n.endswith("_idx")} == {
            "item_audit_row_idx",
            "item_audit_time_idx",
            "item_audit_transaction_idx",
            "event_audit_row_idx",
            "event_audit_time_idx",
            "event_audit_transaction_idx",
        }
        assert old_rows(engine) == rows_before  # every row kept
        with engine.connect() as conn:
            numbered = conn.exec_driver_sql(
                "SELECT audit_id, audit_transaction_id, audit_change_timestamp"
                " FROM public.item_audit ORDER BY ctid"
            ).all()
        # The documented backfill: old rows numbered in their physical (write) order,
        # the transaction and the change time unknown.
        assert [r[0] for r in numbered] == list(range(1, 8))
        assert {(r[1], r[2]) for r in numbered} == {(None, None)}
        assert_clean(project)

        with engine.begin() as conn:
            alembic_audit.set_session_vars(conn, username="erin", request_id=uuid.UUID(int=9))
            conn.exec_driver_sql("INSERT INTO item VALUES (9, 'n9', 9)")
            conn.exec_driver_sql("INSERT INTO sales.event VALUES (9, 9, 'new')")
            xid = conn.exec_driver_sql("SELECT pg_current_xact_id()::text").scalar()
        with engine.connect() as conn:
            new = conn.exec_driver_sql(
                "SELECT audit_id, audit_transaction_id::text, audit_change_timestamp IS NOT NULL,"
                " audit_username FROM public.item_audit WHERE id = 9"
            ).one()
            event = conn.exec_driver_sql(
                "SELECT audit_id, audit_transaction_id::text FROM audit.event_audit WHERE a = 9"
            ).one()
        assert new == (8, xid, True, "erin")
        assert event == (12, xid)

        project.downgrade("base")
        assert catalog_state(engine) == before
        rows_now = old_rows(engine)
        assert rows_now["item"][:7] == rows_before["item"]
        assert rows_now["event"][:11] == rows_before["event"]
        # The write made while upgraded is history too: kept, in the old columns.
        assert rows_now["item"][7][:4] == (9, "n9", 9, "I")
    finally:
        engine.dispose()
