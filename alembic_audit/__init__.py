"""alembic-audit: complete, reversible change history for PostgreSQL tables.

Example::

    import alembic_audit
    from sqlalchemy import Column, Integer, MetaData, String, Table

    alembic_audit.enable()
    metadata = MetaData()
    item = Table(
        "item", metadata,
        Column("id", Integer, primary_key=True),
        Column("name", String),
        info={"audit.options": {"enabled": True,
                                "session_settings": [Column("username", String, nullable=False)]}},
    )
    metadata.create_all(engine)
    alembic_audit.install_audit_triggers(metadata, engine)
    with engine.begin() as conn:
        alembic_audit.set_session_vars(conn, username="alice")
        conn.execute(item.insert().values(name="pen"))
"""

import importlib
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table

from .autogen.plugin import register_global
from .core.errors import (
    AuditError,
    AuditTableMismatch,
    OfflineOperationError,
    RevertConflict,
    UnknownHistoryError,
)
from .core.imports import when_imported
from .core.naming import (
    DEFAULT_AUDIT_TABLE_FUNCTION_NAMING_CONVENTION,
    DEFAULT_AUDIT_TABLE_NAMING_CONVENTION,
    DEFAULT_AUDIT_TABLE_TRIGGER_CONVENTION,
)
from .core.options import spec_from_table
from .core.spec import AuditColumn, AuditSpec, Partitioning, SessionSetting
from .runtime.context import (
    audit_context,
    current_audit_context,
    install_context,
    uninstall_context,
)
from .runtime.grants import grant_audit_access, revoke_audit_access
from .runtime.install import install_audit_triggers, uninstall_audit_triggers
from .runtime.middleware import AuditContextMiddleware, AuditContextWSGIMiddleware, asgi_header
from .runtime.session import set_session_var_stmt, set_session_vars
from .schema import builder, selection
from .schema.builder import AuditInfo, attach_audit_table, audited_tables, get_audit_spec
from .schema.selection import Selection, TableOptions
from .sql.statement import AuditDDL

if TYPE_CHECKING:
    # Imported on first use (see __getattr__): reading history and maintenance pull in
    # SQLAlchemy's ORM and more, which an application that only writes never needs.
    from .maintenance import (
        PartitionReport,
        PruneReport,
        RedactReport,
        check_partitions,
        create_partitions,
        maintenance_log,
        prune,
        redact,
        use_pg_partman,
    )
    from .reading import (
        AuditedTable,
        Page,
        Version,
        Write,
        as_of,
        changes,
        history,
        restore,
        revert_transaction,
    )

