"""Typed access to the audit operations, for type checkers and editors.

``op.create_audit_trigger(...)`` works in any migration once the ops are registered,
but ``alembic.op`` is a stub-typed module that type checkers cannot extend, so they
flag it and editors cannot complete it.  The functions here are the same operations;
they run through the current migration's ``op``.  Their signatures and docstrings
are in ``op.pyi``, generated from the operations themselves
(``python tools/write_op_stub.py``; a test fails when it is out of date).

Example (a hand-written migration)::

    from alembic_audit import op as audit_op

    def upgrade() -> None:
        audit_op.create_audit_trigger("item", create_audit_table=True)

    def downgrade() -> None:
        audit_op.drop_audit_trigger("item", drop_audit_table=True)
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from alembic import op as _alembic_op
from alembic.operations import Operations

from .migration import ops as _ops  # registers the ops with Alembic


def _proxy(name: str, method: Callable[..., None]) -> Callable[..., None]:
    def call(*args: Any, **kw: Any) -> None:
        # alembic.op forwards to the Operations object of the running migration.
        getattr(_alembic_op, name)(*args, **kw)

    signature = inspect.signature(method)
    call.__name__ = call.__qualname__ = name
    call.__doc__ = method.__doc__
    # The method's first parameter is the Operations object the proxy supplies.
    call.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=list(signature.parameters.values())[1:]
    )
    return call


for _name in _ops.OPERATIONS:
    # Operations.<name> is the method Alembic made from the op's classmethod.
    globals()[_name] = _proxy(_name, getattr(Operations, _name))

__all__ = list(_ops.OPERATIONS)
