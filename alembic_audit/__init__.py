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

from .autogen.plugin import register_global
from .core.errors import AuditError, AuditTableMismatch, OfflineOperationError
from .core.imports import when_imported
from .core.naming import (
    DEFAULT_AUDIT_TABLE_FUNCTION_NAMING_CONVENTION,
    DEFAULT_AUDIT_TABLE_NAMING_CONVENTION,
    DEFAULT_AUDIT_TABLE_TRIGGER_CONVENTION,
)
from .core.options import spec_from_table
from .core.spec import AuditColumn, AuditSpec, Partitioning, SessionSetting
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
from .runtime.grants import grant_audit_access, revoke_audit_access
from .runtime.install import install_audit_triggers, uninstall_audit_triggers
from .runtime.session import set_session_var_stmt, set_session_vars
from .schema import builder
from .schema.builder import AuditInfo, attach_audit_table, audited_tables, get_audit_spec
from .sql.statement import AuditDDL

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


__all__ = [
    "DEFAULT_AUDIT_TABLE_FUNCTION_NAMING_CONVENTION",
    "DEFAULT_AUDIT_TABLE_NAMING_CONVENTION",
    "DEFAULT_AUDIT_TABLE_TRIGGER_CONVENTION",
    "AuditColumn",
    "AuditDDL",
    "AuditError",
    "AuditTableMismatch",
    "AuditInfo",
    "AuditSpec",
    "OfflineOperationError",
    "PartitionReport",
    "Partitioning",
    "PruneReport",
    "RedactReport",
    "SessionSetting",
    "attach_audit_table",
    "audited_tables",
    "check_partitions",
    "create_partitions",
    "enable",
    "get_audit_spec",
    "grant_audit_access",
    "install_audit_triggers",
    "maintenance_log",
    "prune",
    "redact",
    "revoke_audit_access",
    "set_session_var_stmt",
    "set_session_vars",
    "spec_from_table",
    "uninstall_audit_triggers",
    "use_pg_partman",
]
