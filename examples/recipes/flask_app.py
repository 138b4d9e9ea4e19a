"""Flask: the request id and the client address from the WSGI middleware, the user added
once the request has logged in.  ``create_app(engine)``."""

from __future__ import annotations

# --- recipe ---
from flask import Flask, g, request
from sqlalchemy.engine import Engine

import alembic_audit
from alembic_audit import AuditContextWSGIMiddleware, audit_context

from .models import product


def create_app(engine: Engine) -> Flask:
    alembic_audit.install_context(engine)
    app = Flask(__name__)
    app.wsgi_app = AuditContextWSGIMiddleware(  # type: ignore[method-assign]
        app.wsgi_app,
        values=lambda environ: {
            "request_id": environ.get("HTTP_X_REQUEST_ID"),
            "client_addr": environ.get("REMOTE_ADDR"),
        },
    )

    @app.before_request
    def enter_user_context() -> None:
        user = request.headers["X-User"]  # your login goes here (flask_login.current_user)
        g.audit_context = audit_context(username=user)
        g.audit_context.__enter__()  # nested in the middleware's: request_id stays

    @app.teardown_request
    def leave_user_context(error: BaseException | None) -> None:
        if "audit_context" in g:
            g.pop("audit_context").__exit__(None, None, None)

    @app.post("/products/<name>")
    def add_product(name: str) -> dict[str, str]:
        with engine.begin() as conn:
            conn.execute(product.insert().values(name=name))
        return {"added": name}

    return app
