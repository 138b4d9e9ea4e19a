"""Alembic operations for the least-privilege grant pattern (see README "Security model").

Importing :mod:`alembic_audit.operations` imports this module, which registers:

- ``op.grant_audit_access(table_name, role, ...)`` -> :class:`GrantAuditAccess`
- ``op.revoke_audit_access(table_name, role, ...)`` -> :class:`RevokeAuditAccess`

Each op holds an :class:`AuditAccess`: the table, the role, the audit table, the
sequences feeding the table's serial/identity columns, all as plain literals, so a
migration never needs today's models.  Online, what a hand-written call leaves out
is read from the live catalog (the audit table and ``security_definer`` from the
spec embedded in the installed trigger function, the owned sequences from
``pg_depend``); offline, ``sequences`` must be given.

Exact downgrades.  A ``REVOKE`` cannot tell a privilege granted by the upgrade from
the same privilege held before, and PostgreSQL keeps no history of grants.  So each
op first checks, online and before any DDL, that the role's *direct* privileges are
exactly what its reverse would leave behind: the grant refuses if the role already
holds any privilege it would grant, or anything on the audit table; the revoke
refuses if the role lacks any privilege it would revoke.  When they run, the
downgrade restores ``relacl``/``nspacl`` exactly.  Privileges the pattern does not
manage (``TRUNCATE``, other tables, privileges through ``PUBLIC`` or role
membership) are never touched.

Example (a hand-written migration, after the audit trigger exists)::

    import alembic_audit.operations  # noqa: F401  (registers the ops)
    from alembic import op

    def upgrade():
        op.grant_audit_access("item", "app_writer", read_history=True)

    def downgrade():
        op.revoke_audit_access("item", "app_writer", read_history=True)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa
from alembic.operations import MigrateOperation, Operations

from . import ddl_grants
from .grants import owned_sequences
from .naming import fit_identifier, render_convention
from .operations import OfflineOperationError, _bind, _is_offline, _run, _where, live_spec
from .spec import DEFAULT_SCHEMA

__all__ = ["AuditAccess", "GrantAuditAccess", "Privilege", "RevokeAuditAccess"]


class Privilege(NamedTuple):
    """Privileges on one object: ``kind`` is SCHEMA (``name`` None), TABLE or SEQUENCE.

    Example::

        Privilege("TABLE", "public", "item", ("SELECT", "INSERT"))
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


@dataclasses.dataclass(frozen=True)
class AuditAccess:
    """What one grant op manages: the writer pattern for ``role`` on one audited table.

    Every field is a plain literal (what the renderer writes into a migration).

    Example::

        access = AuditAccess("item", "app_writer", audit_table_name="item_audit",
                             sequences=(("public", "item_id_seq"),))
        [p.label for p in access.privileges()]
        # ['schema public', 'table public.item', 'sequence public.item_id_seq']
    """

    table_name: str
    role: str
    schema: str | None = None
    audit_table_name: str = ""
    audit_schema: str | None = None
    security_definer: bool = True
    sequences: tuple[tuple[str, str], ...] = ()
    read_history: bool = False
    schema_usage: bool = True

    @property
    def qualified_table(self) -> tuple[str, str]:
        return (self.schema or DEFAULT_SCHEMA, self.table_name)

    @property
    def qualified_audit_table(self) -> tuple[str, str]:
        return (self.audit_schema or self.qualified_table[0], self.audit_table_name)

    def privileges(self) -> list[Privilege]:
        """The privileges granted, in GRANT order (REVOKE runs them backwards).

        With the default ``SECURITY DEFINER`` function the role gets nothing on the
        audit table unless ``read_history`` (SELECT); an invoker function needs
        INSERT there (which also lets the role forge rows).
        """
        table_schema, table = self.qualified_table
        audit_schema, audit = self.qualified_audit_table
        needs_audit = self.read_history or not self.security_definer
        out: list[Privilege] = []
        if self.schema_usage:
            out.append(Privilege("SCHEMA", table_schema, None, ("USAGE",)))
            if needs_audit and audit_schema != table_schema:
                out.append(Privilege("SCHEMA", audit_schema, None, ("USAGE",)))
        out.append(
            Privilege("TABLE", table_schema, table, ("SELECT", "INSERT", "UPDATE", "DELETE"))
        )
        out += [Privilege("SEQUENCE", s, n, ("USAGE",)) for s, n in self.sequences]
        on_audit = (("INSERT",) if not self.security_definer else ()) + (
            ("SELECT",) if self.read_history else ()
        )
        if on_audit:
            out.append(Privilege("TABLE", audit_schema, audit, on_audit))
        return out

    def grant_sqls(self) -> list[str]:
        """The GRANT statements.

        Example::

            access.grant_sqls()[1]
            # 'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE "public"."item" TO "app_writer"'
        """
        return [
            ddl_grants.privilege_sql("GRANT", p.kind, p.schema, p.name, p.privileges, self.role)
            for p in self.privileges()
        ]

    def revoke_sqls(self) -> list[str]:
        """The REVOKE statements undoing :meth:`grant_sqls`, privilege by privilege.

        Example::

            access.revoke_sqls()[0]
            # 'REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLE "public"."item" FROM "app_writer"'
        """
        return [
            ddl_grants.privilege_sql("REVOKE", p.kind, p.schema, p.name, p.privileges, self.role)
            for p in reversed(self.privileges())
        ]

    def to_dict(self) -> dict[str, Any]:
        """Plain literals, in field order (what the renderer writes).

        Example::

            AuditAccess.from_dict(access.to_dict()) == access  # True
        """
        data = dataclasses.asdict(self)
        data["sequences"] = [tuple(s) for s in self.sequences]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AuditAccess:
        """Inverse of :meth:`to_dict`."""
        fields = dict(data)
        fields["sequences"] = tuple(tuple(s) for s in fields.get("sequences") or ())
        return cls(**fields)


