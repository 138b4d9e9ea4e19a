"""The sample shop (sample_project/): its migration history, checked like a user's project.

pytest-alembic's built-in tests run here on the shop's real history (its own collector
is disabled, see pyproject.toml): one head, upgrade to head, autogenerate empty at head
(no false positives), every downgrade runs, and the experimental "downgrade leaves no
trace" (tables and columns).  pytest-alembic cannot see functions and triggers, so
``test_every_downgrade_restores_functions_and_triggers`` compares ``pg_proc`` and
``pg_trigger`` around each upgrade/downgrade pair itself.  The demo runs too.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from pytest_alembic.tests import (
    test_model_definitions_match_ddl,
    test_single_head_revision,
    test_up_down_consistency,
    test_upgrade,
)
from pytest_alembic.tests.experimental import test_downgrade_leaves_no_trace
from sqlalchemy.engine import URL, Engine

import alembic_audit

from .fixtures import catalog
from .fixtures.db import with_driver

SAMPLE = Path(__file__).resolve().parent.parent / "sample_project"

__all__ = [  # imported to be collected here
    "test_downgrade_leaves_no_trace",
    "test_model_definitions_match_ddl",
    "test_single_head_revision",
    "test_up_down_consistency",
    "test_upgrade",
]


def shop_config(engine: Engine | sa.Connection) -> Config:
    config = Config(str(SAMPLE / "alembic.ini"))
    config.attributes["connection"] = engine  # env.py uses it instead of its URL
    config.attributes["configure_logger"] = False
    return config


@pytest.fixture
def alembic_engine(database_url: URL) -> Iterator[Engine]:
    engine = sa.create_engine(with_driver(database_url, "psycopg"), poolclass=sa.NullPool)
    yield engine
    engine.dispose()


@pytest.fixture
def alembic_config() -> Config:
    config = Config(str(SAMPLE / "alembic.ini"))
    config.attributes["configure_logger"] = False
    return config


def revisions() -> list[tuple[str, str]]:
    """(revision, its down revision or 'base'), oldest first."""
    script = ScriptDirectory(str(SAMPLE / "migrations"))
    walked = list(script.walk_revisions("base", "heads"))
    return [(r.revision, str(r.down_revision or "base")) for r in reversed(walked)]


def functions_and_triggers(bind: Engine) -> dict[str, Any]:
    """Every user function (definition, owner, ACL, settings) and trigger (definition, state)."""
    with bind.connect() as conn:
        acl = {
            (s, n): (owner, a, sd, cfg)
            for s, n, owner, a, sd, cfg in conn.execute(
                sa.text(
                    "SELECT n.nspname, p.proname, pg_get_userbyid(p.proowner), p.proacl::text, "
                    "p.prosecdef, p.proconfig::text FROM pg_proc p "
                    "JOIN pg_namespace n ON n.oid = p.pronamespace "
                    "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')"
                )
            )
        }
    return {
        "functions": catalog.audit_functions(bind),
        "function_attributes": acl,
        "triggers": catalog.triggers(bind),
    }


def test_history_is_the_documented_lifecycle() -> None:
    """The checked-in history: schemas, create, add a column, add a setting, hand-written
    create_audit_trigger, auditing turned off (history kept), all written with release
    0.1.0 and replayed unchanged; then this release's audit rows (0006)."""
    versions = SAMPLE / "migrations" / "versions"
    assert [r for r, _ in revisions()] == ["0000", "0001", "0002", "0003", "0004", "0005", "0006"]
    text = {p.name[:4]: p.read_text() for p in versions.glob("*.py")}
    assert "op.create_audit_trigger(" in text["0001"]
    assert "op.add_column('customer_audit', sa.Column('phone'" in text["0002"]
    assert text["0003"].count("op.replace_audit_trigger(") == 10  # 5 up, 5 down
    assert 'op.create_audit_trigger("product", session_settings=' in text["0004"]
    assert "columns=" not in text["0004"]  # hand-written: no column list repeated
    assert "op.drop_audit_trigger(" in text["0005"]
    assert "drop_table" not in text["0005"]  # turning auditing off keeps the history
    # 0001-0005 carry the first release's fields only; this release's 0006 upgrades them.
    assert '"identity"' not in text["0003"] and '"identity": True' in text["0006"]
    assert "op.add_column('customer_audit', sa.Column('audit_id'" in text["0006"]
    assert text["0006"].count("op.replace_audit_trigger(") == 8  # 4 up, 4 down


def test_every_downgrade_restores_functions_and_triggers(alembic_engine: Engine) -> None:
    config = shop_config(alembic_engine)
    for revision, down in revisions():
        before = functions_and_triggers(alembic_engine)
        command.upgrade(config, revision)
        after = functions_and_triggers(alembic_engine)
        if revision != "0000":  # 0000 only creates schemas; every other one changes triggers
            assert after != before, f"upgrade to {revision} changed no function or trigger"
        command.downgrade(config, down)
        assert functions_and_triggers(alembic_engine) == before, (
            f"downgrade {revision} -> {down} did not restore pg_proc/pg_trigger"
        )
        command.upgrade(config, revision)
        assert functions_and_triggers(alembic_engine) == after, f"re-upgrade to {revision}"
    command.downgrade(config, "base")
    assert functions_and_triggers(alembic_engine) == {
        "functions": {},
        "function_attributes": {},
        "triggers": {},
    }


