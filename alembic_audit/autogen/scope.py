"""Which audited tables an autogenerate run looks at: Alembic's own filters, applied.

Example::

    scope = Scope(autogen_context, schemas)
    scope.includes(("public", "item"), item_table)  # True unless filtered out
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlalchemy import MetaData, Table

from ..core.constants import DEFAULT_SCHEMA

if TYPE_CHECKING:
    from alembic.autogenerate.api import AutogenContext

QualifiedName = tuple[str, str]

# A child of Alembic's logger: what env.py's logging config shows for Alembic
# ("INFO  [alembic.autogenerate.audit] Detected ...") shows for us too.
log = logging.getLogger("alembic.autogenerate.audit")


class Scope:
    """``include_schemas`` / ``include_name`` / ``include_object``, for audited tables.

    Example::

        Scope(autogen_context, {None}).schema_arg("public")  # None (the default schema)
    """

    def __init__(self, autogen_context: AutogenContext, schemas: set[str | None]) -> None:
        self.ctx = autogen_context
        assert autogen_context.dialect is not None
        self.default_schema: str = autogen_context.dialect.default_schema_name or DEFAULT_SCHEMA
        self.schemas = {self.default_schema if s is None else s for s in schemas}

    def qualified(self, schema: str | None, name: str) -> QualifiedName:
        """``(schema, name)`` with the default schema filled in."""
        return (schema or self.default_schema, name)

    def schema_arg(self, schema: str) -> str | None:
        """Alembic's spelling: ``None`` for the default schema."""
        return None if schema == self.default_schema else schema

    def includes(self, qualified: QualifiedName, table: Table | None) -> bool:
        """Whether the run compares this table (its schema in scope, and the filters pass)."""
        schema, name = qualified
        if schema not in self.schemas:
            return False
        schema_arg = self.schema_arg(schema)
        if not self.ctx.run_name_filters(name, "table", {"schema_name": schema_arg}):
            return False
        obj = table if table is not None else Table(name, MetaData(), schema=schema_arg)
        return self.ctx.run_object_filters(obj, name, "table", table is None, None)

    def table_exists(self, qualified: QualifiedName) -> bool:
        """Whether the table exists.  Alembic's inspector caches the names it already
        listed: no extra query for a schema in scope."""
        schema, name = qualified
        return name in self.ctx.inspector.get_table_names(schema=self.schema_arg(schema))


__all__ = ["QualifiedName", "Scope", "log"]
