"""Retention (``prune``): exactly the rows older than the cutoff go, whole partitions by
DDL, the rest by batched DELETE, archived or exported on request, every step in the
audit-maintenance log; and the append-only guard, which nothing else gets past."""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

import alembic_audit
from alembic_audit.core.errors import AuditError
from tests.fixtures.alembic_project import psql_path
from tests.fixtures.roles import Roles

UTC = timezone.utc
NOW = datetime(2025, 4, 20, tzinfo=UTC)
CUTOFF = datetime(2025, 2, 14, 6, tzinfo=UTC)


def make(engine: Engine, **options: Any) -> sa.MetaData:
    md = sa.MetaData()
    sa.Table(
        "item",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("note", sa.String(40)),
        info={"audit.options": {"enabled": True, **options}},
    )
    md.create_all(engine)
    alembic_audit.install_audit_triggers(md, engine)
    return md


def history(conn: Connection) -> None:
    """Audit rows every 6 hours from 2024-12-01 to 2025-04-20 (in monthly partitions when
    there are, later ones in the default partition when not), and 5 rows of the first
    release (no change time; transaction time 2024-06-01)."""
    conn.execute(
        sa.text(
            "INSERT INTO item_audit (id, note, audit_operation, audit_operation_timestamp,"
            " audit_current_user, audit_change_timestamp)"
            " SELECT g % 100, 'n' || g, 'U', t, 'past', t"
            " FROM generate_series(0, 559) AS g,"
            " LATERAL (SELECT timestamptz '2024-12-01+00' + g * interval '6 hours' AS t) AS x"
        )
    )
    conn.execute(
        sa.text(
            "INSERT INTO item_audit (id, note, audit_operation, audit_operation_timestamp,"
            " audit_current_user) SELECT g, 'old', 'I', '2024-06-01+00', 'past'"
            " FROM generate_series(1, 5) AS g"
        )
    )


def ids(conn: Connection | Engine, where: str = "true") -> set[int]:
    if isinstance(conn, Engine):
        with conn.connect() as c:
            return ids(c, where)
    return set(conn.execute(sa.text(f"SELECT audit_id FROM item_audit WHERE {where}")).scalars())


OLDER = (
    "audit_change_timestamp < '2025-02-14 06:00+00' OR (audit_change_timestamp IS NULL"
    " AND audit_operation_timestamp < '2025-02-14 06:00+00')"
)


def tables(engine: Engine, schema: str = "public") -> set[str]:
    with engine.connect() as conn:
        return set(
            conn.execute(
                sa.text(
                    "SELECT relname FROM pg_class WHERE relnamespace = to_regnamespace(:s)"
                    " AND relkind IN ('r', 'p')"
                ),
                {"s": schema},
            ).scalars()
        )


def log(engine: Engine) -> list[tuple[Any, ...]]:
    return [
        (r["action"], r["relation"], r["time_from"], r["time_to"], r["row_count"])
        for r in reversed(alembic_audit.maintenance_log(engine, limit=None))
    ]


@pytest.fixture
def partitioned(engine: Engine) -> Engine:
    make(engine, partition={"by": "month", "ahead": 0}, append_only=True)
    with engine.begin() as conn:
        history(conn)
    alembic_audit.create_partitions(engine, now=NOW, backfill=True)
    return engine


