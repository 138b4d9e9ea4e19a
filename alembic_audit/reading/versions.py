"""One row's versions: the :class:`Version` record, diffs, and ``history()``.

A version is one audit row read as a state of the audited row: what the row held
after the change (``values``), what changed against the version before it
(``changes``), and who, when and in which transaction.  The audit rows record the
row after an INSERT, UPDATE or snapshot, and the row as it was for a DELETE;
TRUNCATE is one marker row for the whole table (data columns NULL), which a row's
history shows as the end of that row, like a delete.

Example::

    for version in alembic_audit.history(conn, Order, 7):
        print(version.operation, version.settings.get("username"), version.changes)
"""

from __future__ import annotations

import datetime
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, overload

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ..core.constants import OPERATION_COLUMN
from .connections import call
from .source import AuditedTable, audited_table

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

#: Operations after which the row exists (insert, update, snapshot).
PRESENT = ("I", "U", "S")
#: Operations after which it does not (delete, truncate).
GONE = ("D", "T")


@dataclass(frozen=True)
class Version:
    """One version of one row, from one audit row.

    ``values``: the audited columns (excluded columns are absent) as the row was after
    the change; for ``'D'`` as the row was when it was deleted, for ``'T'`` as it was
    when the table was truncated (in a timeline, a ``'T'`` marker belongs to no row:
    ``key`` and ``values`` hold None).  ``changes``: ``{column: (old, new)}`` against
    the previous version of the row; for a row's first version every column with old
    None (nothing is recorded before it: for a first version that is not an insert,
    None means unknown, not NULL); for ``'D'`` and ``'T'`` every column with new None.
    ``timestamp``: when the change was made (the change time, else the transaction's
    start time); ``transaction_timestamp``: the transaction's start.

    Example::

        v = alembic_audit.history(conn, Order, 7)[-1]
        v.operation, v.changes  # ('U', {'status': ('paid', 'shipped')})
        v.user, v.settings  # ('app', {'username': 'alice', 'request_id': UUID(...)})
    """

    table: str
    key: dict[str, Any]
    operation: str
    values: dict[str, Any]
    changes: dict[str, tuple[Any, Any]]
    audit_id: int | None
    transaction_id: int | None
    timestamp: datetime.datetime | None
    transaction_timestamp: datetime.datetime | None
    user: str | None
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def exists(self) -> bool:
        """Whether the row exists after this change (not after a delete or truncate)."""
        return self.operation in PRESENT

    def as_dict(self) -> dict[str, Any]:
        """Plain data (for JSON: ``json.dumps(v.as_dict(), default=str)``).

        Example::

            v.as_dict()["changes"]  # {'status': ['paid', 'shipped']}
        """
        return {
            "table": self.table,
            "key": dict(self.key),
            "operation": self.operation,
            "audit_id": self.audit_id,
            "transaction_id": self.transaction_id,
            "timestamp": self.timestamp,
            "transaction_timestamp": self.transaction_timestamp,
            "user": self.user,
            "settings": dict(self.settings),
            "values": dict(self.values),
            "changes": {c: [old, new] for c, (old, new) in self.changes.items()},
        }


def diff(
    old: Mapping[str, Any] | None, new: Mapping[str, Any] | None, columns: Sequence[str]
) -> dict[str, tuple[Any, Any]]:
    """``{column: (old, new)}`` of the columns whose values differ; with no old state
    (a first version) every column with old None, with no new state (a delete) every
    column with new None.

    Example::

        diff({"a": 1, "b": 2}, {"a": 1, "b": 3}, ["a", "b"])  # {'b': (2, 3)}
        diff(None, {"a": 1}, ["a"])  # {'a': (None, 1)}
    """
    if old is None:
        return {c: (None, new.get(c) if new is not None else None) for c in columns}
    if new is None:
        return {c: (old.get(c), None) for c in columns}
    return {c: (old.get(c), new.get(c)) for c in columns if not _same(old.get(c), new.get(c))}


def _same(a: Any, b: Any) -> bool:
    # A value whose == is not a plain bool (an array type of some library) counts as
    # changed unless it is the same object.
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return a is b


