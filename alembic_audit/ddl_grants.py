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
    """``GRANT USAGE`` on one sequence feeding a column default (serial columns).

    Example::

        grant_sequence_sql("public", "item_id_seq", "app_writer")
        # 'GRANT USAGE ON SEQUENCE "public"."item_id_seq" TO "app_writer"'
    """
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
    """``REVOKE ALL`` on one sequence (the inverse of :func:`grant_sequence_sql`).

    Example::

        revoke_sequence_sql("public", "item_id_seq", "app_writer")
        # 'REVOKE ALL ON SEQUENCE "public"."item_id_seq" FROM "app_writer"'
    """
    return f"REVOKE ALL ON SEQUENCE {qualify(schema, name)} FROM {quote(validate_role_name(role))}"


# -- the Alembic grant ops (alembic_audit.grant_operations) -----------------------------

#: ``rolsuper`` of the role named by bind parameter ``role`` (no row: no such role).
ROLE_SQL = "SELECT r.rolsuper FROM pg_catalog.pg_roles AS r WHERE r.rolname = :role"

#: Owner of a relation (bind ``object``: quoted, qualified name read by ``to_regclass``)
#: and the privileges granted directly to the role ``role`` in its ACL.  No row: no
#: such relation.
RELATION_ACL_SQL = (
    "SELECT pg_catalog.pg_get_userbyid(c.relowner),"
    " ARRAY(SELECT a.privilege_type FROM pg_catalog.aclexplode(c.relacl) AS a"
    " JOIN pg_catalog.pg_roles AS r ON r.oid = a.grantee"
    " WHERE r.rolname = :role ORDER BY 1)"
    " FROM pg_catalog.pg_class AS c WHERE c.oid = pg_catalog.to_regclass(:object)"
)

#: The same for a schema (bind ``object``: the quoted schema name).
SCHEMA_ACL_SQL = (
    "SELECT pg_catalog.pg_get_userbyid(n.nspowner),"
    " ARRAY(SELECT a.privilege_type FROM pg_catalog.aclexplode(n.nspacl) AS a"
    " JOIN pg_catalog.pg_roles AS r ON r.oid = a.grantee"
    " WHERE r.rolname = :role ORDER BY 1)"
    " FROM pg_catalog.pg_namespace AS n WHERE n.oid = pg_catalog.to_regnamespace(:object)"
)

#: Can the current (migration) role grant a privilege?  Binds ``object`` (quoted name)
#: and ``privilege`` (e.g. ``'USAGE WITH GRANT OPTION'``).  A GRANT the current role
#: cannot make only warns and grants nothing, so the ops ask first.
GRANTABLE_SQL = {
    "SCHEMA": "SELECT pg_catalog.has_schema_privilege("
    "pg_catalog.to_regnamespace(:object), :privilege)",
    "TABLE": "SELECT pg_catalog.has_table_privilege(pg_catalog.to_regclass(:object), :privilege)",
    "SEQUENCE": (
        "SELECT pg_catalog.has_sequence_privilege(pg_catalog.to_regclass(:object), :privilege)"
    ),
}

#: Does the role ``role`` have USAGE on the schema ``object`` by any route (PUBLIC,
#: membership, direct)?
SCHEMA_USAGE_SQL = (
    "SELECT pg_catalog.has_schema_privilege(:role, pg_catalog.to_regnamespace(:object), 'USAGE')"
)

#: The role running the migration (for messages).
CURRENT_USER_SQL = "SELECT current_user"

#: Object kinds of :func:`privilege_sql`, as GRANT spells them.
OBJECT_KINDS = ("SCHEMA", "TABLE", "SEQUENCE")
#: Privileges :func:`privilege_sql` accepts (never taken from user input verbatim).
PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "USAGE")


def object_sql(kind: str, schema: str, name: str | None) -> str:
    """The quoted name of a schema (``name`` None) or of a relation in it.

    Example::

        object_sql("TABLE", "public", "item")  # '"public"."item"'
    """
    return quote(schema) if kind == "SCHEMA" else qualify(schema, name or "")


def privilege_sql(
    action: str, kind: str, schema: str, name: str | None, privileges: tuple[str, ...], role: str
) -> str:
    """One ``GRANT privs ON kind obj TO role`` or ``REVOKE privs ON kind obj FROM role``.

    Only the privilege and kind keywords above are accepted; names are quoted.

    Example::

        privilege_sql("GRANT", "SEQUENCE", "public", "item_id_seq", ("USAGE",), "app")
        # 'GRANT USAGE ON SEQUENCE "public"."item_id_seq" TO "app"'
    """
    if action not in ("GRANT", "REVOKE") or kind not in OBJECT_KINDS:
        raise ValueError(f"unknown privilege statement {action} ... ON {kind}")
    unknown = sorted(set(privileges) - set(PRIVILEGES))
    if unknown or not privileges:
        raise ValueError(f"unknown privileges {unknown or list(privileges)}")
    direction = "TO" if action == "GRANT" else "FROM"
    return (
        f"{action} {', '.join(privileges)} ON {kind} {object_sql(kind, schema, name)} "
        f"{direction} {quote(validate_role_name(role))}"
    )


__all__ = [
    "CURRENT_USER_SQL",
    "GRANTABLE_SQL",
    "OBJECT_KINDS",
    "OWNED_SEQUENCES_SQL",
    "PRIVILEGES",
    "RELATION_ACL_SQL",
    "ROLE_SQL",
    "SCHEMA_ACL_SQL",
    "SCHEMA_USAGE_SQL",
    "grant_sequence_sql",
    "grant_writer_sqls",
    "object_sql",
    "privilege_sql",
    "revoke_sequence_sql",
    "revoke_writer_sqls",
    "validate_role_name",
]
