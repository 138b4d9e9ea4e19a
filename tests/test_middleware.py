"""ASGI and WSGI middleware, and the README's recipes, as real applications.

Concurrent requests each write audit rows; every row must carry its own request's user
and request id, never a neighbour's.
"""

from __future__ import annotations

import asyncio
import json
import queue
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import create_async_engine

import alembic_audit
from alembic_audit import AuditContextMiddleware, AuditContextWSGIMiddleware, asgi_header
from examples.recipes import fastapi_app, flask_app, jobs, starlette_app
from examples.recipes.models import metadata, product, product_audit

from .fixtures.db import with_driver

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def shop(database_url: URL) -> Iterator[URL]:
    """The recipes' audited table in this test's database."""
    engine = sa.create_engine(with_driver(database_url, "psycopg"), poolclass=sa.NullPool)
    metadata.create_all(engine)
    alembic_audit.install_audit_triggers(metadata, engine)
    engine.dispose()
    yield database_url


def trail(url: URL) -> list[dict[str, Any]]:
    engine = sa.create_engine(with_driver(url, "psycopg"), poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            query = sa.select(product_audit).order_by(product_audit.c.id)
            return [dict(r._mapping) for r in conn.execute(query)]
    finally:
        engine.dispose()


def requests(n: int) -> list[tuple[str, uuid.UUID]]:
    return [(f"user{i}", uuid.uuid4()) for i in range(n)]


def assert_own_values(rows: list[dict[str, Any]], sent: list[tuple[str, uuid.UUID]]) -> None:
    """Each row names its request (``name`` is the user); user and request id match."""
    by_user = dict(sent)
    assert sorted(r["name"] for r in rows) == sorted(user for user, _ in sent)
    for row in rows:
        assert row["audit_username"] == row["name"], row
        assert row["audit_request_id"] == by_user[row["name"]], row


def test_fastapi_recipe_concurrent_requests(shop: URL) -> None:
    sent = requests(24)

    async def run() -> list[int]:
        engine = create_async_engine(with_driver(shop, "asyncpg"), pool_size=4)
        app = fastapi_app.create_app(engine)
        transport = httpx.ASGITransport(app=app)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://shop") as client:
                responses = await asyncio.gather(
                    *(
                        client.post(
                            f"/products/{user}",
                            headers={"X-User": user, "X-Request-ID": str(rid)},
                        )
                        for user, rid in sent
                    )
                )
        finally:
            await engine.dispose()
        return [r.status_code for r in responses]

    assert asyncio.run(run()) == [200] * 24
    rows = trail(shop)
    assert_own_values(rows, sent)
    assert {str(r["audit_client_addr"]) for r in rows} == {"127.0.0.1"}


def test_starlette_recipe_concurrent_requests_in_worker_threads(shop: URL) -> None:
    sent = requests(24)
    engine = sa.create_engine(with_driver(shop, "psycopg"), pool_size=8)

    async def run() -> list[int]:
        app = starlette_app.create_app(engine)
        transport = httpx.ASGITransport(app=app, client=("10.0.0.7", 4000))
        async with httpx.AsyncClient(transport=transport, base_url="http://shop") as client:
            responses = await asyncio.gather(
                *(
                    client.post(
                        f"/products/{user}", headers={"X-User": user, "X-Request-ID": str(rid)}
                    )
                    for user, rid in sent
                )
            )
        return [r.status_code for r in responses]

    try:
        assert asyncio.run(run()) == [200] * 24
    finally:
        engine.dispose()
    rows = trail(shop)
    assert_own_values(rows, sent)
    assert {str(r["audit_client_addr"]) for r in rows} == {"10.0.0.7"}


def test_flask_recipe_concurrent_requests(shop: URL) -> None:
    sent = requests(32)
    engine = sa.create_engine(with_driver(shop, "psycopg2"), pool_size=8)
    app = flask_app.create_app(engine)

    def post(user: str, rid: uuid.UUID) -> int:
        response = app.test_client().post(
            f"/products/{user}", headers={"X-User": user, "X-Request-ID": str(rid)}
        )
        return response.status_code

    try:
        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(lambda s: post(*s), sent))
    finally:
        engine.dispose()
    assert codes == [200] * 32
    rows = trail(shop)
    assert_own_values(rows, sent)
    assert {str(r["audit_client_addr"]) for r in rows} == {"127.0.0.1"}


