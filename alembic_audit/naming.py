"""Names of the audit objects: naming conventions and PostgreSQL's 63-byte limit."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from .spec import DEFAULT_SCHEMA, Level

#: Default conventions, as documented by sqlalchemy-postgresql-audit 0.3.0.
DEFAULT_AUDIT_TABLE_NAMING_CONVENTION = "%(table_name)s_audit"
DEFAULT_AUDIT_TABLE_FUNCTION_NAMING_CONVENTION = "%(schema)s_%(table_name)s_audit"
DEFAULT_AUDIT_TABLE_TRIGGER_CONVENTION = "%(schema)s_%(table_name)s_audit"

CONVENTION_KEYS = {
    "audit.table": DEFAULT_AUDIT_TABLE_NAMING_CONVENTION,
    "audit.function": DEFAULT_AUDIT_TABLE_FUNCTION_NAMING_CONVENTION,
    "audit.trigger": DEFAULT_AUDIT_TABLE_TRIGGER_CONVENTION,
}

#: PostgreSQL's NAMEDATALEN - 1.
MAX_IDENTIFIER_BYTES = 63

_TRIGGER_SUFFIXES = {"insert": "_insert", "update": "_update", "delete": "_delete"}
_TRUNCATE_SUFFIX = "_truncate"


def fit_identifier(name: str) -> str:
    """Return ``name`` if it fits in 63 bytes, else a deterministic shortened name.

    PostgreSQL silently truncates long identifiers, so two long names sharing a
    prefix would collide.  Shortened names keep a readable prefix and end in 8 hex
    digits of the full name's MD5, so distinct long names stay distinct.

    Example::

        fit_identifier("a" * 70)  # 'aaaa…aaa_5c0a3b2e' (63 bytes)
    """
    raw = name.encode("utf-8")
    if len(raw) <= MAX_IDENTIFIER_BYTES:
        return name
    digest = hashlib.md5(raw, usedforsecurity=False).hexdigest()[:8]
    prefix = raw[: MAX_IDENTIFIER_BYTES - 9].decode("utf-8", errors="ignore")
    return f"{prefix}_{digest}"


def render_convention(
    naming_convention: Mapping[Any, Any],
    key: str,
    *,
    table_name: str,
    schema: str | None,
) -> str:
    """Apply the ``audit.*`` naming convention ``key`` to a table.

    Only ``table_name`` and ``schema`` are available, as in the seed; a schema of
    ``None`` is passed in as ``public``.

    Example::

        render_convention({}, "audit.table", table_name="item", schema=None)  # 'item_audit'
    """
    template = naming_convention.get(key, CONVENTION_KEYS[key])
    if callable(template):
        value = template(table_name=table_name, schema=schema or DEFAULT_SCHEMA)
    elif isinstance(template, str):
        try:
            value = template % {"table_name": table_name, "schema": schema or DEFAULT_SCHEMA}
        except (KeyError, ValueError, TypeError) as exc:
            raise ValueError(
                f"naming convention {key!r} = {template!r} is invalid for table "
                f"{table_name!r}: only %(table_name)s and %(schema)s are available ({exc})"
            ) from None
    else:
        raise ValueError(f"naming convention {key!r} must be a format string, got {template!r}")
    if not isinstance(value, str) or not value:
        raise ValueError(f"naming convention {key!r} produced an empty name for {table_name!r}")
    return value


def trigger_names_for(base: str, level: Level, record_truncate: bool) -> tuple[str, ...]:
    """Trigger names for a base name: one row trigger, or one per event at statement level.

    PostgreSQL forbids transition tables on a trigger with several events, so a
    statement-level audit needs a trigger per event.

    Example::

        trigger_names_for("t", "statement", True)
        # ('t_insert', 't_update', 't_delete', 't_truncate')
    """
    if level == "row":
        names = [fit_identifier(base)]
    else:
        names = [fit_identifier(base + sfx) for sfx in _TRIGGER_SUFFIXES.values()]
    if record_truncate:
        names.append(fit_identifier(base + _TRUNCATE_SUFFIX))
    return tuple(names)


def all_trigger_names(base: str) -> tuple[str, ...]:
    """Every trigger name a spec with this base could have created, any level.

    Used by idempotent installs, so that a level change leaves no stale trigger.

    Example::

        all_trigger_names("t")  # ('t', 't_truncate', 't_insert', 't_update', 't_delete')
    """
    names = dict.fromkeys(
        trigger_names_for(base, "row", True) + trigger_names_for(base, "statement", True)
    )
    return tuple(names)