# -- building the access from op arguments ----------------------------------------------


def build_access(
    operations: Operations,
    opname: str,
    table_name: str,
    role: str,
    *,
    schema: str | None,
    read_history: bool,
    schema_usage: bool,
    sequences: Sequence[Sequence[str]] | None,
    audit_table_name: str | None,
    audit_schema: str | None,
    security_definer: bool | None,
) -> AuditAccess:
    """The :class:`AuditAccess` an op call describes, filling what is left out.

    Online: the audit table and ``security_definer`` come from the installed audit
    function, the sequences from the catalog.  Offline: names follow the default
    conventions, ``security_definer`` defaults to True, and ``sequences`` is required.

    Example::

        build_access(op, "grant_audit_access", "item", "app", schema=None,
                     read_history=False, schema_usage=True, sequences=[],
                     audit_table_name="item_audit", audit_schema=None,
                     security_definer=True)
    """
    where = _where(opname, table_name, schema)
    try:
        ddl_grants.validate_role_name(role)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    offline = _is_offline(operations)
    if offline:
        if sequences is None:
            raise OfflineOperationError(
                f"{where}: offline mode (alembic upgrade --sql) cannot read which sequences "
                "feed the table's serial/identity columns; pass sequences=[(schema, name), ...] "
                "(sequences=[] if it has none)"
            )
        if audit_table_name is None:
            audit_table_name = fit_identifier(
                render_convention({}, "audit.table", table_name=table_name, schema=schema)
            )
        if security_definer is None:
            security_definer = True
    else:
        if audit_table_name is None or security_definer is None:
            spec = live_spec(operations, opname, table_name, schema)
            if audit_table_name is None:
                audit_table_name, audit_schema = spec.audit_table_name, spec.audit_schema
            if security_definer is None:
                security_definer = spec.security_definer
        if sequences is None:
            sequences = owned_sequences(_bind(operations), schema or DEFAULT_SCHEMA, table_name)
    for item in sequences:
        if isinstance(item, str) or len(item) != 2:
            raise ValueError(f"{where}: sequences entries are (schema, name) pairs, got {item!r}")
    return AuditAccess(
        table_name=table_name,
        role=role,
        schema=schema,
        audit_table_name=audit_table_name,
        audit_schema=audit_schema,
        security_definer=security_definer,
        sequences=tuple((str(s), str(n)) for s, n in sequences),
        read_history=read_history,
        schema_usage=schema_usage,
    )


# -- the checks that make the downgrade exact -------------------------------------------


def _held(operations: Operations, where: str, role: str, target: Privilege) -> tuple[str, set[str]]:
    """Owner and the role's direct privileges on ``target``; error if it does not exist."""
    query = ddl_grants.SCHEMA_ACL_SQL if target.kind == "SCHEMA" else ddl_grants.RELATION_ACL_SQL
    obj = ddl_grants.object_sql(target.kind, target.schema, target.name)
    row = _bind(operations).execute(sa.text(query), {"object": obj, "role": role}).first()
    if row is None:
        raise ValueError(f"{where}: {target.label} does not exist")
    return str(row[0]), set(row[1] or ())


