"""Identifiers through SQLAlchemy's PostgreSQL identifier preparer, always quoted.

Mixed case, reserved words, spaces, quotes, ``%``, ``:`` and ``$`` inside names
are all safe.

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
    """
    return str(_PREPARER.quote_identifier(name))


def qualify(schema: str, name: str) -> str:
    """``"schema"."name"``, both parts quoted.

    Example::

        qualify("public", "item")  # '"public"."item"'
    """
    return f"{quote(schema)}.{quote(name)}"


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


__all__ = ["dollar_quote", "qualify", "quote"]
