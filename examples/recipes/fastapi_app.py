"""FastAPI: the request id and the client address from the middleware, the user from an
authentication dependency.  ``create_app(async_engine)``."""

from __future__ import annotations

# --- recipe ---
from collections.abc import AsyncIterator

from fastapi import Depends, FastAPI, Header
from sqlalchemy.ext.asyncio import AsyncEngine

import alembic_audit
from alembic_audit import AuditContextMiddleware, asgi_header, audit_context

from .models import product


async def audit_user(x_user: str = Header()) -> AsyncIterator[None]:
    # Your authentication goes here.  An async dependency: FastAPI runs a plain
    # "def" one in a worker thread, whose context would not reach the endpoint.
    with audit_context(username=x_user):
        yield


def create_app(engine: AsyncEngine) -> FastAPI:
    alembic_audit.install_context(engine)
    app = FastAPI(dependencies=[Depends(audit_user)])
    app.add_middleware(
        AuditContextMiddleware,
        values=lambda scope: {
            "request_id": asgi_header(scope, "x-request-id"),
            "client_addr": scope["client"][0] if scope.get("client") else None,
        },
    )

    @app.post("/products/{name}")
    async def add_product(name: str) -> dict[str, str]:
        async with engine.begin() as conn:
            await conn.execute(product.insert().values(name=name))
        return {"added": name}

    return app
