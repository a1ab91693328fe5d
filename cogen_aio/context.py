"""Who is running right now: the owner that ``local`` and ``key=None`` arguments refer to.

The original keyed per-coroutine state on "the coroutine being stepped". Here the owner is, in
order: the cogen coroutine or WSGI request being stepped (set around each step), else the current
asyncio task, else None (code outside any loop, one shared slot, as in the original).
"""

from __future__ import annotations

import asyncio
from contextvars import ContextVar, Token
from typing import Any, Callable

_stepping: ContextVar[Any] = ContextVar("cogen_aio_stepping", default=None)


def current_owner() -> Any:
    owner = _stepping.get()
    if owner is not None:
        return owner
    try:
        return asyncio.current_task()
    except RuntimeError:
        return None


#: ``enter(owner)`` marks ``owner`` as the one running until ``leave(token)`` is called with the
#: token it returned. The context variable's own methods, not wrappers: every step of every
#: coroutine and parked request goes through them.
enter: Callable[[Any], Token[Any]] = _stepping.set
leave: Callable[[Token[Any]], None] = _stepping.reset
