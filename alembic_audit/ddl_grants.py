"""SQL text of the least-privilege grant pattern for an application (writer) role.

The writer gets DML on the audited table and nothing that can change audit rows.
With the default ``SECURITY DEFINER`` trigger function it needs no privilege on the
audit table at all; an invoker function (``security_definer=False``) needs INSERT
there, which also lets the writer insert rows of its own making.

Identifiers (tables, schemas, the role) are quoted by :func:`alembic_audit.ddl.quote`;
the one catalog query takes the table name as a bind parameter.
"""

from __future__ import annotations

from .ddl import qualify, quote
from .naming import MAX_IDENTIFIER_BYTES
from .spec import AuditSpec

#: Sequences owned by a table's columns (serial: deptype 'a', identity: 'i').  Bind
#: parameter ``table``: the quoted, qualified table name, read by ``regclass``.
OWNED_SEQUENCES_SQL = (
    "SELECT n.nspname, s.relname"
    " FROM pg_catalog.pg_depend AS d"
    " JOIN pg_catalog.pg_class AS s ON s.oid = d.objid AND s.relkind = 'S'"
    " JOIN pg_catalog.pg_namespace AS n ON n.oid = s.relnamespace"
    " WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass"
    " AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass"
    " AND d.refobjid = pg_catalog.to_regclass(:table)"
    " AND d.deptype IN ('a', 'i')"
    " ORDER BY 1, 2"
)


def validate_role_name(role: object) -> str:
    """Check a role name before it reaches any SQL; raise a ``ValueError`` naming it.

    Example::

        validate_role_name("app_writer")  # 'app_writer'
    """
    if (
        not isinstance(role, str)
        or not role
        or "\x00" in role
        or len(role.encode("utf-8")) > MAX_IDENTIFIER_BYTES
    ):
        raise ValueError(
            f"role name {role!r} is not usable: give a non-empty string of at most "
            f"{MAX_IDENTIFIER_BYTES} bytes without NUL characters"
        )
    return role


def grant_writer_sqls(spec: AuditSpec, role: str, *, read_history: bool = False) -> list[str]:
    """GRANT/REVOKE statements letting ``role`` write the audited table, not its history.

    ``read_history`` adds SELECT on the audit table.  Sequences are granted
    separately (see :func:`grant_sequence_sql`), as they are found in the catalog.

    Example::

        grant_writer_sqls(spec, "app_writer", read_history=True)
    """
    grantee = quote(validate_role_name(role))
    table = qualify(*spec.qualified_table)
    audit = qualify(*spec.qualified_audit_table)
    stmts = [
        f"GRANT USAGE ON SCHEMA {quote(spec.effective_schema)} TO {grantee}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE {table} TO {grantee}",
        # Whatever was granted on the audit table before (e.g. ALL TABLES IN SCHEMA)
        # goes: the writer must not be able to change history.
        f"REVOKE ALL ON TABLE {audit} FROM {grantee}",
    ]
    if not spec.security_definer:
        # The trigger runs as the writer, so the writer itself must be able to insert.
        stmts.append(f"GRANT INSERT ON TABLE {audit} TO {grantee}")
    if read_history or not spec.security_definer:
        stmts.append(f"GRANT USAGE ON SCHEMA {quote(spec.effective_audit_schema)} TO {grantee}")
    if read_history:
        stmts.append(f"GRANT SELECT ON TABLE {audit} TO {grantee}")
    return stmts


def grant_sequence_sql(schema: str, name: str, role: str) -> str:
    """``GRANT USAGE`` on one sequence feeding a column default (serial columns)."""
    return f"GRANT USAGE ON SEQUENCE {qualify(schema, name)} TO {quote(validate_role_name(role))}"


def revoke_writer_sqls(spec: AuditSpec, role: str) -> list[str]:
    """Undo :func:`grant_writer_sqls` for ``role`` (schema USAGE is left, it may be shared).

    Example::

        revoke_writer_sqls(spec, "app_writer")
    """
    grantee = quote(validate_role_name(role))
    return [
        f"REVOKE ALL ON TABLE {qualify(*spec.qualified_table)} FROM {grantee}",
        f"REVOKE ALL ON TABLE {qualify(*spec.qualified_audit_table)} FROM {grantee}",
    ]


def revoke_sequence_sql(schema: str, name: str, role: str) -> str:
    """``REVOKE ALL`` on one sequence (the inverse of :func:`grant_sequence_sql`)."""
    return f"REVOKE ALL ON SEQUENCE {qualify(schema, name)} FROM {quote(validate_role_name(role))}"


__all__ = [
    "OWNED_SEQUENCES_SQL",
    "grant_sequence_sql",
    "grant_writer_sqls",
    "revoke_sequence_sql",
    "revoke_writer_sqls",
    "validate_role_name",
]
