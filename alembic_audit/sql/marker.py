"""The spec each generated function body carries, as JSON in a block comment.

The inspector reads it back from ``pg_proc.prosrc``, so autogenerate knows the exact
spec a function was made from (for reverse operations) and can tell a hand-edited
body from ours.  This module is the one place that writes and reads the marker.

Example::

    spec_from_function_body(spec_comment(spec)) == spec  # True
"""

from __future__ import annotations

import json
import re

from ..core.spec import AuditSpec

#: Text every marked body contains; the inspector's catalog query looks for it.
SPEC_MARKER = "/* alembic_audit spec {"

_PREFIX = "/* alembic_audit spec "
_SPEC_COMMENT = re.compile(r"/\* alembic_audit spec (\{.*?\}) \*/")


def spec_comment(spec: AuditSpec) -> str:
    """A block comment carrying the spec as JSON, placed inside the function body.

    ``*`` is written as the JSON escape ``\\u002a``, so the JSON can contain neither
    ``*/`` nor ``/*`` (PostgreSQL nests block comments: an escaped ``\\/`` followed
    by ``*`` would still open one), whatever the names are.

    Example::

        spec_comment(spec)  # '/* alembic_audit spec {"append_only":false,...} */'
    """
    payload = json.dumps(spec.to_dict(), sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    return _PREFIX + payload.replace("*", "\\u002a") + " */"


def spec_from_function_body(body: str) -> AuditSpec | None:
    """The spec embedded in a trigger function body by :func:`spec_comment`, if any.

    Example::

        spec_from_function_body(audit_function(spec).body) == spec  # True
    """
    match = _SPEC_COMMENT.search(body)
    if match is None:
        return None
    try:
        return AuditSpec.from_dict(json.loads(match.group(1)))
    except (ValueError, TypeError):
        return None


__all__ = ["SPEC_MARKER", "spec_comment", "spec_from_function_body"]
