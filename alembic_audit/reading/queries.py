"""``as_of``: a table's rows as they were at a moment, as a SQLAlchemy selectable.

For each key, the version in effect at the moment is the latest audit row of that
key written by then (``audit_id`` order); the row exists if that version is an
insert, update or snapshot.  A TRUNCATE marker written by then hides every version
before it.  Nothing is made up: a row whose first audit row, after the moment, is an
update, a delete or a snapshot existed before auditing began and its state at the
moment was never recorded, and a row of the table with no audit row at all existed
before auditing began and never changed since; both are *unknown*.  By default the
query then fails with :class:`~alembic_audit.core.errors.UnknownHistoryError` naming
the row (``unknown="include"`` returns such rows flagged instead).  A baseline
(``snapshot=True`` when auditing begins) records every such row.

The query is one statement over the audit table (and the audited table, for the rows
without audit rows).  A filter on the key is pushed down into it by PostgreSQL, so
``as_of`` for a few keys reads them through the audit table's ``row`` index.

Example::

    q = alembic_audit.as_of(Order, noon)
    conn.execute(sa.select(q).where(q.c.customer_id == 5)).all()
"""

from __future__ import annotations

import datetime
import threading
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement

from ..core.constants import OPERATION_COLUMN, TRANSACTION_COLUMN
from ..core.errors import AuditError, UnknownHistoryError
from ..types import XID8
from .source import AuditedTable, audited_table, audited_tables_of
from .versions import PRESENT

#: How an error raised by a query of ours starts; :func:`install_error_translation`
#: turns a database error carrying it into an :class:`UnknownHistoryError`.
MARKER = "alembic-audit: "

#: The internal column saying whether a key's chosen version is in effect at the moment.
IN_EFFECT = "_alembic_audit_in_effect"

#: The column that flags rows of unknown state (``unknown="include"``).
STATE_KNOWN = "audit_state_known"

Unknown = Literal["raise", "include"]

_lock = threading.Lock()
_translating = False


def install_error_translation() -> None:
    """Make the database errors our queries raise on purpose (an unknown state, an
    unknown transaction) reach the caller as :class:`UnknownHistoryError`.

    A query cannot raise a Python exception by itself: ours fail by casting their
    message to a number, so the error carries it; this ``handle_error`` hook on every
    ``Engine`` (sync and async) recognises the message and raises the error it
    describes.  Idempotent.

    Example::

        install_error_translation()
    """
    global _translating
    with _lock:
        if not _translating:
            sa.event.listen(Engine, "handle_error", _translate)
            _translating = True


def _translate(context: Any) -> None:
    text = str(context.original_exception)
    start = text.find(MARKER)
    # Only our own failing casts: "invalid input syntax for type ...: "alembic-audit: ...""
    if start < 0 or "invalid input syntax for type" not in text[:start]:
        return
    message = text[start + len(MARKER) :].splitlines()[0]
    end = message.rfind('"')
    raise UnknownHistoryError(message[:end] if end > 0 else message) from None


def fail(message: ColumnElement[Any], type_: Any = sa.Integer) -> ColumnElement[Any]:
    """An expression that fails the query with ``message`` when it is evaluated.

    ``message`` must depend on a column: a constant would be folded (evaluated) when
    the query is planned, whatever branch of a CASE it sits in.

    Example::

        sa.case((bad, fail(sa.func.concat("row ", t.c.id)) > 0), else_=sa.false())
    """
    return sa.cast(sa.func.concat(MARKER, message), type_)


def key_text(source: AuditedTable, t: Any) -> ColumnElement[str]:
    """``id=7`` / ``order_id=1, product_id=2``: a row's key as text, in SQL.

    Example::

        sa.select(key_text(source, source.audit))
    """
    parts: list[Any] = []
    for n, c in enumerate(source.key_columns):
        parts += [(", " if n else "") + f"{c}=", sa.cast(t.c[c], sa.Text)]
    return sa.func.concat(*parts)


def _truncate_marker(source: AuditedTable, t: Any, by_then: Any) -> ColumnElement[bool]:
    # TRUNCATE markers have NULL data columns: the row index finds them by key IS NULL.
    return sa.and_(t.c[source.key_columns[0]].is_(None), t.c[OPERATION_COLUMN] == "T", by_then(t))


def _position_after(source: AuditedTable, a: Any, by_then: Any) -> ColumnElement[bool]:
    """Audit rows of ``a`` written after the last TRUNCATE marker written by then."""
    t = source.audit.alias("truncated")
    marker = _truncate_marker(source, t, by_then)
    if source.spec.identity:
        last = sa.select(sa.func.max(t.c.audit_id)).where(marker).scalar_subquery()
        return sa.or_(last.is_(None), a.c.audit_id > last)
    order_t = source.order(t)
    latest = sa.select(*order_t).where(marker).order_by(*(c.desc() for c in order_t)).limit(1)
    values = [latest.with_only_columns(c).scalar_subquery() for c in order_t]
    return sa.or_(values[0].is_(None), sa.tuple_(*source.order(a)) > sa.tuple_(*values))


