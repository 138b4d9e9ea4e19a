"""The audit ops are available in every migration without ``import alembic_audit.operations``,
and an application importing alembic_audit does not import Alembic.

Everything here runs in fresh interpreters (``python -c``, ``python -m alembic``): this
test process has long registered the ops, so only a new process shows what a user's
``alembic upgrade`` sees.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from tests.fixtures.db import with_driver

if TYPE_CHECKING:
    from tests.fixtures.roles import Roles


def python(code: str, cwd: Path | None = None) -> str:
    """Run ``code`` in a fresh interpreter; its stdout."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=dict(os.environ),
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_an_application_importing_alembic_audit_does_not_import_alembic() -> None:
    out = python(
        """
        import sys
        from sqlalchemy import Column, Integer, MetaData, Table
        import alembic_audit

        alembic_audit.enable()
        metadata = MetaData()
        Table("item", metadata, Column("id", Integer, primary_key=True),
              info={"audit.options": {"enabled": True}})
        assert alembic_audit.install_audit_triggers(metadata)
        print(sorted(m for m in sys.modules if m == "alembic" or m.startswith("alembic.")))
        """
    )
    assert out.strip() == "[]"


OPS = (
    "create_audit_trigger",
    "drop_audit_trigger",
    "replace_audit_trigger",
    "grant_audit_access",
    "revoke_audit_access",
)


@pytest.mark.parametrize(
    "imports",
    [
        "import alembic_audit\nalembic_audit.enable()\nimport alembic",
        "import alembic_audit\nimport alembic.operations",
        "import alembic\nimport alembic_audit",
        "from alembic.config import main\nimport alembic_audit\nalembic_audit.enable()",
    ],
    ids=["enable-then-alembic", "import-then-alembic", "alembic-then-import", "cli-then-enable"],
)
def test_ops_join_alembic_whichever_is_imported_first(imports: str) -> None:
    out = python(
        f"""
{imports}
from alembic import op
from alembic.operations import Operations
print(all(hasattr(Operations, n) and hasattr(op, n) for n in {OPS!r}))
"""
    )
    assert out.strip() == "True"


ENV_PY = """\
from alembic import context
from sqlalchemy import create_engine, pool

{imports}

config = context.config
engine = create_engine(config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
"""

MIGRATION = '''\
"""Auditing an existing table, by hand: no import of alembic_audit.operations."""
from alembic import op
import sqlalchemy as sa

revision = "a1"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "item",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("name", sa.String(80)),
    )
    op.create_audit_trigger(
        "item", session_settings=[("username", "VARCHAR(50)", True)], create_audit_table=True
    )
    op.replace_audit_trigger("item", level="row")
    op.grant_audit_access("item", {role!r}, read_history=True)


def downgrade():
    op.revoke_audit_access("item", {role!r}, read_history=True)
    op.replace_audit_trigger("item", level="statement")
    op.drop_audit_trigger("item", drop_audit_table=True)
    op.drop_table("item")
'''


@pytest.mark.parametrize(
    "imports",
    ["import alembic_audit\nalembic_audit.enable()", "import alembic_audit"],
    ids=["enable", "import"],
)
def test_hand_written_migration_uses_the_ops_without_importing_them(
    imports: str, tmp_path: Path, database_url: URL, roles: Roles
) -> None:
    writer = roles.create("writer")
    url = with_driver(database_url, "psycopg").render_as_string(hide_password=False)
    (tmp_path / "versions").mkdir()
    (tmp_path / "env.py").write_text(ENV_PY.format(imports=imports))
    (tmp_path / "versions" / "a1.py").write_text(MIGRATION.format(role=writer))
    (tmp_path / "alembic.ini").write_text(
        "[alembic]\nscript_location = %(here)s\nsqlalchemy.url = " + url.replace("%", "%%") + "\n"
    )

    def alembic(*args: str) -> None:
        result = subprocess.run(
            [sys.executable, "-m", "alembic", "-c", str(tmp_path / "alembic.ini"), *args],
            capture_output=True,
            text=True,
            env=dict(os.environ),
        )
        assert result.returncode == 0, result.stderr

    alembic("upgrade", "head")
    engine = sa.create_engine(with_driver(database_url, "psycopg"), poolclass=sa.NullPool)
    writer_engine = roles.engine(writer)
    try:
        with writer_engine.begin() as conn:
            conn.exec_driver_sql("SELECT set_config('audit.username', 'alice', true)")
            conn.exec_driver_sql("INSERT INTO item (id, name) VALUES (1, 'pen')")
        with writer_engine.connect() as conn:  # read_history=True
            rows = conn.exec_driver_sql(
                "SELECT audit_operation, id, name, audit_username, audit_current_user "
                "FROM item_audit"
            ).all()
        assert [tuple(r) for r in rows] == [("I", 1, "pen", "alice", writer)]
        with engine.connect() as conn:
            levels = conn.exec_driver_sql(
                "SELECT tgname, tgtype & 1 FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1"
            ).all()
        # Row level (tgtype bit 0), as replace_audit_trigger left it.
        assert [tuple(r) for r in levels] == [
            ("public_item_audit", 1),
            ("public_item_audit_truncate", 0),
        ]

        alembic("downgrade", "base")
        with engine.connect() as conn:
            left = conn.exec_driver_sql(
                "SELECT count(*) FROM pg_class WHERE relname IN ('item', 'item_audit')"
            ).scalar()
        assert left == 0
    finally:
        engine.dispose()
