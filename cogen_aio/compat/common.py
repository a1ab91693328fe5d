"""``cogen.common``: the original's one-stop import (coroutine, Scheduler, events, sockets,
proactors, priority), typically used as ``from cogen.common import *``."""

from __future__ import annotations

from .core import events, proactors, sockets
from .core.coroutines import coro, coroutine
from .core.events import priority
from .core.schedulers import Scheduler

__all__ = ["coroutine", "coro", "Scheduler", "events", "sockets", "proactors", "priority"]