def _check_grantable(operations: Operations, where: str, role: str, target: Privilege) -> None:
    """The migration role must be able to grant ``target`` (else GRANT silently does nothing)."""
    bind = _bind(operations)
    obj = ddl_grants.object_sql(target.kind, target.schema, target.name)
    query = sa.text(ddl_grants.GRANTABLE_SQL[target.kind])
    missing = [
        priv
        for priv in target.privileges
        if not bind.execute(
            query, {"object": obj, "privilege": f"{priv} WITH GRANT OPTION"}
        ).scalar()
    ]
    if not missing:
        return
    me = bind.execute(sa.text(ddl_grants.CURRENT_USER_SQL)).scalar()
    hint = ""
    if (
        target.kind == "SCHEMA"
        and bind.execute(
            sa.text(ddl_grants.SCHEMA_USAGE_SQL), {"role": role, "object": obj}
        ).scalar()
    ):
        hint = (
            f"; role {role!r} has USAGE on it already (through PUBLIC or a role it belongs "
            "to): pass schema_usage=False"
        )
    raise ValueError(
        f"{where}: the migration role {me!r} cannot grant {', '.join(missing)} on "
        f"{target.label} (it neither owns it nor holds the grant option){hint}"
    )


def check_state(
    operations: Operations, opname: str, access: AuditAccess, *, granting: bool
) -> None:
    """Refuse, before any DDL, a state the reverse op could not restore exactly.

    Granting: the role exists, is no superuser, owns neither table, and holds directly
    none of the privileges granted and nothing on the audit table.  Revoking: the
    role holds every privilege revoked.  Offline nothing can be read: no check.

    Example::

        check_state(operations, "grant_audit_access", access, granting=True)  # or ValueError
    """
    if _is_offline(operations):
        return
    where = f"op.{opname}({access.table_name!r}, {access.role!r})"
    row = _bind(operations).execute(sa.text(ddl_grants.ROLE_SQL), {"role": access.role}).first()
    if row is None:
        raise ValueError(f"{where}: role {access.role!r} does not exist")
    if granting and row[0]:
        raise ValueError(
            f"{where}: role {access.role!r} is a superuser, which bypasses every privilege; "
            "grant the pattern to a role that owns nothing"
        )
    audit_key = ("TABLE", *access.qualified_audit_table)
    targets = access.privileges()
    if audit_key not in [(t.kind, t.schema, t.name) for t in targets]:
        # Checked even when nothing is granted there: the role must hold nothing on it.
        targets.append(Privilege(*audit_key, ()))
    problems: list[str] = []
    for target in targets:
        owner, held = _held(operations, where, access.role, target)
        if target.kind != "SCHEMA" and owner == access.role:
            raise ValueError(
                f"{where}: role {access.role!r} owns {target.label}, and an owner can always "
                "change audit rows; grant the pattern to a role that owns nothing"
            )
        wanted = set(target.privileges)
        if granting:
            _check_grantable(operations, where, access.role, target)
            # On the audit table anything held is a problem (it could change history).
            clash = (
                held if (target.kind, target.schema, target.name) == audit_key else held & wanted
            )
            if clash:
                problems.append(f"{', '.join(sorted(clash))} on {target.label}")
        elif wanted - held:
            problems.append(f"{', '.join(sorted(wanted - held))} on {target.label}")
    if not problems:
        return
    if granting:
        hint = (
            "; pass schema_usage=False if the role's USAGE on the schema is managed elsewhere"
            if all(p.split(" on ")[1].startswith("schema ") for p in problems)
            else ""
        )
        raise ValueError(
            f"{where}: role {access.role!r} already holds {'; '.join(problems)}.  The downgrade "
            "could not tell those from this grant and would take them away: revoke them first "
            "(op.execute(...) in this migration, granting them back in its downgrade)" + hint
        )
    raise ValueError(
        f"{where}: role {access.role!r} does not hold {'; '.join(problems)}, so the downgrade "
        "would grant what the role did not have; check the arguments (read_history, "
        "schema_usage, sequences) against the op.grant_audit_access call that granted them"
    )


# -- the operations ---------------------------------------------------------------------


