"""The advanced inspector: every audit function and trigger, read in two queries.

:class:`PGAdvancedInspector` reads the catalog once per autogenerate run, for all
schemas at once (one query for functions, one for triggers, whatever the number of
tables), runs no DDL and opens no savepoint.  What it returns is structured data:

* each function with its ``prosrc``, ``proconfig``, security and language, and the
  :class:`~alembic_audit.spec.AuditSpec` read back from the JSON comment that
  :func:`alembic_audit.ddl.spec_comment` embeds in every body;
* each trigger with the fields of ``pg_trigger`` (name, table, ``tgtype`` bits,
  enabled state, function, transition tables).

What the library *would* create is turned into the same shapes by parsing the SQL
that :mod:`alembic_audit.ddl` generates (:func:`expected_triggers`,
:func:`expected_function_header`), so comparing never depends on how PostgreSQL
reformats text, and new DDL in ``ddl.py`` flows through unchanged.

Example::

    with engine.connect() as conn:
        catalog = PGAdvancedInspector(conn).reflect(wanted_specs)
    for (schema, table), found in catalog.by_table.items():
        print(schema, table, found.spec, [t.name for t in found.triggers])
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

from sqlalchemy.engine import Connection

from . import ddl, ddl_catalog
from .spec import AuditSpec

#: Text every generated function body contains (see ``ddl.spec_comment``).
SPEC_MARKER = "/* alembic_audit spec {"

# pg_trigger.tgtype bits (src/include/catalog/pg_trigger.h).
TRIGGER_TYPE_ROW = 1 << 0
TRIGGER_TYPE_BEFORE = 1 << 1
TRIGGER_TYPE_INSERT = 1 << 2
TRIGGER_TYPE_DELETE = 1 << 3
TRIGGER_TYPE_UPDATE = 1 << 4
TRIGGER_TYPE_TRUNCATE = 1 << 5
TRIGGER_TYPE_INSTEAD = 1 << 6

_EVENT_BITS = {
    "INSERT": TRIGGER_TYPE_INSERT,
    "DELETE": TRIGGER_TYPE_DELETE,
    "UPDATE": TRIGGER_TYPE_UPDATE,
    "TRUNCATE": TRIGGER_TYPE_TRUNCATE,
}


# -- what the database holds -------------------------------------------------------


@dataclass(frozen=True)
class TriggerShape:
    """The comparable facts of one trigger, from ``pg_trigger`` or from our DDL.

    Example::

        TriggerShape("public", "item", "public_item_audit", TRIGGER_TYPE_ROW | 28,
                     ("public", "public_item_audit"), None, None, False)
    """

    schema: str
    table: str
    name: str
    tgtype: int
    function: tuple[str, str]
    old_table: str | None
    new_table: str | None
    has_when: bool

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.schema, self.table, self.name)


@dataclass(frozen=True)
class ReflectedTrigger:
    """A trigger as found in ``pg_trigger``.

    ``enabled`` is ``tgenabled``: ``O`` (origin and local), ``D`` (disabled),
    ``R`` (replica only), ``A`` (always).

    Example::

        trigger = catalog.by_table[("public", "item")].triggers[0]
        trigger.name, trigger.enabled  # ('public_item_audit_delete', 'O')
    """

    shape: TriggerShape
    enabled: str
    function_oid: int
    #: ``pg_get_triggerdef``: what a downgrade re-creates if this trigger drifted.
    definition: str

    @property
    def name(self) -> str:
        return self.shape.name

    @property
    def key(self) -> tuple[str, str, str]:
        return self.shape.key


@dataclass(frozen=True)
class FunctionHeader:
    """The comparable facts of a trigger function apart from its body.

    Example::

        expected_function_header(spec).config
        # ('search_path=pg_catalog, pg_temp', 'plan_cache_mode=force_generic_plan')
    """

    language: str
    security_definer: bool
    volatility: str
    config: tuple[str, ...]


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
    definition: str
    #: The spec embedded in the body, ``None`` when the comment is gone.
    spec: AuditSpec | None

    @property
    def qualified_name(self) -> tuple[str, str]:
        return (self.schema, self.name)


@dataclass
class FoundAudit:
    """What the database holds for one audited table: its function and triggers.

    ``spec`` is the spec the function was created from (``None`` if the function
    lost its spec comment or is missing).

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

    ``queries`` counts the statements this inspector sent (always 2 per reflect).

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

        Functions are found by the spec comment in their body, and also by the names
        ``wanted`` asks for, so a body edited by hand (comment removed) is still
        seen.  Triggers are those calling a found function, and those on a wanted
        table with a wanted name whatever they call.
        """
        wanted = list(wanted)
        fn_names = sorted({s.qualified_function for s in wanted})
        rows = self.connection.execute(
            ddl_catalog.functions_query(),
            ddl_catalog.function_params(
                SPEC_MARKER, [n[0] for n in fn_names], [n[1] for n in fn_names]
            ),
        ).all()
        self.queries += 1
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
                definition=r.definition,
                spec=ddl.spec_from_function_body(r.prosrc),
            )
            for r in rows
        ]
        # Triggers named by the wanted specs and by the specs found in the bodies
        # (a guard trigger on an audit table calls a function of its own).
        found_specs = [f.spec for f in functions if f.spec is not None]
        wanted_triggers = sorted(
            {shape.key for spec in wanted + found_specs for shape in expected_triggers(spec)}
        )
        rows = self.connection.execute(
            ddl_catalog.triggers_query(),
            ddl_catalog.trigger_params([f.oid for f in functions], wanted_triggers),
        ).all()
        self.queries += 1
        triggers = [
            ReflectedTrigger(
                shape=TriggerShape(
                    schema=r.nspname,
                    table=r.relname,
                    name=r.tgname,
                    tgtype=int(r.tgtype),
                    function=(r.fschema, r.fname),
                    old_table=r.oldtable,
                    new_table=r.newtable,
                    # Arguments or an UPDATE OF column list are shapes we never
                    # create: count them as a WHEN-like difference.
                    has_when=bool(r.has_when) or int(r.tgnargs) > 0 or bool(r.tgattr.strip()),
                ),
                enabled=r.tgenabled,
                function_oid=int(r.tgfoid),
                definition=qualify_trigger_function(r.definition, r.q_fschema, r.q_fname),
            )
            for r in rows
        ]
        return _group(functions, triggers, wanted, self.queries)


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
        shape.key: spec.qualified_table
        for spec in found_specs + wanted
        for shape in expected_triggers(spec)
    }
    for trig in triggers:
        owner = oid_to_table.get(trig.function_oid) or wanted_keys.get(trig.key)
        if owner is None:
            continue  # a trigger of an orphan function: it goes with that function
        by_table.setdefault(owner, FoundAudit(owner)).triggers.append(trig)
    return AuditCatalog(functions, triggers, by_table, orphans, queries)


# -- what we would create, as the same shapes --------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<ident>"(?:[^"]|"")*")
      | (?P<string>'(?:[^']|'')*')
      | (?P<dollar>\$[A-Za-z0-9_]*\$)
      | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
      | (?P<punct>\S)
    )""",
    re.VERBOSE,
)


