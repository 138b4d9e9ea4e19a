"""The audit triggers on the partitions of a partitioned audited table.

PostgreSQL fires the statement-level triggers of the table a statement *names* only:
a write through the partitioned table fires its triggers (their transition tables
hold the rows of every partition), a write naming a partition fires the partition's.
So at statement level every partition (intermediate or leaf) carries the same event
triggers as the parent, and each write is recorded exactly once, by whichever table
it names.  At row level the parent's row trigger is enough: PostgreSQL clones it onto
every partition, present and future.  A partitioned table holds no rows, so the
TRUNCATE trigger goes on the leaves (``TRUNCATE parent`` fires each leaf's).

Which partitions exist is only known when the statements run, so they are written as
``DO`` blocks that walk ``pg_partition_tree`` and ``EXECUTE`` the trigger DDL of
:mod:`alembic_audit.sql.triggers` for each partition: the same text online, offline
(``alembic upgrade --sql``) and in the scripts ``install_audit_triggers`` returns.
The blocks qualify every function and operator (they run under the migration's own
search_path) and, like function bodies, contain no ``%`` and no ``:word``.

Example::

    create_partition_triggers_sql(spec)  # 'DO $audit$ ... $audit$' or None
"""

from __future__ import annotations

from collections.abc import Iterable

from ..core.spec import AuditSpec
from .quoting import dollar_quote, literal, quote, regclass_literal
from .triggers import partition_triggers

#: The partitions of a table, as quoted qualified names (level order), with ``isleaf``.
_PARTITIONS = (
    "SELECT pg_catalog.concat(pg_catalog.quote_ident(n.nspname), '.', "
    "pg_catalog.quote_ident(c.relname)), t.isleaf\n"
    "        FROM pg_catalog.pg_partition_tree(pg_catalog.to_regclass({root})) AS t\n"
    "        JOIN pg_catalog.pg_class AS c ON c.oid OPERATOR(pg_catalog.=) t.relid\n"
    "        JOIN pg_catalog.pg_namespace AS n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace\n"
    "        WHERE t.parentrelid IS NOT NULL\n"
    "        ORDER BY t.level, n.nspname, c.relname"
)


def _loop(spec: AuditSpec, leaf_lines: Iterable[str], every_lines: Iterable[str]) -> str:
    root = regclass_literal(*spec.qualified_table)
    body = [
        "",
        "DECLARE",
        "    audit_partition pg_catalog.text;",
        "    audit_leaf pg_catalog.bool;",
        "BEGIN",
        "    FOR audit_partition, audit_leaf IN",
        "        " + _PARTITIONS.format(root=root),
        "    LOOP",
        *("        " + line for line in every_lines),
        "        IF audit_leaf THEN",
        *("            " + line for line in leaf_lines),
        "            NULL;",
        "        END IF;",
        "    END LOOP;",
        "END;",
        "",
    ]
    return "DO " + dollar_quote("\n".join(body))


def _execute(head: str, tail: str) -> str:
    return f"EXECUTE pg_catalog.concat({literal(head)}, audit_partition, {literal(tail)});"


def create_partition_triggers_sql(spec: AuditSpec) -> str | None:
    """``DO`` block creating the audit triggers on every partition; ``None`` unless the
    spec is partitioned (or at row level without TRUNCATE: the clones do it all).

    Example::

        create_partition_triggers_sql(spec.replace(partitioned=True))
    """
    if not spec.partition_trigger_names:
        return None
    every: list[str] = []
    leaves: list[str] = []
    for trigger in partition_triggers(spec, "", "", leaf=True):
        if trigger.for_each_row:
            continue  # the clone of the parent's row trigger: PostgreSQL makes it
        target = leaves if trigger.events == ("TRUNCATE",) else every
        target.append(_execute(*trigger.create_sql_around_table()))
    return _loop(spec, leaves, every)


def drop_partition_triggers_sql(spec: AuditSpec, names: Iterable[str] | None = None) -> str | None:
    """``DO`` block dropping the partition triggers of ``spec`` (or ``names``) from every
    partition, where they exist (a partition made after the install has none).

    Run it after dropping the parent's triggers: a clone of the parent's row trigger
    cannot be dropped on its own, and goes with the parent's.

    Example::

        drop_partition_triggers_sql(spec.replace(partitioned=True))
    """
    if not spec.partitioned:
        return None
    drops = [
        _execute(f"DROP TRIGGER IF EXISTS {quote(name)} ON ", "")
        for name in (spec.partition_trigger_names if names is None else names)
    ]
    return _loop(spec, [], drops) if drops else None


__all__ = ["create_partition_triggers_sql", "drop_partition_triggers_sql"]
