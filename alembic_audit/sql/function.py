"""Trigger functions as frozen definitions: the audit function and the append-only guard.

A :class:`FunctionDefinition` renders its own ``CREATE``/``DROP``/``REVOKE`` and
states, as a :class:`FunctionHeader`, what ``pg_proc`` will hold for it, so the
inspector compares the catalog with it field by field.

Example::

    function = audit_function(spec)
    function.create_sql().splitlines()[0]
    # 'CREATE OR REPLACE FUNCTION "public"."public_item_audit"()'
    function.header.config  # ('search_path=pg_catalog, pg_temp', ...)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from ..core.spec import AuditSpec
from .plpgsql import audit_function_body, guard_function_body
from .quoting import dollar_quote, qualify

#: Every function of ours runs with this search_path: pg_catalog first, pg_temp last,
#: so a session's search_path or temporary objects cannot redirect what it does.
PINNED_SEARCH_PATH = ("pg_catalog", "pg_temp")

_SIMPLE_IDENT = re.compile(r"[a-z_][a-z0-9_]*")
# GUCs whose value PostgreSQL stores as a list of identifiers, quoting as needed.
_LIST_GUCS = frozenset({"search_path", "temp_tablespaces", "session_preload_libraries"})


@dataclass(frozen=True)
class FunctionHeader:
    """The facts of a function apart from its body, as ``pg_proc`` holds them.

    ``config`` is ``proconfig``: one ``name=value`` entry per ``SET`` clause.

    Example::

        audit_function(spec).header
        # FunctionHeader(language='plpgsql', security_definer=True, volatility='v',
        #                config=('search_path=pg_catalog, pg_temp', ...))
    """

    language: str
    security_definer: bool
    volatility: str
    config: tuple[str, ...]


def _proconfig_entry(name: str, values: tuple[str, ...]) -> str:
    if name in _LIST_GUCS:
        shown = [
            v if _SIMPLE_IDENT.fullmatch(v) else '"' + v.replace('"', '""') + '"' for v in values
        ]
        return f"{name}={', '.join(shown)}"
    return f"{name}={', '.join(values)}"


@dataclass(frozen=True)
class FunctionDefinition:
    """A trigger function (no arguments, ``RETURNS trigger``).

    ``settings`` are its ``SET name TO value[, ...]`` clauses; the values are constants
    of ours, never user input.

    Example::

        FunctionDefinition("public", "f", "\\nBEGIN RETURN NULL; END;\\n").create_sql()
    """

    schema: str
    name: str
    body: str
    security_definer: bool = False
    settings: tuple[tuple[str, tuple[str, ...]], ...] = ()
    language: str = "plpgsql"
    volatility: str = "v"

    @property
    def qualified_name(self) -> tuple[str, str]:
        return (self.schema, self.name)

    @property
    def signature(self) -> str:
        """The quoted signature, e.g. ``"public"."f"()``."""
        return f"{qualify(self.schema, self.name)}()"

    @property
    def header(self) -> FunctionHeader:
        return FunctionHeader(
            self.language,
            self.security_definer,
            self.volatility,
            tuple(_proconfig_entry(name, values) for name, values in self.settings),
        )

    def create_sql(self) -> str:
        """``CREATE OR REPLACE FUNCTION ... AS $audit$<body>$audit$``.

        Example::

            audit_function(spec).create_sql()
        """
        volatility = {"v": "", "s": " STABLE\n", "i": " IMMUTABLE\n"}[self.volatility]
        head = (
            f"CREATE OR REPLACE FUNCTION {self.signature}\n"
            " RETURNS trigger\n"
            f" LANGUAGE {self.language}\n"
            + volatility
            + (" SECURITY DEFINER\n" if self.security_definer else "")
            + "".join(
                f" SET {name} TO {', '.join(repr_setting(v) for v in values)}\n"
                for name, values in self.settings
            )
        )
        return f"{head}AS {dollar_quote(self.body)}"

    def revoke_sql(self) -> str:
        """Take EXECUTE away from PUBLIC.

        Firing a trigger checks no EXECUTE privilege, so the audit keeps working; but
        nobody else can attach the function (which may run as its owner) to a table
        of their own and so write forged rows into the audit table.

        Example::

            audit_function(spec).revoke_sql()
            # 'REVOKE ALL ON FUNCTION "public"."public_item_audit"() FROM PUBLIC'
        """
        return f"REVOKE ALL ON FUNCTION {self.signature} FROM PUBLIC"

    def drop_sql(self, *, if_exists: bool = False, cascade: bool = False) -> str:
        """``DROP FUNCTION [IF EXISTS] ...() [CASCADE]``.

        Example::

            audit_function(spec).drop_sql(if_exists=True, cascade=True)
            # 'DROP FUNCTION IF EXISTS "public"."public_item_audit"() CASCADE'
        """
        exists = " IF EXISTS" if if_exists else ""
        tail = " CASCADE" if cascade else ""
        return f"DROP FUNCTION{exists} {self.signature}{tail}"


def repr_setting(value: str) -> str:
    """A setting value as a SQL string literal (our constants contain no quote).

    Example::

        repr_setting("pg_catalog")  # "'pg_catalog'"
    """
    return "'" + value.replace("'", "''") + "'"


def _plan_settings(spec: AuditSpec) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Planner settings pinned on a statement-level function (constants of ours).

    PL/pgSQL caches the plan of each ``INSERT ... SELECT FROM <transition table>``.
    Left to ``plan_cache_mode = auto``, the plan cache compares the cost of its
    generic plan, estimated for the transition table's row count at the call that
    built it, with the average cost of the custom plans so far; once a session has
    built it during a bulk statement, it re-plans every later call (about 20 us per
    one-row statement), and the choice only resets when the plan is invalidated.
    The copy has one plan shape whatever the row count, so generic is always right.
    The ``skip_unchanged`` join is not: a generic plan built for a one-row
    statement is a nested loop, quadratic for a later 100,000-row UPDATE (minutes);
    without nested loops it is a hash or merge join at any size.
    """
    if spec.level != "statement":
        return ()
    settings: tuple[tuple[str, tuple[str, ...]], ...] = (
        ("plan_cache_mode", ("force_generic_plan",)),
    )
    if spec.skip_unchanged:
        settings += (("enable_nestloop", ("off",)),)
    return settings


@lru_cache(maxsize=4096)
def audit_function(spec: AuditSpec) -> FunctionDefinition:
    """The audit trigger function of a spec (cached: autogenerate asks per table).

    Example::

        audit_function(spec).security_definer  # True by default
    """
    schema, name = spec.qualified_function
    return FunctionDefinition(
        schema,
        name,
        audit_function_body(spec),
        security_definer=spec.security_definer,
        settings=(("search_path", PINNED_SEARCH_PATH), *_plan_settings(spec)),
    )


def guard_function(spec: AuditSpec) -> FunctionDefinition:
    """The append-only guard function (used when ``spec.append_only``).

    Example::

        guard_function(spec).name  # 'public_item_audit_append_only'
    """
    schema, name = spec.qualified_guard_function
    return FunctionDefinition(
        schema, name, guard_function_body(), settings=(("search_path", PINNED_SEARCH_PATH),)
    )


__all__ = [
    "PINNED_SEARCH_PATH",
    "FunctionDefinition",
    "FunctionHeader",
    "audit_function",
    "guard_function",
    "repr_setting",
]