def version_from_row(
    source: AuditedTable,
    row: Mapping[str, Any],
    previous: Mapping[str, Any] | None,
    *,
    previous_exists: bool,
) -> Version:
    """A :class:`Version` from one audit row and the values of the version before it.

    ``previous``: that version's values (``None`` for none); ``previous_exists``:
    whether the row existed after it (not after a delete).

    Example::

        version_from_row(source, row, None, previous_exists=False)
    """
    columns = source.value_columns
    meta = source.meta_of(row)
    operation = meta["operation"]
    before = previous if previous_exists else None
    if operation == "T":
        # The marker holds no data: in a row's history, the row as it was truncated.
        values = dict(previous) if previous is not None else dict.fromkeys(columns)
        changes = diff(before, None, columns) if before is not None else {}
        key = {c: values.get(c) for c in source.key_columns}
    else:
        values = {c: row[c] for c in columns}
        key = {c: row[c] for c in source.key_columns if c in columns}
        # A delete records the row as it was deleted: that is the old side of its diff.
        changes = diff(values, None, columns) if operation == "D" else diff(before, values, columns)
    return Version(table=source.name, key=key, values=values, changes=changes, **meta)


def history_query(source: AuditedTable, key: Mapping[str, Any]) -> sa.Select[Any]:
    """The query :func:`history` sends: the key's audit rows and the table's TRUNCATE
    markers (key NULL, found through the same row index), in the order of the changes.

    Example::

        print(history_query(audited_table(Order), {"id": 7}))
    """
    a = source.audit
    first_key = source.key_columns[0]
    truncated = sa.and_(a.c[first_key].is_(None), a.c[OPERATION_COLUMN] == "T")
    return (
        sa.select(a).where(sa.or_(source.key_condition(key), truncated)).order_by(*source.order())
    )


def read_history(conn: Connection, source: AuditedTable, key: dict[str, Any]) -> list[Version]:
    """The versions of one row, oldest first (the sync implementation of :func:`history`).

    Example::

        read_history(conn, audited_table(Order), {"id": 7})
    """
    rows = conn.execute(history_query(source, key)).mappings().all()
    versions: list[Version] = []
    previous: dict[str, Any] | None = None
    exists = False
    for row in rows:
        operation = row[OPERATION_COLUMN]
        if operation == "T" and not exists:
            continue  # a truncate while this row did not exist is not its history
        version = version_from_row(source, dict(row), previous, previous_exists=exists)
        versions.append(version)
        previous, exists = version.values, version.exists
    return versions


@overload
def history(conn: Connection | Session, table: Any, pk: Any) -> list[Version]: ...
@overload
def history(
    conn: AsyncConnection | AsyncSession, table: Any, pk: Any
) -> Awaitable[list[Version]]: ...
def history(
    conn: Connection | Session | AsyncConnection | AsyncSession, table: Any, pk: Any
) -> list[Version] | Awaitable[list[Version]]:
    """One row's versions, oldest first, each with its diff against the one before.

    ``table``: an ORM class, a Core ``Table`` or a spec; ``pk``: the row's key, a
    scalar, a tuple or a dict (composite keys).  One indexed query (the audit table's
    ``row`` index), in ``audit_id`` order, which is the order the row changed in, also
    across overlapping transactions (without ``audit_id``: by change time).  With an
    async connection or session, await it.  Unknown keys give an empty list.

    Example::

        for v in alembic_audit.history(session, Order, 7):
            print(v.audit_id, v.operation, v.timestamp, v.settings["username"], v.changes)
        versions = await alembic_audit.history(async_session, OrderLine, (7, 2))
    """

    def run(sync: Connection) -> list[Version]:
        source = audited_table(table, sync, what="history")
        return read_history(sync, source, source.key_of(pk, "history"))

    return call(conn, run, what="history")


__all__ = [
    "GONE",
    "PRESENT",
    "Version",
    "diff",
    "history",
    "history_query",
    "read_history",
    "version_from_row",
]
