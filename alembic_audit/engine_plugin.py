"""The SQLAlchemy engine plugin ``audit`` (entry point group ``sqlalchemy.plugins``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import CreateEnginePlugin
from sqlalchemy.engine.url import URL

from . import enable


class AuditPlugin(CreateEnginePlugin):
    """Calls :func:`alembic_audit.enable` when an engine is created with it.

    Example::

        engine = create_engine("postgresql+psycopg://...", plugins=["audit"])
        engine = create_engine("postgresql+psycopg://...?plugin=audit")
    """

    def __init__(self, url: URL, kwargs: dict[str, Any]) -> None:
        super().__init__(url, kwargs)
        enable()

    def update_url(self, url: URL) -> URL:
        """The plugin takes no URL arguments of its own (SQLAlchemy strips ``plugin``)."""
        return url
