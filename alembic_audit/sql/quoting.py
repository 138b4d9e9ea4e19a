"""Identifiers through SQLAlchemy's PostgreSQL identifier preparer, always quoted.

Mixed case, reserved words, spaces, quotes, ``%``, ``:`` and ``$`` inside names
are all safe, and so is every path a user may run our SQL through: a name holding
``:`` or ``%`` is written with PostgreSQL's Unicode escapes (``U&"a\\003Ab"`` is
``"a:b"``), so that ``text()`` sees no bind parameter and ``exec_driver_sql()`` or
``DDL()`` no format character.

Example::

    qualify("public", "Order")  # '"public"."Order"'
"""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy.dialects import postgresql

# "named" paramstyle: the preparer must not double '%' here; AuditDDL does it at
# execution time for the driver actually in use.
_PREPARER = postgresql.dialect(paramstyle="named").identifier_preparer  # type: ignore[no-untyped-call]


@lru_cache(maxsize=16384)
def quote(name: str) -> str:
    """Always-quoted identifier.

    Memoized: autogenerate renders one function body per audited table, and the
    same few names recur thousands of times.

    Example::

        quote("Order")  # '"Order"'
        quote("a:b")  # 'U&"a\\003Ab"'
    """
    quoted = str(_PREPARER.quote_identifier(name))
    if not needs_unicode_escape(name):
        return quoted
    escaped = quoted.replace("\\", "\\\\").replace(":", "\\003A").replace("%", "\\0025")
    return "U&" + escaped


def needs_unicode_escape(name: str) -> bool:
    """Whether :func:`quote` writes ``name`` as ``U&"..."``.

    PL/pgSQL reads ``NEW."a:b"`` but not ``NEW.U&"a\\003Ab"``: record fields with
    such names are read through a subquery instead.

    Example::

        needs_unicode_escape("a:b"), needs_unicode_escape("ab")  # (True, False)
    """
    return ":" in name or "%" in name


def qualify(schema: str, name: str) -> str:
    """``"schema"."name"``, both parts quoted.

    Example::

        qualify("public", "item")  # '"public"."item"'
    """
    return f"{quote(schema)}.{quote(name)}"


def lookup_name(schema: str, name: str | None = None) -> str:
    """A name as ``to_regclass``, ``to_regnamespace`` and ``to_regprocedure`` read it: a
    bind parameter's value, never SQL text, so plain double quotes (those functions
    do not read ``U&"..."``) and, like the parser, a name over 63 bytes truncated.

    Example::

        lookup_name("public", "a:b")  # '"public"."a:b"'
        lookup_name("public")  # '"public"'
    """
    parts = [schema] if name is None else [schema, name]
    return ".".join('"' + part.replace('"', '""') + '"' for part in parts)


def string_literal(value: str) -> str:
    """A SQL string literal of ``value`` that every run path reads back unchanged.

    ``'...'`` with quotes doubled; a value holding ``:``, ``%`` or a backslash is written
    with Unicode escapes (``U&'a\\003Ab'`` is ``'a:b'``), like :func:`quote` does for
    names, so that no ``text()`` bind parameter or format character appears.

    Example::

        string_literal("it's")  # "'it''s'"
        string_literal("a:b")  # "U&'a\\003Ab'"
    """
    quoted = "'" + value.replace("'", "''") + "'"
    if not (needs_unicode_escape(value) or "\\" in value):
        return quoted
    escaped = quoted.replace("\\", "\\\\").replace(":", "\\003A").replace("%", "\\0025")
    return "U&" + escaped


def dollar_quote(body: str) -> str:
    """``body`` between dollar quotes whose tag does not occur in it (names may hold '$').

    Example::

        dollar_quote("BEGIN END;")  # '$audit$BEGIN END;$audit$'
    """
    tag, n = "$audit$", 0
    while tag in body:
        n += 1
        tag = f"$audit{n}$"
    return f"{tag}{body}{tag}"


__all__ = [
    "dollar_quote",
    "lookup_name",
    "needs_unicode_escape",
    "qualify",
    "quote",
    "string_literal",
]
