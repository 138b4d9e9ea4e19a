"""Starlette: the user from Starlette's authentication middleware, the request id and the
client address from the request, in one middleware.  ``create_app(engine)``."""

from __future__ import annotations

from sqlalchemy.engine import Engine

# --- recipe ---
from starlette.applications import Starlette
from starlette.authentication import AuthCredentials, AuthenticationBackend, SimpleUser
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import alembic_audit
from alembic_audit import AuditContextMiddleware, asgi_header

from .models import product


class HeaderAuth(AuthenticationBackend):  # your authentication goes here
    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, SimpleUser]:
        return AuthCredentials(["authenticated"]), SimpleUser(conn.headers["x-user"])


def audit_values(scope: dict) -> dict[str, object]:
    return {
        "username": scope["user"].display_name if scope["user"].is_authenticated else None,
        "request_id": asgi_header(scope, "x-request-id"),
        "client_addr": scope["client"][0] if scope.get("client") else None,
    }


def create_app(engine: Engine) -> Starlette:
    alembic_audit.install_context(engine)

    def add_product(request: Request) -> JSONResponse:  # sync: Starlette runs it in a
        name = request.path_params["name"]  # worker thread, with the request's context
        with engine.begin() as conn:
            conn.execute(product.insert().values(name=name))
        return JSONResponse({"added": name})

    return Starlette(
        routes=[Route("/products/{name}", add_product, methods=["POST"])],
        middleware=[  # outermost first: the user is known when the audit values are read
            Middleware(AuthenticationMiddleware, backend=HeaderAuth()),
            Middleware(AuditContextMiddleware, values=audit_values),
        ],
    )
