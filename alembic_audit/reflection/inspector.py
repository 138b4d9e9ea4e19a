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
inspector also answers the few catalog questions the ops and grant helpers ask
(installed specs, owned sequences, privileges).

Example::

    with engine.connect() as conn:
        catalog = PGAdvancedInspector(conn).reflect(wanted_specs)
    for (schema, table), found in catalog.by_table.items():
        print(schema, table, found.spec, [t.name for t in found.triggers])
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.engine import Connection

from ..core.spec import AuditSpec
from ..sql import catalog
from ..sql.function import FunctionHeader
from ..sql.marker import SPEC_MARKER, made_by_seed, read_marker, spec_from_function_body
from ..sql.objects import spec_triggers
from ..sql.quoting import lookup_name
from ..sql.triggers import TriggerDefinition


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
    #: ``pg_get_triggerdef``: what a downgrade re-creates if this trigger drifted.
    sql: str

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
    #: ``pg_get_functiondef``: what a downgrade re-creates if this function drifted.
    sql: str
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

    @property
    def spec(self) -> AuditSpec | None:
        return self.function.spec if self.function is not None else None


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

    def reflect(self, wanted: Iterable[AuditSpec] = ()) -> AuditCatalog:
        """Read every audit function, plus functions and triggers named by ``wanted``.

        Functions are found by the marker in their body, and also by the names
        ``wanted`` asks for, so a body edited by hand (marker removed) is still seen,
        and so is a function of sqlalchemy-postgresql-audit in another schema that a
        trigger on the wanted table calls.  Triggers are those calling a found
        function, and those on a wanted table with a wanted name whatever they call.
        """
        wanted = list(wanted)
        fn_names = sorted(
            {s.qualified_function for s in wanted}
            | {s.qualified_guard_function for s in wanted if s.append_only}
        )
        rows = self.connection.execute(
            catalog.functions_query(),
            catalog.function_params(
                SPEC_MARKER, [n[0] for n in fn_names], [n[1] for n in fn_names]
            ),
        ).all()
        self.queries += 1
        markers = [read_marker(r.prosrc) for r in rows]
        functions = [
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
            for r, marker in zip(rows, markers, strict=True)
        ]
        # Triggers named by the wanted specs and by the specs found in the bodies
        # (a guard trigger on an audit table calls a function of its own).
        found_specs = [f.spec for f in functions if f.spec is not None]
        wanted_triggers = sorted(
            {trigger.key for spec in wanted + found_specs for trigger in spec_triggers(spec)}
        )
        rows = self.connection.execute(
            catalog.triggers_query(),
            catalog.trigger_params([f.oid for f in functions], wanted_triggers),
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
                sql=qualify_trigger_function(r.definition, r.q_fschema, r.q_fname),
            )
            for r in rows
        ]
        return _group(functions, triggers, wanted, self.queries)

    # -- the questions the ops and the grant helpers ask ------------------------------

    def installed_specs(self, schema: str, table: str) -> list[AuditSpec]:
        """The specs of the audit functions that triggers on a table call, one per function.

        Example::

            inspector.installed_specs("public", "item")[0].level  # 'statement'
        """
        self.queries += 1
        found: dict[tuple[str, str], AuditSpec] = {}
        for source in self.connection.execute(
            catalog.trigger_function_sources_query(lookup_name(schema, table))
        ).scalars():
            spec = spec_from_function_body(source)
            if spec is not None and spec.qualified_table == (schema, table):
                found[spec.qualified_function] = spec
        return list(found.values())

    def columns(self, relations: list[tuple[str, str]]) -> dict[tuple[str, str], list[str]]:
        """The live columns of each of the relations that exist, in one query.

        Example::

            inspector.columns([("public", "item_audit")])
            # {('public', 'item_audit'): ['id', 'name', 'audit_id', ...]}
        """
        self.queries += 1
        names = {lookup_name(*r): r for r in relations}
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
        query = catalog.function_exists_query(lookup_name(schema, name) + "()")
        return bool(self.connection.execute(query).scalar())

    def owned_sequences(self, schema: str, table: str) -> tuple[tuple[str, str], ...]:
        """``(schema, name)`` of the sequences feeding a table's serial/identity columns.

        Example::

            inspector.owned_sequences("public", "item")  # (('public', 'item_id_seq'),)
        """
        self.queries += 1
        rows = self.connection.execute(catalog.owned_sequences_query(lookup_name(schema, table)))
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
        query = catalog.acl_query(kind, lookup_name(schema, name), role)
        row = self.connection.execute(query).first()
        return None if row is None else (str(row[0]), set(row[1] or ()))

    def can_grant(self, kind: str, schema: str, name: str | None, privilege: str) -> bool:
        """Whether the current role can grant ``privilege`` on the object.

        Example::

            inspector.can_grant("TABLE", "public", "item", "SELECT")  # True for the owner
        """
        self.queries += 1
        query = catalog.can_grant_query(kind, lookup_name(schema, name), privilege)
        return bool(self.connection.execute(query).scalar())

    def has_schema_usage(self, role: str, schema: str) -> bool:
        """Whether ``role`` has USAGE on the schema by any route (PUBLIC included).

        Example::

            inspector.has_schema_usage("app", "public")  # True
        """
        self.queries += 1
        query = catalog.schema_usage_query(role, lookup_name(schema))
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
        names = {lookup_name(*t): t for t in tables}
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
        names = {lookup_name(*t): t for t in tables}
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
        names = {lookup_name(*t): t for t in tables}
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
        rows = self.connection.execute(catalog.privileges_query(lookup_name(schema, name)))
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
        query = catalog.relation_exists_query(lookup_name(schema, name))
        return bool(self.connection.execute(query).scalar())

    def column_types(self, schema: str, name: str) -> list[tuple[str, str]]:
        """``(column, type)`` of a table's live columns, types as ``format_type`` writes them.

        Example::

            inspector.column_types("public", "item_audit")[0]  # ('id', 'integer')
        """
        self.queries += 1
        rows = self.connection.execute(catalog.column_types_query(lookup_name(schema, name)))
        return [(str(c), str(t)) for c, t in rows]

    def schema_exists(self, schema: str) -> bool:
        """Whether a schema of that name exists.

        Example::

            inspector.schema_exists("archive")  # True
        """
        self.queries += 1
        query = catalog.schema_exists_query(lookup_name(schema))
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
    "PGAdvancedInspector",
    "PartitionInfo",
    "RelationInfo",
    "ReflectedFunction",
    "ReflectedTrigger",
    "qualify_trigger_function",
]
