"""schemas: inventory (a second application schema) and audit (audit tables)

Hand-written: Alembic's autogenerate does not create schemas.

Revision ID: 0000
Revises:
Create Date: 2026-11-26 00:00:00

"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op
from sqlalchemy.schema import CreateSchema, DropSchema

# revision identifiers, used by Alembic.
revision: str = "0000"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(CreateSchema("inventory"))
    op.execute(CreateSchema("audit"))


def downgrade() -> None:
    op.execute(DropSchema("audit"))
    op.execute(DropSchema("inventory"))
