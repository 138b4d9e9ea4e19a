"""Writing old states back: ``restore`` (one row) and ``revert_transaction``.

Both write ordinary DML (``INSERT``, ``UPDATE``, ``DELETE``) through the audited
table, in the caller's transaction: the triggers record the writes like any other,
with the session settings in force (call ``set_session_vars`` first), so a restore or
a revert is itself history.  Each write is computed from the row as it is now (read
``FOR UPDATE``) and the state to reach: an UPDATE sets only the columns that differ,
and nothing is written where the row already is in that state.

Excluded columns are not in the audit rows, so they cannot be restored: an UPDATE
leaves them as they are, an INSERT gives them their defaults (a NOT NULL excluded
column without a default cannot be re-inserted: refused before any write).  Each
:class:`Write` names them (``kept``).

Example::

    alembic_audit.set_session_vars(conn, username="admin")
    alembic_audit.restore(conn, Order, 7, to=noon)  # the row as it was at noon
    alembic_audit.revert_transaction(conn, 1234, metadata)  # undo one transaction
"""

from __future__ import annotations

import datetime
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, overload

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ..core.constants import ID_COLUMN, OPERATION_COLUMN, TRANSACTION_COLUMN
from ..core.errors import AuditError, RevertConflict, UnknownHistoryError
from ..types import XID8
from .connections import call
from .queries import as_of
from .source import AuditedTable, audited_table, audited_tables_of
from .versions import PRESENT, Version

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

Action = Literal["INSERT", "UPDATE", "DELETE"]
_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class Write:
    """One statement ``restore`` or ``revert_transaction`` runs (or, with
    ``dry_run=True``, would run).

    ``values``: the columns written (all audited columns for an INSERT, the changed
    ones for an UPDATE, none for a DELETE); ``kept``: excluded columns, which keep their
    values (UPDATE) or get their defaults (INSERT); ``statement``: the SQLAlchemy
    statement, runnable as is.

    Example::

        for w in alembic_audit.revert_transaction(conn, 1234, metadata, dry_run=True):
            print(w.sql)  # UPDATE public."order" SET status='paid' WHERE "order".id = 7
    """

    table: str
    key: dict[str, Any]
    action: Action
    values: dict[str, Any]
    kept: tuple[str, ...]
    statement: sa.Insert | sa.Update | sa.Delete = field(repr=False, compare=False)

    @property
    def sql(self) -> str:
        """The statement as SQL text, values written in where SQLAlchemy can render them
        as literals (else as parameters, listed after it)."""
        try:
            return str(
                self.statement.compile(dialect=_DIALECT, compile_kwargs={"literal_binds": True})
            )
        except (sa.exc.CompileError, NotImplementedError, TypeError):
            compiled = self.statement.compile(dialect=_DIALECT)
            return f"{compiled}  -- parameters: {compiled.params!r}"

    def as_dict(self) -> dict[str, Any]:
        """Plain data (for JSON).

        Example::

            w.as_dict()  # {'table': 'public.order', 'key': {'id': 7}, 'action': 'UPDATE', ...}
        """
        return {
            "table": self.table,
            "key": dict(self.key),
            "action": self.action,
            "values": dict(self.values),
            "kept": list(self.kept),
            "sql": self.sql,
        }


def plan_write(
    source: AuditedTable,
    key: Mapping[str, Any],
    current: Mapping[str, Any] | None,
    target: Mapping[str, Any] | None,
    what: str,
) -> Write | None:
    """The statement that takes the row ``key`` from ``current`` to ``target`` (``None``:
    absent), or ``None`` if it is there already.

    Example::

        plan_write(source, {"id": 7}, {"id": 7, "status": "new"}, {"id": 7, "status": "paid"},
                   "restore")  # an UPDATE of status
    """
    live = source.table
    kept = source.excluded_columns
    columns = source.value_columns
    where = sa.and_(
        *(live.c[k] == sa.bindparam(None, v, type_=live.c[k].type) for k, v in key.items())
    )
    if current is None and target is None:
        return None
    if target is None:
        return Write(source.name, dict(key), "DELETE", {}, (), sa.delete(live).where(where))
    if current is None:
        _check_insertable(source, key, what)
        values = {c: target[c] for c in columns}
        return Write(source.name, dict(key), "INSERT", values, kept, sa.insert(live).values(values))
    changed = {c: target[c] for c in columns if not _equal(current.get(c), target[c])}
    if not changed:
        return None
    return Write(
        source.name,
        dict(key),
        "UPDATE",
        changed,
        kept,
        sa.update(live).where(where).values(changed),
    )