def test_prune_drops_whole_partitions_and_deletes_exactly_the_older_rows(
    partitioned: Engine,
) -> None:
    engine = partitioned
    keep, gone = ids(engine, f"NOT ({OLDER})"), ids(engine, OLDER)
    assert len(gone) == 5 + 4 * 31 + 4 * 31 + 4 * 13 + 1  # old rows, Dec, Jan, Feb 1-14 06:00
    report = alembic_audit.prune(engine, before=CUTOFF, batch_size=20, note="ticket 42")
    assert ids(engine) == keep
    assert report.rows == len(gone)
    assert "item_audit_p2024_12" not in tables(engine)
    assert {"item_audit_p2025_02", "item_audit_p2025_04", "item_audit_default"} <= tables(engine)
    steps = log(engine)
    moves = [s for s in steps if s[0] == "move"]
    assert steps[len(moves) : len(moves) + 2] == [
        (
            "drop",
            "public.item_audit_p2024_12",
            datetime(2024, 12, 1, tzinfo=UTC),
            datetime(2025, 1, 1, tzinfo=UTC),
            124,
        ),
        (
            "drop",
            "public.item_audit_p2025_01",
            datetime(2025, 1, 1, tzinfo=UTC),
            datetime(2025, 2, 1, tzinfo=UTC),
            124,
        ),
    ]
    deletes = steps[len(moves) + 2 :]
    assert {s[1] for s in deletes} == {"public.item_audit", "public.item_audit_default"}
    assert sum(s[4] for s in deletes) == 53 + 5 and len(deletes) >= 3  # batches of about 20
    assert deletes[-1] == ("delete", "public.item_audit_default", None, CUTOFF, 5)
    assert all(
        r["note"] == "ticket 42"
        for r in alembic_audit.maintenance_log(engine)
        if r["action"] != "move"
    )
    # Nothing older is left: a second run removes nothing and logs nothing.
    assert alembic_audit.prune(engine, before=CUTOFF).rows == 0
    assert len(log(engine)) == len(steps)


def test_a_dry_run_says_what_would_go_and_changes_nothing_not_even_the_log(
    engine: Engine,
) -> None:
    make(engine, partition={"by": "month", "ahead": 0})
    with engine.begin() as conn:
        history(conn)
    before = tables(engine)
    alembic_audit.create_partitions(engine, now=NOW, dry_run=True)
    report = alembic_audit.prune(engine, before=CUTOFF, dry_run=True)
    assert report.dry_run and report.rows == len(ids(engine, OLDER))
    assert [(s.action, s.relation) for s in report.steps] == [
        ("delete", "public.item_audit"),
        ("delete", "public.item_audit_default"),
    ]
    assert tables(engine) == before and "audit_maintenance_log" not in before
    assert alembic_audit.prune(engine, before=CUTOFF).rows == report.rows


def test_a_plain_audit_table_is_pruned_by_batched_delete(engine: Engine) -> None:
    make(engine, append_only=True)
    with engine.begin() as conn:
        history(conn)
    keep = ids(engine, f"NOT ({OLDER})")
    report = alembic_audit.prune(engine, before=CUTOFF, batch_size=50)
    assert ids(engine) == keep
    sizes = [s.rows for s in report.steps]
    assert len(sizes) >= 5 and max(sizes) <= 200 and sum(sizes) == 5 + 300 + 1
    assert [s.log_id for s in report.steps] == [r[0] for r in _log_ids(engine)]


def _log_ids(engine: Engine) -> list[tuple[int]]:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT id FROM audit_maintenance_log ORDER BY id")).all()


def test_archive_moves_partitions_and_rows_into_the_archive_schema(partitioned: Engine) -> None:
    engine = partitioned
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE SCHEMA archive")
    gone = ids(engine, OLDER)
    report = alembic_audit.prune(engine, before=CUTOFF, archive_schema="archive")
    assert {s.action for s in report.steps} == {"archive"}
    assert tables(engine, "archive") == {
        "item_audit_p2024_12",
        "item_audit_p2025_01",
        "item_audit_pruned",
    }
    with engine.connect() as conn:
        archived = set(
            conn.execute(
                sa.text(
                    "SELECT audit_id FROM archive.item_audit_p2024_12 UNION ALL"
                    " SELECT audit_id FROM archive.item_audit_p2025_01 UNION ALL"
                    " SELECT audit_id FROM archive.item_audit_pruned"
                )
            ).scalars()
        )
    assert archived == gone
    # Archived history stays append-only.
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM archive.item_audit_p2024_12")


