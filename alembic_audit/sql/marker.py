"""The spec each generated function body carries, as JSON in a block comment.

The inspector reads it back from ``pg_proc.prosrc``, so autogenerate knows the exact
spec a function was made from (for reverse operations) and can tell a hand-edited
body from ours, and a body written by an earlier release (an older ``format``) from
both.  This module is the one place that writes and reads the marker.

Example::

    read_marker(spec_comment(spec)).spec == spec  # True
"""

from __future__ import annotations

import json
import re
from typing import NamedTuple

from ..core.spec import AuditSpec

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
    JSON text of the flat object ``data`` (the structural ``": "`` stays: a colon followed
    by a space is no bind parameter).

    Everything is translated, then each key's own separator is put back: the keys are
    our field names (none holds a character of ``_ESCAPES``), and inside a string value
    a quote is always escaped, so ``"key"\u003a `` appears nowhere else.
    """
    out = payload.translate(_TRANSLATION)
    for key in data:
        out = out.replace(f'"{key}"{_ESCAPES[":"]} ', f'"{key}": ', 1)
    return out


def read_marker(body: str) -> Marker | None:
    """The spec and format embedded in a function body by :func:`spec_comment`, if any.

    Bodies of the first release carry no ``format`` key: format 1.

    Example::

        read_marker(audit_function(spec).body).spec == spec  # True
    """
    match = _SPEC_COMMENT.search(body)
    if match is None:
        return None
    try:
        data = json.loads(match.group(1))
        fmt = data.pop(_FORMAT_KEY, 1)
        if not isinstance(data, dict) or not isinstance(fmt, int):
            return None
        return Marker(AuditSpec.from_dict(data), fmt)
    except (ValueError, TypeError, AttributeError):
        return None


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
    "read_marker",
    "spec_comment",
    "spec_from_function_body",
]
