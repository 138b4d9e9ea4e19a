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
from dataclasses import dataclass, field, replace

from sqlalchemy.engine import Connection

from ..core.constants import META_COLUMNS
from ..core.spec import AuditSpec
from ..sql import catalog
from ..sql.function import FunctionHeader
from ..sql.marker import SPEC_MARKER, read_marker, spec_from_function_body
from ..sql.objects import spec_triggers
from ..sql.quoting import qualify
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

    @property
    def spec(self) -> AuditSpec | None:
        return self.function.spec if self.function is not None else None


@dataclass(frozen=True)
class FoundColumn:
    """A column of an audit table as found in ``pg_attribute``: its name, its type as
    ``format_type`` writes it, and whether it is NOT NULL.

    Example::

        found_tables[("public", "item_audit")].columns["name"].type
        # 'character varying(20)'
    """

    name: str
    type: str
    not_null: bool


@dataclass
class FoundTable:
    """An audit table as found in the catalog: its columns in order, and whether it has
    anything an audit table made by alembic-audit has not (an index, a constraint, a
    comment, a column default, identity or generated value), which autogenerate then
    leaves to Alembic's own comparison.

    Example::

        found = inspector.audit_tables([("public", "item_audit")], ["public"])
        list(found[("public", "item_audit")].columns)  # ['id', 'name', 'audit_operation', ...]
    """

    schema: str
    name: str
    columns: dict[str, FoundColumn] = field(default_factory=dict)
    has_indexes: bool = False
    has_constraints: bool = False
    has_comments: bool = False
    has_defaults: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return (self.schema, self.name)

    @property
    def plain(self) -> bool:
        """Nothing but columns, types and NOT NULL (what alembic-audit makes)."""
        return not (
            self.has_indexes or self.has_constraints or self.has_comments or self.has_defaults
        )


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
        self, wanted: Iterable[AuditSpec] = (), *, definitions: bool = True
    ) -> AuditCatalog:
        """Read every audit function, plus functions and triggers named by ``wanted``.

        Functions are found by the marker in their body, and also by the names
        ``wanted`` asks for, so a body edited by hand (marker removed) is still seen.
        Triggers are those calling a found function, and those on a wanted table
        with a wanted name whatever they call.  ``definitions=False`` leaves out their
        ``pg_get_functiondef`` / ``pg_get_triggerdef`` text (``sql``), most of what the
        queries return; :meth:`with_definitions` reads it for the few that need it.
        """
        wanted = list(wanted)
        fn_names = sorted({s.qualified_function for s in wanted})
        rows = self.connection.execute(
            catalog.functions_query(),
            catalog.function_params(
                SPEC_MARKER,
                [n[0] for n in fn_names],
                [n[1] for n in fn_names],
                definitions=definitions,
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
            catalog.trigger_params(
                [f.oid for f in functions], wanted_triggers, definitions=definitions
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
        ]
        return _group(functions, triggers, wanted, self.queries)

    def with_definitions(self, found: FoundAudit) -> FoundAudit:
        """``found`` with the ``pg_get_functiondef`` / ``pg_get_triggerdef`` text of its
        function and triggers (one query), for one read without definitions.

        Example::

            found = inspector.with_definitions(catalog.by_table[("public", "item")])
            found.function.sql  # 'CREATE OR REPLACE FUNCTION public.public_item_audit() ...'
        """
        function_oids = [found.function.oid] if found.function is not None else []
        rows = self.connection.execute(
            catalog.definitions_query(function_oids, [t.oid for t in found.triggers])
        ).all()
        self.queries += 1
        texts = {(r.kind, int(r.oid)): r for r in rows}
        function = found.function
        if function is not None and ("function", function.oid) in texts:
            function = replace(function, sql=texts[("function", function.oid)].definition)
        triggers = []
        for t in found.triggers:
            r = texts.get(("trigger", t.oid))
            if r is not None:
                t = replace(t, sql=qualify_trigger_function(r.definition, r.q_fschema, r.q_fname))
            triggers.append(t)
        return FoundAudit(found.table, function, triggers)

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
                    name: FoundColumn(name, type_, bool(not_null))
                    for name, type_, not_null in zip(r.names, r.types, r.not_nulls, strict=True)
                },
                has_indexes=bool(r.has_indexes),
                has_constraints=bool(r.has_constraints),
                has_comments=bool(r.has_comments),
                has_defaults=bool(r.has_defaults),
            )
        return found

    # -- the questions the ops and the grant helpers ask ------------------------------

    def installed_specs(self, schema: str, table: str) -> list[AuditSpec]:
        """The specs of the audit functions that triggers on a table call, one per function.

        Example::

            inspector.installed_specs("public", "item")[0].level  # 'statement'
        """
        self.queries += 1
        found: dict[tuple[str, str], AuditSpec] = {}
        for source in self.connection.execute(
            catalog.trigger_function_sources_query(qualify(schema, table))
        ).scalars():
            spec = spec_from_function_body(source)
            if spec is not None and spec.qualified_table == (schema, table):
                found[spec.qualified_function] = spec
        return list(found.values())

    def function_exists(self, signature: str) -> bool:
        """Whether the function with this quoted signature (``"s"."f"()``) exists.

        Example::

            inspector.function_exists('"public"."public_item_audit"()')  # True
        """
        self.queries += 1
        return bool(self.connection.execute(catalog.function_exists_query(signature)).scalar())

    def owned_sequences(self, schema: str, table: str) -> tuple[tuple[str, str], ...]:
        """``(schema, name)`` of the sequences feeding a table's serial/identity columns.

        Example::

            inspector.owned_sequences("public", "item")  # (('public', 'item_id_seq'),)
        """
        self.queries += 1
        rows = self.connection.execute(catalog.owned_sequences_query(qualify(schema, table)))
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
        self, kind: str, object_sql: str, role: str
    ) -> tuple[str, set[str]] | None:
        """Owner of a schema or relation and the privileges granted directly to ``role``
        on it; ``None`` if it does not exist.

        Example::

            inspector.direct_privileges("TABLE", '"public"."item"', "app")
            # ('app_owner', {'SELECT', 'INSERT', 'UPDATE', 'DELETE'})
        """
        self.queries += 1
        row = self.connection.execute(catalog.acl_query(kind, object_sql, role)).first()
        return None if row is None else (str(row[0]), set(row[1] or ()))

    def can_grant(self, kind: str, object_sql: str, privilege: str) -> bool:
        """Whether the current role can grant ``privilege`` on the object.

        Example::

            inspector.can_grant("TABLE", '"public"."item"', "SELECT")  # True for the owner
        """
        self.queries += 1
        query = catalog.can_grant_query(kind, object_sql, privilege)
        return bool(self.connection.execute(query).scalar())

    def has_schema_usage(self, role: str, schema_sql: str) -> bool:
        """Whether ``role`` has USAGE on the schema by any route (PUBLIC included).

        Example::

            inspector.has_schema_usage("app", '"public"')  # True
        """
        self.queries += 1
        query = catalog.schema_usage_query(role, schema_sql)
        return bool(self.connection.execute(query).scalar())

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
        f = by_name.get(spec.qualified_function)
        if f is not None and (f.spec is None or f.spec.qualified_table == spec.qualified_table):
            by_table[spec.qualified_table] = FoundAudit(spec.qualified_table, f)
            claimed.add(f.oid)
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
    "ReflectedFunction",
    "ReflectedTrigger",
    "qualify_trigger_function",
]
