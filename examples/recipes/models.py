"""The audited table the recipes write: who, which request, from where, which job."""

from __future__ import annotations

from sqlalchemy import Column, Integer, MetaData, String, Table
from sqlalchemy.dialects.postgresql import INET, UUID

import alembic_audit

alembic_audit.enable()

metadata = MetaData()
product = Table(
    "product",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(80), nullable=False),
    info={
        "audit.options": {
            "enabled": True,
            "session_settings": [
                Column("username", String(40), nullable=False),
                Column("request_id", UUID),
                Column("client_addr", INET),
                Column("job", String(80)),
            ],
        }
    },
)
product_audit = metadata.tables["product_audit"]
