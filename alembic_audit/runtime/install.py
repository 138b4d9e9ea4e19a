"""Install and uninstall trigger functions and triggers outside of Alembic."""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.engine import Connection, Engine

from ..core.errors import AuditError, AuditTableMismatch
from ..core.spec import AuditSpec
from ..reflection.checks import check_audit_targets
from ..reflection.inspector import PGAdvancedInspector
from ..schema.builder import audited_tables, get_audit_spec
from ..sql.objects import create_statements, drop_statements, snapshot_statement
from ..sql.tables import add_columns_statements
from .connection import metadata_bind, run, transaction


def install_audit_triggers(
    metadata: MetaData,
    engine: Engine | Connection | None = None,
    *,
    snapshot: bool = False,
) -> str | None:
    """Create (or replace) every audit function and trigger of ``metadata``.

    With an Engine or Connection the DDL runs in one transaction, after checking (two
    catalog queries) that every audit table and the schemas of the audit tables and
    functions belong to the installing role or a superuser, that each table is
    partitioned exactly when its model says so and takes no part in table inheritance,
    and that every audit table has the columns its trigger writes; an
    :class:`~alembic_audit.AuditError` names the culprit otherwise.  Without a bind the SQL
    script is returned (and nothing is checked).  Idempotent: running it twice leaves one
    trigger set.  A ``metadata.bind`` left by a script written for SQLAlchemy 1.x is used
    (with a ``DeprecationWarning``), as sqlalchemy-postgresql-audit did.

    The script runs unchanged through ``conn.execute(text(...))``,
    ``conn.exec_driver_sql(...)``, ``DDL(...)``, ``op.execute(...)`` and psql.

    ``snapshot=True`` records the rows of every table whose auditing begins now (its
    audit function did not exist) as ``'S'`` audit rows, in the same transaction:
    the baseline of the rows that existed before auditing.  A table already audited
    gets no second snapshot.  The returned script (no bind) snapshots every table.

    Example::

        metadata.create_all(engine)
        install_audit_triggers(metadata, engine, snapshot=True)
        print(install_audit_triggers(metadata))  # the SQL, for review
    """
    bind = metadata_bind(metadata, engine, "install_audit_triggers")
    specs = [get_audit_spec(table) for table in audited_tables(metadata)]
    if bind is None:
        return run([s for spec in specs for s in _install_statements(spec, snapshot)], None)
    with transaction(bind) as conn:
        inspector = PGAdvancedInspector(conn)
        # Before any DDL: whose audit table, which schema owners, what kind of table,
        # and whether each audit table has the columns its trigger writes.
        check_audit_targets(inspector, specs, where=lambda spec: "install_audit_triggers")
        check_audit_tables(inspector, specs)
        statements = [
            stmt
            for spec in specs
            for stmt in _install_statements(
                spec,
                snapshot and not inspector.function_exists(*spec.qualified_function),
            )
        ]
        run(statements, conn)
    return None


def check_audit_tables(inspector: PGAdvancedInspector, specs: list[AuditSpec]) -> None:
    """Refuse, before any DDL, audit tables that are missing or lack a column the trigger
    writes: its every write would fail.  One catalog query for all tables.

    An audit table made by an earlier release (or by sqlalchemy-postgresql-audit) lacks
    this release's columns; the error carries the statements that add them.

    Example::

        check_audit_tables(PGAdvancedInspector(conn), specs)  # or AuditError
    """
    found = inspector.columns([spec.qualified_audit_table for spec in specs])
    missing_tables = [
        f"{'.'.join(s.qualified_audit_table)!r} (of table {'.'.join(s.qualified_table)!r})"
        for s in specs
        if s.qualified_audit_table not in found
    ]
    if missing_tables:
        raise AuditError(
            f"install_audit_triggers: audit table(s) {', '.join(missing_tables)} do not exist; "
            "create them first (metadata.create_all(engine))"
        )
    wanting = [s for s in specs if s.partition is not None]
    relations = inspector.relations([s.qualified_audit_table for s in wanting]) if wanting else {}
    plain = [
        ".".join(s.qualified_audit_table)
        for s in wanting
        if not relations[s.qualified_audit_table].partitioned
    ]
    if plain:
        raise AuditError(
            f"install_audit_triggers: audit table(s) {plain} are plain tables and their "
            "options ask for partitioned ones (audit option 'partition'); convert them with "
            "a migration (alembic revision --autogenerate writes op.partition_audit_table, "
            "which keeps every row), or leave 'partition' out"
        )
    statements: list[str] = []
    lacking: list[str] = []
    for spec in specs:
        adds = add_columns_statements(spec, set(found[spec.qualified_audit_table]))
        if adds:
            lacking.append(".".join(spec.qualified_audit_table))
            statements += adds
    if statements:
        raise AuditTableMismatch(
            f"install_audit_triggers: audit table(s) {lacking} lack columns their triggers "
            "write (made by an earlier release?); add them first (the error's statements, "
            "or an Alembic migration: alembic revision --autogenerate), or turn the "
            "options off (identity, transaction_id, change_timestamp):\n" + ";\n".join(statements),
            statements,
        )


def _install_statements(spec: AuditSpec, snapshot: bool) -> list[str]:
    statements = create_statements(spec, replace_triggers=True)
    return statements + [snapshot_statement(spec)] if snapshot else statements


def uninstall_audit_triggers(
    metadata: MetaData, engine: Engine | Connection | None = None
) -> str | None:
    """Drop every audit function (and with it its triggers) of ``metadata``.

    Audit tables and their rows are left alone.  Idempotent: it also runs where
    nothing is installed.  Without a bind (nor ``metadata.bind``), the SQL script is
    returned.

    Example::

        uninstall_audit_triggers(metadata, engine)
    """
    bind = metadata_bind(metadata, engine, "uninstall_audit_triggers")
    statements = [
        stmt
        for table in reversed(audited_tables(metadata))
        for stmt in drop_statements(get_audit_spec(table), if_exists=True)
    ]
    return run(statements, bind)


__all__ = ["install_audit_triggers", "uninstall_audit_triggers"]