class _Tok(NamedTuple):
    # A tuple, not a dataclass: autogenerate tokenizes thousands of statements.
    kind: str
    value: str
    upper: str  # the upper-cased word, "" for other kinds


_FAST_TOKEN = re.compile(
    r'"(?:[^"]|"")*"|\'(?:[^\']|\'\')*\'|\$[A-Za-z0-9_]*\$|[A-Za-z_][A-Za-z0-9_$]*|\S'
)


def _tokens(sql: str) -> Iterator[_Tok]:
    for raw in _FAST_TOKEN.findall(_header(sql)):
        first = raw[0]
        if first == '"':
            yield _Tok("ident", raw[1:-1].replace('""', '"'), "")
        elif first == "'":
            yield _Tok("string", raw[1:-1].replace("''", "'"), "")
        elif first == "$" and len(raw) > 1:
            yield _Tok("dollar", raw, "")
            return  # the body follows; the header is all we parse
        elif first.isalpha() or first == "_":
            yield _Tok("word", raw, raw.upper())
        else:
            yield _Tok("punct", raw, "")


def _header(sql: str) -> str:
    """``sql`` up to the function body: PL/pgSQL text is never tokenized."""
    if "$" not in sql:
        return sql
    for m in _TOKEN.finditer(sql):
        if m.lastgroup == "dollar":
            return sql[: m.end()]
    return sql


def _name(tok: _Tok) -> str:
    return tok.value if tok.kind == "ident" else tok.value.lower()


def _qualified(toks: list[_Tok], i: int) -> tuple[tuple[str, str], int]:
    """Read ``a.b`` (or ``b``, which our DDL never emits) starting at ``toks[i]``."""
    if i + 2 < len(toks) and toks[i + 1].value == ".":
        return (_name(toks[i]), _name(toks[i + 2])), i + 3
    return ("public", _name(toks[i])), i + 1


class UnexpectedDDL(ValueError):
    """Our own DDL text has a shape this parser does not know (a bug to report).

    Example::

        parse_create_trigger("CREATE TRIGGER t AFTER UPDATE OF a ON x ...")  # raises it
    """


