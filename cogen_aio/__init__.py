"""cogen_aio: WSGI on an asyncio event loop, cogen-style asynchronous apps included.

The public names are imported on first use (PEP 562), so that ``import cogen_aio`` — which pytest
does in every project where the plugin is installed — stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# name -> module that defines it
_EXPORTS = {
    "Config": "config",
    "ConfigError": "config",
    "Server": "server",
    "serve": "server",
    "serve_async": "server",
    "start_server": "server",
    "Operation": "ops",
    "Sleep": "ops",
    "WaitForSignal": "ops",
    "Signal": "ops",
    "Call": "ops",
    "OperationTimeout": "ops",
    "ShuttingDown": "ops",
    "signal": "ops",
    "signal_threadsafe": "ops",
    "coroutine": "coroutines",
    "coro": "coroutines",
    "spawn": "coroutines",
    "local": "coroutines",
    "AddCoro": "coroutines",
    "Join": "coroutines",
    "Scheduler": "scheduler",
    "priority": "priority",
    "Queue": "queue",
    "Full": "queue",
    "Empty": "queue",
    "PublishSubscribeQueue": "pubsub",
    "MessagesDropped": "pubsub",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'cogen_aio' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:
    from .config import Config, ConfigError
    from .coroutines import AddCoro, Join, coro, coroutine, local, spawn
    from .ops import (
        Call,
        Operation,
        OperationTimeout,
        ShuttingDown,
        Signal,
        Sleep,
        WaitForSignal,
        signal,
        signal_threadsafe,
    )
    from .priority import priority
    from .pubsub import MessagesDropped, PublishSubscribeQueue
    from .queue import Empty, Full, Queue
    from .scheduler import Scheduler
    from .server import Server, serve, serve_async, start_server
