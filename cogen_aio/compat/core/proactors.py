"""``cogen.core.proactors``: the original's proactor selection (cogen-api.md §7).

Sockets and timers are served by the asyncio event loop, so there is nothing to choose. Every
``has_*`` function returns the same stand-in class, never None, so old code such as
``Scheduler(proactor=proactors.has_epoll())`` runs on any platform (the Scheduler ignores it).
"""

from __future__ import annotations

from typing import Any, Callable

__all__ = [
    "EventLoopProactor",
    "DefaultProactor",
    "get_first",
    "has_any",
    "has_select",
    "has_poll",
    "has_epoll",
    "has_stdlib_epoll",
    "has_kqueue",
    "has_stdlib_kqueue",
    "has_iocp",
    "has_ctypes_iocp",
]


class EventLoopProactor:
    """Stands for "the asyncio event loop" where the original expected a proactor class."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass


def _has() -> type[EventLoopProactor]:
    return EventLoopProactor


has_any = has_select = has_poll = has_epoll = has_stdlib_epoll = _has
has_kqueue = has_stdlib_kqueue = has_iocp = has_ctypes_iocp = _has


def get_first(*imps: Callable[[], Any]) -> Any:
    """The first truthy result of ``imps`` (the original's helper)."""
    for imp in imps:
        proactor = imp()
        if proactor:
            return proactor
    return None


DefaultProactor = EventLoopProactor