class FakeCelery:
    """What a Celery-style queue does: task arguments serialized (JSON), run later by a
    worker thread that knows nothing of the request that queued them."""

    def __init__(self) -> None:
        self.queue: queue.Queue[str | None] = queue.Queue()
        self.tasks: dict[str, Any] = {}

    def task(self, func: Any) -> Any:
        self.tasks[func.__name__] = func

        def delay(*args: Any, **kwargs: Any) -> None:
            self.queue.put(json.dumps([func.__name__, args, kwargs]))

        func.delay = delay
        return func

    def work(self) -> None:
        while (message := self.queue.get()) is not None:
            name, args, kwargs = json.loads(message)
            self.tasks[name](*args, **kwargs)


def test_job_recipe_runs_in_the_context_that_queued_it(shop: URL) -> None:
    engine = sa.create_engine(with_driver(shop, "psycopg"))
    alembic_audit.install_context(engine)
    celery = FakeCelery()

    @celery.task
    @jobs.audited_task(username="scheduler")
    def add_product(name: str) -> None:
        with engine.begin() as conn:
            conn.execute(product.insert().values(name=name))

    rid = uuid.uuid4()
    with alembic_audit.audit_context(username="alice", request_id=rid):
        jobs.queue_audited(add_product, "queued by alice")
    jobs.queue_audited(add_product, "queued by the scheduler")
    celery.queue.put(None)
    worker = threading.Thread(target=celery.work)
    worker.start()
    worker.join()
    engine.dispose()
    rows = [
        (r["name"], r["audit_username"], r["audit_request_id"], r["audit_job"]) for r in trail(shop)
    ]
    assert rows == [
        ("queued by alice", "alice", rid, "add_product"),
        ("queued by the scheduler", "scheduler", None, "add_product"),
    ]


def test_wsgi_bodies_iterated_in_turn_keep_their_own_values(shop: URL) -> None:
    """A response body generated lazily writes with its own request's values, even when
    the server iterates two bodies in turn on one thread."""
    engine = sa.create_engine(with_driver(shop, "psycopg2"))
    alembic_audit.install_context(engine)

    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        for step in range(3):
            with engine.begin() as conn:
                conn.execute(product.insert().values(name=environ["HTTP_X_USER"]))
            yield f"{step}\n".encode()

    wrapped = AuditContextWSGIMiddleware(
        app,
        values=lambda environ: {
            "username": environ["HTTP_X_USER"],
            "request_id": environ["HTTP_X_REQUEST_ID"],
        },
    )
    sent = requests(2)
    bodies = [
        wrapped(
            {"HTTP_X_USER": user, "HTTP_X_REQUEST_ID": str(rid), "REQUEST_METHOD": "GET"},
            lambda status, headers: None,
        )
        for user, rid in sent
    ]
    iterators = [iter(b) for b in bodies]
    for _ in range(3):
        for it in iterators:
            next(it)
    for body in bodies:
        body.close()  # type: ignore[attr-defined]
    assert alembic_audit.current_audit_context() == {}  # nothing left in this thread
    engine.dispose()
    rows = trail(shop)
    assert len(rows) == 6
    assert_own_values(rows, sent * 3)


