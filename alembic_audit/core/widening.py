"""Widen only: the type an audit column keeps when its audited column's type changes.

An audit column holds every value its audited column ever held, so its type may only
grow.  Given the audit column's type in the database (``found``) and the audited
column's new type (``wanted``), :func:`audit_column_change` decides:

* ``same``: nothing to do;
* ``keep``: ``found`` already holds every value of ``wanted`` (a narrowing such as
  ``VARCHAR(200)`` to ``VARCHAR(20)``, or ``TIMESTAMPTZ`` to ``TIMESTAMP``): the audit
  column keeps its type, old rows keep their values, new rows fit;
* ``widen``: ``wanted`` holds every value of ``found`` (``VARCHAR(20)`` to ``TEXT``,
  ``INTEGER`` to ``BIGINT``): the audit column takes the new type;
* ``text``: neither holds the other (``INTEGER`` to ``UUID``): the audit column becomes
  ``TEXT``, which holds both, old and new values alike, as their text form.

"Holds" is only claimed where PostgreSQL converts every value without loss by an
implicit or assignment cast (so ``ALTER COLUMN ... TYPE`` needs no ``USING``, and the
trigger's ``INSERT`` from the live column needs no cast).  Types are compared as
PostgreSQL type text, as written by SQLAlchemy's compiler (``VARCHAR(20)``,
``NUMERIC(10, 2)``) or by ``pg_catalog.format_type`` (``character varying(20)``,
``numeric(10,2)``); a type this module does not know is equal only to itself.

Example::

    audit_column_change("character varying(200)", "VARCHAR(20)")  # 'keep'
    audit_column_change("integer", "BIGINT")  # 'widen'
    audit_column_change("integer", "UUID")  # 'text'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

Change = Literal["same", "keep", "widen", "text"]

#: Spellings of the same type, folded to ``format_type``'s.
_ALIASES = {
    "varchar": "character varying",
    "char": "character",
    "bpchar": "character",
    "int": "integer",
    "int4": "integer",
    "int8": "bigint",
    "int2": "smallint",
    "float8": "double precision",
    "float4": "real",
    "decimal": "numeric",
    "bool": "boolean",
    "timestamp": "timestamp without time zone",
    "timestamptz": "timestamp with time zone",
    "time": "time without time zone",
    "timetz": "time with time zone",
    "varbit": "bit varying",
}

#: Types any value converts to, by PostgreSQL's automatic I/O conversion (an assignment
#: cast to a string type): the universal holders.
_TEXT_TYPES = frozenset({"text"})

#: Integer types and the digits of their largest value.
_INTEGER_DIGITS = {"smallint": 5, "integer": 10, "bigint": 19}

#: Integers a floating-point type represents exactly (its mantissa).
_FLOAT_HOLDS = {"real": {"smallint"}, "double precision": {"smallint", "integer"}}

_ARRAY = re.compile(r"(\[\d*\])+$")
_SHAPE = re.compile(r"^([^()]*?)\s*(?:\(([^()]*)\))?\s*([^()]*)$")


@dataclass(frozen=True)
class PgType:
    """A PostgreSQL type as ``format_type`` would name it: name, modifiers, array.

    ``name`` is opaque (verbatim) for a type this module does not know.

    Example::

        parse_type("VARCHAR(20)[]")  # PgType('character varying', (20,), True)
    """

    name: str
    modifiers: tuple[int, ...] = ()
    array: bool = False

    @property
    def text(self) -> str:
        """``format_type``'s spelling.

        Example::

            parse_type("NUMERIC(10, 2)").text  # 'numeric(10,2)'
        """
        mods = f"({','.join(str(m) for m in self.modifiers)})" if self.modifiers else ""
        if self.name.endswith(" time zone") and self.modifiers:
            head, _, zone = self.name.partition(" with")
            text = f"{head}{mods} with{zone}"
        else:
            text = f"{self.name}{mods}"
        return text + ("[]" if self.array else "")


def _lower_unquoted(text: str) -> str:
    # Quoted identifiers ("Status") keep their case; everything else is folded.
    parts = text.split('"')
    return '"'.join(p if i % 2 else p.lower() for i, p in enumerate(parts))


@lru_cache(maxsize=1024)  # a schema repeats a few type texts many times
def parse_type(text: str) -> PgType:
    """Parse PostgreSQL type text (SQLAlchemy's or ``format_type``'s spelling).

    Example::

        parse_type("TIMESTAMP(3) WITH TIME ZONE")
        # PgType('timestamp with time zone', (3,), False)
    """
    text = " ".join(_lower_unquoted(text.strip()).split())
    array = bool(_ARRAY.search(text))
    text = _ARRAY.sub("", text).strip()
    match = None if '"' in text else _SHAPE.match(text)
    if match is None:
        return PgType(text, (), array)
    head, mods, tail = match.groups()
    name = " ".join(f"{head} {tail}".split())
    try:
        modifiers = tuple(int(m) for m in mods.split(",")) if mods else ()
    except ValueError:
        return PgType(text, (), array)
    name = _ALIASES.get(name, name)
    if name == "float":
        # FLOAT(p): real up to 24 bits of precision, else double precision.
        name = "real" if modifiers and modifiers[0] <= 24 else "double precision"
        modifiers = ()
    elif name == "numeric" and len(modifiers) == 1:
        modifiers = (modifiers[0], 0)
    elif name in ("character", "bit") and not modifiers:
        modifiers = (1,)
    elif name in ("timestamp without time zone", "timestamp with time zone") and modifiers == (6,):
        modifiers = ()  # the default precision
    return PgType(name, modifiers, array)


def holds(wide: PgType, narrow: PgType) -> bool:
    """Whether every value of ``narrow`` converts into ``wide`` without loss, by an
    implicit or assignment cast.

    Example::

        holds(parse_type("TEXT"), parse_type("UUID"))  # True
        holds(parse_type("VARCHAR(20)"), parse_type("VARCHAR(200)"))  # False
    """
    if wide == narrow or (wide.name in _TEXT_TYPES and not wide.array):
        return True
    if wide.name == "character varying" and not wide.modifiers and not wide.array:
        return True  # unbounded VARCHAR is text
    if wide.array != narrow.array:
        return False
    w, n = wide, narrow
    if w.name == n.name:
        return _same_name_holds(w, n)
    if w.name == "character varying" and n.name == "character":
        return n.modifiers[0] <= w.modifiers[0]
    if w.name in _INTEGER_DIGITS and n.name in _INTEGER_DIGITS:
        return _INTEGER_DIGITS[w.name] >= _INTEGER_DIGITS[n.name]
    if w.name == "numeric" and n.name in _INTEGER_DIGITS:
        return not w.modifiers or w.modifiers[0] - w.modifiers[1] >= _INTEGER_DIGITS[n.name]
    if w.name in _FLOAT_HOLDS:
        return n.name in _FLOAT_HOLDS[w.name] or (w.name, n.name) == ("double precision", "real")
    if w.name == "timestamp with time zone" and n.name == "timestamp without time zone":
        return _precision(w) >= _precision(n)
    if w.name.startswith("timestamp ") and n.name == "date":
        return True
    if w.name == "time with time zone" and n.name == "time without time zone":
        return _precision(w) >= _precision(n)
    return (w.name, n.name) == ("json", "jsonb")


def _precision(t: PgType) -> int:
    return t.modifiers[0] if t.modifiers else 6


def _same_name_holds(w: PgType, n: PgType) -> bool:
    if w.name == "numeric":
        if not w.modifiers:
            return True
        if not n.modifiers:
            return False
        (wp, ws), (np, ns) = w.modifiers, n.modifiers
        return ws >= ns and wp - ws >= np - ns
    if w.name in ("character varying", "character", "bit varying"):
        if not w.modifiers:
            return True
        return bool(n.modifiers) and n.modifiers[0] <= w.modifiers[0]
    if w.name in (
        "timestamp without time zone",
        "timestamp with time zone",
        "time without time zone",
        "time with time zone",
    ):
        return _precision(w) >= _precision(n)
    return False


@dataclass(frozen=True)
class AuditTypeChange:
    """The decision for one audit column (see the module docstring).

    ``type`` is the PostgreSQL type text the audit column gets (``widen`` and ``text``),
    ``None`` when it keeps its type.  A widening usually takes the new type; two numeric
    types of which neither holds the other meet in one that holds both.

    Example::

        audit_column_type("numeric(10,2)", "NUMERIC(10, 3)")
        # AuditTypeChange(change='widen', type='NUMERIC(11, 3)')
    """

    change: Change
    type: str | None = None


@lru_cache(maxsize=1024)  # asked for every audit column of every run: few distinct pairs
def audit_column_type(found: str, wanted: str) -> AuditTypeChange:
    """What happens to an audit column of type ``found`` whose audited column is now of
    type ``wanted`` (see the module docstring).

    Example::

        audit_column_type("character varying(200)", "VARCHAR(20)").change  # 'keep'
        audit_column_type("integer", "UUID")  # AuditTypeChange(change='text', type='TEXT')
    """
    f, w = parse_type(found), parse_type(wanted)
    if f == w:
        return AuditTypeChange("same")
    if holds(f, w):
        return AuditTypeChange("keep")
    if holds(w, f):
        return AuditTypeChange("widen", wanted)
    both = _numeric_join(f, w)
    if both is not None:
        return AuditTypeChange("widen", both)
    return AuditTypeChange("text", "TEXT")


def _numeric_join(a: PgType, b: PgType) -> str | None:
    """``NUMERIC(p, s)`` holding two numeric or integer types, if there is one."""
    if a.array or b.array:
        return None
    parts = []
    for t in (a, b):
        if t.name in _INTEGER_DIGITS:
            parts.append((_INTEGER_DIGITS[t.name], 0))
        elif t.name == "numeric" and t.modifiers:
            precision, scale = t.modifiers
            parts.append((precision - scale, scale))
        else:
            return None
    digits, scale = max(p[0] for p in parts), max(p[1] for p in parts)
    if digits + scale > 1000:  # PostgreSQL's limit on a declared precision
        return "NUMERIC"
    return f"NUMERIC({digits + scale}, {scale})"


def audit_column_change(found: str, wanted: str) -> Change:
    """:func:`audit_column_type`'s decision alone.

    Example::

        audit_column_change("integer", "BIGINT")  # 'widen'
    """
    return audit_column_type(found, wanted).change


__all__ = [
    "AuditTypeChange",
    "Change",
    "PgType",
    "audit_column_change",
    "audit_column_type",
    "holds",
    "parse_type",
]
