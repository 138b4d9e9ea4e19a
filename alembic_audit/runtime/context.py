"""``audit_context``: session settings that travel with the code, not with each transaction.

``audit_context(username="alice")`` puts values in a ``ContextVar`` (so they are
private to a thread and to an asyncio task); :func:`install_context` hooks SQLAlchemy's
events so that every statement run inside the context, on ``Connection``,
``Session``, ``AsyncConnection`` or ``AsyncSession``, runs in a transaction that holds
those values as transaction-local ``audit.*`` settings.

How they reach the server (what each statement costs):

- the hook remembers, per DBAPI connection, which context's values its open
  transaction holds; a statement whose context is the same costs a ``ContextVar``
  read and a comparison, nothing is sent;
- otherwise (the transaction's first statement inside a context, or a statement in a
  different context than the previous one) the values go with that statement:
  psycopg2 sends ``SELECT pg_catalog.set_config(...); <statement>`` as one query
  string (its parameters are merged), psycopg 3 sends both in one pipeline, and the
  async drivers (and ``same_round_trip=False``) send the ``set_config`` as a statement
  of its own just before (one round trip);
- a transaction whose statements run outside any context sends nothing.

Names and values are bind parameters; every setting is transaction-local
(``set_config(..., true)``), so nothing outlives the transaction, also behind
PgBouncer in transaction pooling mode.

Example::

    alembic_audit.install_context(engine)
    with alembic_audit.audit_context(username="alice", request_id=rid):
        with Session(engine) as session, session.begin():
            session.add(Product(name="pen"))
"""

from __future__ import annotations

import functools
import inspect
import sys
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

from sqlalchemy import event
from sqlalchemy.engine import Connection, Dialect, Engine

from ..core.constants import CONTEXT_MARKER_SETTING, SETTING_NAMESPACE
from ..core.errors import AuditError
from ..core.options import validate_setting_name
from .session import set_config_statement
from .values import check_values, text_value

if TYPE_CHECKING:
    from sqlalchemy.engine.interfaces import DBAPICursor, ExecutionContext
    from sqlalchemy.ext.asyncio import AsyncEngine

P = ParamSpec("P")
R = TypeVar("R")

#: Longest marker text sent (the marker names settings and a code location).
_MARKER_LIMIT = 200


class _Frame:
    """One active context: the merged values (setting name -> text), the marker text,
    the frame it was entered in, and who entered it (for the exit)."""

    __slots__ = ("values", "marker", "parent", "owner")

    def __init__(
        self, values: Mapping[str, str], marker: str, parent: _Frame | None, owner: object
    ) -> None:
        self.values = values
        self.marker = marker
        self.parent = parent
        self.owner = owner


_current: ContextVar[_Frame | None] = ContextVar("alembic_audit_context", default=None)


def _prepare(values: Mapping[str, object], where: str) -> dict[str, str]:
    """Names checked and folded to lower case (as PostgreSQL folds setting names),
    values as text, each checked against its setting's column type."""
    prepared: dict[str, str] = {}
    given: dict[str, str] = {}
    for name, value in values.items():
        validate_setting_name(name, where=where)
        folded = name.lower()
        if folded in given:
            raise AuditError(
                f"{where}: {given[folded]!r} and {name!r} are the same setting to PostgreSQL "
                "(setting names are case-insensitive); give it once"
            )
        given[folded] = name
        prepared[folded] = text_value(name, value, where=where)
    check_values(prepared, where=where)
    return prepared


def _marker(values: Mapping[str, str], origin: str) -> str:
    names = ", ".join(name for name, text in values.items() if text)
    marker = f"audit_context({names}) entered in {origin}"
    return marker if len(marker) <= _MARKER_LIMIT else marker[: _MARKER_LIMIT - 3] + "..."


def _push(owner: object, values: Mapping[str, str], origin: str) -> Mapping[str, str]:
    parent = _current.get()
    merged = dict(parent.values) if parent is not None else {}
    merged.update(values)
    frame = _Frame(MappingProxyType(merged), _marker(merged, origin), parent, owner)
    _current.set(frame)
    return frame.values


def _pop(owner: object) -> None:
    frame = _current.get()
    while frame is not None and frame.owner is not owner:
        # An inner context left open (a generator never finished): it ends with ours.
        frame = frame.parent
    if frame is not None:
        _current.set(frame.parent)
    # Not found: exited in another thread or task than it was entered in, where it was
    # never active; the context it was entered in ends with its task or thread.


def _caller(depth: int) -> str:
    frame = sys._getframe(depth)
    return f"{frame.f_globals.get('__name__', '?')} line {frame.f_lineno}"


