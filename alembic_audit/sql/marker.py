"""The spec each generated function body carries, as JSON in a block comment.

The inspector reads it back from ``pg_proc.prosrc``, so autogenerate knows the exact
spec a function was made from (for reverse operations) and can tell a hand-edited
body from ours, and a body written by an earlier release (an older ``format``) from
both.  This module is the one place that writes and reads the marker.

Example::

    read_marker(spec_comment(spec)).spec == spec  # True
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any, NamedTuple

from ..core.constants import INDEX_KINDS, LEVELS
from ..core.errors import AuditError
from ..core.options import check_definition, partition_option, setting_name_pattern
from ..core.spec import FIRST_RELEASE_VALUES, AuditSpec

_SETTING_NAME = setting_name_pattern()

# The INSERT every trigger function of sqlalchemy-postgresql-audit (0.1 to 0.5.2) holds:
# its template lists the audit columns first, unquoted (0.1 had no audit_current_user).
_SEED_INSERT = re.compile(r"INSERT INTO .+ \(audit_operation, audit_operation_timestamp[,)]")

#: Text every marked body contains; the inspector's catalog query looks for it.
SPEC_MARKER = "/* alembic_audit spec {"

#: The version of the function bodies this release writes.  Bodies of an older format
#: (1: the first release, which typed its variables with %TYPE) are upgraded by
#: autogenerate like a changed spec, and their exact text kept for the downgrade.
MARKER_FORMAT = 2

_PREFIX = "/* alembic_audit spec "
_SPEC_COMMENT = re.compile(r"/\* alembic_audit spec (\{.*?\}) \*/")
_FORMAT_KEY = "format"

# Written as JSON escapes, so that no path a user runs the SQL through misreads them:
# ``*`` (a comment could end or, PostgreSQL nesting block comments, begin), ``:`` (a
# ``text()`` bind parameter), ``%`` (a format character for ``DDL()`` and DBAPIs).
_ESCAPES = {"*": "\\u002a", ":": "\\u003a", "%": "\\u0025"}
_TRANSLATION = str.maketrans(_ESCAPES)


class Marker(NamedTuple):
    """What a function body's marker says: the spec, and the format it was written in.

    Example::

        read_marker(body)  # Marker(spec=AuditSpec(...), format=2)
    """

    spec: AuditSpec
    format: int


def spec_comment(spec: AuditSpec) -> str:
    """A block comment carrying the spec as JSON, placed inside the function body.

    Separators are ``", "`` and ``": "`` and the characters above are JSON escapes, so
    the comment holds neither ``*/`` nor ``/*``, no ``:word`` and no ``%``, whatever
    the names are.

    Example::

        spec_comment(spec)  # '/* alembic_audit spec {"append_only": false, ...} */'
    """
    data = {**spec.to_dict(), _FORMAT_KEY: MARKER_FORMAT}
    payload = json.dumps(data, sort_keys=True, ensure_ascii=True, separators=(", ", ": "))
    return _PREFIX + _escape_strings(payload, data) + " */"


def _escape_strings(payload: str, data: dict[str, object]) -> str:
    """Replace the characters of ``_ESCAPES`` inside the JSON strings of ``payload``, the
    JSON text of ``data`` (the structural ``": "`` stays: a colon followed by a space is
    no bind parameter).

    Everything is translated, then each key's own separator is put back: the keys are
    our field names (none holds a character of ``_ESCAPES``), and inside a string value
    a quote is always escaped, so ``"key"\u003a `` appears nowhere else.
    """
    out = payload.translate(_TRANSLATION)
    for key in _keys(data):
        out = out.replace(f'"{key}"{_ESCAPES[":"]} ', f'"{key}": ')
    return out


def _keys(value: object) -> set[str]:
    """Every key of ``value``'s objects, nested ones included (``partition``'s)."""
    if isinstance(value, dict):
        return {str(k) for k in value} | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, (list, tuple)):
        return {k for v in value for k in _keys(v)}
    return set()


class MarkerError(AuditError):
    """A function body carries a spec comment that is not one this release can trust.

    Example::

        try:
            check_marker(body)
        except MarkerError as exc:
            print(exc)  # spec comment: 'table_name' must be a non-empty string, got 5
    """


#: Fields every marker has, with the check each value must pass.
_NAME = "a non-empty string"
_OPTIONAL_NAME = "a non-empty string or null"
_BOOL = "true or false"
_REQUIRED = (
    "table_name",
    "schema",
    "audit_table_name",
    "audit_schema",
    "function_name",
    "trigger_name",
    "columns",
)


def _is_name(value: object) -> bool:
    return isinstance(value, str) and value != "" and "\x00" not in value


def _check_pairs(key: str, value: object, size: int) -> list[list[Any]]:
    if not isinstance(value, list):
        raise MarkerError(f"spec comment: {key!r} must be a list, got {value!r}")
    for item in value:
        if not isinstance(item, list) or len(item) != size:
            raise MarkerError(
                f"spec comment: {key!r} entries must be lists of {size}, got {item!r}"
            )
    return value


def _checked_spec(data: object) -> AuditSpec:
    """The spec of a decoded marker, every field checked for its type and value.

    A body is text anybody with CREATE on some schema can write; nothing in it is
    trusted before it passes here (a number where a name belongs used to crash
    autogenerate with a TypeError).
    """
    if not isinstance(data, dict):
        raise MarkerError(f"spec comment: a JSON object expected, got {type(data).__name__}")
    unknown = sorted(set(data) - {f.name for f in dataclasses.fields(AuditSpec)})
    if unknown:
        raise MarkerError(f"spec comment: unknown field(s) {unknown}")
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise MarkerError(f"spec comment: missing field(s) {missing}")
    for key in ("table_name", "audit_table_name", "function_name", "trigger_name"):
        if not _is_name(data[key]):
            raise MarkerError(f"spec comment: {key!r} must be {_NAME}, got {data[key]!r}")
    for key in ("schema", "audit_schema", "function_schema"):
        if data.get(key) is not None and not _is_name(data[key]):
            raise MarkerError(f"spec comment: {key!r} must be {_OPTIONAL_NAME}, got {data[key]!r}")
    for key in (
        "skip_unchanged",
        "record_truncate",
        "security_definer",
        "append_only",
        "partitioned",
        "row_security",
        "identity",
        "transaction_id",
        "change_timestamp",
        "application_name",
        "client_address",
        "statement_text",
    ):
        if key in data and not isinstance(data[key], bool):
            raise MarkerError(f"spec comment: {key!r} must be {_BOOL}, got {data[key]!r}")
    indexes = data.get("indexes", list(INDEX_KINDS))
    if not isinstance(indexes, list) or not all(i in INDEX_KINDS for i in indexes):
        raise MarkerError(
            f"spec comment: 'indexes' must be a list of {list(INDEX_KINDS)}, got {indexes!r}"
        )
    if data.get("level", "statement") not in LEVELS:
        raise MarkerError(
            f"spec comment: 'level' must be one of {list(LEVELS)}, got {data['level']!r}"
        )
    columns = _check_pairs("columns", data["columns"], 2)
    if not columns:
        raise MarkerError("spec comment: 'columns' is empty")
    for name, type_ in columns:
        if not (_is_name(name) and _is_name(type_)):
            raise MarkerError(f"spec comment: column {[name, type_]!r} needs a name and a type")
    names = [c[0] for c in columns]
    if len(set(names)) != len(names):
        raise MarkerError(f"spec comment: 'columns' names a column twice: {names!r}")
    for name, type_, required in _check_pairs(
        "session_settings", data.get("session_settings", []), 3
    ):
        if not (
            isinstance(name, str)
            and _SETTING_NAME.fullmatch(name)
            and _is_name(type_)
            and isinstance(required, bool)
        ):
            raise MarkerError(
                f"spec comment: session setting {[name, type_, required]!r} needs an identifier, "
                "a type and true or false"
            )
    try:
        partition_option("spec comment", data.get("partition"))
    except AuditError as exc:
        raise MarkerError(str(exc)) from None
    primary_key = data.get("primary_key", [])
    if not isinstance(primary_key, list) or not all(_is_name(c) for c in primary_key):
        raise MarkerError(
            f"spec comment: 'primary_key' must be a list of names, got {primary_key!r}"
        )
    try:
        check_definition(
            "spec comment",
            names,
            data.get("level", "statement"),
            data.get("skip_unchanged", False),
            primary_key,
            security_definer=data.get("security_definer", True),
            row_security=data.get("row_security", False),
        )
    except AuditError as exc:
        raise MarkerError(str(exc)) from None
    return AuditSpec.from_dict(data)


def check_marker(body: str) -> Marker | None:
    """The spec and format embedded in a function body by :func:`spec_comment`.

    ``None`` when the body carries no spec comment.  A comment that is there but is
    not a valid spec (bad JSON, an unknown or missing field, a wrong type, a format
    newer than this release's) raises :class:`MarkerError` saying what is wrong.
    Bodies of the first release carry no ``format`` key: format 1.

    Example::

        check_marker(audit_function(spec).body).spec == spec  # True
    """
    match = _SPEC_COMMENT.search(body)
    if match is None:
        return None
    try:
        data = json.loads(match.group(1))
    except ValueError as exc:
        raise MarkerError(f"spec comment: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise MarkerError(f"spec comment: a JSON object expected, got {type(data).__name__}")
    fmt = data.pop(_FORMAT_KEY, 1)
    if type(fmt) is not int or fmt < 1:
        raise MarkerError(f"spec comment: 'format' must be a positive integer, got {fmt!r}")
    if fmt > MARKER_FORMAT:
        raise MarkerError(
            f"spec comment: format {fmt} was written by a newer alembic-audit (this one "
            f"writes format {MARKER_FORMAT}); upgrade alembic-audit"
        )
    if fmt == 1:
        # Format 1 is the first release: its spec says what its function does (and the
        # models' new defaults show as changes).
        data = {**FIRST_RELEASE_VALUES, **data}
        data["indexes"] = list(data["indexes"])
    return Marker(_checked_spec(data), fmt)


def read_marker(body: str) -> Marker | None:
    """Like :func:`check_marker`, but ``None`` for a comment that is not a valid spec.

    Example::

        read_marker(audit_function(spec).body).spec == spec  # True
    """
    try:
        return check_marker(body)
    except MarkerError:
        return None


def made_by_seed(body: str) -> bool:
    """Whether a function body carrying no marker was written by sqlalchemy-postgresql-audit,
    the project this one continues (its functions carry no spec).

    Example::

        made_by_seed("... INSERT INTO bar_audit (audit_operation, audit_operation_timestamp, ...")
    """
    return "TG_OP" in body and _SEED_INSERT.search(body) is not None and read_marker(body) is None


def spec_from_function_body(body: str) -> AuditSpec | None:
    """The spec embedded in a function body, if any (see :func:`read_marker`).

    Example::

        spec_from_function_body(audit_function(spec).body) == spec  # True
    """
    marker = read_marker(body)
    return marker.spec if marker is not None else None


__all__ = [
    "MARKER_FORMAT",
    "SPEC_MARKER",
    "Marker",
    "made_by_seed",
    "MarkerError",
    "check_marker",
    "read_marker",
    "spec_comment",
    "spec_from_function_body",
]
