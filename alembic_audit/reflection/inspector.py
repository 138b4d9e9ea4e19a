"""The advanced inspector: every audit function and trigger, read in two queries.

:class:`PGAdvancedInspector` reads the catalog once per autogenerate run, for all
schemas at once (one query for functions, one for triggers, whatever the number of
tables), runs no DDL and opens no savepoint.  What it returns is the same kind of
data :mod:`alembic_audit.sql` defines:

* each function with its ``prosrc``, its :class:`~alembic_audit.sql.function.FunctionHeader`
  (``proconfig``, security, language, volatility) and the
  :class:`~alembic_audit.core.spec.AuditSpec` read back from the marker that every
  generated body carries;
* each trigger as a :class:`~alembic_audit.sql.triggers.TriggerDefinition` built from
  ``pg_trigger`` (table, name, ``tgtype``, function, transition tables), with its
  enabled state.

So a found object and the one a spec defines compare as data: nothing is parsed back
from SQL text, and PostgreSQL's reformatting never shows up as a difference.  The
second query also lists the partitions of partitioned tables and whether copied
row-level security is current.  The inspector also answers the few catalog questions
the ops and grant helpers ask (installed specs, owned sequences, privileges, owners).

What it trusts: a function body is text that any role able to create a function can
write, so only functions the migration role could have made are read (its own or those
of roles whose privileges it inherits, never in a temporary schema, only in the
schemas in scope), and every spec comment is validated field by field; what is ignored
is logged (logger ``alembic.autogenerate.audit``, WARNING).

Example::

    with engine.connect() as conn:
        catalog = PGAdvancedInspector(conn).reflect(wanted_specs)
    for (schema, table), found in catalog.by_table.items():
        print(schema, table, found.spec, [t.name for t in found.triggers])
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection, Row

from ..core.constants import ID_COLUMN, META_COLUMNS
from ..core.spec import AuditSpec
from ..sql import catalog
from ..sql.function import FunctionHeader
from ..sql.marker import SPEC_MARKER, Marker, MarkerError, check_marker, made_by_seed
from ..sql.objects import spec_triggers
from ..sql.quoting import name_text
from ..sql.triggers import TriggerDefinition, partition_triggers

#: ``(table, audit table, function)``, each ``(schema, name)``.
Target = tuple[tuple[str, str], tuple[str, str], tuple[str, str]]

# Alembic's logger family: what env.py's logging config shows for Alembic shows this too.
log = logging.getLogger("alembic.autogenerate.audit")


@dataclass(frozen=True)
class ReflectedTrigger:
    """A trigger as found in ``pg_trigger``.

    ``enabled`` is ``tgenabled``: ``O`` (origin and local), ``D`` (disabled),
    ``R`` (replica only), ``A`` (always).  ``extra`` is set when the trigger has a
    part no definition of ours has (a WHEN condition, arguments, an UPDATE OF list).

    Example::

        trigger = catalog.by_table[("public", "item")].triggers[0]
        trigger.name, trigger.enabled  # ('public_item_audit_delete', 'O')
    """

    trigger: TriggerDefinition
    extra: bool
    enabled: str
    function_oid: int
    #: ``pg_get_triggerdef``: what a downgrade re-creates if this trigger drifted
    #: (``None`` when read without definitions, see :meth:`PGAdvancedInspector.reflect`).
    sql: str | None
    oid: int = 0

    @property
    def name(self) -> str:
        return self.trigger.name

    @property
    def key(self) -> tuple[str, str, str]:
        return self.trigger.key


@dataclass(frozen=True)
class ReflectedFunction:
    """A candidate audit function as found in ``pg_proc``.

    Example::

        function = catalog.by_table[("public", "item")].function
        function.qualified_name  # ('public', 'public_item_audit')
    """

    oid: int
    schema: str
    name: str
    source: str
    header: FunctionHeader
    #: ``pg_get_functiondef``: what a downgrade re-creates if this function drifted
    #: (``None`` when read without definitions).
    sql: str | None
    #: The spec embedded in the body, ``None`` when the marker is gone.
    spec: AuditSpec | None
    #: The format of the marker (see :data:`~alembic_audit.sql.marker.MARKER_FORMAT`).
    marker_format: int | None = None

    @property
    def qualified_name(self) -> tuple[str, str]:
        return (self.schema, self.name)


@dataclass
class FoundAudit:
    """What the database holds for one audited table: its function and triggers.

    ``spec`` is the spec the function was created from (``None`` if the function
    lost its marker or is missing).

    Example::

        found = catalog.by_table[("public", "item")]
        found.spec == spec, len(found.triggers)  # (True, 4)
    """

    table: tuple[str, str]
    function: ReflectedFunction | None = None
    triggers: list[ReflectedTrigger] = field(default_factory=list)
    #: The append-only guard function the wanted spec names, when it exists.
    guard_function: ReflectedFunction | None = None
    #: ``(schema, name, is_leaf)`` of every partition, when a spec says partitioned.
    partitions: list[tuple[str, str, bool]] = field(default_factory=list)
    #: With ``row_security``: whether the audit table's policies and RLS state are the
    #: table's (``None``: not asked).
    row_security_current: bool | None = None

    @property
    def spec(self) -> AuditSpec | None:
        return self.function.spec if self.function is not None else None

    def expected_triggers(self, spec: AuditSpec) -> tuple[TriggerDefinition, ...]:
        """Every trigger ``spec`` puts in place here: on the table, on the audit table
        (the guard) and on each partition found.

        Example::

            [t.key for t in found.expected_triggers(spec)]
        """
        on_partitions = tuple(
            trigger
            for schema, name, leaf in self.partitions
            for trigger in partition_triggers(spec, schema, name, leaf)
        )
        return spec_triggers(spec) + on_partitions


@dataclass(frozen=True)
class FoundColumn:
    """A column of an audit table as found in ``pg_attribute``: its name, its type as
    ``format_type`` writes it, whether it is NOT NULL, and its identity (``attidentity``:
    ``""`` none, ``"d"`` BY DEFAULT, ``"a"`` ALWAYS).

    Example::

        found_tables[("public", "item_audit")].columns["name"].type
        # 'character varying(20)'
    """

    name: str
    type: str
    not_null: bool
    identity: str = ""


@dataclass
class FoundTable:
    """An audit table as found in the catalog: its columns in order, its indexes, and
    whether it has anything an audit table made by alembic-audit has not (a constraint,
    a comment, a column default or generated value), which autogenerate then leaves to
    Alembic's own comparison.

    ``indexes``: index name -> ``"<method> [unique] [other] (<columns>)"``, where
    ``other`` marks an expression, partial or covering index.

    Example::

        found = inspector.audit_tables([("public", "item_audit")], ["public"])
        list(found[("public", "item_audit")].columns)  # ['id', 'name', 'audit_id', ...]
        found[("public", "item_audit")].indexes["item_audit_row_idx"]
        # 'btree (id,audit_id)'
    """

    schema: str
    name: str
    columns: dict[str, FoundColumn] = field(default_factory=dict)
    indexes: dict[str, str] = field(default_factory=dict)
    has_constraints: bool = False
    has_comments: bool = False
    #: Columns with a default or a generated value (``audit_id`` of a partitioned audit
    #: table: its serial's ``nextval``).
    defaulted: tuple[str, ...] = ()
    #: A partition (of a partitioned audit table): made and dropped by maintenance.
    is_partition: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return (self.schema, self.name)

    @property
    def plain(self) -> bool:
        """Nothing but columns (types, NOT NULL, identity, ``audit_id``'s serial) and indexes
        on columns (what alembic-audit makes; the indexes are compared with the model's by
        name and text)."""
        defaults = set(self.defaulted) - {ID_COLUMN}
        return not (self.has_constraints or self.has_comments or defaults)


@dataclass
class AuditCatalog:
    """Result of one :meth:`PGAdvancedInspector.reflect`.

    ``by_table`` maps the audited table ``(schema, name)`` to what was found for
    it; ``orphans`` holds further functions whose spec names a table that another
    function already claims (left over by a hand-made change).

    Example::

        catalog = PGAdvancedInspector(connection).reflect([spec])
        catalog.queries, catalog.orphans  # (2, [])
    """

    functions: list[ReflectedFunction]
    triggers: list[ReflectedTrigger]
    by_table: dict[tuple[str, str], FoundAudit]
    orphans: list[ReflectedFunction]
    queries: int


@dataclass(frozen=True)
class PartitionInfo:
    """One partition of a partitioned table, as the catalog describes it.

    ``lower`` / ``upper``: its range (``None`` for MINVALUE / MAXVALUE, and for the
    default partition); ``estimated_rows``: ``pg_class.reltuples`` (-1: never analyzed).

    Example::

        part = inspector.partitions([("public", "item_audit")])[("public", "item_audit")][0]
        part.name, part.lower, part.upper  # ('item_audit_p2025_01', datetime(...), ...)
    """

    schema: str
    name: str
    is_default: bool
    lower: datetime | None
    upper: datetime | None
    estimated_rows: int
    triggers: tuple[str, ...]

    @property
    def qualified_name(self) -> tuple[str, str]:
        return (self.schema, self.name)


@dataclass(frozen=True)
class RelationInfo:
    """What the catalog says of a table: its kind (``r`` plain, ``p`` partitioned), owner,
    partition key column, whether it is a partition, and its estimated row count.

    Example::

        inspector.relations([("public", "item_audit")])[("public", "item_audit")].kind  # 'p'
    """

    kind: str
    owner: str
    partition_key: str | None
    is_partition: bool
    estimated_rows: int

    @property
    def partitioned(self) -> bool:
        return self.kind == "p"


class PGAdvancedInspector:
    """Reads audit functions and triggers of every schema in a constant number of queries.

    ``queries`` counts the statements this inspector sent (2 per :meth:`reflect`).

    Example::

        with engine.connect() as conn:
            catalog = PGAdvancedInspector(conn).reflect([get_audit_spec(item)])
            found = catalog.by_table[("public", "item")]
            found.spec == get_audit_spec(item)
    """

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.queries = 0

    def reflect(
        self,
        wanted: Iterable[AuditSpec] = (),
        *,
        schemas: Iterable[str] | None = None,
        definitions: bool = True,
    ) -> AuditCatalog:
        """Read the audit functions of ``schemas``, plus functions and triggers named by
        ``wanted``.

        Functions are found by the marker in their body, and also by the names
        ``wanted`` asks for, so a body edited by hand (marker removed) is still seen,
        and so is a function of sqlalchemy-postgresql-audit in another schema that a
        trigger on the wanted table calls.
        Only functions the current role could have made count: in a schema of
        ``schemas`` (the schemas autogenerate compares; ``None`` for all) or of a
        wanted function, never in a temporary schema, owned by the current role or a
        role whose privileges it inherits.  A function failing that, or whose spec
        comment does not decode to a valid spec, is logged (logger
        ``alembic.autogenerate.audit``, WARNING) and ignored: a function any role can
        plant must not steer a migration.  Triggers are those calling a function kept,
        and those on a wanted table with a wanted name whatever they call.
        ``definitions=False`` leaves out their ``pg_get_functiondef`` /
        ``pg_get_triggerdef`` text (``sql``), most of what the queries return;
        :meth:`with_definitions` reads it for the few that need it.
        """
        wanted = list(wanted)
        fn_names = sorted(
            {s.qualified_function for s in wanted}
            | {s.qualified_guard_function for s in wanted if s.append_only}
        )
        scope = None
        if schemas is not None:
            scope = set(schemas) | {s.effective_function_schema for s in wanted}
        rows = self.connection.execute(
            catalog.functions_query(),
            catalog.function_params(
                SPEC_MARKER,
                [n[0] for n in fn_names],
                [n[1] for n in fn_names],
                scope,
                definitions=definitions,
            ),
        ).all()
        self.queries += 1
        functions: list[ReflectedFunction] = []
        for r in rows:
            if r.ignored is not None:
                _log_untrusted(r.nspname, r.proname, r.owner, r.current_role, r.ignored)
                continue
            marker = _decode(r.nspname, r.proname, r.prosrc)
            functions.append(
                ReflectedFunction(
                    oid=int(r.oid),
                    schema=r.nspname,
                    name=r.proname,
                    source=r.prosrc,
                    header=FunctionHeader(
                        language=r.lanname,
                        security_definer=bool(r.prosecdef),
                        volatility=r.provolatile,
                        config=tuple(r.proconfig),
                    ),
                    sql=r.definition,
                    spec=marker.spec if marker is not None else None,
                    marker_format=marker.format if marker is not None else None,
                )
            )
        # Triggers named by the wanted specs and by the specs found in the bodies
        # (a guard trigger on an audit table calls a function of its own).
        found_specs = [f.spec for f in functions if f.spec is not None]
        every_spec = wanted + found_specs
        wanted_triggers = sorted(
            {trigger.key for spec in every_spec for trigger in spec_triggers(spec)}
        )
        partitioned = sorted({s.qualified_table for s in every_spec if s.partitioned})
        row_security = sorted(
            {s.qualified_table + s.qualified_audit_table for s in every_spec if s.row_security}
        )
        rows = self.connection.execute(
            catalog.triggers_query(),
            catalog.trigger_params(
                [f.oid for f in functions],
                wanted_triggers,
                partitioned,
                row_security,
                definitions=definitions,
            ),
        ).all()
        self.queries += 1
        triggers = [
            ReflectedTrigger(
                trigger=TriggerDefinition.from_catalog(
                    r.nspname,
                    r.relname,
                    r.tgname,
                    (r.fschema, r.fname),
                    int(r.tgtype),
                    r.oldtable,
                    r.newtable,
                ),
                extra=bool(r.has_when) or int(r.tgnargs) > 0 or bool(r.tgattr.strip()),
                enabled=r.tgenabled,
                function_oid=int(r.tgfoid),
                sql=(
                    None
                    if r.definition is None
                    else qualify_trigger_function(r.definition, r.q_fschema, r.q_fname)
                ),
                oid=int(r.oid),
            )
            for r in rows
            if r.kind == "trigger"
        ]
        partitions: dict[tuple[str, str], list[tuple[str, str, bool]]] = {}
        current: dict[tuple[str, str], bool] = {}
        for r in rows:
            if r.kind == "partition":
                root = (r.root_schema, r.root_table)
                partitions.setdefault(root, []).append((r.nspname, r.relname, bool(r.flag)))
            elif r.kind == "row_security":
                current[(r.nspname, r.relname)] = bool(r.flag)
        result = _group(functions, triggers, wanted, self.queries)
        for table, found in result.by_table.items():
            found.partitions = partitions.get(table, [])
            found.row_security_current = current.get(table)
        return result

    def with_definitions(self, found: FoundAudit) -> FoundAudit:
        """``found`` with the ``pg_get_functiondef`` / ``pg_get_triggerdef`` text of its
        function, guard function and triggers (one query), for one read without definitions.

        Example::

            found = inspector.with_definitions(catalog.by_table[("public", "item")])
            found.function.sql  # 'CREATE OR REPLACE FUNCTION public.public_item_audit() ...'
        """
        functions = [f for f in (found.function, found.guard_function) if f is not None]
        function_oids = [f.oid for f in functions]
        rows = self.connection.execute(
            catalog.definitions_query(function_oids, [t.oid for t in found.triggers])
        ).all()
        self.queries += 1
        texts = {(r.kind, int(r.oid)): r for r in rows}
        function, guard = found.function, found.guard_function
        if function is not None and ("function", function.oid) in texts:
            function = replace(function, sql=texts[("function", function.oid)].definition)
        if guard is not None and ("function", guard.oid) in texts:
            guard = replace(guard, sql=texts[("function", guard.oid)].definition)
        triggers = []
        for t in found.triggers:
            r = texts.get(("trigger", t.oid))
            if r is not None:
                t = replace(t, sql=qualify_trigger_function(r.definition, r.q_fschema, r.q_fname))
            triggers.append(t)
        return replace(found, function=function, guard_function=guard, triggers=triggers)

    def audit_tables(
        self, tables: Iterable[tuple[str, str]], scan_schemas: Iterable[str]
    ) -> dict[tuple[str, str], FoundTable]:
        """The audit tables named by ``tables`` that exist, and every table of
        ``scan_schemas`` that has the audit table's own columns, in one query.

        Example::

            inspector.audit_tables([("public", "item_audit")], ["public"])
            # {('public', 'item_audit'): FoundTable(...)}
        """
        rows = self.connection.execute(
            catalog.audit_tables_query(),
            catalog.audit_table_params(
                sorted(set(tables)), sorted(set(scan_schemas)), META_COLUMNS
            ),
        ).all()
        self.queries += 1
        found: dict[tuple[str, str], FoundTable] = {}
        for r in rows:
            found[(r.nspname, r.relname)] = FoundTable(
                r.nspname,
                r.relname,
                {
                    name: FoundColumn(name, type_, bool(not_null), identity)
                    for name, type_, not_null, identity in zip(
                        r.names, r.types, r.not_nulls, r.identities, strict=True
                    )
                },
                indexes=dict(zip(r.index_names, r.index_texts, strict=True)),
                has_constraints=bool(r.has_constraints),
                has_comments=bool(r.has_comments),
                defaulted=tuple(r.defaulted),
                is_partition=bool(r.is_partition),
            )
        return found

    # -- the questions the ops and the grant helpers ask ------------------------------

    def installed_specs(self, schema: str, table: str) -> list[AuditSpec]:
        """The specs of the audit functions that triggers on a table call, one per function.

        Only functions the current role trusts count (as in :meth:`reflect`); others,
        and spec comments that are not valid specs, are logged and ignored.

        Example::

            inspector.installed_specs("public", "item")[0].level  # 'statement'
        """
        self.queries += 1
        found: dict[tuple[str, str], AuditSpec] = {}
        rows = self.connection.execute(
            catalog.trigger_function_sources_query(name_text(schema, table))
        )
        for r in rows:
            if not r.trusted:
                _log_untrusted(r.nspname, r.proname, r.owner, None, "owner")
                continue
            marker = _decode(r.nspname, r.proname, r.prosrc)
            if marker is not None and marker.spec.qualified_table == (schema, table):
                found[marker.spec.qualified_function] = marker.spec
        return list(found.values())

    def audit_targets(self, targets: Sequence[Target]) -> list[Row[Any]]:
        """One row of facts per ``(table, audit table, function)`` (see
        :func:`~alembic_audit.sql.catalog.audit_targets_query`): table kind, partitioning,
        inheritance, row security, owners of the audit table, the function and their
        schemas.  One query for all of them.

        Example::

            inspector.audit_targets([(spec.qualified_table, spec.qualified_audit_table,
                                      spec.qualified_function)])[0].audit_owner
            # 'app_owner'
        """
        self.queries += 1
        return list(self.connection.execute(catalog.audit_targets_query(targets)).all())

    def held_elsewhere(
        self, role: str, relation: tuple[str, str], function: tuple[str, str]
    ) -> list[tuple[str, str, str]]:
        """``(kind, privilege, via)`` of what ``role`` holds on a table (``kind``
        ``table``) and a function (``function``) through PUBLIC, another role, or
        membership in the owner (``OWNER``), not by a grant to itself; plus its effective
        and its direct privileges (kinds ``effective ...`` and ``direct ...``, ``via``
        empty), see :func:`~alembic_audit.sql.catalog.held_elsewhere_query`.

        Example::

            inspector.held_elsewhere("app", ("public", "item_audit"),
                                     ("public", "public_item_audit"))
            # [('table', 'DELETE', 'writers')]
        """
        self.queries += 1
        query = catalog.held_elsewhere_query(
            role, name_text(*relation), name_text(*function) + "()"
        )
        return [(str(k), str(p), str(v or "")) for k, p, v in self.connection.execute(query)]

    def is_partitioned(self, schema: str, table: str) -> bool:
        """Whether the table is partitioned (``PARTITION BY``).

        Example::

            inspector.is_partitioned("public", "item")  # False
        """
        self.queries += 1
        query = catalog.partitioned_query(name_text(schema, table))
        return bool(self.connection.execute(query).scalar())

    def columns(self, relations: list[tuple[str, str]]) -> dict[tuple[str, str], list[str]]:
        """The live columns of each of the relations that exist, in one query.

        Example::

            inspector.columns([("public", "item_audit")])
            # {('public', 'item_audit'): ['id', 'name', 'audit_id', ...]}
        """
        self.queries += 1
        names = {name_text(*r): r for r in relations}
        found: dict[tuple[str, str], list[str]] = {}
        for name, column in self.connection.execute(catalog.columns_query(list(names))):
            found.setdefault(names[name], []).append(column)
        return found

    def function_exists(self, schema: str, name: str) -> bool:
        """Whether the function ``schema.name()`` (no arguments) exists.

        Example::

            inspector.function_exists("public", "public_item_audit")  # True
        """
        self.queries += 1
        query = catalog.function_exists_query(name_text(schema, name) + "()")
        return bool(self.connection.execute(query).scalar())

    def owned_sequences(self, schema: str, table: str) -> tuple[tuple[str, str], ...]:
        """``(schema, name)`` of the sequences feeding a table's serial/identity columns.

        Example::

            inspector.owned_sequences("public", "item")  # (('public', 'item_id_seq'),)
        """
        self.queries += 1
        rows = self.connection.execute(catalog.owned_sequences_query(name_text(schema, table)))
        return tuple((str(s), str(n)) for s, n in rows)

    def role_is_superuser(self, role: str) -> bool | None:
        """``rolsuper`` of a role, ``None`` if there is no such role.

        Example::

            inspector.role_is_superuser("app_writer")  # False
        """
        self.queries += 1
        row = self.connection.execute(catalog.role_query(role)).first()
        return None if row is None else bool(row[0])

    def direct_privileges(
        self, kind: str, schema: str, name: str | None, role: str
    ) -> tuple[str, set[str]] | None:
        """Owner of a schema or relation and the privileges granted directly to ``role``
        on it; ``None`` if it does not exist.

        Example::

            inspector.direct_privileges("TABLE", "public", "item", "app")
            # ('app_owner', {'SELECT', 'INSERT', 'UPDATE', 'DELETE'})
        """
        self.queries += 1
        query = catalog.acl_query(kind, name_text(schema, name), role)
        row = self.connection.execute(query).first()
        return None if row is None else (str(row[0]), set(row[1] or ()))

    def can_grant(self, kind: str, schema: str, name: str | None, privilege: str) -> bool:
        """Whether the current role can grant ``privilege`` on the object.

        Example::

            inspector.can_grant("TABLE", "public", "item", "SELECT")  # True for the owner
        """
        self.queries += 1
        query = catalog.can_grant_query(kind, name_text(schema, name), privilege)
        return bool(self.connection.execute(query).scalar())

    def has_schema_usage(self, role: str, schema: str) -> bool:
        """Whether ``role`` has USAGE on the schema by any route (PUBLIC included).

        Example::

            inspector.has_schema_usage("app", "public")  # True
        """
        self.queries += 1
        query = catalog.schema_usage_query(role, name_text(schema))
        return bool(self.connection.execute(query).scalar())

    # -- partitions and maintenance ---------------------------------------------------

    def partitions(
        self, tables: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], list[PartitionInfo]]:
        """The partitions of each partitioned table, by range (the default one last).

        Example::

            inspector.partitions([("public", "item_audit")])
            # {('public', 'item_audit'): [PartitionInfo(...), ...]}
        """
        self.queries += 1
        names = {name_text(*t): t for t in tables}
        found: dict[tuple[str, str], list[PartitionInfo]] = {t: [] for t in names.values()}
        for r in self.connection.execute(catalog.partitions_query(list(names))):
            found[names[r.parent]].append(
                PartitionInfo(
                    r.nspname,
                    r.relname,
                    bool(r.is_default),
                    r.lower,
                    r.upper,
                    int(r.estimated_rows),
                    tuple(r.triggers),
                )
            )
        return found

    def relations(self, tables: Iterable[tuple[str, str]]) -> dict[tuple[str, str], RelationInfo]:
        """Kind, owner and partition key of each of the tables that exist.

        Example::

            inspector.relations([("public", "item_audit")])[("public", "item_audit")].partitioned
        """
        self.queries += 1
        names = {name_text(*t): t for t in tables}
        return {
            names[r.r]: RelationInfo(
                str(r.relkind),
                str(r.owner),
                r.partition_key,
                bool(r.is_partition),
                int(r.estimated_rows),
            )
            for r in self.connection.execute(catalog.relations_query(list(names)))
        }

    def children(self, tables: Iterable[tuple[str, str]]) -> dict[tuple[str, str], tuple[str, str]]:
        """``{partition: its table}`` for every partition of the given tables.

        Example::

            inspector.children([("public", "item_audit")])
            # {('public', 'item_audit_default'): ('public', 'item_audit'), ...}
        """
        self.queries += 1
        names = {name_text(*t): t for t in tables}
        return {
            (str(schema), str(name)): names[parent]
            for parent, schema, name in self.connection.execute(catalog.children_query(list(names)))
        }

    def privileges(self, schema: str, name: str) -> list[tuple[str, str, bool]]:
        """``(grantee, privilege, grantable)`` granted on a table to roles but its owner.

        Example::

            inspector.privileges("public", "item_audit")  # [('app_reader', 'SELECT', False)]
        """
        self.queries += 1
        rows = self.connection.execute(catalog.privileges_query(name_text(schema, name)))
        return [(str(g), str(p), bool(o)) for g, p, o in rows]

    def extension(self, name: str) -> tuple[str, str] | None:
        """``(schema, version)`` of an installed extension, ``None`` if not installed.

        Example::

            inspector.extension("pg_partman")  # ('partman', '4.7.2')
        """
        self.queries += 1
        row = self.connection.execute(catalog.extension_query(name)).first()
        return None if row is None else (str(row[0]), str(row[1]))

    def maintenance_logs(self, log_table: str) -> list[str]:
        """The schemas holding an audit-maintenance log.

        Example::

            inspector.maintenance_logs("audit_maintenance_log")  # ['public']
        """
        self.queries += 1
        query = catalog.maintenance_logs_query(log_table)
        return [str(s) for s in self.connection.execute(query).scalars()]

    def relation_exists(self, schema: str, name: str) -> bool:
        """Whether a table (or view, sequence, index) of that name exists.

        Example::

            inspector.relation_exists("public", "audit_maintenance_log")  # False
        """
        self.queries += 1
        query = catalog.relation_exists_query(name_text(schema, name))
        return bool(self.connection.execute(query).scalar())

    def column_types(self, schema: str, name: str) -> list[tuple[str, str]]:
        """``(column, type)`` of a table's live columns, types as ``format_type`` writes them.

        Example::

            inspector.column_types("public", "item_audit")[0]  # ('id', 'integer')
        """
        self.queries += 1
        rows = self.connection.execute(catalog.column_types_query(name_text(schema, name)))
        return [(str(c), str(t)) for c, t in rows]

    def schema_exists(self, schema: str) -> bool:
        """Whether a schema of that name exists.

        Example::

            inspector.schema_exists("archive")  # True
        """
        self.queries += 1
        query = catalog.schema_exists_query(name_text(schema))
        return bool(self.connection.execute(query).scalar())

    def now(self) -> datetime:
        """The server's clock.

        Example::

            inspector.now()  # datetime(2025, 4, 1, 12, 0, tzinfo=...)
        """
        self.queries += 1
        value = self.connection.execute(catalog.now_query()).scalar()
        assert isinstance(value, datetime)
        return value

    def current_user(self) -> str:
        """The role running the statements.

        Example::

            inspector.current_user()  # 'app_owner'
        """
        self.queries += 1
        return str(self.connection.execute(catalog.current_user_query()).scalar())


def qualify_trigger_function(definition: str, quoted_schema: str, quoted_name: str) -> str:
    """``pg_get_triggerdef`` text with the trigger function always schema-qualified.

    PostgreSQL leaves the function name bare when it is visible on the current
    search_path, so the text would depend on the search_path of whoever replays it
    (a downgrade in a later migration run).  The quoted parts come from
    ``quote_ident``, i.e. exactly as PostgreSQL printed them.

    Example::

        qualify_trigger_function("... EXECUTE FUNCTION f()", "public", "f")
        # '... EXECUTE FUNCTION public.f()'
    """
    bare = f"EXECUTE FUNCTION {quoted_name}()"
    if definition.endswith(bare):
        return f"{definition[: -len(bare)]}EXECUTE FUNCTION {quoted_schema}.{quoted_name}()"
    return definition


def _log_untrusted(schema: str, name: str, owner: str, me: str | None, reason: str) -> None:
    function = f"{schema}.{name}"
    if reason == "temporary schema":
        log.warning(
            "Ignoring audit function %r (owner %r): it is in a temporary schema, where no "
            "audit function of ours lives; a session may be trying to forge an audit definition",
            function,
            owner,
        )
    else:
        log.warning(
            "Ignoring audit function %r: its owner %r is neither the current role%s nor a role "
            "whose privileges it inherits, so this migration role did not make it",
            function,
            owner,
            f" {me!r}" if me else "",
        )


def _decode(schema: str, name: str, source: str) -> Marker | None:
    try:
        return check_marker(source)
    except MarkerError as exc:
        log.warning("Ignoring the spec comment of function %r: %s", f"{schema}.{name}", exc)
        return None


def _seed_function(
    spec: AuditSpec, functions: list[ReflectedFunction], triggers: list[ReflectedTrigger]
) -> ReflectedFunction | None:
    """The function sqlalchemy-postgresql-audit made for ``spec``'s table, wherever it is.

    The seed named it as we do but created it unqualified, in the first schema of the
    search_path; a trigger on the table calling it is what ties it to the table.
    """
    called = {
        t.function_oid
        for t in triggers
        if (t.trigger.schema, t.trigger.table) == spec.qualified_table
    }
    for f in functions:
        if (
            f.name == spec.function_name
            and f.oid in called
            and f.spec is None
            and made_by_seed(f.source)
        ):
            return f
    return None


def _group(
    functions: list[ReflectedFunction],
    triggers: list[ReflectedTrigger],
    wanted: list[AuditSpec],
    queries: int,
) -> AuditCatalog:
    by_table: dict[tuple[str, str], FoundAudit] = {}
    orphans: list[ReflectedFunction] = []
    by_name = {f.qualified_name: f for f in functions}
    claimed: set[int] = set()
    # First the functions the models ask for, so that a leftover function naming
    # the same table (after a naming-convention change) is the orphan, not them.
    for spec in wanted:
        f = by_name.get(spec.qualified_function) or _seed_function(spec, functions, triggers)
        if f is not None and (f.spec is None or f.spec.qualified_table == spec.qualified_table):
            by_table[spec.qualified_table] = FoundAudit(spec.qualified_table, f)
            claimed.add(f.oid)
        guard = by_name.get(spec.qualified_guard_function) if spec.append_only else None
        if guard is not None and guard.spec is None:
            by_table.setdefault(spec.qualified_table, FoundAudit(spec.qualified_table))
            by_table[spec.qualified_table].guard_function = guard
            claimed.add(guard.oid)
    for f in functions:
        if f.oid in claimed or f.spec is None:
            continue
        table = f.spec.qualified_table
        if table in by_table and by_table[table].function is not None:
            orphans.append(f)
        else:
            by_table[table] = FoundAudit(table, f)
    oid_to_table = {
        found.function.oid: table for table, found in by_table.items() if found.function is not None
    }
    found_specs = [f.spec for f in functions if f.spec is not None]
    wanted_keys = {
        trigger.key: spec.qualified_table
        for spec in found_specs + wanted
        for trigger in spec_triggers(spec)
    }
    for trig in triggers:
        owner = oid_to_table.get(trig.function_oid) or wanted_keys.get(trig.key)
        if owner is None:
            continue  # a trigger of an orphan function: it goes with that function
        by_table.setdefault(owner, FoundAudit(owner)).triggers.append(trig)
    return AuditCatalog(functions, triggers, by_table, orphans, queries)


__all__ = [
    "AuditCatalog",
    "FoundAudit",
    "FoundColumn",
    "FoundTable",
    "PGAdvancedInspector",
    "PartitionInfo",
    "RelationInfo",
    "ReflectedFunction",
    "ReflectedTrigger",
    "qualify_trigger_function",
]
