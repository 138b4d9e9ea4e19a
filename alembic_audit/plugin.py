"""The Alembic plugin ``alembic_audit``: the module the ``alembic.plugins`` entry point names.

The plugin lives in :mod:`alembic_audit.autogen.plugin`; this path stays because
installed distributions and ``env.py`` files name it.

Example::

    context.configure(..., autogenerate_plugins=["alembic.autogenerate.*", "alembic_audit"])
"""

from .autogen.plugin import PLUGIN_NAME, register_global, setup

__all__ = ["PLUGIN_NAME", "register_global", "setup"]