def test_export_writes_files_that_load_back(partitioned: Engine, tmp_path: Path) -> None:
    engine = partitioned
    with engine.connect() as conn:
        before = conn.execute(
            sa.text(f"SELECT * FROM item_audit WHERE {OLDER} ORDER BY audit_id")
        ).all()
    report = alembic_audit.prune(engine, before=CUTOFF, export_dir=tmp_path)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == [
        "public.item_audit_before_20250214_060000.csv",
        "public.item_audit_before_20250214_060000.sql",
        "public.item_audit_p2024_12.csv",
        "public.item_audit_p2024_12.sql",
        "public.item_audit_p2025_01.csv",
        "public.item_audit_p2025_01.sql",
    ]
    assert {s.destination for s in report.steps} == {
        str(tmp_path / f) for f in files if f.endswith(".csv")
    }
    # Load them back with psql, as the README says, into a database of their own.
    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    for script in files:
        if script.endswith(".sql"):
            subprocess.run(
                [psql_path(), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", script],
                cwd=tmp_path,
                check=True,
                capture_output=True,
            )
    with engine.connect() as conn:
        loaded = conn.execute(
            sa.text(
                "SELECT * FROM item_audit_p2024_12 UNION ALL SELECT * FROM item_audit_p2025_01"
                " UNION ALL SELECT * FROM item_audit_before_20250214_060000 ORDER BY audit_id"
            )
        ).all()
    assert loaded == before
    # An existing file is never overwritten: refused before anything changes.
    (tmp_path / "public.item_audit_p2025_03.csv").write_text("mine")
    with pytest.raises(AuditError, match="p2025_03.csv exists; move it away first"):
        alembic_audit.prune(engine, before=NOW, export_dir=tmp_path)
    assert {"item_audit_p2025_02", "item_audit_p2025_03"} <= tables(engine)
    assert (tmp_path / "public.item_audit_p2025_03.csv").read_text() == "mine"


def test_partitions_made_by_hand_are_pruned_by_their_bounds(engine: Engine) -> None:
    make(engine, partition={"by": "month", "ahead": 0})
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE old_stuff PARTITION OF item_audit"
            " FOR VALUES FROM (MINVALUE) TO ('2025-01-10+00')"
        )
        history(conn)
    report = alembic_audit.prune(engine, before=CUTOFF, dry_run=True)
    assert report.steps[0].relation == "public.old_stuff"
    alembic_audit.prune(engine, before=CUTOFF)
    assert "old_stuff" not in tables(engine)
    assert ids(engine, OLDER) == set()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "give the age of the rows to remove"),
        ({"older_than": "90d", "before": NOW}, "one of the two"),
        ({"older_than": "soon"}, "age 'soon' is not understood"),
        ({"older_than": "0d"}, "must be more than zero"),
        ({"older_than": "9d", "archive_schema": "a", "export_dir": "b"}, "give one of them"),
        ({"older_than": "9d", "archive_schema": "nowhere"}, "archive schema 'nowhere' does not"),
        ({"older_than": "9d", "tables": ["nope"]}, "no audited table or audit table 'nope'"),
        ({"older_than": "9d", "batch_size": 0}, "batch_size must be"),
    ],
)
def test_prune_refuses_bad_input_before_anything_changes(
    engine: Engine, kwargs: dict[str, Any], message: str
) -> None:
    make(engine)
    with pytest.raises(AuditError, match=message):
        alembic_audit.prune(engine, **kwargs)


# -- append-only, and the one way past it ---------------------------------------------------