def parse_create_trigger(sql: str) -> TriggerShape:
    """The :class:`TriggerShape` a ``CREATE TRIGGER`` statement would produce.

    Example::

        parse_create_trigger(ddl.create_trigger_sqls(spec)[0]).tgtype
    """
    toks = list(_tokens(sql))
    words = [t.upper for t in toks]
    try:
        i = words.index("TRIGGER") + 1
        name = _name(toks[i])
        i += 1
        tgtype = 0
        if words[i] == "BEFORE":
            tgtype |= TRIGGER_TYPE_BEFORE
        elif words[i] == "INSTEAD":
            tgtype |= TRIGGER_TYPE_INSTEAD
            i += 1
        i += 1
        while True:
            tgtype |= _EVENT_BITS[words[i]]
            i += 1
            if words[i] == "OF":
                raise UnexpectedDDL(f"UPDATE OF is not supported: {sql}")
            if words[i] != "OR":
                break
            i += 1
        if words[i] != "ON":
            raise UnexpectedDDL(sql)
        table, i = _qualified(toks, i + 1)
        old_table = new_table = None
        has_when = False
        while words[i] != "EXECUTE":
            if words[i] in ("OLD", "NEW"):
                which = words[i]
                i += 2  # OLD TABLE
                if words[i] == "AS":
                    i += 1
                if which == "OLD":
                    old_table = _name(toks[i])
                else:
                    new_table = _name(toks[i])
            elif words[i] == "ROW":
                tgtype |= TRIGGER_TYPE_ROW
            elif words[i] == "WHEN":
                has_when = True
            i += 1
        function, _ = _qualified(toks, i + 2)
    except (IndexError, KeyError, ValueError) as exc:
        raise UnexpectedDDL(f"cannot read trigger DDL {sql!r}: {exc}") from None
    return TriggerShape(
        schema=table[0],
        table=table[1],
        name=name,
        tgtype=tgtype,
        function=function,
        old_table=old_table,
        new_table=new_table,
        has_when=has_when,
    )


@lru_cache(maxsize=4096)
def expected_triggers(spec: AuditSpec) -> tuple[TriggerShape, ...]:
    """Every trigger the spec's DDL creates, as comparable shapes (cached per spec).

    The audit triggers of ``ddl.create_trigger_sqls`` plus, for ``append_only``, the
    guard trigger of ``ddl.create_guard_sqls`` on the audit table; read from the
    statements themselves, so a change there flows through.

    Example::

        [t.name for t in expected_triggers(spec)]  # ['public_item_audit_insert', ...]
    """
    statements = list(ddl.create_trigger_sqls(spec))
    if spec.append_only:
        statements += ddl.create_guard_sqls(spec)
    return tuple(
        parse_create_trigger(sql) for sql in statements if sql.startswith("CREATE TRIGGER")
    )


_SIMPLE_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")
# GUCs whose value PostgreSQL stores as a list of identifiers, quoting as needed.
_LIST_GUCS = frozenset({"search_path", "temp_tablespaces", "session_preload_libraries"})


def _guc_value(name: str, values: list[str]) -> str:
    if name in _LIST_GUCS:
        return ", ".join(
            v if _SIMPLE_IDENT.match(v) else '"' + v.replace('"', '""') + '"' for v in values
        )
    return ", ".join(values)


def parse_function_header(sql: str) -> FunctionHeader:
    """The :class:`FunctionHeader` a ``CREATE FUNCTION`` statement would produce.

    Example::

        parse_function_header(ddl.create_function_sql(spec)).language  # 'plpgsql'
    """
    toks = list(_tokens(sql))
    words = [t.upper for t in toks]
    language, secdef, volatility = "sql", False, "v"
    config: list[str] = []
    # Skip past the argument list "()" of the function name.
    i = words.index("RETURNS") if "RETURNS" in words else 0
    while i < len(toks) and toks[i].kind != "dollar":
        w = words[i]
        if w == "LANGUAGE":
            language = _name(toks[i + 1])
            i += 2
        elif w == "SECURITY":
            secdef = words[i + 1] == "DEFINER"
            i += 2
        elif w in ("VOLATILE", "STABLE", "IMMUTABLE"):
            volatility = w[0].lower()
            i += 1
        elif w == "SET":
            guc = _name(toks[i + 1]).lower()
            i += 3  # SET name TO|=
            values: list[str] = []
            while i < len(toks) and toks[i].kind in ("string", "ident", "word"):
                if toks[i].kind == "word" and words[i] in _HEADER_WORDS:
                    break
                values.append(toks[i].value)
                i += 1
                if i < len(toks) and toks[i].value == ",":
                    i += 1
                else:
                    break
            config.append(f"{guc}={_guc_value(guc, values)}")
        else:
            i += 1
    return FunctionHeader(language, secdef, volatility, tuple(config))


_HEADER_WORDS = frozenset(
    {
        "AS",
        "LANGUAGE",
        "SECURITY",
        "SET",
        "VOLATILE",
        "STABLE",
        "IMMUTABLE",
        "STRICT",
        "CALLED",
        "RETURNS",
        "PARALLEL",
        "COST",
        "LEAKPROOF",
        "NOT",
    }
)


@lru_cache(maxsize=4096)
def expected_function_header(spec: AuditSpec) -> FunctionHeader:
    """The header ``ddl.create_function_sql(spec)`` creates (its text up to ``AS``:
    building the whole body only to skip it would double autogenerate's cost).

    Example::

        expected_function_header(spec).security_definer  # True
    """
    return parse_function_header(ddl.function_header_sql(spec))


__all__ = [
    "AuditCatalog",
    "FoundAudit",
    "FunctionHeader",
    "PGAdvancedInspector",
    "ReflectedFunction",
    "ReflectedTrigger",
    "TriggerShape",
    "expected_function_header",
    "expected_triggers",
    "parse_create_trigger",
    "parse_function_header",
]
