"""The Alembic plugin ``alembic_audit`` (entry point group ``alembic.plugins``).

Alembic imports this module while ``alembic.autogenerate`` is still half
initialised, so nothing from Alembic (nor our modules that import it) is imported
at module level: :func:`setup` registers a thin comparator whose body imports
:mod:`alembic_audit.compare` on first use.

Comparator plugins are opt-in in Alembic; name this one in ``env.py``::

    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        autogenerate_plugins=["alembic.autogenerate.*", "alembic_audit"],
    )

Projects that only call :func:`alembic_audit.enable` (as the seed documented) get
the same comparator through Alembic's global comparator registry
(:func:`register_global`); it runs once per autogenerate run either way.
"""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alembic.runtime.plugins import Plugin
    from alembic.util import PriorityDispatchResult

#: The name to list in ``autogenerate_plugins``.
PLUGIN_NAME = "alembic_audit"

_lock = threading.Lock()
_registered_globally = False


def _compare(*args: Any, **kw: Any) -> PriorityDispatchResult:
    from .compare import compare_audit

    return compare_audit(*args, **kw)


def setup(plugin: Plugin) -> None:
    """Register the schema-level comparator, priority LAST (after every create_table).

    Example::

        from alembic.runtime.plugins import Plugin
        import alembic_audit.plugin

        Plugin.setup_plugin_from_module(alembic_audit.plugin, "alembic_audit")
    """
    from alembic.util import DispatchPriority

    plugin.add_autogenerate_comparator(
        _compare, "schema", qualifier="postgresql", priority=DispatchPriority.LAST
    )


def register_global() -> bool:
    """Add the comparator to Alembic's global registry (what :func:`enable` does).

    Returns whether it is registered.  Does nothing while Alembic is importing
    its autogenerate package (the plugin path covers that case).

    Example::

        alembic_audit.plugin.register_global()  # True
    """
    global _registered_globally
    with _lock:
        if _registered_globally:
            return True
        module = sys.modules.get("alembic.autogenerate.compare")
        if module is None:
            import alembic.autogenerate.compare as module
        comparators = getattr(module, "comparators", None)
        if comparators is None:  # half imported: we are inside Alembic's plugin loading
            return False
        from alembic.util import DispatchPriority

        comparators.dispatch_for("schema", qualifier="postgresql", priority=DispatchPriority.LAST)(
            _compare
        )
        _registered_globally = True
        return True


__all__ = ["PLUGIN_NAME", "register_global", "setup"]
