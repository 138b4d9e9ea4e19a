"""``changes``: one timeline across every audited table, read in keyset pages.

The timeline's order is the time of each change (:attr:`AuditSpec.time_column`), then
the audited table's name, then ``audit_id``: for one row, the order it changed in.
Audit rows written before the change time was recorded (NULL there: audit tables of
the first release) come first, table by table, in ``audit_id`` order.

A page is two round trips whatever its depth: one query over every table (a branch
per table, each an ordered read of the audit table's ``time`` index, btree on (time,
``audit_id``), from the cursor on, ``LIMIT`` the page size) gives the page's
positions; one query per table present in the page reads those audit rows by their
physical address (``ctid``, a TID scan) together with each row's previous version
(through the ``row`` index) for the diffs.  No ``OFFSET``: a cursor names the last
row read, and the next page starts after it.

Example::

    page = alembic_audit.changes(conn, metadata, since=yesterday, limit=50)
    while True:
        for v in page.items:
            print(v.table, v.key, v.operation, v.changes)
        if page.next_cursor is None:
            break
        page = alembic_audit.changes(conn, metadata, since=yesterday, after=page.next_cursor)
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
from collections.abc import Awaitable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, overload

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import UserDefinedType

from ..core.constants import (
    ID_COLUMN,
    OPERATION_COLUMN,
    TIMESTAMP_COLUMN,
    TRANSACTION_COLUMN,
    USER_COLUMN,
)
from ..core.errors import AuditError
from ..types import XID8
from .connections import call
from .source import AuditedTable, audited_table, audited_tables_of
from .versions import PRESENT, Version, version_from_row

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

#: The alias of the audit table in the timeline's queries (its ``ctid`` is named so).
ALIAS = "a"

#: Cursor format version, so that a cursor from another release is refused clearly.
CURSOR_FORMAT = 1


class TID(UserDefinedType[str]):
    """PostgreSQL's ``tid`` (a row's physical address), for ``ctid = ANY(...)``.

    Example::

        sa.cast(sa.literal(["(0,1)"], ARRAY(sa.Text)), ARRAY(TID()))
    """

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "TID"


@dataclass(frozen=True)
class Page:
    """One page of :func:`changes`: its versions, oldest first, and the cursor of the
    next page (``None`` on the last page).

    Example::

        page = alembic_audit.changes(conn, metadata, limit=10)
        [(v.table, v.operation) for v in page.items], page.next_cursor
    """

    items: list[Version]
    next_cursor: str | None


@dataclass(frozen=True)
class Position:
    """Where a row sits in the timeline: the null-time segment first, then by time;
    within equal times, by table name then ``audit_id``.  A cursor is its encoding.

    Example::

        Position.decode(page.next_cursor).audit_id  # 42
    """

    time: datetime.datetime | None
    table: str
    audit_id: int

    def encode(self) -> str:
        data = {
            "f": CURSOR_FORMAT,
            "t": self.time.isoformat() if self.time is not None else None,
            "n": self.table,
            "k": self.audit_id,
        }
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, cursor: str) -> Position:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            data = json.loads(raw)
            if data.get("f") != CURSOR_FORMAT:
                raise ValueError(data.get("f"))
            time = datetime.datetime.fromisoformat(data["t"]) if data["t"] is not None else None
            return cls(time, str(data["n"]), int(data["k"]))
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
            raise AuditError(
                f"changes: after={cursor!r} is not a cursor of changes(); pass a page's "
                "next_cursor unchanged"
            ) from None


def _filters(
    source: AuditedTable,
    a: Any,
    *,
    transaction_id: int | None,
    user: str | None,
    settings: Mapping[str, Any],
) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    if transaction_id is not None:
        out.append(a.c[TRANSACTION_COLUMN] == sa.literal(int(transaction_id), XID8()))
    if user is not None:
        out.append(a.c[USER_COLUMN] == sa.literal(user, sa.String()))
    for name, value in settings.items():
        column = a.c[source.setting_columns[name]]
        out.append(column == sa.bindparam(None, value, type_=column.type))
    return out


def _branches(
    source: AuditedTable,
    rank: int,
    cursor: Position | None,
    cursor_rank: float,
    since: datetime.datetime | None,
    until: datetime.datetime | None,
    filters: Any,
    limit: int,
) -> list[sa.Select[Any]]:
    """The positions of the next ``limit`` rows of one table after the cursor."""
    a = source.audit.alias(ALIAS)
    common = filters(source, a)
    time = a.c[source.spec.time_column]
    audit_id = a.c[ID_COLUMN]
    ctid = sa.cast(sa.literal_column(f"{ALIAS}.ctid"), sa.Text)
    out: list[sa.Select[Any]] = []
    in_null_segment = cursor is not None and cursor.time is None
    nullable_time = source.spec.time_column != TIMESTAMP_COLUMN
    if nullable_time and (cursor is None or in_null_segment):
        # Rows written before the change time was recorded: read by the transaction's
        # time for since/until, ordered by audit_id (the time index holds them, NULL,
        # in audit_id order).
        where = [time.is_(None), *common]
        if since is not None:
            where.append(a.c[TIMESTAMP_COLUMN] >= since)
        if until is not None:
            where.append(a.c[TIMESTAMP_COLUMN] < until)
        skip = False
        if cursor is not None:
            if rank == cursor_rank:
                where.append(audit_id > cursor.audit_id)
            elif rank < cursor_rank:
                skip = True
        if not skip:
            out.append(
                sa.select(
                    sa.literal(0).label("segment"),
                    sa.null().cast(sa.DateTime(timezone=True)).label("time"),
                    sa.literal(rank).label("rank"),
                    audit_id.label("audit_id"),
                    ctid.label("tid"),
                )
                .where(*where)
                .order_by(time, audit_id)
                .limit(limit)
            )
    where = [time.is_not(None), *common]
    if since is not None:
        where.append(time >= since)
    if until is not None:
        where.append(time < until)
    if cursor is not None and cursor.time is not None:
        at = sa.literal(cursor.time, sa.DateTime(timezone=True))
        if rank > cursor_rank:
            where.append(time >= at)
        elif rank < cursor_rank:
            where.append(time > at)
        else:
            where.append(sa.tuple_(time, audit_id) > sa.tuple_(at, sa.literal(cursor.audit_id)))
    out.append(
        sa.select(
            sa.literal(1).label("segment"),
            time.label("time"),
            sa.literal(rank).label("rank"),
            audit_id.label("audit_id"),
            ctid.label("tid"),
        )
        .where(*where)
        .order_by(time, audit_id)
        .limit(limit)
    )
    return out


def timeline_query(
    sources: list[AuditedTable],
    *,
    cursor: Position | None = None,
    since: datetime.datetime | None = None,
    until: datetime.datetime | None = None,
    transaction_id: int | None = None,
    user: str | None = None,
    settings: Mapping[str, Any] | None = None,
    limit: int = 100,
) -> sa.Select[Any]:
    """The first query of a page: the positions (segment, time, table rank,
    ``audit_id``, ``ctid``) of the next ``limit`` rows across ``sources`` (sorted by
    name: their rank is their index).

    Example::

        print(timeline_query(sources, limit=10))
    """
    names = [s.name for s in sources]
    if cursor is None:
        cursor_rank: float = -1
    elif cursor.table in names:
        cursor_rank = names.index(cursor.table)
    else:  # a table left out since: between its neighbours by name
        cursor_rank = sum(1 for n in names if n < cursor.table) - 0.5

    def filters(source: AuditedTable, a: Any) -> list[ColumnElement[bool]]:
        return _filters(
            source, a, transaction_id=transaction_id, user=user, settings=settings or {}
        )

    branches = [
        branch
        for rank, source in enumerate(sources)
        for branch in _branches(source, rank, cursor, cursor_rank, since, until, filters, limit)
    ]
    page = sa.union_all(*branches).subquery("page")
    return (
        sa.select(page)
        .order_by(page.c.segment, page.c.time, page.c.rank, page.c.audit_id)
        .limit(limit)
    )


def rows_query(source: AuditedTable, tids: list[str], audit_ids: list[int]) -> sa.Select[Any]:
    """The second query of a page, per table: the page's audit rows of ``source`` by
    physical address (a TID scan), each with the previous version of its row (through
    the ``row`` index) for its diff.  The audit ids are checked too, so a row moved
    since the first query (``VACUUM FULL``) is not mistaken for another.

    Example::

        print(rows_query(source, ["(0,1)"], [1]))
    """
    a = source.audit.alias(ALIAS)
    ctid: ColumnElement[Any] = sa.literal_column(f"{ALIAS}.ctid")
    tid_array = sa.cast(sa.literal(tids, postgresql.ARRAY(sa.Text)), postgresql.ARRAY(TID()))
    where = (
        ctid == sa.any_(tid_array),
        a.c[ID_COLUMN] == sa.any_(sa.literal(audit_ids, postgresql.ARRAY(sa.BigInteger))),
    )
    keys = source.key_columns
    if not keys or not set(keys) <= set(source.value_columns):
        return sa.select(a).where(*where)  # no key: no previous version to diff with
    p = source.audit.alias("previous")
    previous = (
        sa.select(p)
        .where(*(p.c[k] == a.c[k] for k in keys), p.c[ID_COLUMN] < a.c[ID_COLUMN])
        .order_by(p.c[ID_COLUMN].desc())
        .limit(1)
        .lateral("previous")
    )
    return sa.select(a, previous).select_from(a.outerjoin(previous, sa.true())).where(*where)


def _select_sources(
    sources: list[AuditedTable], tables: Iterable[Any] | None, what: str
) -> list[AuditedTable]:
    if tables is None:
        return sources
    by_name = {s.name: s for s in sources}
    chosen: list[AuditedTable] = []
    for t in [tables] if isinstance(tables, str) else tables:
        if isinstance(t, str):
            name = t if "." in t else f"public.{t}"
            found = by_name.get(name) or next((s for s in sources if s.spec.table_name == t), None)
        else:
            found = next(
                (s for s in sources if s.table is t or s.spec is t or s is t), None
            ) or next((s for s in sources if s.name == _name_of(t)), None)
        if found is None:
            raise AuditError(
                f"{what}: tables=[...] names {t!r}, which is not among the audited tables "
                f"{sorted(by_name)}"
            )
        if found not in chosen:
            chosen.append(found)
    return chosen


def _name_of(obj: Any) -> str | None:
    try:
        return audited_table(obj, what="changes").name
    except AuditError:
        return None


def read_changes(
    conn: Connection,
    metadata: Any,
    *,
    since: datetime.datetime | None,
    until: datetime.datetime | None,
    transaction_id: int | None,
    user: str | None,
    settings: Mapping[str, Any] | None,
    tables: Iterable[Any] | None,
    after: str | None,
    limit: int,
) -> Page:
    """The sync implementation of :func:`changes`.

    Example::

        read_changes(conn, metadata, since=None, until=None, transaction_id=None,
                     user=None, settings=None, tables=None, after=None, limit=100)
    """
    what = "changes"
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise AuditError(f"{what}: limit must be a positive int, got {limit!r}")
    for name, value in (("since", since), ("until", until)):
        if value is not None and not isinstance(value, datetime.datetime):
            raise AuditError(f"{what}: {name} must be a datetime, got {value!r}")
    sources = _select_sources(audited_tables_of(metadata, conn, what=what), tables, what)
    settings = dict(settings or {})
    if settings:
        recording = [s for s in sources if set(settings) <= set(s.setting_columns)]
        if not recording:
            raise AuditError(
                f"{what}: no audited table records the setting(s) {sorted(settings)}; the "
                f"settings recorded are {sorted({n for s in sources for n in s.setting_columns})}"
            )
        # A table that does not record a setting has no row with that value.
        sources = recording
    for source in sources:
        source.need_identity(what)
        if transaction_id is not None:
            source.need_transaction_id(what)
    sources = sorted(sources, key=lambda s: s.name)
    cursor = Position.decode(after) if after is not None else None
    query = timeline_query(
        sources,
        cursor=cursor,
        since=since,
        until=until,
        transaction_id=transaction_id,
        user=user,
        settings=settings,
        limit=limit + 1,
    )
    positions = conn.execute(query).all()
    more = len(positions) > limit
    positions = positions[:limit]
    found: dict[tuple[int, int], tuple[Any, Any]] = {}
    for rank in sorted({p.rank for p in positions}):
        source = sources[rank]
        mine = [p for p in positions if p.rank == rank]
        names = [c.name for c in source.audit.c]
        for row in conn.execute(
            rows_query(source, [p.tid for p in mine], [p.audit_id for p in mine])
        ):
            current = dict(zip(names, row[: len(names)], strict=True))
            prev = dict(zip(names, row[len(names) :], strict=True)) if len(row) > len(names) else {}
            found[(rank, current[ID_COLUMN])] = (
                current,
                prev if prev.get(ID_COLUMN) is not None else None,
            )
    items: list[Version] = []
    for p in positions:
        if (p.rank, p.audit_id) not in found:
            raise AuditError(
                f"{what}: audit row {p.audit_id} of {sources[p.rank].name} moved while the page "
                "was read (the audit table was rewritten); read the page again"
            )
        current, prev = found[(p.rank, p.audit_id)]
        source = sources[p.rank]
        previous_values = {c: prev[c] for c in source.value_columns} if prev is not None else None
        exists = prev is not None and prev[OPERATION_COLUMN] in PRESENT
        items.append(version_from_row(source, current, previous_values, previous_exists=exists))
        if current[OPERATION_COLUMN] == "T":
            # In the timeline a TRUNCATE marker belongs to no row.
            items[-1] = _table_marker(source, items[-1])
    next_cursor = None
    if more and positions:
        last = positions[-1]
        next_cursor = Position(last.time, sources[last.rank].name, last.audit_id).encode()
    return Page(items, next_cursor)


def _table_marker(source: AuditedTable, version: Version) -> Version:
    return Version(
        table=version.table,
        key=dict.fromkeys(source.key_columns),
        operation="T",
        values=dict.fromkeys(source.value_columns),
        changes={},
        audit_id=version.audit_id,
        transaction_id=version.transaction_id,
        timestamp=version.timestamp,
        transaction_timestamp=version.transaction_timestamp,
        user=version.user,
        settings=version.settings,
    )


@overload
def changes(
    conn: Connection | Session,
    metadata: Any,
    *,
    since: datetime.datetime | None = None,
    until: datetime.datetime | None = None,
    transaction_id: int | None = None,
    user: str | None = None,
    settings: Mapping[str, Any] | None = None,
    tables: Iterable[Any] | None = None,
    after: str | None = None,
    limit: int = 100,
) -> Page: ...
@overload
def changes(
    conn: AsyncConnection | AsyncSession,
    metadata: Any,
    *,
    since: datetime.datetime | None = None,
    until: datetime.datetime | None = None,
    transaction_id: int | None = None,
    user: str | None = None,
    settings: Mapping[str, Any] | None = None,
    tables: Iterable[Any] | None = None,
    after: str | None = None,
    limit: int = 100,
) -> Awaitable[Page]: ...
def changes(
    conn: Connection | Session | AsyncConnection | AsyncSession,
    metadata: Any,
    *,
    since: datetime.datetime | None = None,
    until: datetime.datetime | None = None,
    transaction_id: int | None = None,
    user: str | None = None,
    settings: Mapping[str, Any] | None = None,
    tables: Iterable[Any] | None = None,
    after: str | None = None,
    limit: int = 100,
) -> Page | Awaitable[Page]:
    """The changes to every audited table of ``metadata``, oldest first, a page at a time.

    ``metadata``: a ``MetaData`` (its audited tables) or a list of audited tables.
    Filters: ``since`` (inclusive) and ``until`` (exclusive) on the time of the change;
    ``transaction_id``; ``user``, the database role that wrote (``audit_current_user``);
    ``settings``, ``{name: value}`` of session settings (tables that do not record a
    setting are left out); ``tables``, a subset (tables, ORM classes or names).
    ``after``: a page's ``next_cursor``; pass the same filters with it.  Each page is
    read in constant time at any depth (keyset on the ``time`` index, never ``OFFSET``);
    a filter the index does not serve (``user``, ``settings``) reads on until it has
    found ``limit`` rows.  Rows appear once their transaction has committed: a
    transaction that commits after a page was read may add rows before its cursor.

    Tables without ``audit_id`` (option ``identity`` off) are refused (their rows have
    no keyset), and with ``transaction_id`` tables without transaction ids.

    Example::

        page = alembic_audit.changes(conn, metadata, user="app", settings={"username": "bob"})
        for v in page.items:
            print(v.table, v.key, v.operation, v.changes)
        more = alembic_audit.changes(conn, metadata, user="app", settings={"username": "bob"},
                                     after=page.next_cursor)
    """

    def run(sync: Connection) -> Page:
        return read_changes(
            sync,
            metadata,
            since=since,
            until=until,
            transaction_id=transaction_id,
            user=user,
            settings=settings,
            tables=tables,
            after=after,
            limit=limit,
        )

    return call(conn, run, what="changes")


__all__ = ["Page", "Position", "changes", "read_changes", "rows_query", "timeline_query"]
