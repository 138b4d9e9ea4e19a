"""What applications call at run time: install without Alembic, grants, session settings."""
