"""Deprecated names resolved through a module ``__getattr__``: each warns once, when first used."""

from __future__ import annotations

import warnings
from typing import Any, Callable


def deprecated_names(
    module_name: str, names: dict[str, tuple[Callable[[], Any], str]]
) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``names``: name -> (how to get the value, what to use instead).

    The ``DeprecationWarning`` is issued the first time each name is looked up; later look-ups
    return the value silently. Unknown names raise ``AttributeError`` as usual.
    """
    warned: set[str] = set()

    def __getattr__(name: str) -> Any:
        try:
            get, instead = names[name]
        except KeyError:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}") from None
        if name not in warned:
            warned.add(name)
            warnings.warn(
                f"{module_name}.{name} is a cogen 0.1.x name; use {instead}",
                DeprecationWarning,
                stacklevel=2,
            )
        return get()

    return __getattr__