def test_bare_asgi_app_async_values_and_lifespan(shop: URL) -> None:
    seen_scopes: list[str] = []

    async def values(scope: dict[str, Any]) -> dict[str, object]:
        seen_scopes.append(scope["type"])
        await asyncio.sleep(0)
        return {"username": asgi_header(scope, "x-user")}

    async def run() -> list[int]:
        engine = create_async_engine(with_driver(shop, "psycopg"))
        alembic_audit.install_context(engine)

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] == "lifespan":
                message = await receive()
                assert message["type"] == "lifespan.startup"
                assert alembic_audit.current_audit_context() == {}
                await send({"type": "lifespan.startup.complete"})
                return
            async with engine.begin() as conn:
                await conn.execute(product.insert().values(name=asgi_header(scope, "x-user")))
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        wrapped = AuditContextMiddleware(app, values=values)
        sent_messages: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "lifespan.startup"}

        async def send(message: dict[str, Any]) -> None:
            sent_messages.append(message)

        await wrapped({"type": "lifespan"}, receive, send)
        assert sent_messages == [{"type": "lifespan.startup.complete"}]
        transport = httpx.ASGITransport(app=wrapped)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://shop") as client:
                responses = await asyncio.gather(
                    *(client.get("/", headers={"X-User": f"u{n}"}) for n in range(6))
                )
        finally:
            await engine.dispose()
        return [r.status_code for r in responses]

    assert asyncio.run(run()) == [204] * 6
    assert seen_scopes == ["http"] * 6  # lifespan passed through without values
    assert sorted((r["name"], r["audit_username"]) for r in trail(shop)) == [
        (f"u{n}", f"u{n}") for n in range(6)
    ]


def test_a_bad_request_value_fails_before_the_app_runs(shop: URL) -> None:
    called: list[bool] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        called.append(True)

    wrapped = AuditContextMiddleware(
        app, values=lambda scope: {"request_id": asgi_header(scope, "x-request-id")}
    )

    async def run() -> None:
        transport = httpx.ASGITransport(app=wrapped)
        async with httpx.AsyncClient(transport=transport, base_url="http://shop") as client:
            await client.get("/", headers={"X-Request-ID": "not-a-uuid"})

    with pytest.raises(
        alembic_audit.AuditError,
        match=r"AuditContextMiddleware: value 'not-a-uuid' of setting 'request_id' does not "
        "fit UUID",
    ):
        asyncio.run(run())
    assert called == []


def test_missing_required_setting_names_the_request(shop: URL) -> None:
    engine = sa.create_engine(with_driver(shop, "psycopg"))
    alembic_audit.install_context(engine)

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        with engine.begin() as conn:
            conn.execute(product.insert().values(name="nobody"))
        start_response("200 OK", [])
        return [b""]

    wrapped = AuditContextWSGIMiddleware(
        app, values=lambda environ: {"request_id": environ.get("HTTP_X_REQUEST_ID")}
    )
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/products",
        "HTTP_X_REQUEST_ID": str(uuid.uuid4()),
    }
    try:
        with pytest.raises(sa.exc.IntegrityError) as raised:
            wrapped(environ, lambda *a: None)
    finally:
        engine.dispose()
    assert (
        "the active audit context is audit_context(request_id) entered in WSGI request POST "
        "/products" in str(raised.value.orig)
    )


def test_none_values_leave_an_outer_context_alone(shop: URL) -> None:
    engine = sa.create_engine(with_driver(shop, "psycopg"))
    alembic_audit.install_context(engine)

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        with engine.begin() as conn:
            conn.execute(product.insert().values(name="worker"))
        start_response("200 OK", [])
        return [b""]

    wrapped = AuditContextWSGIMiddleware(
        app,
        values=lambda environ: {
            "username": environ.get("HTTP_X_USER"),  # absent: None
            "request_id": environ.get("HTTP_X_REQUEST_ID"),
        },
    )
    rid = uuid.uuid4()
    try:
        with alembic_audit.audit_context(username="in-process"):
            wrapped({"HTTP_X_REQUEST_ID": str(rid)}, lambda *a: None)
    finally:
        engine.dispose()
    assert [(r["audit_username"], r["audit_request_id"]) for r in trail(shop)] == [
        ("in-process", rid)
    ]


RECIPES = ["fastapi_app.py", "starlette_app.py", "flask_app.py", "jobs.py"]


@pytest.mark.parametrize("name", RECIPES)
def test_readme_shows_the_tested_recipes(name: str) -> None:
    source = (ROOT / "examples" / "recipes" / name).read_text()
    recipe = source.split("# --- recipe ---\n", 1)[1].strip()
    readme = (ROOT / "README.md").read_text()
    assert f"```python\n{recipe}\n```" in readme, f"README.md must show examples/recipes/{name}"