class audit_context:  # noqa: N801 - used like a function (contextlib style)
    """Values for the ``audit.*`` settings of every transaction run inside the block.

    A context manager and a decorator (of plain and ``async`` functions).  Contexts
    nest: an inner one overrides the settings it names and keeps the others; the outer
    values are back when it exits, also when the block raises.  ``None`` unsets a
    setting inside the block.  Values are checked when the context is made: a value
    that does not fit the type of its setting's column in an audited table raises an
    :class:`~alembic_audit.AuditError` naming the setting.

    The values reach the database only on engines hooked by :func:`install_context`.
    They live in a ``ContextVar``: each thread and each asyncio task has its own, a
    task inherits its creator's values, a new thread starts without any (run it with
    ``contextvars.copy_context().run``).

    Example::

        alembic_audit.install_context(engine)

        with audit_context(username="alice"):
            with engine.begin() as conn:
                conn.execute(product.insert().values(name="pen"))  # audit_username 'alice'
            with audit_context(request_id=rid):  # username stays 'alice'
                ...

        @audit_context(username="nightly-job")
        def sync_prices() -> None: ...
    """

    __slots__ = ("_values", "_origin")

    def __init__(self, **values: object) -> None:
        self._values = _prepare(values, "audit_context")
        self._origin = _caller(2)

    def __enter__(self) -> Mapping[str, str]:
        return _push(self, self._values, self._origin)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _pop(self)

    def __call__(self, func: Callable[P, R]) -> Callable[P, R]:
        if inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func):
            # A generator runs in its consumer's context, piece by piece: values set
            # around it would leak into the consumer between the pieces.
            raise AuditError(
                f"audit_context cannot decorate the generator function {func.__qualname__!r}; "
                "use 'with audit_context(...)' inside it"
            )
        values = self._values
        origin = f"{func.__module__}.{func.__qualname__}"
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def run_async(*args: P.args, **kwargs: P.kwargs) -> Any:
                owner = object()  # one per call: concurrent calls each push their own
                _push(owner, values, origin)
                try:
                    return await func(*args, **kwargs)
                finally:
                    _pop(owner)

            return cast(Callable[P, R], run_async)

        @functools.wraps(func)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            owner = object()
            _push(owner, values, origin)
            try:
                return func(*args, **kwargs)
            finally:
                _pop(owner)

        return run


class _Entered:
    """A context entered by the middleware, named after the request."""

    __slots__ = ("_values", "_origin")

    def __init__(self, values: Mapping[str, object], where: str, origin: str) -> None:
        # None is "not in this request" here: an outer context's value stays.
        self._values = _prepare({k: v for k, v in values.items() if v is not None}, where)
        self._origin = origin

    def __enter__(self) -> Mapping[str, str]:
        return _push(self, self._values, self._origin)

    def __exit__(self, *exc: object) -> None:
        _pop(self)


def entered_context(values: Mapping[str, object], *, where: str, origin: str) -> _Entered:
    """An :class:`audit_context` built from a mapping, its errors and marker naming
    ``where`` and ``origin`` instead of the caller's line (for middleware).  ``None``
    values are left out (they set nothing, rather than unset).

    Example::

        with entered_context({"username": "alice"}, where="AuditMiddleware",
                             origin="GET /orders"):
            ...
    """
    return _Entered(values, where, origin)


def current_audit_context() -> dict[str, str]:
    """The values of the active context (setting name -> text), ``{}`` outside any.

    What a job queue carries from the request to the job, to enter it again there:
    ``audit_context(**current_audit_context())``.

    Example::

        with audit_context(username="alice"):
            current_audit_context()  # {'username': 'alice'}
    """
    frame = _current.get()
    return {k: v for k, v in frame.values.items() if v} if frame is not None else {}


# -- the hook: values to the server ------------------------------------------------------

#: Key in the pool record's ``info`` (one per DBAPI connection): what the open
#: transaction holds.
_STATE = "alembic_audit.context"

#: Stands for "unknown" after ROLLBACK TO SAVEPOINT (it undid what was set after it).
_UNKNOWN = _Frame(MappingProxyType({}), "", None, None)
#: Between SQLAlchemy's rollback_savepoint event and the ROLLBACK TO statement it runs
#: next: that statement must not carry the settings (it would undo them at once).
_ROLLING_BACK = _Frame(MappingProxyType({}), "", None, None)


class _Sent:
    __slots__ = ("frame", "names")

    def __init__(self, frame: _Frame | None, names: frozenset[str]) -> None:
        self.frame = frame
        self.names = names  # every setting this transaction got from the hook


