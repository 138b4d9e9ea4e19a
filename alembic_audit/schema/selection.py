"""``alembic_audit.audit()``: audit tables that are already defined, in one call.

For an existing application whose models cannot all carry ``info["audit.options"]``
(tables defined in many files with their own ``__table_args__``, Core association
tables): pick the tables by MetaData, predicate or list, give options for all of them
and per table, and every picked table gets its audit table, as if it had declared the
options itself.  The same call works in the application and in Alembic's ``env.py``.

Example::

    import alembic_audit
    from myapp.models import Base

    alembic_audit.audit(
        Base.metadata,
        exclude=["alembic_version_archive", "session_cache"],
        session_settings=[sa.Column("username", sa.String(50))],
        table_options={"payment": {"level": "row"}},
    )
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sqlalchemy import MetaData, Table

from ..core.constants import IS_AUDIT_TABLE, OPTIONS_KEY
from ..core.errors import AuditError
from ..core.options import spec_from_table, table_label
from . import builder

#: ``Table.info`` key: the options were written by :func:`audit` (which may rewrite
#: them), not declared by the model (which :func:`audit` leaves alone).
APPLIED_BY_AUDIT = "audit.applied_by_audit"

#: What ``include=`` and ``exclude=`` accept: a predicate on the ``Table``, or names
#: (``"name"`` or ``"schema.name"``), ``Table`` objects and ORM classes (one or a list).
Selection = Callable[[Table], bool] | str | Table | type | Iterable[Any]

#: What ``table_options=`` accepts: options by table (keys as in ``include=``), or a
#: function of the ``Table`` returning its options (``None`` for none).
TableOptions = Mapping[Any, Mapping[str, Any]] | Callable[[Table], Mapping[str, Any] | None]


def _tables_of(target: object) -> list[Table]:
    if isinstance(target, MetaData):
        return list(target.tables.values())
    if isinstance(target, Table):
        return [target]
    table = getattr(target, "__table__", None)
    if isinstance(table, Table):
        return [table]
    metadata = getattr(target, "metadata", None)
    if isinstance(metadata, MetaData):  # a declarative base
        return list(metadata.tables.values())
    if isinstance(target, Iterable) and not isinstance(target, (str, bytes)):
        tables: list[Table] = []
        for item in target:
            tables += [t for t in _tables_of(item) if t not in tables]
        return tables
    raise AuditError(
        f"alembic_audit.audit(): cannot audit {target!r}; pass a MetaData, a Table, an ORM "
        "class or a declarative base, or a list of them"
    )


def _names(table: Table) -> set[str]:
    return {table.name, table.key}


def _matcher(selection: Selection, tables: list[Table], what: str) -> Callable[[Table], bool]:
    """A predicate for ``include=`` / ``exclude=``; names matching no table are refused."""
    if isinstance(selection, (Table, str)) or hasattr(selection, "__table__"):
        selection = [selection]
    elif callable(selection):
        predicate = selection

        def call(table: Table) -> bool:
            return bool(predicate(table))

        return call
    if not isinstance(selection, Iterable):
        raise AuditError(
            f"alembic_audit.audit(): {what}= must be a predicate or a list of table names, "
            f"tables or ORM classes, got {selection!r}"
        )
    picked: set[int] = set()
    names: set[str] = set()
    for item in selection:
        if isinstance(item, str):
            names.add(item)
        else:
            picked.update(id(t) for t in _tables_of(item))
    known = set().union(*(_names(t) for t in tables)) if tables else set()
    unknown = sorted(names - known)
    if unknown:
        raise AuditError(
            f"alembic_audit.audit(): {what}= names table(s) {unknown} that are not defined; "
            "use 'name' or 'schema.name' of tables of the given metadata"
        )
    return lambda table: id(table) in picked or bool(_names(table) & names)


def _options_for(table_options: TableOptions | None, tables: list[Table]) -> Callable[[Table], Any]:
    if table_options is None:
        return lambda table: None
    if callable(table_options):
        return table_options
    if not isinstance(table_options, Mapping):
        raise AuditError(
            "alembic_audit.audit(): table_options= must be a dict of table name -> options "
            f"or a function of the table, got {table_options!r}"
        )
    by_name: dict[str, Mapping[str, Any]] = {}
    by_table: dict[int, Mapping[str, Any]] = {}
    for key, value in table_options.items():
        if isinstance(key, str):
            by_name[key] = value
        else:
            for t in _tables_of(key):
                by_table[id(t)] = value
    known = set().union(*(_names(t) for t in tables)) if tables else set()
    unknown = sorted(set(by_name) - known)
    if unknown:
        raise AuditError(
            f"alembic_audit.audit(): table_options= names table(s) {unknown} that are not "
            "defined; use 'name' or 'schema.name' of tables of the given metadata"
        )

    def lookup(table: Table) -> Mapping[str, Any] | None:
        if id(table) in by_table:
            return by_table[id(table)]
        for name in (table.key, table.name):  # the qualified name first
            if name in by_name:
                return by_name[name]
        return None

    return lookup


def audit(
    target: object,
    *,
    include: Selection | None = None,
    exclude: Selection | None = None,
    table_options: TableOptions | None = None,
    **options: Any,
) -> list[Table]:
    """Audit tables that are already defined; return the tables audited by this call.

    ``target`` is a ``MetaData`` (every table), a declarative base, a ``Table``, an ORM
    class, or a list of them.  ``include=`` and ``exclude=`` narrow it down: a predicate
    on the ``Table``, or table names (``"name"`` matches that table in any schema,
    ``"schema.name"`` only there), ``Table`` objects and ORM classes; a name matching no
    table is an ``AuditError``.  ``**options`` are audit options (as in
    ``info["audit.options"]``) for every table, ``table_options=`` adds or overrides
    options per table: a dict keyed like ``include=``, or a function of the ``Table``
    (``{"enabled": False}`` leaves a table out).

    A table that declares ``info["audit.options"]`` itself (a mixin, ``__table_args__``)
    keeps its own options and is not counted.  Audit tables are never audited.  Calling
    ``audit()`` again with other options rebuilds what changed; tables defined after the
    call are not audited by it.  Every option is validated before any table changes: an
    invalid one raises an ``AuditError`` naming the table and the option.

    Call it once the models are imported, where both the application and ``env.py``
    see it (the module that imports every model), or in ``env.py`` if only migrations
    need the audit tables.

    Example::

        alembic_audit.audit(
            Base.metadata,
            exclude=["celery_taskmeta", "sales.import_batch"],
            session_settings=[sa.Column("username", sa.String(50))],
            table_options={"payment": {"level": "row"}, "user": {"exclude": ["password"]}},
        )
    """
    builder.listen()  # columns appended later reach the audit tables
    tables = [t for t in _tables_of(target) if not t.info.get(IS_AUDIT_TABLE)]
    picked = tables
    if include is not None:
        match = _matcher(include, tables, "include")
        picked = [t for t in picked if match(t)]
    if exclude is not None:
        match = _matcher(exclude, tables, "exclude")
        picked = [t for t in picked if not match(t)]
    per_table = _options_for(table_options, tables)

    chosen: list[tuple[Table, dict[str, Any]]] = []
    for table in picked:
        if OPTIONS_KEY in table.info and not table.info.get(APPLIED_BY_AUDIT):
            continue  # the model's own options win
        own = per_table(table)
        if own is not None and not isinstance(own, Mapping):
            raise AuditError(
                f"table {table_label(table)!r}: table_options= must give a dict of audit "
                f"options, got {own!r}"
            )
        chosen.append((table, {"enabled": True, **options, **(own or {})}))

    # Validate every table's options before changing any of them.
    saved = {id(t): (t.info.get(OPTIONS_KEY), t.info.get(APPLIED_BY_AUDIT)) for t, _ in chosen}
    try:
        for table, table_opts in chosen:
            table.info[OPTIONS_KEY] = table_opts
            table.info[APPLIED_BY_AUDIT] = True
            if table_opts.get("enabled") is True:
                spec_from_table(table)
    except Exception:
        for table, _ in chosen:
            previous, applied = saved[id(table)]
            for key, value in ((OPTIONS_KEY, previous), (APPLIED_BY_AUDIT, applied)):
                if value is None:
                    table.info.pop(key, None)
                else:
                    table.info[key] = value
        raise
    return [table for table, _ in chosen if builder.sync_table(table)]


__all__ = ["APPLIED_BY_AUDIT", "Selection", "TableOptions", "audit"]
