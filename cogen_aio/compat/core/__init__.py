"""``cogen.core``: the original's core package (events, coroutines, schedulers, queue, pubsub, pipe,
sockets, util, proactors). Submodules load on first use, as ``import cogen.core.X`` does."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["namespace", "LAYOUT"]

#: The submodules of the original ``cogen.core`` that apps reach.
LAYOUT = (
    "events",
    "coroutines",
    "schedulers",
    "queue",
    "pubsub",
    "pipe",
    "sockets",
    "util",
    "proactors",
)


class LegacyCore:
    """What ``environ['cogen.core']`` walks: ``.events``, ``.queue`` ... resolve to the modules of
    this package on first access and are then plain attributes, so a request pays nothing."""

    def __getattr__(self, name: str) -> Any:
        if name in LAYOUT:
            module = importlib.import_module(f"{__name__}.{name}")
            setattr(self, name, module)
            return module
        raise AttributeError(f"cogen.core has no module {name!r}")

    def __repr__(self) -> str:
        return "<cogen.core namespace>"


namespace = LegacyCore()


def __getattr__(name: str) -> Any:
    if name in LAYOUT:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'cogen.core' has no attribute {name!r}")
