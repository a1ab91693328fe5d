"""``cogen.core.events`` (cogen-api.md §5): the core operations, AddCoro and Join, the priority
constants, and the 0.1.x names ``Call``, ``ConnectionError``, ``ConnectionClosed`` and
``CoroutineException`` (each warns once, the first time it is used)."""

from __future__ import annotations

from typing import Any

from cogen_aio.coroutines import AddCoro, Join
from cogen_aio.ops import (
    Operation,
    OperationTimeout,
    Signal,
    Sleep,
    TimedOperation,
    WaitForSignal,
)
from cogen_aio.priority import priority

from ._legacy import deprecated_names

__all__ = [
    "OperationTimeout",
    "WaitForSignal",
    "Signal",
    "AddCoro",
    "Join",
    "Sleep",
    "Operation",
    "TimedOperation",
]


def _call(coro: Any, args: Any = None, kwargs: Any = None, **ignored: Any) -> Any:
    """0.1.9's ``events.Call``: the coroutine instance, i.e. ``yield Call(c, args)`` is the same as
    ``yield c(*args)``."""
    return coro(*(args or ()), **(kwargs or {}))


def _sockets() -> Any:
    from cogen_aio import sockets

    return sockets


def _coroutines() -> Any:
    from cogen_aio import coroutines

    return coroutines


__getattr__ = deprecated_names(
    "cogen.core.events",
    {
        "Call": (lambda: _call, "yield coro(*args, **kwargs)"),
        "ConnectionError": (lambda: _sockets().SocketError, "cogen.core.sockets.SocketError"),
        "ConnectionClosed": (
            lambda: _sockets().ConnectionClosed,
            "cogen.core.sockets.ConnectionClosed",
        ),
        "CoroutineException": (
            lambda: _coroutines().CoroutineException,
            "cogen.core.coroutines.CoroutineException",
        ),
    },
)