def test_only_prune_gets_past_append_only_and_the_application_role_cannot(
    roles: Roles,
) -> None:
    owner = roles.create("owner")
    writer = roles.create("writer")
    intruder = roles.create("intruder")
    with roles.superuser_engine().begin() as conn:
        conn.exec_driver_sql(f'GRANT CREATE, USAGE ON SCHEMA public TO "{owner}", "{intruder}"')
    owner_engine, writer_engine = roles.engine(owner), roles.engine(writer)
    md = sa.MetaData()
    item = sa.Table(
        "item",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        info={"audit.options": {"enabled": True, "append_only": True}},
    )
    with owner_engine.begin() as conn:
        md.create_all(conn)
        alembic_audit.install_audit_triggers(md, conn)
        alembic_audit.grant_audit_access(md, writer, conn, read_history=True)
    with writer_engine.begin() as conn:
        conn.execute(item.insert().values([{"id": 1}, {"id": 2}]))

    # A log the audit table's owner does not own proves nothing (any role with CREATE
    # on the schema could make one and fill it).
    with roles.engine(intruder).begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE audit_maintenance_log (transaction_id xid8, action text,"
            " audit_schema text, audit_table text)"
        )
        conn.exec_driver_sql("GRANT ALL ON audit_maintenance_log TO PUBLIC")
    with (
        pytest.raises(sa.exc.DBAPIError, match="append-only: DELETE refused"),
        owner_engine.begin() as conn,
    ):
        conn.exec_driver_sql(
            "INSERT INTO audit_maintenance_log VALUES (pg_current_xact_id(), 'delete',"
            " 'public', 'item_audit')"
        )
        conn.exec_driver_sql("DELETE FROM item_audit")
    with roles.superuser_engine().begin() as conn:
        conn.exec_driver_sql("DROP TABLE audit_maintenance_log")

    # Settings are no proof either; the owner is refused like everyone.
    for statement in (
        "DELETE FROM item_audit",
        "UPDATE item_audit SET id = 3",
        "TRUNCATE item_audit",
    ):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), owner_engine.begin() as conn:
            conn.exec_driver_sql("SELECT set_config('audit.prune', 'yes', true)")
            conn.exec_driver_sql(statement)
    # The application role cannot prune, nor write the log that would let it.
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    # It does not even see the audit function as one to trust (another role owns it).
    with pytest.raises(AuditError, match="prune: no audited table or audit table 'item'"):
        alembic_audit.prune(writer_engine, before=tomorrow, tables=["item"])
    # Given the models, it gets as far as the database, which refuses.
    with pytest.raises(sa.exc.DBAPIError, match="permission denied"):
        alembic_audit.prune(writer_engine, before=tomorrow, tables=[item])
    report = alembic_audit.prune(owner_engine, before=tomorrow)
    assert report.rows == 2
    with pytest.raises(sa.exc.DBAPIError, match="permission denied"), writer_engine.begin() as c:
        c.exec_driver_sql(
            "INSERT INTO audit_maintenance_log (action, audit_schema, audit_table, row_count)"
            " VALUES ('delete', 'public', 'item_audit', 0)"
        )
    (entry,) = alembic_audit.maintenance_log(owner_engine)
    assert (entry["database_role"], entry["action"], entry["row_count"]) == (owner, "delete", 2)


def test_the_log_is_append_only_and_its_facts_cannot_be_made_up(engine: Engine) -> None:
    make(engine, session_settings=[sa.Column("username", sa.String(20))])
    with engine.begin() as conn:
        history(conn)
    # In the caller's transaction, with the application's settings: they are recorded.
    with engine.begin() as conn:
        alembic_audit.set_session_vars(conn, username="alice")
        alembic_audit.prune(conn, before=CUTOFF, batch_size=1000)
        role = conn.execute(sa.text("SELECT current_user")).scalar()
    entries = alembic_audit.maintenance_log(engine)
    assert {e["action"] for e in entries} == {"delete"}
    assert all(e["session_settings"] == {"audit.username": "alice"} for e in entries)
    assert all(e["database_role"] == role for e in entries)
    assert sum(e["row_count"] for e in entries) == 5 + 300 + 1
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO audit_maintenance_log (logged_at, transaction_id, database_role, action,"
            " audit_schema, audit_table, row_count)"
            " VALUES ('2000-01-01+00', '1', 'someone else', 'note', 'public', 'item_audit', 0)"
        )
    made_up = alembic_audit.maintenance_log(engine, limit=1)[0]
    assert made_up["database_role"] == role
    assert made_up["logged_at"].year > 2000 and made_up["transaction_id"] != "1"
    for statement in (
        "UPDATE audit_maintenance_log SET row_count = 0",
        "DELETE FROM audit_maintenance_log",
        "TRUNCATE audit_maintenance_log",
    ):
        with pytest.raises(sa.exc.DBAPIError, match="is append-only"), engine.begin() as conn:
            conn.exec_driver_sql(statement)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_prune_shows_progress_on_a_terminal_only(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    make(engine)
    with engine.begin() as conn:
        history(conn)
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    alembic_audit.prune(engine, before=CUTOFF, batch_size=100)
    shown = terminal.getvalue()
    assert shown.startswith("\rpruning [") and shown.endswith("] 306/306\n")
    assert shown.count("\r") >= 3  # one redraw per batch
    monkeypatch.undo()
    alembic_audit.prune(engine, before=NOW)  # piped: nothing
    assert capsys.readouterr().err == ""
