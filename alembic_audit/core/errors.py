"""The library's errors.

Every error raised for bad input is an :class:`AuditError`, a ``ValueError``, so
that code written against earlier releases (``except ValueError``) keeps working.
Messages name the culprit (the table, the option, the setting, the role) and say
what to do.
"""

from __future__ import annotations


class AuditError(ValueError):
    """Bad input to alembic-audit: an option, an op argument, a setting, a role.

    Example::

        try:
            alembic_audit.enable()
            Table("item", metadata, info={"audit.options": {"enabled": "yes"}})
        except alembic_audit.AuditError as exc:
            print(exc)  # table 'item': audit option 'enabled' must be True or False, ...
    """


class OfflineOperationError(AuditError):
    """An op was asked to read the live database while generating SQL offline.

    Example::

        # alembic upgrade --sql, with op.create_audit_trigger("item") in a migration:
        # OfflineOperationError: op.create_audit_trigger('item'): offline mode ...
    """


class AuditTableMismatch(AuditError):
    """An audit table lacks columns its trigger writes (made by an earlier release, or by
    hand); ``statements`` are the DDL that adds what is missing.

    Example::

        try:
            install_audit_triggers(metadata, engine)
        except AuditTableMismatch as exc:
            print(exc.statements)  # ['ALTER TABLE "public"."item_audit" ADD COLUMN ...', ...]
    """

    def __init__(self, message: str, statements: list[str]) -> None:
        super().__init__(message)
        self.statements = statements


class UnknownHistoryError(AuditError):
    """The history asked for is not recorded: a row existed before auditing began and
    has no baseline (``'S'``) row, or a transaction wrote no audit rows there.  Raised
    instead of making a state up.

    Example::

        try:
            conn.execute(sa.select(alembic_audit.as_of(Order, noon))).all()
        except alembic_audit.UnknownHistoryError as exc:
            print(exc)  # as_of(public.order) at ...: the state of the row id=7 is unknown ...
    """


class RevertConflict(AuditError):
    """``revert_transaction`` refused: later transactions changed rows the transaction
    changed.  ``rows`` names them: ``(table, key, later transaction ids)``.

    Example::

        try:
            alembic_audit.revert_transaction(conn, 1234, metadata)
        except alembic_audit.RevertConflict as exc:
            print(exc.rows)  # [('public.order', {'id': 5}, (1240,))]
    """

    def __init__(
        self, message: str, rows: list[tuple[str, dict[str, object], tuple[int | None, ...]]]
    ) -> None:
        super().__init__(message)
        self.rows = rows


__all__ = [
    "AuditError",
    "AuditTableMismatch",
    "OfflineOperationError",
    "RevertConflict",
    "UnknownHistoryError",
]