@Operations.register_operation("grant_audit_access")
class GrantAuditAccess(MigrateOperation):
    """Grant ``role`` the writer pattern on one audited table; reverse: :class:`RevokeAuditAccess`.

    Example::

        op = GrantAuditAccess(access)
        op.reverse()          # RevokeAuditAccess(access)
        op.to_diff_tuple()    # ('add_audit_access', access)
    """

    def __init__(self, access: AuditAccess) -> None:
        self.access = access

    def reverse(self) -> RevokeAuditAccess:
        return RevokeAuditAccess(self.access)

    def to_diff_tuple(self) -> tuple[Any, ...]:
        return ("add_audit_access", self.access)

    def __repr__(self) -> str:
        return f"GrantAuditAccess({self.access!r})"

    @classmethod
    def grant_audit_access(
        cls,
        operations: Operations,
        table_name: str,
        role: str,
        *,
        schema: str | None = None,
        read_history: bool = False,
        schema_usage: bool = True,
        sequences: Sequence[Sequence[str]] | None = None,
        audit_table_name: str | None = None,
        audit_schema: str | None = None,
        security_definer: bool | None = None,
    ) -> None:
        """Let ``role`` write ``table_name`` (audited) without any power over its history.

        Grants USAGE on the schema (unless ``schema_usage=False``), SELECT, INSERT,
        UPDATE, DELETE on the table and USAGE on its serial/identity sequences;
        ``read_history=True`` adds SELECT on the audit table.  Online, refuses (naming
        the role and the objects, before any DDL) a role that does not exist, is a
        superuser or an owner, or already holds some of these privileges or anything on
        the audit table, so that ``op.revoke_audit_access`` with the same arguments
        restores the previous privileges exactly.  Offline, pass ``sequences``.

        Example::

            op.grant_audit_access("item", "app_writer", read_history=True)
            op.grant_audit_access("item", "app_writer", sequences=[("public", "item_id_seq")])
        """
        access = build_access(
            operations,
            "grant_audit_access",
            table_name,
            role,
            schema=schema,
            read_history=read_history,
            schema_usage=schema_usage,
            sequences=sequences,
            audit_table_name=audit_table_name,
            audit_schema=audit_schema,
            security_definer=security_definer,
        )
        operations.invoke(cls(access))


@Operations.register_operation("revoke_audit_access")
class RevokeAuditAccess(MigrateOperation):
    """Revoke exactly what :class:`GrantAuditAccess` granted; reverse: the grant.

    Example::

        op = RevokeAuditAccess(access)
        op.reverse()          # GrantAuditAccess(access)
        op.to_diff_tuple()    # ('remove_audit_access', access)
    """

    def __init__(self, access: AuditAccess) -> None:
        self.access = access

    def reverse(self) -> GrantAuditAccess:
        return GrantAuditAccess(self.access)

    def to_diff_tuple(self) -> tuple[Any, ...]:
        return ("remove_audit_access", self.access)

    def __repr__(self) -> str:
        return f"RevokeAuditAccess({self.access!r})"

    @classmethod
    def revoke_audit_access(
        cls,
        operations: Operations,
        table_name: str,
        role: str,
        *,
        schema: str | None = None,
        read_history: bool = False,
        schema_usage: bool = True,
        sequences: Sequence[Sequence[str]] | None = None,
        audit_table_name: str | None = None,
        audit_schema: str | None = None,
        security_definer: bool | None = None,
    ) -> None:
        """Revoke the privileges ``op.grant_audit_access`` with the same arguments granted.

        Only those privileges: others the role holds on the same objects stay.
        Online, refuses (before any DDL) if the role does not hold all of them.

        Example::

            op.revoke_audit_access("item", "app_writer", read_history=True)
        """
        access = build_access(
            operations,
            "revoke_audit_access",
            table_name,
            role,
            schema=schema,
            read_history=read_history,
            schema_usage=schema_usage,
            sequences=sequences,
            audit_table_name=audit_table_name,
            audit_schema=audit_schema,
            security_definer=security_definer,
        )
        operations.invoke(cls(access))


@Operations.implementation_for(GrantAuditAccess)
def _grant_audit_access(operations: Operations, operation: GrantAuditAccess) -> None:
    check_state(operations, "grant_audit_access", operation.access, granting=True)
    _run(operations, operation.access.grant_sqls())


@Operations.implementation_for(RevokeAuditAccess)
def _revoke_audit_access(operations: Operations, operation: RevokeAuditAccess) -> None:
    check_state(operations, "revoke_audit_access", operation.access, granting=False)
    _run(operations, operation.access.revoke_sqls())
