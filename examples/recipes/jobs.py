"""A background job (Celery-style) runs in the audit context of the request that queued
it: the values travel with the task's arguments, as plain strings."""

from __future__ import annotations

# --- recipe ---
import functools
from collections.abc import Callable
from typing import Any

from alembic_audit import audit_context, current_audit_context


def audited_task(**defaults: object) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Run the task in the audit context it was queued from (``audit=...``), over
    ``defaults``, with ``job`` set to the task's name.  Put it under ``@app.task``."""

    def wrap(func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def run(*args: Any, audit: dict[str, str] | None = None, **kwargs: Any) -> Any:
            with audit_context(**{**defaults, **(audit or {})}, job=func.__name__):
                return func(*args, **kwargs)

        return run

    return wrap


def queue_audited(task: Any, *args: Any, **kwargs: Any) -> Any:
    """``task.delay(...)`` with the caller's audit context in the task's arguments."""
    return task.delay(*args, audit=current_audit_context(), **kwargs)


# Usage with Celery:
#
#     @celery_app.task
#     @audited_task(username="scheduler")  # who a job queued by the scheduler runs as
#     def reprice(product_id: int) -> None:
#         with engine.begin() as conn:
#             conn.execute(product.update().where(...).values(...))
#
#     queue_audited(reprice, 42)  # in a request: the job's audit rows name its user
