"""What differs between a wanted spec and what the database holds for its table, as data.

The spec embedded in the found function against the model's spec (``changed``), and
the found function and triggers against the definitions that spec renders
(``drift``: hand-made changes).

Example::

    differences(spec, catalog.by_table[spec.qualified_table]).describe()
    # "trigger 'public_item_audit_insert' disabled"
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..core.spec import AuditSpec
from ..reflection.inspector import FoundAudit
from ..sql.function import audit_function, guard_function
from ..sql.marker import MARKER_FORMAT, made_by_seed


@dataclass
class Diff:
    """Why a found audit function and triggers differ from a wanted spec.

    ``changed`` lists spec fields the models changed; ``drift`` lists hand-made
    changes in the database (then the raw old definitions go into the op, so the
    downgrade restores exactly what was there).

    Example::

        diff = Diff(changed=["level changed"])
        bool(diff), diff.describe()  # (True, 'level changed')
    """

    changed: list[str] = field(default_factory=list)
    drift: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.changed or self.drift)

    def describe(self) -> str:
        return "; ".join(self.changed + self.drift)


def differences(wanted: AuditSpec, found: FoundAudit) -> Diff:
    """Compare a wanted spec with what was found for its table.

    Example::

        differences(spec, catalog.by_table[spec.qualified_table]).describe()
        # "trigger 'public_item_audit_insert' disabled"
    """
    diff = Diff()
    function = found.function
    old = found.spec
    if function is None:
        diff.drift.append("trigger function missing")
        return diff
    name = ".".join(function.qualified_name)
    if old is None:
        if made_by_seed(function.source):
            # Not an edit: a table audited by the project this one continues.  The op
            # carries the function's and triggers' texts, so the downgrade restores them.
            names = [repr(t.name) for t in found.triggers]
            plural = "s" if len(names) > 1 else ""
            diff.drift.append(
                f"function {name!r}"
                + (f" and trigger{plural} {', '.join(names)}" if names else "")
                + " made by sqlalchemy-postgresql-audit: replacing them with this release's "
                "definition; the downgrade restores them"
            )
            return diff
        diff.drift.append(f"function {name!r} edited by hand")
        old = wanted
    else:
        if old != wanted:
            new_fields, old_fields = wanted.to_dict(), old.to_dict()
            diff.changed += [
                f"{k} changed" for k in new_fields if new_fields[k] != old_fields.get(k)
            ]
        expected_function = audit_function(old)
        if function.source != expected_function.body:
            if (function.marker_format or MARKER_FORMAT) < MARKER_FORMAT:
                # Kept with the drift: the op carries the old text for an exact downgrade.
                diff.drift.append(
                    f"function {name!r} made by an earlier alembic-audit release "
                    f"(format {function.marker_format}, now {MARKER_FORMAT})"
                )
            else:
                diff.drift.append(f"function {name!r} body edited")
        if function.header != expected_function.header:
            diff.drift.append(f"function {name!r} attributes changed")
    guard = found.guard_function
    if old.append_only and guard is not None:
        expected_guard = guard_function(old)
        if guard.source != expected_guard.body or guard.header != expected_guard.header:
            diff.drift.append(f"guard function {'.'.join(guard.qualified_name)!r} differs")
    expected = {t.key: t for t in found.expected_triggers(old)}
    for found_trigger in found.triggers:
        trigger = expected.pop(found_trigger.key, None)
        what = _trigger_label(old, found_trigger.key)
        if trigger is None:
            diff.drift.append(f"unexpected {what}")
        elif found_trigger.extra or found_trigger.trigger != trigger:
            diff.drift.append(f"{what} events or timing changed")
        elif found_trigger.enabled != "O":
            diff.drift.append(f"{what} disabled")
    diff.drift += [f"{_trigger_label(old, key)} missing" for key in expected]
    if old.row_security and found.row_security_current is False:
        diff.drift.append(
            f"row-level security of audit table {'.'.join(old.qualified_audit_table)!r} "
            "differs from the table's"
        )
    return diff


def _trigger_label(spec: AuditSpec, key: tuple[str, str, str]) -> str:
    """``trigger 'name'``, with its table when that is not the audited table itself (a
    partition, or the audit table for the guard)."""
    schema, table, name = key
    if (schema, table) == spec.qualified_table or (schema, table) == spec.qualified_audit_table:
        return f"trigger {name!r}"
    return f"trigger {name!r} on {schema}.{table}"


__all__ = ["Diff", "differences"]
