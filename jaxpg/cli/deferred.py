"""Modules that the ``jaxpg`` command loads at their first use rather than at their import.

Importing any part of gymnax imports every environment it ships, and two of those import
plotting libraries at module level for their rendering alone: Pong imports seaborn (which
imports scipy.stats and pandas), Catch imports matplotlib.pyplot. On a 2-core machine that is
1-2 s of every command's start for modules a training run never uses. The command (not
``jaxpg.cli.main`` called from Python, which leaves the caller's process alone) registers them
as deferred before it builds an environment: each is a module object in `sys.modules` whose
code runs, in place, the first time one of its attributes is read, so any code that does use
them gets the real module. `importlib.util.LazyLoader` runs the code as soon as the import
system looks at the module's ``__spec__``, which every later ``import`` statement of it does
(gymnax's own imports included): it would defer nothing here.
"""

from __future__ import annotations

import importlib.util
import sys
import types

#: The modules the command defers (those already imported are left as they are).
DEFERRED = ("seaborn", "matplotlib.pyplot")


class DeferredModule(types.ModuleType):
    """A module whose code has not run yet: the first attribute it lacks runs it (in this
    same module object, which then is an ordinary module)."""

    def __getattr__(self, attribute: str) -> object:
        spec = self.__spec__
        # An ordinary module from here on: attributes missing while its code runs, or
        # after it failed, raise AttributeError as usual.
        self.__class__ = types.ModuleType
        try:
            spec.loader.exec_module(self)
        except BaseException:
            if sys.modules.get(spec.name) is self:
                del sys.modules[spec.name]  # as after a failed import: the next one retries
            raise
        return getattr(self, attribute)


def defer_imports(names: tuple[str, ...] = DEFERRED) -> list[str]:
    """Registers ``names`` as deferred modules (`DeferredModule`); returns those registered.

    A module already imported, or not installed, is skipped. A submodule's parent package is
    imported (its spec needs it).
    """
    registered = []
    for name in names:
        if name in sys.modules:
            continue
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            continue
        module = importlib.util.module_from_spec(spec)
        module.__class__ = DeferredModule
        sys.modules[name] = module
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, module)
        registered.append(name)
    return registered
