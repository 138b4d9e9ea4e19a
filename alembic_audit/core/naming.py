"""Names of the audit objects: naming conventions and PostgreSQL's 63-byte limit.

Example::

    audit_names({}, "item", None)
    # AuditNames(audit_table_name='item_audit', function_name='public_item_audit',
    #            trigger_name='public_item_audit')
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, NamedTuple

from .constants import DEFAULT_SCHEMA, MAX_IDENTIFIER_BYTES, Level
from .errors import AuditError

#: Default conventions, as documented by sqlalchemy-postgresql-audit 0.3.0.
DEFAULT_AUDIT_TABLE_NAMING_CONVENTION = "%(table_name)s_audit"
DEFAULT_AUDIT_TABLE_FUNCTION_NAMING_CONVENTION = "%(schema)s_%(table_name)s_audit"
DEFAULT_AUDIT_TABLE_TRIGGER_CONVENTION = "%(schema)s_%(table_name)s_audit"

CONVENTION_KEYS = {
    "audit.table": DEFAULT_AUDIT_TABLE_NAMING_CONVENTION,
    "audit.function": DEFAULT_AUDIT_TABLE_FUNCTION_NAMING_CONVENTION,
    "audit.trigger": DEFAULT_AUDIT_TABLE_TRIGGER_CONVENTION,
}

_TRIGGER_SUFFIXES = ("_insert", "_update", "_delete")
_TRUNCATE_SUFFIX = "_truncate"


def label(schema: str | None, name: str) -> str:
    """``schema.name`` for messages, or just ``name`` without a schema.

    Example::

        label("sales", "item")  # 'sales.item'
        label(None, "item")  # 'item'
    """
    return f"{schema}.{name}" if schema else name


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


def fit_with_suffix(base: str, suffix: str) -> str:
    """``base + suffix`` if it fits in 63 bytes, else ``base`` shortened (a prefix and 8
    hex digits of its MD5) so that the suffix stays whole and readable.

    Partition names end in the interval they hold (``_p2025_01``), and that part must
    survive: maintenance reads partitions by their bounds, people by their names.

    Example::

        fit_with_suffix("item_audit", "_p2025_01")  # 'item_audit_p2025_01'
    """
    name = base + suffix
    if len(name.encode("utf-8")) <= MAX_IDENTIFIER_BYTES:
        return name
    room = MAX_IDENTIFIER_BYTES - len(suffix.encode("utf-8")) - 9
    digest = hashlib.md5(base.encode("utf-8"), usedforsecurity=False).hexdigest()[:8]
    prefix = base.encode("utf-8")[:room].decode("utf-8", errors="ignore")
    return f"{prefix}_{digest}{suffix}"


def stored_name(name: str) -> str:
    """``name`` as PostgreSQL stores it: cut to 63 bytes, at a character boundary.

    Example::

        len(stored_name("é" * 40).encode())  # 62
    """
    return name.encode("utf-8")[:MAX_IDENTIFIER_BYTES].decode("utf-8", errors="ignore")


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
    values = {"table_name": table_name, "schema": schema or DEFAULT_SCHEMA}
    if callable(template):
        value = template(**values)
    elif isinstance(template, str):
        try:
            value = template % values
        except (KeyError, ValueError, TypeError) as exc:
            raise AuditError(
                f"naming convention {key!r} = {template!r} is invalid for table "
                f"{table_name!r}: only %(table_name)s and %(schema)s are available ({exc})"
            ) from None
    else:
        raise AuditError(f"naming convention {key!r} must be a format string, got {template!r}")
    if not isinstance(value, str) or not value:
        raise AuditError(f"naming convention {key!r} produced an empty name for {table_name!r}")
    return value


class AuditNames(NamedTuple):
    """The names a table's audit objects get from the naming conventions.

    Example::

        audit_names({}, "item", "sales").function_name  # 'sales_item_audit'
    """

    audit_table_name: str
    function_name: str
    trigger_name: str


def audit_names(
    naming_convention: Mapping[Any, Any], table_name: str, schema: str | None
) -> AuditNames:
    """The audit table, function and trigger names of a table, fitted to 63 bytes.

    The one place these names are derived: from table options, from op arguments
    (with ``{}``, the default conventions) and when autogenerate looks for the audit
    table of a table that is no longer audited.

    Example::

        audit_names({"audit.table": "%(table_name)s_history"}, "item", None).audit_table_name
        # 'item_history'
    """
    names = [
        fit_identifier(
            render_convention(naming_convention, key, table_name=table_name, schema=schema)
        )
        for key in ("audit.table", "audit.function", "audit.trigger")
    ]
    return AuditNames(*names)


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
        names = [fit_identifier(base + sfx) for sfx in _TRIGGER_SUFFIXES]
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


__all__ = [
    "CONVENTION_KEYS",
    "DEFAULT_AUDIT_TABLE_FUNCTION_NAMING_CONVENTION",
    "DEFAULT_AUDIT_TABLE_NAMING_CONVENTION",
    "DEFAULT_AUDIT_TABLE_TRIGGER_CONVENTION",
    "AuditNames",
    "all_trigger_names",
    "audit_names",
    "fit_identifier",
    "fit_with_suffix",
    "label",
    "render_convention",
    "stored_name",
    "trigger_names_for",
]
