"""The Alembic plugin ``alembic_audit``, and the global registration ``enable()`` asks for.

Alembic imports the entry point module (:mod:`alembic_audit.plugin`, which is this
module under its published name) while ``alembic.autogenerate`` is still half
initialised, so nothing from Alembic (nor our modules that import it) is imported
at module level: :func:`setup` registers a thin comparator whose body imports
:mod:`alembic_audit.autogen.compare` on first use.

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

from ..core.imports import when_imported

if TYPE_CHECKING:
    from alembic.runtime.plugins import Plugin
    from alembic.util import PriorityDispatchResult

#: The name to list in ``autogenerate_plugins``.
PLUGIN_NAME = "alembic_audit"

#: The module holding Alembic's global comparator registry (``comparators``).
_REGISTRY_MODULE = "alembic.autogenerate.compare"

_lock = threading.RLock()
_registered_globally = False


def comparator(*args: Any, **kw: Any) -> PriorityDispatchResult:
    """The comparator registered with Alembic: :func:`~alembic_audit.autogen.compare.compare_audit`.

    Example::

        plugin.add_autogenerate_comparator(comparator, "schema", qualifier="postgresql")
    """
    # Imported on first use, not at the top: see the module docstring.
    from .compare import compare_audit

    return compare_audit(*args, **kw)


def preparer(*args: Any, **kw: Any) -> PriorityDispatchResult:
    """The comparator that runs first: :func:`~alembic_audit.autogen.compare.prepare_audit`
    (reads the catalog, keeps audit tables out of Alembic's own table comparison).

    Example::

        plugin.add_autogenerate_comparator(preparer, "schema", qualifier="postgresql")
    """
    from .compare import prepare_audit

    return prepare_audit(*args, **kw)


def setup(plugin: Plugin) -> None:
    """Register the schema-level comparators: :func:`preparer` with priority FIRST (before
    Alembic's table comparison), :func:`comparator` with priority LAST (after every
    create_table).

    Example::

        from alembic.runtime.plugins import Plugin
        import alembic_audit.plugin

        Plugin.setup_plugin_from_module(alembic_audit.plugin, "alembic_audit")
    """
    from alembic.util import DispatchPriority

    plugin.add_autogenerate_comparator(
        preparer, "schema", qualifier="postgresql", priority=DispatchPriority.FIRST
    )
    plugin.add_autogenerate_comparator(
        comparator, "schema", qualifier="postgresql", priority=DispatchPriority.LAST
    )


def register_global() -> bool:
    """Add the comparator to Alembic's global registry (what :func:`alembic_audit.enable`
    does), without importing Alembic.

    If Alembic's autogenerate is loaded, it is registered now and this returns True.
    If it is not loaded yet (an application process, which never autogenerates), it is
    registered the moment it is, and this returns False: the application does not pay
    for importing it.  Inside Alembic's own plugin loading (autogenerate half
    imported) nothing can be registered; the plugin path covers that case.

    Example::

        alembic_audit.autogen.plugin.register_global()  # True in an Alembic process
    """
    if not _registered_globally:
        when_imported(_REGISTRY_MODULE, _register_now)
    return _registered_globally


def _register_now() -> None:
    global _registered_globally
    with _lock:
        if _registered_globally:
            return
        comparators = getattr(sys.modules.get(_REGISTRY_MODULE), "comparators", None)
        if comparators is None:
            return
        from alembic.util import DispatchPriority

        comparators.dispatch_for("schema", qualifier="postgresql", priority=DispatchPriority.FIRST)(
            preparer
        )
        comparators.dispatch_for("schema", qualifier="postgresql", priority=DispatchPriority.LAST)(
            comparator
        )
        _registered_globally = True


__all__ = ["PLUGIN_NAME", "comparator", "preparer", "register_global", "setup"]
