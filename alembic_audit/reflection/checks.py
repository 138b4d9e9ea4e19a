"""Is the database fit to receive an audit?  Checked before any DDL of an install, an
op or a grant.

The audit table holds the history; whoever owns it, or owns its schema (a schema's
owner may drop any table in it), or owns the trigger function's schema, can rewrite
or remove that history.  Where the application role may create tables (``public``
before PostgreSQL 15, by default), it could create the audit table first:
``create_all`` skips a table that exists, and the application would own the history.
So the audit table and both schemas must belong to the role that owns (or, by
creating it, will own) the trigger function, or to a superuser (who can do anything
anyway); a schema owned by ``pg_database_owner`` counts as the database owner's.

The table itself must be what the definition says: partitioned exactly when the
definition is (``postgresql_partition_by``, ``partitioned=True`` in an op), not a
partition (audit its partitioned table, which covers its partitions), and outside
table inheritance (a write through an inheritance parent fires only the parent's
statement triggers and none of the children's row triggers, so no set of triggers
audits it exactly once).

Example::

    check_audit_targets(PGAdvancedInspector(conn), specs, where=lambda s: "install")
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..core.errors import AuditError
from ..core.spec import AuditSpec
from .inspector import PGAdvancedInspector


def check_audit_targets(
    inspector: PGAdvancedInspector,
    specs: Sequence[AuditSpec],
    *,
    where: Callable[[AuditSpec], str],
    table_shape: bool = True,
) -> None:
    """Raise an :class:`AuditError` (prefixed by ``where(spec)``) for the first spec
    whose audit table, schemas or table are not fit, before anything is changed.

    ``table_shape=False`` skips the checks of the table itself (partitioning,
    inheritance): the grant helpers only care who owns the history.

    Example::

        check_audit_targets(inspector, [spec], where=lambda s: "op.create_audit_trigger")
    """
    if not specs:
        return
    targets = [(s.qualified_table, s.qualified_audit_table, s.qualified_function) for s in specs]
    for spec, row in zip(specs, inspector.audit_targets(targets), strict=True):
        place = where(spec)
        table = ".".join(spec.qualified_table)
        if table_shape and row.table_exists:
            _check_shape(place, spec, table, row)
        trusted = {row.function_owner, *row.superusers}
        function = ".".join(spec.qualified_function)
        fix_owner = (
            f"the role {row.function_owner!r} that owns (or, creating it, will own) the audit "
            f"function {function!r}"
        )
        if row.audit_exists and row.audit_owner not in trusted:
            audit = ".".join(spec.qualified_audit_table)
            raise AuditError(
                f"{place}: audit table {audit!r} of table {table!r} is owned by role "
                f"{row.audit_owner!r}, not by {fix_owner}; its owner could change or delete "
                f"audit rows.  If another role created it first, drop it; else ALTER TABLE "
                f"... OWNER TO {row.function_owner}.  Revoke CREATE on the schema from roles "
                "that must not own tables there (see Security model)"
            )
        for what, schema, owner in (
            ("audit schema", spec.effective_audit_schema, row.audit_schema_owner),
            ("function schema", spec.effective_function_schema, row.function_schema_owner),
        ):
            if owner is not None and owner not in trusted:
                raise AuditError(
                    f"{place}: {what} {schema!r} of table {table!r} is owned by role {owner!r}, "
                    f"not by {fix_owner} or a superuser; a schema's owner can drop the audit "
                    f"table or the function in it.  ALTER SCHEMA ... OWNER TO "
                    f"{row.function_owner}, or put the audit objects in a schema it owns"
                )


def _check_shape(place: str, spec: AuditSpec, table: str, row: Any) -> None:
    if row.relispartition:
        raise AuditError(
            f"{place}: table {table!r} is a partition of {row.partition_root!r}; audit the "
            f"partitioned table {row.partition_root!r} instead: its audit triggers cover every "
            "partition"
        )
    if row.inherits_from or row.inherited_by:
        related = ", ".join(
            [*(f"child of {t}" for t in row.inherits_from)]
            + [f"parent of {t}" for t in row.inherited_by]
        )
        raise AuditError(
            f"{place}: table {table!r} takes part in table inheritance ({related}): writes "
            "through an inheritance parent fire only its statement triggers, not the "
            "children's, so they cannot be audited exactly once; use declarative "
            "partitioning instead (PARTITION BY), which alembic-audit audits"
        )
    relkind = row.relkind
    if relkind == "p" and not spec.partitioned:
        raise AuditError(
            f"{place}: table {table!r} is partitioned, but its audit definition is not: declare "
            "postgresql_partition_by=... on the model (or pass partitioned=True to the op), so "
            "that its partitions get the audit triggers too"
        )
    if relkind != "p" and spec.partitioned:
        raise AuditError(
            f"{place}: the audit definition of table {table!r} says partitioned, but the table "
            "is not partitioned (PARTITION BY)"
        )


#: What no writer may hold on an audit table other than by the grant pattern: with
#: them it can change, remove or forge history, or (TRIGGER) hook a trigger of its
#: own onto the audit table to rewrite the rows the audit function inserts.
HISTORY_PRIVILEGES = ("INSERT", "UPDATE", "DELETE", "TRUNCATE", "TRIGGER")


def check_held_elsewhere(
    inspector: PGAdvancedInspector,
    place: str,
    role: str,
    audit_table: tuple[str, str],
    function: tuple[str, str] | None,
    *,
    security_definer: bool,
    read_history: bool,
    revokes_direct: bool = True,
) -> None:
    """Refuse when ``role`` would keep, through PUBLIC, a role it is a member of, or
    ownership, a privilege that lets it change or forge history: on the audit table
    :data:`HISTORY_PRIVILEGES` (but INSERT with an invoker function, which needs it) and
    SELECT unless ``read_history``; EXECUTE on the audit function.  A REVOKE from
    ``role`` cannot take those away, so the error names the role through which each
    arrives (or PUBLIC) and nothing is granted.  ``revokes_direct=False`` (the op, whose
    downgrade must restore exactly what was there) also refuses those privileges when
    granted to ``role`` itself, rather than revoking them.

    Example::

        check_held_elsewhere(inspector, "grant_audit_access", "app", ("public", "item_audit"),
                             ("public", "public_item_audit"), security_definer=True,
                             read_history=False)
    """
    forbidden = set(HISTORY_PRIVILEGES) | {"OWNER"}
    if not security_definer:
        forbidden.discard("INSERT")
    if not read_history:
        forbidden.add("SELECT")
    # A function that does not exist (yet) has no privileges: ("", "") finds nothing.
    held: dict[str, list[str]] = {}
    rows = inspector.held_elsewhere(role, audit_table, function or ("", ""))
    # Every effective privilege must be explained: by a grant to the role itself (which
    # the runtime helper revokes and the op refuses), or by a route listed; anything
    # else came some way the ACLs do not show, and is refused all the same.
    explained = {(k.split()[-1], p) for k, p, _ in rows if not k.startswith("effective")}
    if not revokes_direct:
        rows = [
            (k.split()[-1], p, "a grant to it directly") if k.startswith("direct") else (k, p, v)
            for k, p, v in rows
        ]
    if ("table", "OWNER") in explained:
        explained |= {("table", p) for p in HISTORY_PRIVILEGES + ("SELECT",)}
    if ("function", "OWNER") in explained:
        explained.add(("function", "EXECUTE"))
    rows += [
        (kind.split()[-1], privilege, "a route the ACLs do not show")
        for kind, privilege, _ in rows
        if kind.startswith("effective") and (kind.split()[-1], privilege) not in explained
    ]
    for kind, privilege, via in rows:
        if kind == "table" and privilege in forbidden:
            target = f"table {'.'.join(audit_table)}"
        elif kind == "function" and function is not None and privilege in ("EXECUTE", "OWNER"):
            target = f"function {'.'.join(function)}()"
        else:
            continue
        shown = "ownership" if privilege == "OWNER" else privilege
        held.setdefault(via, []).append(f"{shown} on {target}")
    if not held:
        return
    routes = "; ".join(
        f"{', '.join(items)} "
        + (
            "as owner"
            if via == role
            else f"through {via}"
            if via in ("PUBLIC", "a route the ACLs do not show", "a grant to it directly")
            else f"through role {via!r}"
        )
        for via, items in sorted(held.items())
    )
    raise AuditError(
        f"{place}: role {role!r} would keep {routes}, and with that change or forge audit "
        "rows.  Revoke them where they come from (a REVOKE from the role cannot take away what "
        f"a role it belongs to or PUBLIC holds), take {role!r} out of that role, or change "
        "the owner; nothing was granted"
    )


def check_read_history(
    inspector: PGAdvancedInspector,
    place: str,
    table: tuple[str, str],
    audit_table: tuple[str, str],
    *,
    read_history: bool,
) -> None:
    """Refuse ``read_history`` on an audit table without row-level security when the
    audited table has it: the reader would see every audit row, the ones the table's
    policies hide from it included.

    Example::

        check_read_history(inspector, "grant_audit_access", ("public", "item"),
                           ("public", "item_audit"), read_history=True)
    """
    if not read_history:
        return
    (row,) = inspector.audit_targets([(table, audit_table, ("", ""))])
    if row.table_rls and not row.audit_rls:
        raise AuditError(
            f"{place}: table {'.'.join(table)!r} has row-level security, but its audit table "
            f"{'.'.join(audit_table)!r} does not, so read_history would show every audit row, "
            'including those the table\'s policies hide; audit it with "row_security": True '
            "(copies the policies onto the audit table), or grant without read_history"
        )


__all__ = [
    "HISTORY_PRIVILEGES",
    "check_audit_targets",
    "check_held_elsewhere",
    "check_read_history",
]
