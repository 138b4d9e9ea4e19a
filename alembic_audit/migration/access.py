"""What the grant ops manage: the writer pattern for one role on one audited table.

:class:`AuditAccess` is the literal payload of ``op.grant_audit_access`` /
``op.revoke_audit_access`` (what the renderer writes into a migration, so the
migration never needs today's models).  Online, what a hand-written call leaves out
is read from the live catalog (the audit table and ``security_definer`` from the
installed trigger function, the owned sequences from ``pg_depend``); offline,
``sequences`` must be given.

Exact downgrades.  A ``REVOKE`` cannot tell a privilege granted by the upgrade from
the same privilege held before, and PostgreSQL keeps no history of grants.  So each
op first checks, online and before any DDL, that the role's *direct* privileges are
exactly what its reverse would leave behind: the grant refuses if the role already
holds any privilege it would grant, or anything on the audit table; the revoke
refuses if the role lacks any privilege it would revoke.  When they run, the
downgrade restores ``relacl``/``nspacl`` exactly.  Privileges the pattern does not
manage (``TRUNCATE`` on the table, other tables, privileges through ``PUBLIC`` or role
membership) are never touched; but the grant refuses, naming the role they come
through, privileges through ``PUBLIC``, another role or ownership that would let the
role change or forge history (see :func:`~alembic_audit.reflection.checks.check_held_elsewhere`).

Example::

    access = AuditAccess("item", "app_writer", audit_table_name="item_audit")
    access.grant_sqls()
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, TypedDict

from alembic.operations import Operations
from typing_extensions import Unpack

from ..core.constants import DEFAULT_SCHEMA
from ..core.errors import AuditError, OfflineOperationError
from ..core.naming import audit_names
from ..core.spec import AuditSpec
from ..reflection.checks import check_audit_targets, check_held_elsewhere, check_read_history
from ..reflection.inspector import PGAdvancedInspector
from ..sql.grants import Privilege, privilege_sql, validate_role_name, writer_privileges
from .arguments import live_spec
from .context import connection, is_offline, where


class AccessOptions(TypedDict, total=False):
    """The keywords of the grant ops.

    ``read_history`` adds SELECT on the audit table; ``schema_usage=False`` leaves
    USAGE on the schema alone; ``sequences`` are ``(schema, name)`` pairs (read from
    the catalog online, required offline); the audit table and ``security_definer``
    are read from the installed function online when not given.

    Example::

        op.grant_audit_access("item", "app_writer", read_history=True)
    """

    schema: str | None
    read_history: bool
    schema_usage: bool
    sequences: Sequence[Sequence[str]] | None
    audit_table_name: str | None
    audit_schema: str | None
    security_definer: bool | None


@dataclasses.dataclass(frozen=True)
class AuditAccess:
    """The writer pattern for ``role`` on one audited table, as plain literals.

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

        Example::

            access.privileges()[0].label  # 'schema public'
        """
        return writer_privileges(
            self.qualified_table,
            self.qualified_audit_table,
            security_definer=self.security_definer,
            read_history=self.read_history,
            schema_usage=self.schema_usage,
            sequences=self.sequences,
        )

    def grant_sqls(self) -> list[str]:
        """The GRANT statements.

        Example::

            access.grant_sqls()[1]
            # 'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE "public"."item" TO "app_writer"'
        """
        return [privilege_sql("GRANT", p, self.role) for p in self.privileges()]

    def revoke_sqls(self) -> list[str]:
        """The REVOKE statements undoing :meth:`grant_sqls`, privilege by privilege.

        Example::

            access.revoke_sqls()[0]
            # 'REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLE "public"."item" FROM "app_writer"'
        """
        return [privilege_sql("REVOKE", p, self.role) for p in reversed(self.privileges())]

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
        """Inverse of :meth:`to_dict`.

        Example::

            AuditAccess.from_dict({"table_name": "item", "role": "app"})
        """
        fields = dict(data)
        fields["sequences"] = tuple(tuple(s) for s in fields.get("sequences") or ())
        return cls(**fields)


def build_access(
    operations: Operations,
    opname: str,
    table_name: str,
    role: str,
    **options: Unpack[AccessOptions],
) -> AuditAccess:
    """The :class:`AuditAccess` an op call describes, filling what is left out.

    Online: the audit table and ``security_definer`` come from the installed audit
    function, the sequences from the catalog.  Offline: names follow the default
    conventions, ``security_definer`` defaults to True, and ``sequences`` is required.

    Example::

        build_access(op, "grant_audit_access", "item", "app", sequences=[],
                     audit_table_name="item_audit")
    """
    schema = options.get("schema")
    sequences = options.get("sequences")
    audit_table_name = options.get("audit_table_name")
    audit_schema = options.get("audit_schema")
    security_definer = options.get("security_definer")
    place = where(opname, table_name, schema)
    try:
        validate_role_name(role)
    except AuditError as exc:
        raise AuditError(f"{place}: {exc}") from None
    if is_offline(operations):
        if sequences is None:
            raise OfflineOperationError(
                f"{place}: offline mode (alembic upgrade --sql) cannot read which sequences "
                "feed the table's serial/identity columns; pass sequences=[(schema, name), ...] "
                "(sequences=[] if it has none)"
            )
        if audit_table_name is None:
            audit_table_name = audit_names({}, table_name, schema).audit_table_name
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
            inspector = PGAdvancedInspector(connection(operations))
            sequences = inspector.owned_sequences(schema or DEFAULT_SCHEMA, table_name)
    for item in sequences:
        if isinstance(item, str) or len(item) != 2:
            raise AuditError(f"{place}: sequences entries are (schema, name) pairs, got {item!r}")
    return AuditAccess(
        table_name=table_name,
        role=role,
        schema=schema,
        audit_table_name=audit_table_name,
        audit_schema=audit_schema,
        security_definer=security_definer,
        sequences=tuple((str(s), str(n)) for s, n in sequences),
        read_history=options.get("read_history", False),
        schema_usage=options.get("schema_usage", True),
    )


def _check_grantable(
    inspector: PGAdvancedInspector, place: str, role: str, target: Privilege
) -> None:
    """The migration role must be able to grant ``target`` (else GRANT silently does nothing)."""
    missing = [
        priv
        for priv in target.privileges
        if not inspector.can_grant(target.kind, target.schema, target.name, priv)
    ]
    if not missing:
        return
    hint = ""
    if target.kind == "SCHEMA" and inspector.has_schema_usage(role, target.schema):
        hint = (
            f"; role {role!r} has USAGE on it already (through PUBLIC or a role it belongs "
            "to): pass schema_usage=False"
        )
    raise AuditError(
        f"{place}: the migration role {inspector.current_user()!r} cannot grant "
        f"{', '.join(missing)} on {target.label} (it neither owns it nor holds the grant "
        f"option){hint}"
    )


def _check_history_safe(inspector: PGAdvancedInspector, place: str, access: AuditAccess) -> None:
    """Who owns the history, what the role would keep through other roles, and RLS."""
    installed = inspector.installed_specs(*access.qualified_table)
    function = next(
        (
            s.qualified_function
            for s in installed
            if s.qualified_audit_table == access.qualified_audit_table
        ),
        None,
    )
    names = audit_names({}, access.table_name, access.schema)
    fallback = (access.qualified_audit_table[0], names.function_name)
    spec_like = AuditSpec(
        table_name=access.table_name,
        schema=access.schema,
        audit_table_name=access.audit_table_name,
        audit_schema=access.qualified_audit_table[0],
        function_name=(function or fallback)[1],
        trigger_name=names.trigger_name,
        columns=(),
        function_schema=(function or fallback)[0],
    )
    check_audit_targets(inspector, [spec_like], where=lambda s: place, table_shape=False)
    check_held_elsewhere(
        inspector,
        place,
        access.role,
        access.qualified_audit_table,
        function,
        security_definer=access.security_definer,
        read_history=access.read_history,
        revokes_direct=False,
    )
    check_read_history(
        inspector,
        place,
        access.qualified_table,
        access.qualified_audit_table,
        read_history=access.read_history,
    )


def check_state(
    operations: Operations, opname: str, access: AuditAccess, *, granting: bool
) -> None:
    """Refuse, before any DDL, a state the reverse op could not restore exactly.

    Granting: the role exists, is no superuser, owns neither table, and holds directly
    none of the privileges granted and nothing on the audit table; the audit table and
    its schema belong to the function's owner (or a superuser); the role holds nothing
    on the audit table or function through PUBLIC, another role or ownership that
    lets it change or forge history (the error names that role); ``read_history``
    only where the audit table has row-level security if the table does.  Revoking: the
    role holds every privilege revoked.  Offline nothing can be read: no check.

    Example::

        check_state(operations, "grant_audit_access", access, granting=True)  # or AuditError
    """
    if is_offline(operations):
        return
    inspector = PGAdvancedInspector(connection(operations))
    place = f"op.{opname}({access.table_name!r}, {access.role!r})"
    superuser = inspector.role_is_superuser(access.role)
    if superuser is None:
        raise AuditError(f"{place}: role {access.role!r} does not exist")
    if granting and superuser:
        raise AuditError(
            f"{place}: role {access.role!r} is a superuser, which bypasses every privilege; "
            "grant the pattern to a role that owns nothing"
        )
    audit_key = ("TABLE", *access.qualified_audit_table)
    targets = access.privileges()
    if audit_key not in [(t.kind, t.schema, t.name) for t in targets]:
        # Checked even when nothing is granted there: the role must hold nothing on it.
        targets.append(Privilege(*audit_key, ()))
    problems: list[str] = []
    for target in targets:
        found = inspector.direct_privileges(target.kind, target.schema, target.name, access.role)
        if found is None:
            raise AuditError(f"{place}: {target.label} does not exist")
        owner, held = found
        if target.kind != "SCHEMA" and owner == access.role:
            raise AuditError(
                f"{place}: role {access.role!r} owns {target.label}, and an owner can always "
                "change audit rows; grant the pattern to a role that owns nothing"
            )
        wanted = set(target.privileges)
        if granting:
            _check_grantable(inspector, place, access.role, target)
            # On the audit table anything held is a problem (it could change history).
            clash = (
                held if (target.kind, target.schema, target.name) == audit_key else held & wanted
            )
            if clash:
                problems.append(f"{', '.join(sorted(clash))} on {target.label}")
        elif wanted - held:
            problems.append(f"{', '.join(sorted(wanted - held))} on {target.label}")
    if not problems:
        if granting:  # after the direct privileges: those have their own message
            _check_history_safe(inspector, place, access)
        return
    if granting:
        hint = (
            "; pass schema_usage=False if the role's USAGE on the schema is managed elsewhere"
            if all(p.split(" on ")[1].startswith("schema ") for p in problems)
            else ""
        )
        raise AuditError(
            f"{place}: role {access.role!r} already holds {'; '.join(problems)}.  The downgrade "
            "could not tell those from this grant and would take them away: revoke them first "
            "(op.execute(...) in this migration, granting them back in its downgrade)" + hint
        )
    raise AuditError(
        f"{place}: role {access.role!r} does not hold {'; '.join(problems)}, so the downgrade "
        "would grant what the role did not have; check the arguments (read_history, "
        "schema_usage, sequences) against the op.grant_audit_access call that granted them"
    )


__all__ = ["AccessOptions", "AuditAccess", "build_access", "check_state"]
