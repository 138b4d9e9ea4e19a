"""ASGI and WSGI middleware: every request runs in an ``audit_context`` of its own.

Framework-agnostic: a callable of yours reads the values from the ASGI ``scope`` or
the WSGI ``environ`` (the user, a request id header, the client address), and the
request, its handlers and the transactions they run are inside
``audit_context(**values)``.  The values reach the database on engines hooked by
:func:`alembic_audit.install_context`.

Example::

    app.add_middleware(  # Starlette, FastAPI
        AuditContextMiddleware,
        values=lambda scope: {
            "request_id": asgi_header(scope, "x-request-id"),
            "client_addr": scope["client"][0] if scope.get("client") else None,
        },
    )
    flask_app.wsgi_app = AuditContextWSGIMiddleware(  # Flask, Django, any WSGI app
        flask_app.wsgi_app,
        values=lambda environ: {"request_id": environ.get("HTTP_X_REQUEST_ID")},
    )
"""

from __future__ import annotations

import contextvars
import inspect
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, MutableMapping
from typing import Any

from .context import entered_context

#: The ASGI types, spelled out so that no web framework is needed to import this module.
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: The WSGI types (PEP 3333).
Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]


def asgi_header(scope: Scope, name: str) -> str | None:
    """The value of a request header in an ASGI ``scope`` (the first, if repeated), or
    ``None``.

    Example::

        asgi_header(scope, "X-Request-ID")  # '4f6c...' or None
    """
    wanted = name.lower().encode("latin-1")
    for key, value in scope.get("headers") or ():
        if key.lower() == wanted:
            return bytes(value).decode("latin-1")
    return None


def _origin(method: object, path: object, kind: str) -> str:
    return f"{kind} request {method or ''} {path or ''}".rstrip()


class AuditContextMiddleware:
    """ASGI middleware: each HTTP or WebSocket request runs in an ``audit_context`` of the
    values ``values(scope)`` returns (a mapping, or an awaitable of one).

    ``None`` values set nothing (an outer context's value stays).  A value that does not
    fit its setting's column type raises :class:`~alembic_audit.AuditError` before the
    application runs (the server answers 500); catch it in ``values`` to answer
    otherwise.  Lifespan events pass through.  Tasks the request starts inherit its
    values; background tasks run after the response (Starlette's) do too.

    Example::

        from starlette.applications import Starlette

        app = Starlette(routes=routes)
        app.add_middleware(
            AuditContextMiddleware,
            values=lambda scope: {"request_id": asgi_header(scope, "x-request-id")},
        )
    """

    def __init__(
        self,
        app: ASGIApp,
        values: Callable[[Scope], Mapping[str, object] | Awaitable[Mapping[str, object]]],
    ) -> None:
        self.app = app
        self.values = values

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        found = self.values(scope)
        if inspect.isawaitable(found):
            found = await found
        kind = "HTTP" if scope["type"] == "http" else "WebSocket"
        with entered_context(
            found,
            where="AuditContextMiddleware",
            origin=_origin(scope.get("method"), scope.get("path"), kind),
        ):
            await self.app(scope, receive, send)


class _InContext:
    """A WSGI response iterable whose iteration and ``close`` run in ``ctx`` (a body
    generated lazily writes with the request's values too)."""

    def __init__(self, result: Iterable[bytes], ctx: contextvars.Context) -> None:
        self._result = result
        self._ctx = ctx
        self._iterator: Iterator[bytes] | None = None

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if self._iterator is None:
            self._iterator = self._ctx.run(iter, self._result)
        return self._ctx.run(next, self._iterator)

    def close(self) -> None:
        close = getattr(self._result, "close", None)
        if close is not None:
            self._ctx.run(close)


class AuditContextWSGIMiddleware:
    """WSGI middleware: each request runs in an ``audit_context`` of the values
    ``values(environ)`` returns, the response body's iteration included.

    The request runs in a copy of the server thread's ``contextvars`` context, so
    nothing of it stays in the thread for the next request.  ``None`` values set
    nothing; a value that does not fit its setting's column type raises
    :class:`~alembic_audit.AuditError` before the application runs.

    Example::

        app.wsgi_app = AuditContextWSGIMiddleware(
            app.wsgi_app,
            values=lambda environ: {
                "request_id": environ.get("HTTP_X_REQUEST_ID"),
                "client_addr": environ.get("REMOTE_ADDR"),
            },
        )
    """

    def __init__(self, app: WSGIApp, values: Callable[[Environ], Mapping[str, object]]) -> None:
        self.app = app
        self.values = values

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        ctx = contextvars.copy_context()
        entered = entered_context(
            self.values(environ),
            where="AuditContextWSGIMiddleware",
            origin=_origin(environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"), "WSGI"),
        )
        # Entered in the copy and never left: the copy ends with the request.
        ctx.run(entered.__enter__)
        return _InContext(ctx.run(self.app, environ, start_response), ctx)


__all__ = ["AuditContextMiddleware", "AuditContextWSGIMiddleware", "asgi_header"]
