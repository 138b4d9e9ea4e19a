import alembic_audit

# Fixture modules shared by the test files (tests/fixtures/db.py is loaded by addopts).
pytest_plugins = ["tests.fixtures.alembic_project"]

# Audit tables are added by an event hook; it must be active before any test module
# defines an audited table.
alembic_audit.enable()
