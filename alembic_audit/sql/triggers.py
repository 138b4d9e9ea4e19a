"""Triggers as frozen definitions: the audit triggers and the append-only guard trigger.

A :class:`TriggerDefinition` holds what ``pg_trigger`` holds (table, name, timing,
events, level, transition tables, function), renders its own ``CREATE``/``DROP``,
and can be built back from a ``pg_trigger`` row, so a found trigger and a wanted
one compare as plain data.

Example::

    [t.name for t in audit_triggers(spec)]
    # ['public_item_audit_insert', 'public_item_audit_update', ...]
    audit_triggers(spec)[0].create_sql()
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from ..core.spec import AuditSpec
from .plpgsql import NEW_TABLE, OLD_TABLE
from .quoting import qualify, quote

# pg_trigger.tgtype bits (src/include/catalog/pg_trigger.h).
TRIGGER_TYPE_ROW = 1 << 0
TRIGGER_TYPE_BEFORE = 1 << 1
TRIGGER_TYPE_INSERT = 1 << 2
TRIGGER_TYPE_DELETE = 1 << 3
TRIGGER_TYPE_UPDATE = 1 << 4
TRIGGER_TYPE_TRUNCATE = 1 << 5
TRIGGER_TYPE_INSTEAD = 1 << 6

#: Events in the order CREATE TRIGGER lists them here, with their tgtype bits.
EVENTS = {
    "INSERT": TRIGGER_TYPE_INSERT,
    "UPDATE": TRIGGER_TYPE_UPDATE,
    "DELETE": TRIGGER_TYPE_DELETE,
    "TRUNCATE": TRIGGER_TYPE_TRUNCATE,
}
_TIMINGS = {"AFTER": 0, "BEFORE": TRIGGER_TYPE_BEFORE, "INSTEAD OF": TRIGGER_TYPE_INSTEAD}


@dataclass(frozen=True)
class TriggerDefinition:
    """One trigger on a table, as ``pg_trigger`` describes it.

    ``events`` are in :data:`EVENTS` order; ``old_table`` / ``new_table`` are the
    transition table names (``REFERENCING``), ``None`` when absent.

    Example::

        TriggerDefinition("public", "item", "t", ("public", "f"), ("INSERT",),
                          new_table="audit_new").create_sql()
        # 'CREATE TRIGGER "t" AFTER INSERT ON "public"."item" REFERENCING NEW TABLE AS
        #  "audit_new" FOR EACH STATEMENT EXECUTE FUNCTION "public"."f"()'
    """

    schema: str
    table: str
    name: str
    function: tuple[str, str]
    events: tuple[str, ...]
    timing: str = "AFTER"
    for_each_row: bool = False
    old_table: str | None = None
    new_table: str | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.schema, self.table, self.name)

    @property
    def tgtype(self) -> int:
        """``pg_trigger.tgtype`` of this trigger.

        Example::

            audit_triggers(spec.replace(level="row"))[0].tgtype  # 29 (ROW | I | D | U)
        """
        bits = _TIMINGS[self.timing] | (TRIGGER_TYPE_ROW if self.for_each_row else 0)
        for event in self.events:
            bits |= EVENTS[event]
        return bits

    @classmethod
    def from_catalog(
        cls,
        schema: str,
        table: str,
        name: str,
        function: tuple[str, str],
        tgtype: int,
        old_table: str | None,
        new_table: str | None,
    ) -> TriggerDefinition:
        """The definition of a trigger found in ``pg_trigger``.

        Example::

            TriggerDefinition.from_catalog("public", "item", "t", ("public", "f"), 29,
                                           None, None).for_each_row  # True
        """
        timing = "AFTER"
        if tgtype & TRIGGER_TYPE_INSTEAD:
            timing = "INSTEAD OF"
        elif tgtype & TRIGGER_TYPE_BEFORE:
            timing = "BEFORE"
        return cls(
            schema,
            table,
            name,
            function,
            tuple(event for event, bit in EVENTS.items() if tgtype & bit),
            timing=timing,
            for_each_row=bool(tgtype & TRIGGER_TYPE_ROW),
            old_table=old_table,
            new_table=new_table,
        )

    def create_sql(self) -> str:
        """``CREATE TRIGGER``.

        Example::

            audit_triggers(spec)[0].create_sql()
        """
        head, tail = self.create_sql_around_table()
        return f"{head}{qualify(self.schema, self.table)}{tail}"

    def create_sql_around_table(self) -> tuple[str, str]:
        """``CREATE TRIGGER`` cut where the table's name goes, for statements that find
        the table at run time (the partitions of a partitioned table).

        Example::

            head, tail = audit_triggers(spec)[0].create_sql_around_table()
            head  # 'CREATE TRIGGER "public_item_audit_insert" AFTER INSERT ON '
        """
        referencing = []
        if self.old_table is not None:
            referencing.append(f"OLD TABLE AS {quote(self.old_table)}")
        if self.new_table is not None:
            referencing.append(f"NEW TABLE AS {quote(self.new_table)}")
        head = f"CREATE TRIGGER {quote(self.name)} {self.timing} {' OR '.join(self.events)} ON "
        tail = (
            (f" REFERENCING {' '.join(referencing)}" if referencing else "")
            + f" FOR EACH {'ROW' if self.for_each_row else 'STATEMENT'}"
            f" EXECUTE FUNCTION {qualify(*self.function)}()"
        )
        return head, tail

    def drop_sql(self, *, if_exists: bool = False) -> str:
        """``DROP TRIGGER [IF EXISTS] name ON table``.

        Example::

            audit_triggers(spec)[0].drop_sql()
            # 'DROP TRIGGER "public_item_audit_insert" ON "public"."item"'
        """
        return drop_trigger_sql(self.schema, self.table, self.name, if_exists=if_exists)


def drop_trigger_sql(schema: str, table: str, name: str, *, if_exists: bool = False) -> str:
    """``DROP TRIGGER`` by name, for triggers known only by name.

    Example::

        drop_trigger_sql("public", "item", "old_trigger")
        # 'DROP TRIGGER "old_trigger" ON "public"."item"'
    """
    exists = " IF EXISTS" if if_exists else ""
    return f"DROP TRIGGER{exists} {quote(name)} ON {qualify(schema, table)}"


@lru_cache(maxsize=4096)
def audit_triggers(spec: AuditSpec) -> tuple[TriggerDefinition, ...]:
    """The triggers of a spec on its audited table, one per name in ``spec.trigger_names``.

    Statement level: one trigger per event, each with its transition table (PostgreSQL
    allows transition tables only on single-event triggers).  The UPDATE trigger
    captures the old images only when ``skip_unchanged`` compares them: capturing them
    costs as much again as the new ones on a bulk UPDATE.

    Example::

        [t.events for t in audit_triggers(spec)]
        # [('INSERT',), ('UPDATE',), ('DELETE',), ('TRUNCATE',)]
    """
    schema, table = spec.qualified_table
    function = spec.qualified_function
    names = list(spec.trigger_names)
    triggers: list[TriggerDefinition] = []
    if spec.level == "row":
        triggers.append(
            TriggerDefinition(
                schema,
                table,
                names.pop(0),
                function,
                ("INSERT", "UPDATE", "DELETE"),
                for_each_row=True,
            )
        )
    else:
        update_old = OLD_TABLE if spec.skip_unchanged else None
        for event, old_table, new_table in (
            ("INSERT", None, NEW_TABLE),
            ("UPDATE", update_old, NEW_TABLE),
            ("DELETE", OLD_TABLE, None),
        ):
            triggers.append(
                TriggerDefinition(
                    schema,
                    table,
                    names.pop(0),
                    function,
                    (event,),
                    old_table=old_table,
                    new_table=new_table,
                )
            )
    if names:  # record_truncate, on a table that holds rows (not partitioned)
        triggers.append(TriggerDefinition(schema, table, names.pop(0), function, ("TRUNCATE",)))
    return tuple(triggers)


def partition_triggers(
    spec: AuditSpec, schema: str, table: str, leaf: bool
) -> tuple[TriggerDefinition, ...]:
    """The audit triggers on one partition of a partitioned audited table.

    Statement level: the event triggers of the parent, again, since a statement naming
    the partition fires only the partition's statement triggers.  Row level: the clone
    PostgreSQL makes of the parent's row trigger (listed so that a disabled clone is
    seen; never created or dropped by us).  Leaves: the TRUNCATE trigger too.

    Example::

        [t.name for t in partition_triggers(spec, "public", "item_2024", True)]
        # ['public_item_audit_insert', ..., 'public_item_audit_truncate']
    """
    if not spec.partitioned:
        return ()
    template = audit_triggers(spec.replace(schema=schema, table_name=table, partitioned=False))
    return tuple(
        TriggerDefinition(
            schema,
            table,
            t.name,
            spec.qualified_function,
            t.events,
            for_each_row=t.for_each_row,
            old_table=t.old_table,
            new_table=t.new_table,
        )
        for t in template
        if leaf or t.events != ("TRUNCATE",)
    )


def guard_trigger(spec: AuditSpec) -> TriggerDefinition:
    """The append-only guard: a BEFORE statement trigger on the audit table refusing
    UPDATE, DELETE and TRUNCATE (even of zero rows).

    Example::

        guard_trigger(spec).name  # 'public_item_audit_append_only'
    """
    schema, table = spec.qualified_audit_table
    return TriggerDefinition(
        schema,
        table,
        spec.guard_trigger_name,
        spec.qualified_guard_function,
        ("UPDATE", "DELETE", "TRUNCATE"),
        timing="BEFORE",
    )


#: ``pg_trigger.tgenabled`` -> the ALTER TABLE clause that sets it (``O`` is the default).
TRIGGER_STATE_CLAUSES = {"D": "DISABLE", "R": "ENABLE REPLICA", "A": "ENABLE ALWAYS"}


def trigger_state_sql(schema: str, table: str, trigger: str, state: str) -> str | None:
    """``ALTER TABLE ... DISABLE TRIGGER`` (or ENABLE REPLICA / ALWAYS) for a
    ``tgenabled`` state; ``None`` for ``O``, the state a new trigger has.

    Example::

        trigger_state_sql("public", "item", "public_item_audit", "D")
        # 'ALTER TABLE "public"."item" DISABLE TRIGGER "public_item_audit"'
    """
    if state == "O":
        return None
    clause = TRIGGER_STATE_CLAUSES[state]
    return f"ALTER TABLE {qualify(schema, table)} {clause} TRIGGER {quote(trigger)}"


# pg_get_triggerdef() starts with CREATE [CONSTRAINT] TRIGGER and the name, quoted by
# quote_ident: either a plain lower-case identifier or "..." with "" for a quote.  Only
# texts PostgreSQL printed (a hand-edited trigger kept for a downgrade) are read here.
_TRIGGER_NAME = re.compile(r'^\s*CREATE\s+(?:CONSTRAINT\s+)?TRIGGER\s+("(?:[^"]|"")+"|[^\s"]+)\s')


def trigger_names_from_sqls(statements: Sequence[str]) -> list[str]:
    """Names of the triggers created by ``pg_get_triggerdef`` texts, skipping the other
    statements among them (``ALTER TABLE ... DISABLE TRIGGER`` restoring a state).

    Example::

        trigger_names_from_sqls(['CREATE TRIGGER "My T" AFTER ...', 'ALTER TABLE x ...'])
        # ['My T']
    """
    names = []
    for statement in statements:
        match = _TRIGGER_NAME.match(statement)
        if match is not None:
            name = match.group(1)
            names.append(name[1:-1].replace('""', '"') if name.startswith('"') else name)
    return names


__all__ = [
    "EVENTS",
    "TRIGGER_STATE_CLAUSES",
    "TriggerDefinition",
    "audit_triggers",
    "drop_trigger_sql",
    "partition_triggers",
    "guard_trigger",
    "trigger_names_from_sqls",
    "trigger_state_sql",
]
