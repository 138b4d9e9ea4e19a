"""Run code when a module gets imported, without importing it.

Python has no post-import hook.  :func:`when_imported` calls a function right away
if the module is already loaded, and otherwise right after the module's code has run,
through a finder that answers only for the modules being waited for and lets the
other finders do the finding.

alembic-audit uses it to join Alembic (its operations, its autogenerate registry)
from :func:`alembic_audit.enable` and ``import alembic_audit`` without importing
Alembic into application processes, which never run a migration.

Example::

    when_imported("alembic.operations", lambda: print("Alembic's operations are loaded"))
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import threading
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

_lock = threading.RLock()
#: Module name -> functions to call once it has been executed.
_waiting: dict[str, list[Callable[[], object]]] = {}


def is_loaded(name: str) -> bool:
    """Whether module ``name`` has been imported completely (not just begun).

    A module is in ``sys.modules`` from the moment its import begins; its spec's
    ``_initializing`` flag stays set until its code has run.

    Example::

        is_loaded("sys")  # True
    """
    module = sys.modules.get(name)
    if module is None:
        return False
    spec = getattr(module, "__spec__", None)
    return not getattr(spec, "_initializing", False)


def when_imported(name: str, callback: Callable[[], object]) -> bool:
    """Call ``callback`` once module ``name`` is imported; now if it already is.

    Returns True if it was called now.  If the module is not imported yet, the
    callback runs once, right after the module's code has run (inside the import
    statement that loaded it).  If the module's import has begun but not finished
    (the caller runs during that import), nothing can be hooked any more: the
    callback is not called and False is returned; callers ask again later.

    Example::

        when_imported("alembic.operations", register_operations)
    """
    with _lock:
        loaded = is_loaded(name)
        if not loaded and name not in sys.modules:
            callbacks = _waiting.setdefault(name, [])
            if callback not in callbacks:  # enable() may be called once per engine
                callbacks.append(callback)
            _AfterImport.install()
    # Called outside the lock: the callback imports modules, and so may wait for a
    # module lock held by a thread that waits for ours in _done.
    if loaded:
        callback()
    return loaded


def _done(name: str) -> None:
    with _lock:
        callbacks = _waiting.pop(name, [])
        if not _waiting:
            _AfterImport.uninstall()
    for callback in callbacks:
        callback()


class _AfterImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: for a module being waited for, it asks the other finders
    and wraps the loader they return, so that the callbacks run once the module has
    executed."""

    _instance: _AfterImport | None = None

    @classmethod
    def install(cls) -> None:
        if cls._instance is None:
            cls._instance = cls()
            sys.meta_path.insert(0, cls._instance)

    @classmethod
    def uninstall(cls) -> None:
        if cls._instance is not None:
            if cls._instance in sys.meta_path:
                sys.meta_path.remove(cls._instance)
            cls._instance = None

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in _waiting:
            return None
        for finder in sys.meta_path:
            if finder is self:
                continue
            find = getattr(finder, "find_spec", None)
            spec: importlib.machinery.ModuleSpec | None = (
                find(fullname, path, target) if find is not None else None
            )
            if spec is not None and spec.loader is not None:
                spec.loader = _CallbackLoader(spec.loader, fullname)
                return spec
        return None


class _CallbackLoader(importlib.abc.Loader):
    def __init__(self, loader: importlib.abc.Loader, name: str) -> None:
        self._loader = loader
        self._name = name

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        _done(self._name)

    def __getattr__(self, name: str) -> Any:
        # get_source, get_code, ...: what tools ask of the real loader.
        return getattr(self._loader, name)


__all__ = ["is_loaded", "when_imported"]