def _no_truncate_by(source: AuditedTable, by_then: Any, alias: str) -> ColumnElement[bool]:
    """No TRUNCATE marker written by then (after one, every row's state is known)."""
    t = source.audit.alias(alias)
    return ~sa.exists().where(_truncate_marker(source, t, by_then))


def as_of(
    table: Any,
    when: datetime.datetime | None = None,
    *,
    transaction_id: int | None = None,
    unknown: Unknown = "raise",
    metadata: Any = None,
) -> sa.Subquery:
    """The rows of ``table`` as they were at ``when``, or right after transaction
    ``transaction_id``: a subquery to select from, join and filter.

    Its columns: the audited columns (excluded columns are absent), then those of the
    version in effect (``audit_id``, ``audit_operation``, the times, the user, the
    transaction, the settings), and with ``unknown="include"`` ``audit_state_known``.

    ``when``: a timezone-aware ``datetime`` (a naive one is read in the database
    session's time zone).  A change counts from the time it was made (the change time;
    the transaction's start where the change time is not recorded), whether or not its
    transaction had committed by then.

    ``transaction_id=T``: each row T changed as T left it (exact: later writers of the
    row waited for T's commit), every other row as of T's last change, found in the
    audited tables of ``metadata`` (default: the models' ``MetaData`` of ``table``, or
    ``table`` alone): a consistent cut across tables, in which changes of transactions
    that overlapped T appear if they were made before T's last change.  A transaction
    that wrote no audit row there fails the query.

    ``unknown``: ``"raise"`` (default): a row whose state at that moment was never
    recorded (it existed before auditing began and the table has no baseline) fails
    the query with :class:`~alembic_audit.UnknownHistoryError` naming it; only rows
    the query reads are checked, so a filter on the key limits the check to those
    keys.  ``"include"``: such rows are returned with their key, NULL elsewhere and
    ``audit_state_known`` false.

    Example::

        q = alembic_audit.as_of(Order, datetime(2025, 1, 1, 12, tzinfo=timezone.utc))
        rows = conn.execute(sa.select(q).where(q.c.id.in_([1, 2, 3]))).all()
        joined = sa.select(q.c.id, Customer.name).join(Customer, Customer.id == q.c.customer_id)
        after = alembic_audit.as_of(Order, transaction_id=1234)
    """
    what = "as_of"
    if (when is None) == (transaction_id is None):
        raise AuditError(f"{what}: pass a time (when=...) or transaction_id=..., not both")
    if when is not None and not isinstance(when, datetime.datetime):
        raise AuditError(f"{what}: 'when' must be a datetime, got {when!r}")
    if unknown not in ("raise", "include"):
        raise AuditError(f"{what}: unknown= must be 'raise' or 'include', got {unknown!r}")
    source = audited_table(table, what=what)
    keys = source.need_key(what)
    install_error_translation()

    a = source.audit
    tm = source.time(a)
    position = source.order(a)
    if transaction_id is None:
        assert when is not None
        moment: Any = sa.literal(when, sa.DateTime(timezone=True))
        in_effect: ColumnElement[bool] = tm <= moment
        label = f"as_of({source.name}) at {when.isoformat()}"
        select_from: Any = a
    else:
        source.need_transaction_id(what)
        xid = sa.literal(int(transaction_id), XID8())
        label = f"as_of({source.name}, transaction_id={int(transaction_id)})"
        moment = _transaction_end(source, xid, metadata, label)
        # T's own last version of each row it changed (its writers came after T).
        t = a.alias("tx_rows")
        last = sa.func.max(source.order(t)[0])
        tx = (
            sa.select(*(t.c[k] for k in keys), last.label("last"))
            .where(t.c[TRANSACTION_COLUMN] == xid, t.c[keys[0]].is_not(None))
            .group_by(*(t.c[k] for k in keys))
            .subquery("tx")
        )
        in_effect = sa.case(
            (tx.c["last"].is_not(None), position[0] <= tx.c["last"]), else_=tm <= moment
        )
        select_from = a.outerjoin(tx, sa.and_(*(tx.c[k] == a.c[k] for k in keys)))

    def by_then(alias: Any) -> ColumnElement[bool]:
        earlier: ColumnElement[bool] = source.time(alias) <= moment
        return earlier

    after_truncate = _position_after(source, a, by_then)
    versions = (
        distinct_on(sa.select(*a.c, in_effect.label(IN_EFFECT)), [a.c[k] for k in keys])
        .select_from(select_from)
        .where(a.c[keys[0]].is_not(None), after_truncate)
        .order_by(
            *(a.c[k] for k in keys),
            in_effect.desc(),
            *(sa.case((in_effect, p)).desc().nulls_last() for p in position),
            *(p.asc() for p in position),
        )
        .subquery("versions")
    )
    d = versions
    no_truncate = _no_truncate_by(source, by_then, "truncated_any")
    present = sa.and_(d.c[IN_EFFECT], d.c[OPERATION_COLUMN].in_(PRESENT))
    before_auditing = sa.and_(
        ~d.c[IN_EFFECT], d.c[OPERATION_COLUMN].in_(("U", "D", "S")), no_truncate
    )
    known_message = (
        f"{label}: the state of the row ",
        " is unknown: it existed before auditing began and the audit table has no baseline "
        "('S') row for it; record a baseline when auditing begins (snapshot=True), or pass "
        "unknown='include' to get such rows flagged",
    )
    columns = [*source.value_columns, *(c.name for c in source.audit.c if _is_meta(source, c.name))]
    if unknown == "raise":
        message = sa.func.concat(known_message[0], key_text(source, d), known_message[1])
        check = sa.case((before_auditing, fail(message) > 0), else_=sa.false())
        audited = sa.select(*(d.c[c] for c in columns)).where(sa.or_(present, check))
    else:
        audited = sa.select(
            *(d.c[c] if c in keys else sa.case((d.c[IN_EFFECT], d.c[c])).label(c) for c in columns),
            d.c[IN_EFFECT].label(STATE_KNOWN),
        ).where(sa.or_(present, before_auditing))

    # Rows of the table with no audit row at all: they existed before auditing began
    # (no insert was recorded) and never changed; without a baseline, unknown.
    live = source.table
    probe = source.audit.alias("any_version")
    never_audited = sa.and_(
        ~sa.exists().where(*(probe.c[k] == live.c[k] for k in keys)),
        _no_truncate_by(source, by_then, "truncated_live"),
    )
    empty = [live.c[c] if c in keys else sa.null().label(c) for c in columns]
    if unknown == "raise":
        message = sa.func.concat(
            known_message[0], key_text(source, live), " (it has no audit row)", known_message[1]
        )
        unaudited = sa.select(*empty).where(
            sa.case((never_audited, fail(message) > 0), else_=sa.false())
        )
    else:
        unaudited = sa.select(*empty, sa.false().label(STATE_KNOWN)).where(never_audited)
    return sa.union_all(audited, unaudited).subquery()


