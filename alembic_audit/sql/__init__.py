"""SQL of the audit objects: frozen definitions rendered through the identifier preparer.

Each module holds one kind of object (the trigger function, its triggers, the audit
table, the grants) as a frozen definition built from an
:class:`~alembic_audit.core.spec.AuditSpec`; the definitions render their own DDL,
and the inspector compares them field by field with what ``pg_catalog`` holds.
``catalog`` holds the read-only queries.  Nothing here runs SQL.
"""
