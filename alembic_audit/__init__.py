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

# The Alembic plugin module (alembic_audit.plugin) is deliberately not imported
# here: Alembic imports it while alembic.autogenerate is half initialised.
from .builder import AuditInfo, attach_audit_table, audited_tables, enable, get_audit_spec
from .ddl import AuditDDL
from .grants import grant_audit_access, revoke_audit_access
from .install import install_audit_triggers, uninstall_audit_triggers
from .naming import (
    DEFAULT_AUDIT_TABLE_FUNCTION_NAMING_CONVENTION,
    DEFAULT_AUDIT_TABLE_NAMING_CONVENTION,
    DEFAULT_AUDIT_TABLE_TRIGGER_CONVENTION,
)
from .options import spec_from_table
from .session import set_session_var_stmt, set_session_vars
from .spec import AuditColumn, AuditSpec, SessionSetting

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_AUDIT_TABLE_FUNCTION_NAMING_CONVENTION",
    "DEFAULT_AUDIT_TABLE_NAMING_CONVENTION",
    "DEFAULT_AUDIT_TABLE_TRIGGER_CONVENTION",
    "AuditColumn",
    "AuditDDL",
    "AuditInfo",
    "AuditSpec",
    "SessionSetting",
    "attach_audit_table",
    "audited_tables",
    "enable",
    "get_audit_spec",
    "grant_audit_access",
    "install_audit_triggers",
    "revoke_audit_access",
    "set_session_var_stmt",
    "set_session_vars",
    "spec_from_table",
    "uninstall_audit_triggers",
]
