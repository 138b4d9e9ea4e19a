"""The least-privilege pattern for an application (writer) role, as data and as SQL.

The writer gets DML on the audited table and nothing that can change audit rows.
With the default ``SECURITY DEFINER`` trigger function it needs no privilege on the
audit table at all; an invoker function (``security_definer=False``) needs INSERT
there, which also lets the writer insert rows of its own making.
:func:`writer_privileges` is the one statement of that rule: the runtime helpers
(``grant_audit_access``) and the Alembic ops (``op.grant_audit_access``) both use it.

Example::

    [p.label for p in writer_privileges(("public", "item"), ("public", "item_audit"))]
    # ['schema public', 'table public.item']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from ..core.constants import MAX_IDENTIFIER_BYTES
from ..core.errors import AuditError
from .quoting import qualify, quote

#: Object kinds of :func:`privilege_sql`, as GRANT spells them.
OBJECT_KINDS = ("SCHEMA", "TABLE", "SEQUENCE")
#: Privileges :func:`privilege_sql` accepts (never taken from user input verbatim).
PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "USAGE")
#: What the writer gets on the audited table.
WRITER_TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE")


class Privilege(NamedTuple):
    """Privileges on one object: ``kind`` is SCHEMA (``name`` None), TABLE or SEQUENCE.

    Example::

        Privilege("TABLE", "public", "item", ("SELECT", "INSERT")).label  # 'table public.item'
    """

    kind: str
    schema: str
    name: str | None
    privileges: tuple[str, ...]

    @property
    def label(self) -> str:
        """``table public.item`` (for messages)."""
        target = self.schema if self.name is None else f"{self.schema}.{self.name}"
        return f"{self.kind.lower()} {target}"

    @property
    def object_sql(self) -> str:
        """The quoted name of the schema or relation.

        Example::

            Privilege("TABLE", "public", "item", ()).object_sql  # '"public"."item"'
        """
        return quote(self.schema) if self.name is None else qualify(self.schema, self.name)


def validate_role_name(role: object) -> str:
    """Check a role name before it reaches any SQL; raise an ``AuditError`` naming it.

    Example::

        validate_role_name("app_writer")  # 'app_writer'
    """
    if (
        not isinstance(role, str)
        or not role
        or "\x00" in role
        or len(role.encode("utf-8")) > MAX_IDENTIFIER_BYTES
    ):
        raise AuditError(
            f"role name {role!r} is not usable: give a non-empty string of at most "
            f"{MAX_IDENTIFIER_BYTES} bytes without NUL characters"
        )
    return role


def writer_privileges(
    table: tuple[str, str],
    audit_table: tuple[str, str],
    *,
    security_definer: bool = True,
    read_history: bool = False,
    schema_usage: bool = True,
    sequences: Sequence[tuple[str, str]] = (),
) -> list[Privilege]:
    """What a writer role gets for one audited table, in GRANT order.

    USAGE on the table's schema (and on the audit table's, when it needs anything
    there), DML on the table, USAGE on the sequences feeding its serial/identity
    columns; on the audit table INSERT for an invoker function and SELECT with
    ``read_history``.

    Example::

        writer_privileges(("public", "item"), ("audit", "item_audit"), read_history=True)
    """
    table_schema, table_name = table
    audit_schema, audit_name = audit_table
    on_audit = (("INSERT",) if not security_definer else ()) + (("SELECT",) if read_history else ())
    out: list[Privilege] = []
    if schema_usage:
        out.append(Privilege("SCHEMA", table_schema, None, ("USAGE",)))
        if on_audit and audit_schema != table_schema:
            out.append(Privilege("SCHEMA", audit_schema, None, ("USAGE",)))
    out.append(Privilege("TABLE", table_schema, table_name, WRITER_TABLE_PRIVILEGES))
    out += [Privilege("SEQUENCE", s, n, ("USAGE",)) for s, n in sequences]
    if on_audit:
        out.append(Privilege("TABLE", audit_schema, audit_name, on_audit))
    return out


def privilege_sql(action: str, privilege: Privilege, role: str) -> str:
    """``GRANT privs ON kind obj TO role`` or ``REVOKE privs ON kind obj FROM role``.

    Only the privilege and kind keywords above are accepted; names are quoted.
    ``privileges=("ALL",)`` is accepted for REVOKE.

    Example::

        privilege_sql("GRANT", Privilege("SEQUENCE", "public", "item_id_seq", ("USAGE",)), "app")
        # 'GRANT USAGE ON SEQUENCE "public"."item_id_seq" TO "app"'
    """
    revoke_all = action == "REVOKE" and privilege.privileges == ("ALL",)
    if action not in ("GRANT", "REVOKE") or privilege.kind not in OBJECT_KINDS:
        raise AuditError(f"unknown privilege statement {action} ... ON {privilege.kind}")
    unknown = sorted(set(privilege.privileges) - set(PRIVILEGES))
    if not revoke_all and (unknown or not privilege.privileges):
        raise AuditError(f"unknown privileges {unknown or list(privilege.privileges)}")
    direction = "TO" if action == "GRANT" else "FROM"
    return (
        f"{action} {', '.join(privilege.privileges)} ON {privilege.kind} "
        f"{privilege.object_sql} {direction} {quote(validate_role_name(role))}"
    )


def revoke_all_sql(kind: str, schema: str, name: str, role: str) -> str:
    """``REVOKE ALL ON kind obj FROM role``.

    Example::

        revoke_all_sql("TABLE", "public", "item_audit", "app")
        # 'REVOKE ALL ON TABLE "public"."item_audit" FROM "app"'
    """
    return privilege_sql("REVOKE", Privilege(kind, schema, name, ("ALL",)), role)


def revoke_function_sql(function: tuple[str, str], role: str) -> str:
    """``REVOKE ALL ON FUNCTION schema.name() FROM role`` (a trigger function takes no
    arguments).

    Example::

        revoke_function_sql(("public", "public_item_audit"), "app")
        # 'REVOKE ALL ON FUNCTION "public"."public_item_audit"() FROM "app"'
    """
    return f"REVOKE ALL ON FUNCTION {qualify(*function)}() FROM {quote(validate_role_name(role))}"


__all__ = [
    "OBJECT_KINDS",
    "PRIVILEGES",
    "Privilege",
    "privilege_sql",
    "revoke_all_sql",
    "revoke_function_sql",
    "validate_role_name",
    "writer_privileges",
]