def _in_transaction(conn: Connection) -> bool:
    """Whether the DBAPI connection has a transaction open on the server (the
    driver's own view: a COMMIT sent as SQL counts too)."""
    driver = conn.connection.driver_connection
    status = getattr(getattr(driver, "info", None), "transaction_status", None)
    if status is not None:
        return bool(status != 0)  # psycopg2 and psycopg: 0 is IDLE
    in_transaction = getattr(driver, "is_in_transaction", None)  # asyncpg
    if in_transaction is not None:
        return bool(in_transaction())
    return conn.in_transaction()


def _pending(conn: Connection) -> dict[str, str] | None:
    """The settings (full names) the next statement on ``conn`` must bring, if any."""
    frame = _current.get()
    try:
        info = conn.info
    except NotImplementedError:
        return None  # the dialect's first-connect probe, not a statement of the application
    sent: _Sent | None = info.get(_STATE)
    if sent is None:
        if frame is None:
            return None  # the common case outside any context: two lookups
    elif not _in_transaction(conn):
        sent = None  # a new transaction: it holds nothing yet
        if frame is None:
            del info[_STATE]
            return None
    elif sent.frame is frame:
        return None  # the common case inside a context: this transaction has its values
    elif sent.frame is _ROLLING_BACK:
        info[_STATE] = _Sent(_UNKNOWN, sent.names)  # the next statement sends them again
        return None
    payload: dict[str, str] = {}
    names = frozenset(frame.values) if frame is not None else frozenset()
    if sent is not None:
        for name in sent.names - names:
            payload[f"{SETTING_NAMESPACE}.{name}"] = ""  # left the context that set it
        names |= sent.names
    if frame is not None:
        for name, text in frame.values.items():
            payload[f"{SETTING_NAMESPACE}.{name}"] = text
    payload[CONTEXT_MARKER_SETTING] = frame.marker if frame is not None else ""
    info[_STATE] = _Sent(frame, names)
    return payload


_compiled_cache: dict[tuple[type[Dialect], str, int], tuple[str, tuple[str, ...] | None]] = {}


def _compiled(dialect: Dialect, count: int) -> tuple[str, tuple[str, ...] | None]:
    """The ``set_config`` statement for ``count`` settings in the dialect's SQL, and the
    order of its parameters for a positional paramstyle (``None``: named)."""
    key = (type(dialect), dialect.paramstyle, count)
    found = _compiled_cache.get(key)
    if found is None:
        compiled = set_config_statement(count, prefix="alembic_audit_").compile(dialect=dialect)
        order = (
            tuple(compiled.positiontup) if compiled.positional and compiled.positiontup else None
        )
        found = _compiled_cache[key] = (compiled.string, order)
    return found


