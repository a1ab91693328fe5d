"""The legacy ``cogen`` package: the original's module paths mapped onto cogen_aio.

After :func:`install`, ``import cogen.core.events`` gives ``cogen_aio.compat.core.events``: the very
same module object under both names, so classes, exceptions and module state are shared. The
modules here only map old paths, old names and old quirks (DESIGN.md, "Layout"); the
implementations are cogen_aio's own modules.

This package imports nothing at load time: ``cogen_aio.parking`` reads ``compat.core.namespace``
while the server is being imported, and the CLI calls :func:`install` before loading every app.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
import warnings
from typing import Any, Sequence

__all__ = ["install", "uninstall", "installed", "LEGACY_NAME"]

#: The cogen API level these modules reproduce (the original's last release). cogen_aio's own
#: version is ``cogen_aio.__version__``.
__version__ = "0.2.1"

#: The top-level name legacy apps import.
LEGACY_NAME = "cogen"
_TARGET = __name__  # "cogen_aio.compat"


class _AliasLoader(importlib.abc.Loader):
    """Hands out the already imported ``cogen_aio.compat...`` module for a ``cogen...`` name."""

    def __init__(self, target: str) -> None:
        self.target = target
        self._spec: Any = None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = importlib.import_module(self.target)
        # The import system stamps the alias spec on the module it gets back; the module keeps
        # its own (relative imports and reloads rely on it), restored in exec_module.
        self._spec = module.__spec__
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        if self._spec is not None:
            module.__spec__ = self._spec


class _AliasFinder(importlib.abc.MetaPathFinder):
    """Finds ``cogen`` and ``cogen.X`` as ``cogen_aio.compat`` and ``cogen_aio.compat.X``."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: Any = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != LEGACY_NAME and not fullname.startswith(LEGACY_NAME + "."):
            return None
        real = _TARGET + fullname[len(LEGACY_NAME):]
        if real not in sys.modules and importlib.util.find_spec(real) is None:
            return None  # ModuleNotFoundError names the legacy module
        is_package = hasattr(importlib.import_module(real), "__path__")
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(real), is_package=is_package)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {LEGACY_NAME} -> {_TARGET}>"


_finder: _AliasFinder | None = None


def installed() -> bool:
    """Whether ``import cogen`` currently resolves to this package."""
    return _finder is not None and _finder in sys.meta_path


def install(legacy_environ: bool = False) -> bool:
    """Make ``import cogen...`` resolve to ``cogen_aio.compat...``. Idempotent.

    If a real ``cogen`` package is importable, nothing is changed and a ``RuntimeWarning`` says
    so: that package wins. With ``legacy_environ``, requests also get the 0.1.x ``environ['cogen']``
    object (see ``cogen_aio.parking.enable_legacy_environ``). Returns whether the alias is active.
    """
    global _finder
    if legacy_environ:
        from .. import parking

        parking.enable_legacy_environ(True)
    if installed():
        return True
    existing = sys.modules.get(LEGACY_NAME)
    if existing is not None and existing is not sys.modules[_TARGET]:
        spec_origin = getattr(existing, "__file__", None) or repr(existing)
        warnings.warn(
            f"a real {LEGACY_NAME!r} package is already imported ({spec_origin}); "
            f"cogen_aio.compat.install() leaves it alone",
            RuntimeWarning,
            stacklevel=2,
        )
        return False
    if existing is None and importlib.util.find_spec(LEGACY_NAME) is not None:
        spec = importlib.util.find_spec(LEGACY_NAME)
        warnings.warn(
            f"a real {LEGACY_NAME!r} package is importable "
            f"({getattr(spec, 'origin', None) or spec}); cogen_aio.compat.install() leaves it alone",
            RuntimeWarning,
            stacklevel=2,
        )
        return False
    _finder = _AliasFinder()
    sys.meta_path.insert(0, _finder)
    return True


def uninstall() -> None:
    """Undo :func:`install`: forget the ``cogen`` aliases (the modules themselves stay)."""
    global _finder
    if _finder is not None:
        try:
            sys.meta_path.remove(_finder)
        except ValueError:
            pass
        _finder = None
    for name in list(sys.modules):
        if name == LEGACY_NAME or name.startswith(LEGACY_NAME + "."):
            module = sys.modules[name]
            if getattr(module, "__name__", "").startswith(_TARGET):
                del sys.modules[name]


_SUBMODULES = frozenset({"core", "common", "web"})


def __getattr__(name: str) -> Any:
    # ``import cogen`` made ``cogen.core`` and ``cogen.common`` usable in the original (its
    # __init__ imported them); load them on first use here, to keep this package import-free.
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {LEGACY_NAME!r} has no attribute {name!r}")