def _equal(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return a is b


def _check_insertable(source: AuditedTable, key: Mapping[str, Any], what: str) -> None:
    blocked = [
        c.name
        for c in source.table.columns
        if c.name in source.excluded_columns
        and not c.nullable
        and c.default is None
        and c.server_default is None
        and c.identity is None
        and not (c.primary_key and c.autoincrement is True)
    ]
    if blocked:
        raise AuditError(
            f"{what}: cannot re-insert the row {_key_text(key)} of {source.name!r}: its "
            f"column(s) {blocked} are excluded from auditing (no old value), NOT NULL and "
            "without a default; give them a default, or insert the row yourself"
        )


def _key_text(key: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in key.items())


def _current_rows(
    conn: Connection, source: AuditedTable, keys: list[dict[str, Any]], lock: bool
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """The live rows of ``keys``, locked (``FOR UPDATE``) unless only planning."""
    live = source.table
    columns = source.key_columns
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for start in range(0, len(keys), 1000):
        chunk = keys[start : start + 1000]
        if len(columns) == 1:
            where = live.c[columns[0]].in_([k[columns[0]] for k in chunk])
        else:
            where = sa.tuple_(*(live.c[c] for c in columns)).in_(
                [tuple(k[c] for c in columns) for k in chunk]
            )
        query = sa.select(live).where(where)
        if lock:
            query = query.with_for_update()
        for row in conn.execute(query).mappings():
            out[tuple(row[c] for c in columns)] = dict(row)
    return out


# -- restore -------------------------------------------------------------------------------


def run_restore(
    conn: Connection,
    source: AuditedTable,
    key: dict[str, Any],
    to: Version | datetime.datetime,
    dry_run: bool,
) -> list[Write]:
    """The sync implementation of :func:`restore`.

    Example::

        run_restore(conn, audited_table(Order), {"id": 7}, noon, dry_run=True)
    """
    what = "restore"
    target: dict[str, Any] | None
    if isinstance(to, Version):
        if to.table != source.name or any(to.key.get(k) != v for k, v in key.items()):
            raise AuditError(
                f"{what}: the version given (audit_id {to.audit_id} of {to.table}, key "
                f"{_key_text(to.key)}) is not a version of the row {_key_text(key)} of "
                f"{source.name!r}; pass one of history(conn, table, key)"
            )
        target = dict(to.values) if to.exists else None
    elif isinstance(to, datetime.datetime):
        q = as_of(source, to)
        rows = (
            conn.execute(
                sa.select(q).where(
                    *(q.c[k] == sa.bindparam(None, v, type_=q.c[k].type) for k, v in key.items())
                )
            )
            .mappings()
            .all()
        )
        target = dict(rows[0]) if rows else None
    else:
        raise AuditError(
            f"{what}: to= must be a Version (from history()) or a datetime, got {to!r}"
        )
    current = _current_rows(conn, source, [key], lock=not dry_run).get(
        tuple(key[c] for c in source.key_columns)
    )
    write = plan_write(source, key, current, target, what)
    if write is None:
        return []
    if not dry_run:
        conn.execute(write.statement)
    return [write]


@overload
def restore(
    conn: Connection | Session,
    table: Any,
    pk: Any,
    *,
    to: Version | datetime.datetime,
    dry_run: bool = False,
) -> list[Write]: ...
@overload
def restore(
    conn: AsyncConnection | AsyncSession,
    table: Any,
    pk: Any,
    *,
    to: Version | datetime.datetime,
    dry_run: bool = False,
) -> Awaitable[list[Write]]: ...
def restore(
    conn: Connection | Session | AsyncConnection | AsyncSession,
    table: Any,
    pk: Any,
    *,
    to: Version | datetime.datetime,
    dry_run: bool = False,
) -> list[Write] | Awaitable[list[Write]]:
    """Write one row back to an earlier state, as ordinary DML in your transaction.

    ``to``: a :class:`Version` of the row (from :func:`history`), or a ``datetime``
    (the row as :func:`as_of` gives it then; an unknown state raises
    :class:`~alembic_audit.UnknownHistoryError`).  A row deleted since is re-inserted,
    a row that did not exist then is deleted, otherwise the columns that differ are
    updated; the trigger records the write with the current session settings.
    Excluded columns cannot be restored (see :class:`Write`).  Returns the writes made
    (none if the row is already in that state); ``dry_run=True`` returns them without
    writing.  Commit the transaction yourself.  Through a ``Session``, objects already
    loaded are not refreshed: ``session.expire_all()`` after it.

    Example::

        with engine.begin() as conn:
            alembic_audit.set_session_vars(conn, username="admin")
            versions = alembic_audit.history(conn, Order, 7)
            alembic_audit.restore(conn, Order, 7, to=versions[0])
    """

    def run(sync: Connection) -> list[Write]:
        source = audited_table(table, sync, what="restore")
        return run_restore(sync, source, source.key_of(pk, "restore"), to, dry_run)

    return call(conn, run, what="restore")


# -- revert_transaction ----------------------------------------------------------------------


@dataclass
class _Touched:
    """What one transaction did to one row."""

    source: AuditedTable
    key: dict[str, Any]
    before: dict[str, Any] | None = None
    before_known: bool = True
    later: int = 0
    later_transaction: int | None = None


def _xid(value: int) -> Any:
    return sa.literal(int(value), XID8())


def run_revert(
    conn: Connection,
    transaction_id: int,
    sources: list[AuditedTable],
    force: bool,
    dry_run: bool,
) -> list[Write]:
    """The sync implementation of :func:`revert_transaction`.

    Example::

        run_revert(conn, 1234, audited_tables_of(metadata, conn, what="revert"), False, True)
    """
    what = f"revert_transaction({transaction_id})"
    missing = [s.name for s in sources if not s.spec.transaction_id]
    if missing:
        raise AuditError(
            f"{what}: table(s) {missing} do not record transaction ids (audit option "
            "'transaction_id' is off), so the transaction's changes there cannot be found; "
            "pass the list of the other tables instead of the MetaData"
        )
    xid = _xid(transaction_id)
    # 1. The transaction's own audit rows, each table through its transaction index.
    steps: list[tuple[AuditedTable, dict[str, Any]]] = []
    snapshots = 0
    for source in sources:
        a = source.audit
        rows = (
            conn.execute(
                sa.select(a).where(a.c[TRANSACTION_COLUMN] == xid).order_by(*source.order())
            )
            .mappings()
            .all()
        )
        if not rows:
            continue
        if any(r[OPERATION_COLUMN] == "T" for r in rows):
            raise AuditError(
                f"{what}: the transaction truncated {source.name!r}; reverting a TRUNCATE is "
                "not supported: write the rows back from as_of(table, ...) yourself"
            )
        source.need_key(what)
        if not source.spec.identity:
            raise AuditError(
                f"{what}: table {source.name!r} does not number its audit rows (audit option "
                "'identity' is off), so the order of the transaction's changes there is unknown"
            )
        steps += [(source, dict(r)) for r in rows if r[OPERATION_COLUMN] != "S"]
        snapshots += sum(1 for r in rows if r[OPERATION_COLUMN] == "S")
    if not steps and snapshots:
        raise AuditError(
            f"{what}: the transaction only recorded a baseline ({snapshots} snapshot rows), "
            "which changed no row; nothing to revert"
        )
    if not steps:
        raise UnknownHistoryError(
            f"{what}: the transaction wrote no audit row in "
            f"{', '.join(s.name for s in sources)}; nothing to revert"
        )
    # 2. Per row: the state before the transaction, and later changes by others.
    touched: dict[tuple[str, tuple[Any, ...]], _Touched] = {}
    for source in {id(s): s for s, _ in steps}.values():
        for item in _touched_rows(conn, source, xid):
            touched[(source.name, tuple(item.key.values()))] = item
    unknown = [t for t in touched.values() if not t.before_known]
    if unknown:
        raise UnknownHistoryError(
            f"{what}: the state before the transaction of "
            + "; ".join(f"{t.source.name} {_key_text(t.key)}" for t in unknown[:10])
            + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")
            + " is unknown (no earlier audit row, and no baseline): it cannot be reverted"
        )
    conflicts = [t for t in touched.values() if t.later]
    if conflicts and not force:
        shown = [
            f"{t.source.name} {_key_text(t.key)} (transaction {t.later_transaction}"
            + (f" and {t.later - 1} more change(s)" if t.later > 1 else "")
            + ")"
            for t in conflicts[:10]
        ]
        raise RevertConflict(
            f"{what}: refused, {len(conflicts)} row(s) changed by later transactions: "
            + "; ".join(shown)
            + (f"; and {len(conflicts) - 10} more" if len(conflicts) > 10 else "")
            + "; pass force=True to revert them anyway (their later changes are lost)",
            [(t.source.name, t.key, (t.later_transaction,)) for t in conflicts],
        )
    # 3. Undo each change, last first, from the rows as they are now.
    state: dict[tuple[str, tuple[Any, ...]], dict[str, Any] | None] = {}
    for source in {id(s): s for s, _ in steps}.values():
        keys = [t.key for t in touched.values() if t.source is source]
        found = _current_rows(conn, source, keys, lock=not dry_run)
        for key in keys:
            state[(source.name, tuple(key.values()))] = found.get(tuple(key.values()))
    # The state each change left, per row, to find what the change before it left.
    after: dict[tuple[str, tuple[Any, ...]], list[dict[str, Any]]] = {}
    for source, row in steps:
        k = (source.name, tuple(row[c] for c in source.key_columns))
        after.setdefault(k, []).append(row)
    # Last change first: by the time of the change (across tables), then audit_id (the
    # rows of one statement share their time).
    order = sorted(
        steps,
        key=lambda s: (s[1][s[0].spec.time_column], s[0].name, s[1][ID_COLUMN]),
        reverse=True,
    )
    writes: list[Write] = []
    for source, row in order:
        k = (source.name, tuple(row[c] for c in source.key_columns))
        versions = after[k]
        index = next(i for i, v in enumerate(versions) if v[ID_COLUMN] == row[ID_COLUMN])
        if index == 0:
            target = touched[k].before
        else:
            previous = versions[index - 1]
            target = (
                {c: previous[c] for c in source.value_columns}
                if previous[OPERATION_COLUMN] in PRESENT
                else None
            )
        key = dict(zip(source.key_columns, k[1], strict=True))
        write = plan_write(source, key, state[k], target, what)
        if write is None:
            continue
        if not dry_run:
            conn.execute(write.statement)
        writes.append(write)
        state[k] = None if target is None else {**(state[k] or {}), **target}
    return writes


def _touched_rows(conn: Connection, source: AuditedTable, xid: Any) -> list[_Touched]:
    """The rows ``xid`` changed in one table, each with its state before the transaction
    and the changes other transactions made to it afterwards: one query, through the
    transaction index (the rows), the row index (their previous versions, later
    changes) and the TRUNCATE markers (key NULL)."""
    a = source.audit
    keys = source.key_columns
    t = a.alias("t")
    touched = (
        sa.select(
            *(t.c[k] for k in keys),
            sa.func.min(t.c[ID_COLUMN]).label("first"),
            sa.func.max(t.c[ID_COLUMN]).label("last"),
        )
        .where(t.c[TRANSACTION_COLUMN] == xid, t.c[keys[0]].is_not(None))
        .group_by(*(t.c[k] for k in keys))
        .subquery("touched")
    )
    p = a.alias("p")
    previous = (
        sa.select(p)
        .where(*(p.c[k] == touched.c[k] for k in keys), p.c[ID_COLUMN] < touched.c["first"])
        .order_by(p.c[ID_COLUMN].desc())
        .limit(1)
        .lateral("previous")
    )
    first_op = a.alias("f")
    first_operation = (
        sa.select(first_op.c[OPERATION_COLUMN])
        .where(
            first_op.c[ID_COLUMN] == touched.c["first"],
            *(first_op.c[k] == touched.c[k] for k in keys),
        )
        .scalar_subquery()
    )
    later = a.alias("l")
    later_rows = sa.and_(
        *(later.c[k] == touched.c[k] for k in keys), later.c[ID_COLUMN] > touched.c["last"]
    )
    m = a.alias("m")
    truncates = sa.and_(m.c[keys[0]].is_(None), m.c[OPERATION_COLUMN] == "T")
    truncated_between = (
        sa.select(sa.func.max(m.c[ID_COLUMN]))
        .where(truncates, m.c[ID_COLUMN] < touched.c["first"])
        .scalar_subquery()
    )
    later_truncate = (
        sa.select(m.c[TRANSACTION_COLUMN])
        .where(truncates, m.c[ID_COLUMN] > touched.c["first"])
        .order_by(m.c[ID_COLUMN])
        .limit(1)
        .scalar_subquery()
    )
    query = sa.select(
        *(touched.c[k] for k in keys),
        first_operation.label("first_operation"),
        truncated_between.label("truncated_before"),
        sa.select(sa.func.count()).where(later_rows).scalar_subquery().label("later"),
        sa.select(later.c[TRANSACTION_COLUMN])
        .where(later_rows)
        .order_by(later.c[ID_COLUMN])
        .limit(1)
        .scalar_subquery()
        .label("later_transaction"),
        later_truncate.label("later_truncate"),
        *(previous.c[c.name].label(f"previous_{n}") for n, c in enumerate(a.c)),
    ).select_from(touched.outerjoin(previous, sa.true()))
    names = [c.name for c in a.c]
    out: list[_Touched] = []
    for row in conn.execute(query).mappings():
        prev = {name: row[f"previous_{n}"] for n, name in enumerate(names)}
        item = _Touched(source, {k: row[k] for k in keys})
        has_previous = prev[ID_COLUMN] is not None
        truncated_since = row["truncated_before"] is not None and (
            not has_previous or row["truncated_before"] > prev[ID_COLUMN]
        )
        if truncated_since:
            item.before = None  # a TRUNCATE emptied the table before the transaction
        elif has_previous:
            item.before = (
                {c: prev[c] for c in source.value_columns}
                if prev[OPERATION_COLUMN] in PRESENT
                else None
            )
        elif row["first_operation"] == "I":
            item.before = None
        else:
            item.before_known = False  # its first recorded change is an update or delete
        item.later = int(row["later"] or 0) + (1 if row["later_truncate"] is not None else 0)
        item.later_transaction = row["later_transaction"] or row["later_truncate"]
        out.append(item)
    return out


@overload
def revert_transaction(
    conn: Connection | Session,
    transaction_id: int,
    metadata: Any,
    *,
    force: bool = False,
    dry_run: bool = False,
) -> list[Write]: ...
@overload
def revert_transaction(
    conn: AsyncConnection | AsyncSession,
    transaction_id: int,
    metadata: Any,
    *,
    force: bool = False,
    dry_run: bool = False,
) -> Awaitable[list[Write]]: ...
def revert_transaction(
    conn: Connection | Session | AsyncConnection | AsyncSession,
    transaction_id: int,
    metadata: Any,
    *,
    force: bool = False,
    dry_run: bool = False,
) -> list[Write] | Awaitable[list[Write]]:
    """Undo one transaction's changes across the audited tables of ``metadata``, last
    change first, as ordinary DML in your transaction (the triggers record the revert
    with the current session settings).

    Refused with :class:`~alembic_audit.RevertConflict`, naming the rows, when later
    transactions changed (or truncated) rows the transaction changed, unless
    ``force=True``, which sets those rows back to their state before the transaction
    anyway.  Refused with :class:`~alembic_audit.UnknownHistoryError` when a row's state
    before the transaction is unknown (no earlier audit row and no baseline), for a
    transaction that wrote no audit row, and for a TRUNCATE (not supported).
    ``dry_run=True`` returns the :class:`Write`\\ s without running them (rows are read,
    not locked).  Excluded columns cannot be reverted (see :class:`Write`).

    Example::

        with engine.begin() as conn:
            alembic_audit.set_session_vars(conn, username="admin")
            for w in alembic_audit.revert_transaction(conn, 1234, metadata, dry_run=True):
                print(w.sql)
            alembic_audit.revert_transaction(conn, 1234, metadata)
    """

    def run(sync: Connection) -> list[Write]:
        what = f"revert_transaction({transaction_id})"
        if isinstance(transaction_id, bool) or not isinstance(transaction_id, int):
            raise AuditError(f"{what}: the transaction id must be an int")
        sources = audited_tables_of(metadata, sync, what=what)
        return run_revert(sync, transaction_id, sources, force, dry_run)

    return call(conn, run, what="revert_transaction")


__all__ = ["Write", "plan_write", "restore", "revert_transaction", "run_restore", "run_revert"]