def distinct_on(select: sa.Select[Any], columns: list[Any]) -> sa.Select[Any]:
    """``SELECT DISTINCT ON (columns) ...``: SQLAlchemy 2.1's ``postgresql.distinct_on``
    (``select.distinct(*columns)`` is deprecated there), 2.0's ``distinct(*columns)``.

    Example::

        distinct_on(sa.select(t), [t.c.id]).order_by(t.c.id, t.c.audit_id.desc())
    """
    try:
        from sqlalchemy.dialects.postgresql import distinct_on as extension  # type: ignore[attr-defined,unused-ignore]
    except ImportError:  # SQLAlchemy 2.0
        return select.distinct(*columns)
    result: sa.Select[Any] = select.ext(extension(*columns))  # type: ignore[attr-defined,unused-ignore]
    return result


def _is_meta(source: AuditedTable, name: str) -> bool:
    spec = source.spec
    return (
        name in spec.written_meta_columns
        or name in source.setting_columns.values()
        or (spec.identity and name == "audit_id")
    )


def _transaction_end(
    source: AuditedTable, xid: ColumnElement[Any], metadata: Any, label: str
) -> ColumnElement[Any]:
    """The time of transaction ``xid``'s last change in the audited tables of
    ``metadata`` (default: ``source`` and its peers); the query fails when it wrote
    no audit row in any of them."""
    if metadata is not None:
        tables = audited_tables_of(metadata, what="as_of")
    else:
        tables = [source] + [audited_table(p) for p in source.peers if p is not source.table]
    tables = [t for t in tables if t.spec.transaction_id]
    parts = [
        sa.select(sa.func.max(t.time(t.audit)).label("t")).where(
            t.audit.c[TRANSACTION_COLUMN] == xid
        )
        for t in tables
    ]
    latest = sa.select(sa.func.max(sa.union_all(*parts).subquery().c.t).label("m")).subquery()
    names = ", ".join(t.name for t in tables)
    message = sa.func.concat(
        f"{label}: the transaction wrote no audit row in {names}", sa.cast(latest.c.m, sa.Text)
    )
    return sa.select(
        sa.case(
            (latest.c.m.is_not(None), latest.c.m),
            else_=fail(message, sa.DateTime(timezone=True)),
        )
    ).scalar_subquery()


__all__ = ["MARKER", "STATE_KNOWN", "as_of", "fail", "install_error_translation", "key_text"]
