"""Autogenerate: the comparator, the renderers, and the Alembic plugin that registers them.

Nothing is imported here: Alembic loads :mod:`alembic_audit.plugin` while
``alembic.autogenerate`` is half imported, and the modules of this package import
Alembic's autogenerate at their top.
"""
