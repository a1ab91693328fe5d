"""cogen_aio: WSGI on an asyncio event loop, cogen-style asynchronous apps included."""

from __future__ import annotations

__version__ = "0.1.0"

from .config import Config, ConfigError
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
from .server import Server, serve, serve_async, start_server
from .coroutines import AddCoro, Join, coro, coroutine, local, spawn
from .priority import priority
from .pubsub import MessagesDropped, PublishSubscribeQueue
from .queue import Empty, Full, Queue
from .scheduler import Scheduler

__all__ = [
    "__version__",
    "Config",
    "ConfigError",
    "Server",
    "serve",
    "serve_async",
    "start_server",
    "Operation",
    "Sleep",
    "WaitForSignal",
    "Signal",
    "Call",
    "OperationTimeout",
    "ShuttingDown",
    "signal",
    "signal_threadsafe",
    "coroutine",
    "coro",
    "spawn",
    "local",
    "AddCoro",
    "Join",
    "Scheduler",
    "priority",
    "Queue",
    "Full",
    "Empty",
    "PublishSubscribeQueue",
    "MessagesDropped",
]
