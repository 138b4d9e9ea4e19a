import alembic_audit

# Audit tables are added by an event hook; it must be active before any test module
# defines an audited table.
alembic_audit.enable()
