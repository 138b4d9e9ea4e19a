"""Reading the history: one row's versions, a table as of a moment, the timeline of
changes across tables, and writing old states back (restore, revert).

Modules: ``source`` (:class:`AuditedTable`: what is read, from models or reflected),
``connections`` (one implementation for sync and async connections and sessions),
``versions`` (:class:`Version`, diffs, :func:`history`), ``queries`` (:func:`as_of`),
``timeline`` (:func:`changes`, :class:`Page`), ``restore`` (:func:`restore`,
:func:`revert_transaction`, :class:`Write`).

Example::

    alembic_audit.history(conn, Order, 7)
    sa.select(alembic_audit.as_of(Order, noon))
"""

from .queries import as_of
from .restore import Write, restore, revert_transaction
from .source import AuditedTable
from .timeline import Page, changes
from .versions import Version, history

__all__ = [
    "AuditedTable",
    "Page",
    "Version",
    "Write",
    "as_of",
    "changes",
    "history",
    "restore",
    "revert_transaction",
]
