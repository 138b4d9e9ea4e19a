"""audit product

Hand-written: ``product`` existed unaudited since 0001; this turns auditing on with
one op call (the audit table too) without repeating the column list: the columns
and the primary key are read from the live table when the migration runs.
Autogenerate would have written the same definition out in full (as in 0001).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 00:00:00

"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

import alembic_audit.operations  # noqa: F401 (registers op.*_audit_trigger)

# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The shop's session settings as (name, PostgreSQL type, required).
SESSION_SETTINGS = [("username", "VARCHAR(50)", True), ("request_id", "UUID", False)]


def upgrade() -> None:
    op.create_audit_trigger("product", session_settings=SESSION_SETTINGS, create_audit_table=True)


def downgrade() -> None:
    # Back to an unaudited product: its audit table (and the rows since 0004) go too.
    op.drop_audit_trigger("product", drop_audit_table=True)