def test_turning_auditing_off_keeps_the_history(alembic_engine: Engine) -> None:
    config = shop_config(alembic_engine)
    command.upgrade(config, "0004")
    cart_item_audit = sa.Table("cart_item_audit", sa.MetaData(), autoload_with=alembic_engine)
    request = uuid.uuid4()
    with alembic_engine.begin() as conn:
        alembic_audit.set_session_vars(conn, username="alice", request_id=request)
        conn.execute(sa.text("INSERT INTO customer (id, name, email) VALUES (1, 'Ada', 'a@x')"))
        conn.execute(sa.text("INSERT INTO product (id, sku, name, price) VALUES (1, 'P', 'p', 1)"))
        conn.execute(sa.text("INSERT INTO cart_item VALUES (1, 1, 3)"))
    command.upgrade(config, "0005")
    with alembic_engine.begin() as conn:  # no longer audited: no username needed
        conn.execute(sa.text("UPDATE cart_item SET quantity = 4"))
    rows = catalog.rows(alembic_engine, cart_item_audit, "audit_operation_timestamp")
    assert [
        (r["audit_operation"], r["quantity"], r["audit_username"], r["audit_request_id"])
        for r in rows
    ] == [("I", 3, "alice", request)]
    # ... and autogenerate at head proposes nothing, in particular no drop of that table.
    command.upgrade(config, "head")
    command.check(config)


def test_demo_succeeds(database_url: URL) -> None:
    result = subprocess.run(
        [sys.executable, str(SAMPLE / "demo.py"), str(with_driver(database_url, "psycopg"))],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for number in range(1, 11):
        assert f"[{number}/10]" in out
    assert out.count("   ok (") == 10
    assert "| U  | bob      |" in out
    # One transaction's rows, from two audit tables, grouped by its transaction id.
    assert "| audit.stock_audit | U  |" in out and "| order_audit       | U  |" in out
    assert "No new upgrade operations detected." in out
    assert "body edited" in out
    # The history API: diffs, a moment between two writes, a revert (and a refused one).
    assert "       status: 'new' -> 'paid'" in out
    assert "(after bob, before alice)" in out and "| paid   | bob        | 98    |" in out
    assert "revert of bob's transaction" in out and ": refused" in out
    assert "the revert is history too: U by admin, quantity 0 -> 98" in out
    assert out.rstrip().splitlines()[-1].startswith("all 10 steps behaved as shown")


def test_demo_fails_loudly_when_a_step_misbehaves(alembic_engine: Engine) -> None:
    """The drift step must fail when there is nothing to report (the edit did not land)."""
    sys.path.insert(0, str(SAMPLE))
    try:
        import demo
    finally:
        sys.path.remove(str(SAMPLE))
    shop = demo.Demo(alembic_engine, out=lambda line: None)
    demo.upgrade_head(shop)
    demo.check_clean(shop)
    shop.scalar("SELECT 1")
    # A drifted database makes the "check is clean" step fail ...
    with alembic_engine.begin() as conn:
        conn.execute(sa.text('ALTER TABLE "order" DISABLE TRIGGER public_order_audit_update'))
    with pytest.raises(demo.StepFailed, match="alembic check found differences"):
        demo.check_clean(shop)
    # ... and a run whose step fails reports False (exit code 1), naming the step.
    lines: list[str] = []
    assert demo.run(alembic_engine.url, out=lines.append) is False
    assert any(line.startswith("   FAILED:") for line in lines), lines


def test_check_at_head_sees_models_that_differ(alembic_engine: Engine, database_url: URL) -> None:
    """model_definitions_match_ddl is not vacuous: with the models of revision 0004
    (cart_item still audited), autogenerate at head wants its trigger back."""
    command.upgrade(shop_config(alembic_engine), "head")
    result = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(SAMPLE / "alembic.ini"), "check"],
        env={
            **os.environ,
            "SHOP_MODELS_STAGE": "4",
            "SHOP_DATABASE_URL": with_driver(database_url, "psycopg").render_as_string(False),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Detected added audit trigger on 'public.cart_item'" in result.stderr
    assert "New upgrade operations detected: [" in result.stderr
    assert "('add_audit_trigger', AuditSpec(table_name='cart_item'" in result.stderr


def test_history_is_what_autogenerate_writes_today(database_url: URL, tmp_path: Path) -> None:
    """Regenerating the history (on a copy) gives the checked-in files, Create Date aside.

    A change to what autogenerate writes (comparators, renderers, the spec) shows up here;
    after review, ``python sample_project/regenerate_history.py URL`` updates the files.
    """
    copy = tmp_path / "sample_project"
    shutil.copytree(SAMPLE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    url = with_driver(database_url, "psycopg").render_as_string(hide_password=False)
    subprocess.run(
        [sys.executable, str(copy / "regenerate_history.py"), url],
        check=True,
        capture_output=True,
        timeout=300,
    )

    def dated_out(path: Path) -> str:
        return re.sub(r"(?m)^Create Date: .*$", "Create Date: -", path.read_text())

    checked_in = sorted((SAMPLE / "migrations" / "versions").glob("*.py"))
    regenerated = sorted((copy / "migrations" / "versions").glob("*.py"))
    assert [p.name for p in regenerated] == [p.name for p in checked_in]
    for ours, theirs in zip(checked_in, regenerated, strict=True):
        assert dated_out(theirs) == dated_out(ours), f"{ours.name} is not what autogenerate writes"