#: Public names imported on first use, and the module that holds each.
_LAZY = {
    **dict.fromkeys(
        (
            "PartitionReport",
            "PruneReport",
            "RedactReport",
            "check_partitions",
            "create_partitions",
            "maintenance_log",
            "prune",
            "redact",
            "use_pg_partman",
        ),
        ".maintenance",
    ),
    **dict.fromkeys(
        (
            "AuditedTable",
            "Page",
            "Version",
            "Write",
            "as_of",
            "changes",
            "history",
            "restore",
            "revert_transaction",
        ),
        ".reading",
    ),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__version__ = "0.1.0"

#: Alembic's module whose ``Operations`` the audit ops join.
_OPERATIONS_MODULE = "alembic.operations"


def _register_operations() -> None:
    # Importing alembic_audit.migration registers op.create_audit_trigger and the other
    # ops (Operations.register_operation also adds them to alembic.op).  It imports
    # alembic.operations, i.e. all of Alembic, autogenerate included (about 0.1 s): so
    # it happens only once Alembic's operations are loaded, which an application
    # process never does.
    importlib.import_module(".migration", __name__)


def enable() -> None:
    """Make every ``Table`` with ``info["audit.options"]["enabled"]`` get an audit table,
    and let Alembic's autogenerate compare audit triggers.

    Idempotent and thread-safe.  Call it before the audited tables are defined.  It
    does not import Alembic: the comparator is registered in Alembic's global registry
    when Alembic's autogenerate is (or gets) loaded, so an application process pays
    nothing for it.  The ops (``op.create_audit_trigger``, ``op.grant_audit_access``,
    ...) are registered by ``import alembic_audit`` alone, the same way.

    Example::

        import alembic_audit

        alembic_audit.enable()
        metadata = MetaData()
        Table("item", metadata, Column("id", Integer, primary_key=True),
              info={"audit.options": {"enabled": True}})
        metadata.tables["item_audit"]  # the audit table
    """
    builder.listen()
    # Autogenerate for projects that never list the "alembic_audit" plugin in
    # env.py (the seed's documented setup); the comparator runs once either way.
    register_global()
    # Again (see the end of this module): a no-op unless the import of this package
    # happened while Alembic's operations were still being imported.
    when_imported(_OPERATIONS_MODULE, _register_operations)


# The ops in every migration once this package is imported (env.py's `import
# alembic_audit`, or the models calling enable()), with no `import
# alembic_audit.operations` in the migration: now if Alembic's operations are loaded
# (an Alembic process), else the moment they are.
when_imported(_OPERATIONS_MODULE, _register_operations)


def audit(
    target: object,
    *,
    include: Selection | None = None,
    exclude: Selection | None = None,
    table_options: TableOptions | None = None,
    **options: Any,
) -> list[Table]:
    """Audit tables that are already defined (an existing application's models, Core
    association tables), by MetaData, predicate or list, with options for all and per
    table; return the tables this call audits.  Also does what :func:`enable` does.

    ``include=`` / ``exclude=``: a predicate on the ``Table``, or table names (``"name"``
    in any schema, ``"schema.name"``), ``Table`` objects and ORM classes.
    ``table_options=``: a dict of table name -> options, or a function of the ``Table``.
    Tables declaring their own ``info["audit.options"]`` keep them.  See
    :func:`alembic_audit.schema.selection.audit`.

    Example::

        import alembic_audit
        from myapp.models import Base  # every model imported

        alembic_audit.audit(
            Base.metadata,
            exclude=["session_cache"],
            session_settings=[sa.Column("username", sa.String(50))],
            table_options={"payment": {"level": "row"}},
        )
    """
    enable()
    return selection.audit(
        target, include=include, exclude=exclude, table_options=table_options, **options
    )


__all__ = [
    "AuditColumn",
    "AuditContextMiddleware",
    "AuditContextWSGIMiddleware",
    "AuditDDL",
    "AuditError",
    "AuditInfo",
    "AuditSpec",
    "AuditTableMismatch",
    "AuditedTable",
    "DEFAULT_AUDIT_TABLE_FUNCTION_NAMING_CONVENTION",
    "DEFAULT_AUDIT_TABLE_NAMING_CONVENTION",
    "DEFAULT_AUDIT_TABLE_TRIGGER_CONVENTION",
    "OfflineOperationError",
    "Page",
    "PartitionReport",
    "Partitioning",
    "PruneReport",
    "RedactReport",
    "RevertConflict",
    "SessionSetting",
    "UnknownHistoryError",
    "Version",
    "Write",
    "as_of",
    "asgi_header",
    "attach_audit_table",
    "audit",
    "audit_context",
    "audited_tables",
    "changes",
    "check_partitions",
    "create_partitions",
    "current_audit_context",
    "enable",
    "get_audit_spec",
    "grant_audit_access",
    "history",
    "install_audit_triggers",
    "install_context",
    "maintenance_log",
    "prune",
    "redact",
    "restore",
    "revert_transaction",
    "revoke_audit_access",
    "set_session_var_stmt",
    "set_session_vars",
    "spec_from_table",
    "uninstall_audit_triggers",
    "uninstall_context",
    "use_pg_partman",
]
