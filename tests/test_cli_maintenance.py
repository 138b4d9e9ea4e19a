"""``alembic-audit partitions``, ``prune`` and ``maintenance-log``: what a shell sees."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

import alembic_audit
from alembic_audit.cli import main
from tests.fixtures.db import with_driver

UTC = timezone.utc


def _url(database_url: URL) -> str:
    return with_driver(database_url, "psycopg").render_as_string(hide_password=False)


@pytest.fixture
def shop(psycopg_engine: Engine) -> Engine:
    md = sa.MetaData()
    sa.Table(
        "item",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        info={"audit.options": {"enabled": True, "partition": {"by": "month", "ahead": 1}}},
    )
    sa.Table(
        "event",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        info={"audit.options": {"enabled": True}},
    )
    md.create_all(psycopg_engine)
    alembic_audit.install_audit_triggers(md, psycopg_engine)
    with psycopg_engine.begin() as conn:
        for table in ("item_audit", "event_audit"):
            conn.exec_driver_sql(
                f"INSERT INTO {table} (id, audit_operation, audit_operation_timestamp,"
                " audit_current_user, audit_change_timestamp)"
                " SELECT g, 'I', t, 'x', t FROM generate_series(1, 40) AS g,"
                " LATERAL (SELECT now() - g * interval '3 days' AS t) AS x"
            )
    return psycopg_engine


def test_partitions_check_and_create(
    shop: Engine, database_url: URL, capsys: pytest.CaptureFixture[str]
) -> None:
    url = _url(database_url)
    assert main(["--url", url, "partitions", "check"]) == 1  # rows wait in the default
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == [
        "audit",
        "table",
        "by",
        "managed",
        "by",
        "partitions",
        "covered",
        "until",
        "ahead",
        "default",
        "rows",
    ]
    assert out[1].split()[:5] == ["public.item_audit", "month", "alembic-audit", "1", "NULL"]
    assert out[2].startswith("public.item_audit: 40 rows in the default partition")

    assert main(["--url", url, "partitions", "create", "--dry-run"]) == 0
    dry = capsys.readouterr().out
    assert "would make" in dry and "item_audit_default" not in dry.split("would make")[1]
    assert main(["--url", url, "--json", "partitions", "create"]) == 0
    made = json.loads(capsys.readouterr().out)
    assert made["dry_run"] is False and sum(s["rows_moved"] for s in made["created"]) == 40
    assert made["tables"][0]["problems"] == []
    assert main(["--url", url, "partitions", "check"]) == 0
    assert main(["--url", url, "partitions", "check", "--table", "event"]) == 1
    assert capsys.readouterr().err == (
        "alembic-audit: error: check_partitions: audit table 'public.event_audit' is not "
        "partitioned (audit option 'partition' is not set)\n"
    )


def test_prune_dry_run_then_for_real_and_the_log(
    shop: Engine, database_url: URL, capsys: pytest.CaptureFixture[str]
) -> None:
    url = _url(database_url)
    main(["--url", url, "partitions", "create"])
    capsys.readouterr()
    logged = len(alembic_audit.maintenance_log(shop, limit=None))
    assert main(["--url", url, "prune", "--older-than", "30d", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == [
        "audit",
        "table",
        "action",
        "relation",
        "from",
        "to",
        "rows",
        "destination",
    ]
    assert "would remove 62 audit row(s) older than" in out and "dry run: nothing changed" in out
    assert len(alembic_audit.maintenance_log(shop, limit=None)) == logged
    assert main(["--url", url, "--json", "prune", "--older-than", "30d", "--table", "event"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rows"] == 31 and {s["action"] for s in report["steps"]} == {"delete"}
    assert main(["--url", url, "prune", "--older-than", "30d", "--note", "monthly"]) == 0
    assert "removed 31 audit row(s)" in capsys.readouterr().out
    assert main(["--url", url, "maintenance-log"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["id", "logged", "at", "role"]
    assert {line.split()[3] for line in lines[1:]} == {"move", "drop", "delete"}
    assert main(["--url", url, "--json", "maintenance-log", "--limit", "1"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)
    assert entry["note"] == "monthly"


def test_prune_errors_are_one_line(
    shop: Engine, database_url: URL, capsys: pytest.CaptureFixture[str]
) -> None:
    url = _url(database_url)
    assert main(["--url", url, "prune", "--older-than", "soon"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("alembic-audit: error: --older-than: age 'soon' is not understood")
    assert err.count("\n") == 1
    assert main(["--url", url, "prune", "--before", "yesterday"]) == 1
    assert "is not an ISO time" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(
            ["--url", url, "prune", "--older-than", "1d", "--export", "x", "--archive-schema", "y"]
        )
    assert exit_.value.code == 2
    assert (
        main(["--url", url, "prune", "--before", datetime(2000, 1, 1, tzinfo=UTC).isoformat()]) == 0
    )
    assert "removed 0 audit row(s)" in capsys.readouterr().out
