"""Virtual time for an asyncio loop: ``Sleep(30)``, ``queue.get(timeout=30)`` and keep-alive
timeouts finish at once, and always in the same order.

Every timer the server and an app use goes through the loop (``call_later``/``call_at``) and every
deadline is read from ``loop.time()``, so replacing that one clock moves them all. Time moves where
the loop would block, in its selector: that is the one place that knows the loop is idle.
"""

from __future__ import annotations

import asyncio
import heapq
import math
import selectors
import time
import weakref
from typing import Any, Callable, Iterable, Mapping

#: Rounding slack of :meth:`VirtualClock.advance`, in seconds.
_SNAP = 1e-6

_clocks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, VirtualClock] = (
    weakref.WeakKeyDictionary()
)


class VirtualClockUnavailable(RuntimeError):
    """The loop cannot take a virtual clock (uvloop, the Windows proactor loop)."""


class VirtualClock:
    """Virtual time for one asyncio loop: ``loop.time()`` only moves when the clock says so.

    The server's timers (``call_later``/``call_at``) and operation deadlines (``loop.time()``)
    then follow virtual time. Two ways to move it:

    - ``auto=True`` (the default): whenever the loop has nothing to do but wait for a timer, time
      jumps to that timer, so a test waiting on ``Sleep(30)`` finishes at once. Timers fire in
      deadline order, exactly as they would in real time, with nothing happening in between.
    - :meth:`advance`: move time forward by that many seconds now, firing the timers due on the way
      at their own deadlines (the only way time moves when ``auto=False``).

    Installed on a running loop by replacing its ``time`` and wrapping its selector, which only
    asyncio's pure-Python selector loops allow; other loops raise :class:`VirtualClockUnavailable`.
    Real sockets make virtual time unsound (a jump can happen while bytes are still on their way
    through the kernel): use the in-memory transport with it.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, *, auto: bool = True) -> None:
        real = getattr(loop, "_selector", None)
        if not isinstance(loop, asyncio.BaseEventLoop) or not isinstance(
            real, selectors.BaseSelector
        ):
            raise VirtualClockUnavailable(
                "a virtual clock needs asyncio's selector event loop, not "
                f"{type(loop).__module__}.{type(loop).__qualname__}"
            )
        self.loop = loop
        self.auto = auto
        # Virtual time starts at 0: runs are reproducible, whole (and binary-fraction) durations
        # add up exactly (``clock.elapsed == 30.0``), and small numbers keep asyncio's 1 ns clock
        # resolution representable (near a monotonic clock's 1e7 s it is not).
        self._now = 0.0
        self._selector = _VirtualSelector(real, self)
        self._real_timers: list[_RealTimer] = []
        self._settlers: list[asyncio.Future[None]] = []
        self._pollers: list[tuple[int, asyncio.Future[None]]] = []
        self._busy = 0  # loop iterations that had work (see _select)

    # -- installing ------------------------------------------------------------------------------

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop | None = None) -> VirtualClock | None:
        """The clock installed on ``loop`` (the running loop by default), if any."""
        if loop is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return None
        return _clocks.get(loop)

    @classmethod
    def install(
        cls, loop: asyncio.AbstractEventLoop | None = None, *, auto: bool = True
    ) -> VirtualClock:
        """Give ``loop`` (the running loop by default) a virtual clock. Virtual time starts at 0;
        timers already pending keep their remaining delay (deadlines computed earlier and kept
        elsewhere do not follow: install the clock first). ``RuntimeError`` if it has one."""
        loop = loop or asyncio.get_running_loop()
        if loop in _clocks:
            raise RuntimeError("this loop already has a virtual clock")
        clock = cls(loop, auto=auto)
        _shift_timers(loop, clock._now - loop.time())
        loop._selector = clock._selector  # type: ignore[attr-defined]
        loop.time = clock.time  # type: ignore[method-assign]
        _clocks[loop] = clock
        return clock

    def uninstall(self) -> None:
        """Back to real time. Pending timers keep their remaining (virtual) delay."""
        loop = self.loop
        if _clocks.get(loop) is not self:
            return
        del _clocks[loop]
        del loop.time  # the instance attribute: the class's method shows through again
        loop._selector = self._selector.real  # type: ignore[attr-defined]
        _shift_timers(loop, loop.time() - self._now)
        _wake(self._settlers + [future for _, future in self._pollers])
        self._settlers.clear()
        self._pollers.clear()

    # -- time ------------------------------------------------------------------------------------

    def time(self) -> float:
        return self._now

    @property
    def elapsed(self) -> float:
        """Virtual seconds since the clock was installed (virtual time starts at 0)."""
        return self._now

    def next_timer(self) -> float | None:
        """Virtual seconds until the loop's next timer, or None when none is pending."""
        when = self._next_when()
        return None if when is None else max(0.0, when - self._now)

    def _next_when(self) -> float | None:
        scheduled = self.loop._scheduled  # type: ignore[attr-defined]
        live = [handle.when() for handle in scheduled if not handle.cancelled()]
        return min(live) if live else None

    def _jump(self, when: float) -> None:
        """Move time to the deadline ``when`` so that the loop sees its timer due."""
        if when + self.loop._clock_resolution <= when:  # type: ignore[attr-defined]
            # The loop takes a timer when ``when < time() + resolution``; far from 0 the
            # resolution is below a float's precision, so land just past the deadline.
            when = math.nextafter(when, math.inf)
        self._now = max(self._now, when)

    async def advance(self, seconds: float) -> None:
        """Move time ``seconds`` forward, firing each timer due on the way at its deadline and
        letting the loop run until idle after each, then at the target time.

        A timer due within a microsecond after the target fires too: ``advance(9.999)`` then
        ``advance(0.001)`` reaches a 10 s deadline whatever the floating-point rounding.
        """
        if seconds < 0:
            raise ValueError("time does not go backwards")
        target = self._now + seconds
        while True:
            await self.settle()
            when = self._next_when()
            if when is None or when > target + _SNAP:
                break
            self._jump(when)
        self._now = max(self._now, target)
        await self.settle()

    async def settle(self) -> None:
        """Let the loop run until it has nothing left to do without time moving."""
        future = self.loop.create_future()
        self._settlers.append(future)
        await future

    async def _next_round(self) -> None:
        """For :func:`~cogen_aio.testing.wait_until`: resume once something else ran (after
        time moved, if nothing else could happen). Never keeps an auto clock from advancing."""
        future = self.loop.create_future()
        self._pollers.append((self._busy, future))
        await future

    def call_later_real(self, delay: float, callback: Callable[[], None]) -> _RealTimer:
        """Call ``callback`` on the loop after ``delay`` *real* seconds (hang guards)."""
        timer = _RealTimer(time.monotonic() + delay, callback)
        heapq.heappush(self._real_timers, timer)
        return timer

    # -- the selector's side ---------------------------------------------------------------------

    def _select(self, real: selectors.BaseSelector, timeout: float | None) -> list[Any]:
        self._fire_real_timers()
        events = real.select(0)
        if events or timeout == 0:
            self._busy += 1
            return events
        # The loop is idle: nothing ready, no timer due, no I/O. Settlers go first, then pollers
        # that have not seen this round's work, and only then may time move.
        if self._settlers:
            settlers, self._settlers = self._settlers, []
            _wake(settlers)
            return []
        fresh = [future for seen, future in self._pollers if seen < self._busy]
        if fresh:
            self._pollers = [(seen, f) for seen, f in self._pollers if seen >= self._busy]
            _wake(fresh)
            return []
        if self.auto and timeout is not None:
            when = self._next_when()
            if when is not None:
                self._jump(when)
                self._busy += 1  # the timers it fires count as work for pollers
                return []
        # Nothing will happen in virtual time: wait for real I/O (another thread, a socket) or
        # the next hang guard.
        events = real.select(self._real_wait())
        if events:
            self._busy += 1
        self._fire_real_timers()
        return events

    def _real_wait(self) -> float | None:
        timers = self._real_timers
        while timers and timers[0].cancelled:
            heapq.heappop(timers)
        if not timers:
            return None
        return max(0.0, timers[0].when - time.monotonic())

    def _fire_real_timers(self) -> None:
        timers = self._real_timers
        now = time.monotonic()
        while timers and (timers[0].cancelled or timers[0].when <= now):
            timer = heapq.heappop(timers)
            if not timer.cancelled:
                self.loop.call_soon(timer.callback)
                self._busy += 1


