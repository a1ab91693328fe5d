"""Waiting in tests: hang guards in real time, and waiting for a condition.

A guard turns a hang into a failure that names what was awaited; it never measures anything. It
counts real seconds even under a virtual clock, where the loop's own timers would fire at once.
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, TypeVar

from .clock import VirtualClock

T = TypeVar("T")

#: Default hang guard, in real seconds.
TIMEOUT = 10.0


async def guard(awaitable: Awaitable[T], timeout: float | None, what: str) -> T:
    """Await ``awaitable``; ``TimeoutError`` naming ``what`` after ``timeout`` real seconds."""
    if timeout is None:
        return await awaitable
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(awaitable)
    expired = False

    def expire() -> None:
        nonlocal expired
        if not task.done():
            expired = True
            task.cancel()

    clock = VirtualClock.of(loop)
    timer = (clock.call_later_real if clock else loop.call_later)(timeout, expire)
    try:
        return await task
    except asyncio.CancelledError:
        if expired:
            raise TimeoutError(f"{what}: still waiting after {timeout} s") from None
        raise
    finally:
        timer.cancel()


async def wait_until(
    predicate: Callable[[], Any], timeout: float | None = TIMEOUT, what: str | None = None
) -> Any:
    """Let the loop run until ``predicate()`` is true and return its value.

    Under a virtual clock it is checked each time something ran and never holds time back; with
    real time it is polled (every 0.5 ms at first, every 10 ms at most). ``TimeoutError`` after
    ``timeout`` real seconds.
    """
    value = predicate()
    if value:
        return value

    async def poll() -> Any:
        delay = 0.0005
        while True:
            clock = VirtualClock.of()
            if clock is not None:
                await clock._next_round()
            else:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.01)
            value = predicate()
            if value:
                return value

    return await guard(poll(), timeout, what or f"waiting until {predicate!r}")
