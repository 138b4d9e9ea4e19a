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


__all__ = ["AuditError", "AuditTableMismatch", "OfflineOperationError"]