class _RealTimer:
    """A hang guard's deadline, in real (monotonic) seconds; kept in a heap by the clock."""

    __slots__ = ("when", "callback", "cancelled")

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def __lt__(self, other: _RealTimer) -> bool:
        return self.when < other.when


class _VirtualSelector(selectors.BaseSelector):
    """Wraps the loop's selector: ``select`` is where the loop would block, so it is where
    virtual time moves."""

    def __init__(self, real: selectors.BaseSelector, clock: VirtualClock) -> None:
        self.real = real
        self.clock = clock

    def select(self, timeout: float | None = None) -> list[Any]:
        return self.clock._select(self.real, timeout)

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self.real.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self.real.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self.real.modify(fileobj, events, data)

    def get_key(self, fileobj: Any) -> selectors.SelectorKey:
        return self.real.get_key(fileobj)

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self.real.get_map()

    def close(self) -> None:
        self.real.close()


def _shift_timers(loop: asyncio.AbstractEventLoop, shift: float) -> None:
    for handle in loop._scheduled:  # type: ignore[attr-defined]
        handle._when += shift  # a uniform shift keeps the heap ordered


def _wake(futures: Iterable[asyncio.Future[None]]) -> None:
    for future in futures:
        if not future.done():
            future.set_result(None)


def virtual_clock_loop(auto: bool = True) -> asyncio.AbstractEventLoop:
    """A new selector event loop with a virtual clock: a loop factory for ``asyncio.Runner`` or
    pytest-asyncio's ``pytest_asyncio_loop_factories`` hook."""
    loop = asyncio.SelectorEventLoop()
    VirtualClock.install(loop, auto=auto)
    return loop
