"""Connections and transactions of maintenance work, and which audit tables it acts on.

Maintenance runs as the owner of the audit tables (the migration role): it needs
``DROP``, ``ALTER TABLE`` and ``DELETE`` there.  Given an ``Engine``, every unit of work
(a partition dropped, a batch of rows deleted) commits on its own, so an interrupted run
keeps what it finished, and the log says exactly what that was.  Given a ``Connection``
already in a transaction, everything joins that transaction (commit it yourself).

Example::

    with connected(engine) as work:
        targets = audit_targets(work.conn, ["item"], caller="prune")
        with work.unit() as conn:
            ...
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Table
from sqlalchemy.engine import Connection, Engine

from ..core.errors import AuditError
from ..core.spec import AuditSpec
from ..reflection.inspector import PGAdvancedInspector, RelationInfo
from ..schema.builder import get_audit_spec


class Work:
    """A connection and how maintenance commits on it.

    ``unit()`` is one unit of work in its own transaction, committed at its end; if the
    caller handed over a connection already in a transaction, every unit joins that
    transaction instead (the caller commits).  Reads between units run in transactions
    SQLAlchemy begins by itself; a unit ends them first (they hold no changes).

    Example::

        with connected(engine) as work:
            with work.unit() as conn:
                conn.execute(...)
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.joined = conn.in_transaction()

    @contextmanager
    def unit(self) -> Iterator[Connection]:
        """One transaction (or a part of the caller's)."""
        if self.joined:
            yield self.conn
            return
        if self.conn.in_transaction():
            self.conn.commit()
        with self.conn.begin():
            yield self.conn

    def finish(self) -> None:
        """End the read transaction SQLAlchemy began, unless it is the caller's."""
        if not self.joined and self.conn.in_transaction():
            self.conn.commit()


@contextmanager
def connected(bind: Engine | Connection) -> Iterator[Work]:
    """A :class:`Work` on a new connection from an Engine (closed afterwards), or on the
    caller's connection.

    Example::

        with connected(engine) as work:
            ...
    """
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            work = Work(conn)
            yield work
            work.finish()
    elif isinstance(bind, Connection):
        work = Work(bind)
        yield work
        work.finish()
    else:
        raise AuditError(
            f"expected an Engine or a Connection, got {type(bind).__name__} (with asyncio: "
            "await conn.run_sync(lambda sync_conn: ...(sync_conn, ...)))"
        )


@dataclass(frozen=True)
class Target:
    """An audit table maintenance acts on: its spec (from the installed audit function,
    or from the model) and what the catalog says of it.

    Example::

        target.spec.qualified_audit_table, target.relation.partitioned
        # (('public', 'item_audit'), True)
    """

    spec: AuditSpec
    relation: RelationInfo

    @property
    def label(self) -> str:
        return ".".join(self.spec.qualified_audit_table)

    @property
    def partitioned(self) -> bool:
        return self.relation.partitioned


def _matches(name: str, spec: AuditSpec) -> bool:
    schema, _, table = name.rpartition(".")
    for qualified in (spec.qualified_table, spec.qualified_audit_table):
        if table == qualified[1] and (schema or qualified[0]) == qualified[0]:
            return True
    return False


def audit_targets(
    conn: Connection,
    tables: Sequence[str | Table | AuditSpec] | None,
    *,
    caller: str,
    partitioned_only: bool = False,
) -> list[Target]:
    """The audit tables to act on: those named (an audited or audit table's name,
    ``schema.name`` or just ``name``; a ``Table``; a spec), else every audit table of
    the database whose audit function alembic-audit installed.

    Specs come from the installed functions (no models needed); a spec or ``Table``
    given is used as it is.  Raises an ``AuditError`` naming what it cannot find.

    Example::

        audit_targets(conn, ["item"], caller="prune")
    """
    inspector = PGAdvancedInspector(conn)
    installed = [
        found.spec for _, found in sorted(inspector.reflect().by_table.items()) if found.spec
    ]
    specs: list[AuditSpec] = []
    if tables is None:
        specs = installed
    else:
        for item in tables:
            if isinstance(item, AuditSpec):
                specs.append(item)
            elif isinstance(item, Table):
                specs.append(get_audit_spec(item))
            else:
                hits = [s for s in installed if _matches(str(item), s)]
                if not hits:
                    known = sorted(".".join(s.qualified_table) for s in installed)
                    raise AuditError(
                        f"{caller}: no audited table or audit table {item!r} (none with an "
                        "audit function of alembic-audit that this role trusts: owned by it "
                        "or by a role whose privileges it inherits); audited tables: "
                        f"{known or 'none'}; run it as the role that owns the audit tables"
                    )
                if len(hits) > 1:
                    names = sorted(".".join(s.qualified_audit_table) for s in hits)
                    raise AuditError(
                        f"{caller}: {item!r} names several audit tables {names}; "
                        "add the schema (schema.name)"
                    )
                specs.append(hits[0])
    relations = inspector.relations([s.qualified_audit_table for s in specs])
    targets: list[Target] = []
    for spec in dict.fromkeys(specs):
        relation = relations.get(spec.qualified_audit_table)
        if relation is None:
            raise AuditError(
                f"{caller}: audit table {'.'.join(spec.qualified_audit_table)!r} of table "
                f"{'.'.join(spec.qualified_table)!r} does not exist"
            )
        if partitioned_only and spec.partition is None:
            if tables is not None:
                raise AuditError(
                    f"{caller}: audit table {'.'.join(spec.qualified_audit_table)!r} is not "
                    "partitioned (audit option 'partition' is not set)"
                )
            continue
        if spec.partition is not None and not relation.partitioned:
            raise AuditError(
                f"{caller}: audit table {'.'.join(spec.qualified_audit_table)!r} should be "
                "partitioned (audit option 'partition') but is a plain table; convert it "
                "first: op.partition_audit_table(...) in a migration (alembic revision "
                "--autogenerate writes it)"
            )
        targets.append(Target(spec, relation))
    return targets


__all__ = [
    "Target",
    "Work",
    "audit_targets",
    "connected",
]