def _parameters(payload: Mapping[str, str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for i, (name, text) in enumerate(payload.items()):
        params[f"alembic_audit_name_{i}"] = name
        params[f"alembic_audit_value_{i}"] = text
    return params


def _send_apart(conn: Connection, payload: Mapping[str, str]) -> None:
    """The settings as a statement of their own, on a cursor of their own."""
    sql, order = _compiled(conn.dialect, len(payload))
    params = _parameters(payload)
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, [params[k] for k in order] if order is not None else params)
    finally:
        cursor.close()


_psycopg2_positional: Dialect | None = None


def _prefixed(
    conn: Connection,
    statement: str,
    parameters: Any,
    context: ExecutionContext | None,
    payload: Mapping[str, str],
) -> tuple[str, Any] | None:
    """psycopg2: ``set_config`` and the statement in one query string (psycopg2 binds on
    the client and sends one simple query; its result is the last statement's).  ``None``
    where that cannot be done (then the settings go apart)."""
    params = _parameters(payload)
    if isinstance(parameters, Mapping):
        sql, _ = _compiled(conn.dialect, len(payload))
        if not parameters and context is not None and context.no_parameters:
            # Sent without parameters, '%' was literal; with ours it is a format char.
            statement = statement.replace("%", "%%")
        return f"{sql}; {statement}", {**parameters, **params}
    if isinstance(parameters, tuple):
        # exec_driver_sql("... %s", (value,)): a positional format, ours first.
        global _psycopg2_positional
        if _psycopg2_positional is None:
            _psycopg2_positional = type(conn.dialect)(paramstyle="format")  # type: ignore[call-arg]
        sql, order = _compiled(_psycopg2_positional, len(payload))
        assert order is not None
        return f"{sql}; {statement}", (*(params[k] for k in order), *parameters)
    return None


@functools.cache
def _pipeline_supported() -> bool:
    try:
        import psycopg
    except ImportError:  # pragma: no cover - the psycopg dialect needs it
        return False
    return bool(psycopg.Pipeline.is_supported())


_SUPPORTED_DRIVERS = ("psycopg2", "psycopg", "asyncpg")


class _Hook:
    """The listeners of one ``install_context`` call: on one engine, or on all (``engine``
    is then ``None``, and engines with an install of their own are left to theirs)."""

    def __init__(self, same_round_trip: bool, engine: Engine | None) -> None:
        self.same_round_trip = same_round_trip
        self.everywhere = engine is None

    def _applies(self, conn: Connection) -> bool:
        if not self.everywhere:
            return True
        dialect = conn.dialect
        return (
            dialect.name == "postgresql"
            and dialect.driver in _SUPPORTED_DRIVERS
            and conn.engine not in _engines
        )

    def _pipelines(self, dialect: Dialect) -> bool:
        """psycopg 3 (sync): the settings go in a pipeline with the statement."""
        return (
            self.same_round_trip
            and dialect.driver == "psycopg"
            and not dialect.is_async
            and _pipeline_supported()
        )

    def before_cursor_execute(
        self,
        conn: Connection,
        cursor: DBAPICursor,
        statement: str,
        parameters: Any,
        context: ExecutionContext | None,
        executemany: bool,
    ) -> tuple[str, Any]:
        if self._pipelines(conn.dialect) or not self._applies(conn):
            return statement, parameters  # sent by do_execute's pipeline, or not ours
        payload = _pending(conn)
        if payload is None:
            return statement, parameters
        if (
            self.same_round_trip
            and conn.dialect.driver == "psycopg2"
            and getattr(cursor, "name", None) is None  # not a server-side (DECLARE) cursor
            and (isinstance(parameters, Mapping) or not (context and context.executemany))
        ):
            prefixed = _prefixed(conn, statement, parameters, context, payload)
            if prefixed is not None:
                return prefixed
        _send_apart(conn, payload)
        return statement, parameters

    def _pipeline_payload(
        self, cursor: Any, context: ExecutionContext | None
    ) -> tuple[Connection, dict[str, str]] | None:
        """psycopg 3: the connection and the settings to pipeline with this statement."""
        if context is None:
            return None  # no connection known (a default's pre-execution): the next one sends
        conn = context.root_connection
        if not self._pipelines(conn.dialect) or not self._applies(conn):
            return None
        payload = _pending(conn)
        if payload is None:
            return None
        import psycopg

        if type(cursor) is not psycopg.Cursor:
            # A server-side cursor cannot run in a pipeline (nor can a cursor class of the
            # user's whose behaviour we do not know): the settings go apart.
            _send_apart(conn, payload)
            return None
        return conn, payload

    def _in_pipeline(
        self, cursor: Any, context: ExecutionContext | None, send: Callable[[Dialect], object]
    ) -> bool:
        """Run ``send(dialect)`` in a pipeline with the pending settings, if any are due;
        ``False`` (SQLAlchemy then executes as usual) if none are."""
        found = self._pipeline_payload(cursor, context)
        if found is None:
            return False
        with _pipeline(cursor, found):
            send(found[0].dialect)
        return True

    def do_execute(
        self, cursor: Any, statement: str, parameters: Any, context: ExecutionContext | None
    ) -> bool:
        return self._in_pipeline(
            cursor, context, lambda d: d.do_execute(cursor, statement, parameters, context)
        )

    def do_executemany(
        self, cursor: Any, statement: str, parameters: Any, context: ExecutionContext | None
    ) -> bool:
        return self._in_pipeline(
            cursor, context, lambda d: d.do_executemany(cursor, statement, parameters, context)
        )

    def do_execute_no_params(
        self, cursor: Any, statement: str, context: ExecutionContext | None
    ) -> bool:
        return self._in_pipeline(
            cursor, context, lambda d: d.do_execute_no_params(cursor, statement, context)
        )

    def rollback_savepoint(self, conn: Connection, name: str, context: object) -> None:
        sent: _Sent | None = conn.info.get(_STATE)
        if sent is not None:
            # ROLLBACK TO SAVEPOINT undoes what was set after the savepoint: the statement
            # after it sends the values again.
            conn.info[_STATE] = _Sent(_ROLLING_BACK, sent.names)

    def listen(self, connection_target: Any, dialect_target: Any | None) -> None:
        event.listen(
            connection_target, "before_cursor_execute", self.before_cursor_execute, retval=True
        )
        event.listen(connection_target, "rollback_savepoint", self.rollback_savepoint)
        if dialect_target is not None:
            event.listen(dialect_target, "do_execute", self.do_execute)
            event.listen(dialect_target, "do_executemany", self.do_executemany)
            event.listen(dialect_target, "do_execute_no_params", self.do_execute_no_params)
        self._targets = (connection_target, dialect_target)

    def remove(self) -> None:
        connection_target, dialect_target = self._targets
        event.remove(connection_target, "before_cursor_execute", self.before_cursor_execute)
        event.remove(connection_target, "rollback_savepoint", self.rollback_savepoint)
        if dialect_target is not None:
            event.remove(dialect_target, "do_execute", self.do_execute)
            event.remove(dialect_target, "do_executemany", self.do_executemany)
            event.remove(dialect_target, "do_execute_no_params", self.do_execute_no_params)


@contextmanager
def _pipeline(cursor: Any, found: tuple[Connection, dict[str, str]]) -> Iterator[None]:
    """psycopg 3: the settings, then the statement run in the block, in one pipeline."""
    conn, payload = found
    sql, _ = _compiled(conn.dialect, len(payload))
    dbapi_connection = cursor.connection
    settings = dbapi_connection.cursor()
    try:
        with dbapi_connection.pipeline():
            settings.execute(sql, _parameters(payload))
            yield
    finally:
        settings.close()


_lock = threading.Lock()
_engines: weakref.WeakKeyDictionary[Engine, _Hook] = weakref.WeakKeyDictionary()
_everywhere: _Hook | None = None


def _psycopg_dialect_class() -> type[Dialect]:
    from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg

    return PGDialect_psycopg


def _sync_engine(bind: Engine | AsyncEngine) -> Engine:
    engine = getattr(bind, "sync_engine", bind)
    if not isinstance(engine, Engine):
        raise AuditError(
            f"install_context: expected an Engine or AsyncEngine, got {type(bind).__name__}"
        )
    return engine


def install_context(
    bind: Engine | AsyncEngine | None = None, *, same_round_trip: bool = True
) -> None:
    """Make :class:`audit_context` values reach every transaction of ``bind`` (an
    ``Engine`` or ``AsyncEngine``), or of every engine when called without one.

    Call it once at startup, next to ``create_engine``; calling it again replaces the
    earlier call's options.  An engine's own install takes precedence over the one for
    all engines.  Supported drivers: psycopg2, psycopg 3 (sync and async) and asyncpg;
    the install for all engines passes over other databases and drivers.

    ``same_round_trip=True`` (the default): psycopg2 and psycopg 3 send the settings in
    the same round trip as the statement that needs them (no extra round trip).
    ``False`` sends them as a statement of their own, one round trip when the values
    change, which costs less CPU on the client where a round trip is nearly free (same
    host).  The async drivers always send them that way.

    Example::

        engine = create_engine("postgresql+psycopg://app@db/shop")
        alembic_audit.install_context(engine)
        alembic_audit.install_context()  # or: every engine of the process
    """
    global _everywhere
    with _lock:
        if bind is None:
            if _everywhere is not None:
                _everywhere.remove()
            _everywhere = _Hook(same_round_trip, None)
            _everywhere.listen(Engine, _psycopg_dialect_class())
            return
        engine = _sync_engine(bind)
        dialect = engine.dialect
        if dialect.name != "postgresql" or dialect.driver not in _SUPPORTED_DRIVERS:
            raise AuditError(
                f"install_context: the {dialect.name}+{dialect.driver} driver is not "
                "supported; use postgresql+psycopg, postgresql+psycopg2 or postgresql+asyncpg"
            )
        previous = _engines.pop(engine, None)
        if previous is not None:
            previous.remove()
        hook = _engines[engine] = _Hook(same_round_trip, engine)
        pipelined = dialect.driver == "psycopg" and not dialect.is_async
        hook.listen(engine, engine if pipelined else None)


def uninstall_context(bind: Engine | AsyncEngine | None = None) -> None:
    """Undo :func:`install_context` for ``bind``, or the install for all engines.

    Example::

        alembic_audit.uninstall_context(engine)
    """
    global _everywhere
    with _lock:
        if bind is None:
            hook, _everywhere = _everywhere, None
        else:
            hook = _engines.pop(_sync_engine(bind), None)
        if hook is not None:
            hook.remove()


__all__ = [
    "audit_context",
    "current_audit_context",
    "entered_context",
    "install_context",
    "uninstall_context",
]
