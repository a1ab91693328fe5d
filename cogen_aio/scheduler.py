"""``Scheduler``: the original's way to run coroutines from a script (cogen-api.md §7)::

    sched = Scheduler(default_timeout=30)
    sched.add(server_coro, args=(port,))
    sched.run()            # returns when everything finished, or nothing can progress

``run()`` creates a fresh asyncio event loop, starts what was added, and runs the loop until every
coroutine finished or none can make progress: all of them wait for something that cannot
happen (a signal nobody will send), with no timer, socket or worker thread of the loop that could
change that. The original simply returned in that case (§2). Coroutines still waiting then are
cancelled (``CancelledError`` is thrown at their yield, so ``finally`` blocks run) and the loop is
closed; the original left them suspended until the interpreter collected them.

A thread the program started itself is not visible to the scheduler: a coroutine waiting only for
``signal_threadsafe`` from such a thread should also wait on a timer (a timeout, or a periodic
``Sleep``), or the scheduler stops when nothing else can progress. Work handed to the loop's
default executor (``loop.run_in_executor(None, ...)``) is tracked and counts as progress.

Priorities and the proactor arguments are accepted and ignored (the event loop does that work).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime
import selectors
import threading
import warnings
from typing import Any, Callable, Iterator

from . import ops
from .coroutines import CoroutineInstance, _instantiate
from .priority import priority

__all__ = ["Scheduler"]


class Scheduler:
    """Runs cogen coroutines on a fresh event loop (see the module docstring).

    ``default_timeout`` (seconds or a ``timedelta``; None/0 = none) applies to every operation
    given no timeout of its own, like the server's ``op_timeout``.
    """

    def __init__(
        self,
        proactor: Any = None,
        default_priority: int = priority.LAST,
        default_timeout: Any = None,
        proactor_resolution: Any = None,
        proactor_greedy: Any = None,
        ops_greedy: Any = None,
        proactor_multiplex_first: Any = None,
        proactor_default_size: Any = None,
        **ignored: Any,
    ) -> None:
        if ignored:
            warnings.warn(
                f"Scheduler() ignores unknown arguments: {', '.join(sorted(ignored))}",
                stacklevel=2,
            )
        self.proactor = proactor
        self.default_priority = default_priority
        self.default_timeout = default_timeout
        #: The running loop (None outside ``run()``/``iter_run()``).
        self.loop: asyncio.AbstractEventLoop | None = None
        self._pending: list[CoroutineInstance] = []
        self._selector: _WatchingSelector | None = None
        self._executor: _TrackingExecutor | None = None
        self._thread: int | None = None
        self._running = False
        self._stopping = False
        self._idle = False

    # -- adding coroutines -------------------------------------------------------------------

    def add(
        self,
        coro: Any,
        args: tuple[Any, ...] | list[Any] = (),
        kwargs: dict[str, Any] | None = None,
        first: bool = True,
    ) -> CoroutineInstance:
        """Start ``coro(*args, **kwargs)`` (or queue it until ``run()``) and return the instance.

        Works before ``run()`` and from inside running coroutines (the echo servers' accept loop
        does ``sched.add(handler, args=(conn, addr))``). Called from asyncio code running on
        another loop, the coroutine starts on that loop. ``first`` is ignored.
        """
        instance = _instantiate(coro, args, kwargs)
        if instance._started:
            return instance
        loop = self.loop
        if loop is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                loop = None
        if loop is None:
            self._pending.append(instance)
        else:
            instance._spawn(loop)
        return instance

    # -- running -----------------------------------------------------------------------------

    def run(self) -> None:
        """Run until everything finished or nothing can progress, or ``shutdown()``."""
        for _ in self._turns(one_turn=False):
            pass

    def iter_run(self) -> Iterator[None]:
        """Run one loop turn per iteration, for embedding in another main loop."""
        return self._turns(one_turn=True)

    def shutdown(self) -> None:
        """Stop after the current loop turn; ``run()`` then returns."""
        self._stopping = True
        loop = self.loop
        if loop is None or loop.is_closed() or not self._running:
            return
        if threading.get_ident() != self._thread:
            loop.call_soon_threadsafe(self.shutdown)
        elif loop.is_running():
            loop.stop()
        # else: between two turns of iter_run(), which sees the flag before the next turn

    def _turns(self, one_turn: bool) -> Iterator[None]:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise RuntimeError(
                "Scheduler.run() cannot run inside a running event loop; start coroutines there "
                "with spawn() or AddCoro, or await them"
            )
        if self._running:
            raise RuntimeError("the scheduler is already running")
        self._running = True
        self._stopping = self._idle = False
        loop = self._open()
        try:
            pending, self._pending = self._pending, []
            for instance in pending:
                if not instance._started:
                    instance._spawn(loop)
            assert self._selector is not None
            self._selector.one_turn = one_turn
            while not self._stopping:
                loop.run_forever()
                if self._idle or self._stopping:
                    break
                if one_turn:
                    yield
        finally:
            self._running = False
            self.cleanup()

    def _open(self) -> asyncio.AbstractEventLoop:
        selector = self._selector = _WatchingSelector()
        loop = asyncio.SelectorEventLoop(selector)
        selector.attach(loop, self._nothing_can_progress, self._stop_idle)
        self._executor = _TrackingExecutor(thread_name_prefix="cogen-scheduler")
        loop.set_default_executor(self._executor)
        ops.set_default_timeout(loop, _seconds(self.default_timeout))
        self._thread = threading.get_ident()
        self.loop = loop
        return loop

    def _nothing_can_progress(self, timeout: float | None) -> bool:
        """Called when the loop is about to wait with nothing ready to run."""
        selector, executor, loop = self._selector, self._executor, self.loop
        assert selector is not None and executor is not None and loop is not None
        if selector.watched_files() or executor.busy:
            return False
        # Timers of operations that completed early are cancelled but stay in the loop's heap
        # until their time; only live ones can make progress. ``_scheduled`` is CPython's
        # selector loop (the one created here); without it only "no timer at all" counts.
        scheduled = getattr(loop, "_scheduled", None)
        if scheduled is None:
            return timeout is None
        return all(handle.cancelled() for handle in scheduled)

    def _stop_idle(self) -> None:
        self._idle = True
        assert self.loop is not None
        self.loop.stop()

    def cleanup(self) -> None:
        """Cancel coroutines still waiting, close the loop. ``run()`` calls it on its way out."""
        loop = self.loop
        if loop is None:
            return
        if loop.is_running():
            raise RuntimeError("cleanup() called while the scheduler runs; use shutdown()")
        try:
            if not loop.is_closed():
                self._cancel_all(loop)
                loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            if self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)
                self._executor = None
            self.loop = None
            self._selector = None
            loop.close()

    def _cancel_all(self, loop: asyncio.AbstractEventLoop) -> None:
        tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
        if not tasks:
            return
        for task in tasks:
            task.cancel()
        assert self._selector is not None
        self._selector.one_turn = False
        try:
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        except RuntimeError:
            pass  # a coroutine ignored the cancellation and waits again for what cannot happen
        for task in tasks:
            if task.done() and not task.cancelled():
                task.exception()  # retrieved: the coroutine already reported its own failure


def _seconds(timeout: Any) -> float | None:
    if isinstance(timeout, datetime.timedelta):
        timeout = timeout.total_seconds()
    if not timeout or timeout < 0:
        return None
    return float(timeout)


class _WatchingSelector(selectors.DefaultSelector):
    """The loop's selector, which sees each turn begin: when the loop is about to wait with
    nothing ready, it asks whether anything could still happen, and stops the loop if not."""

    def __init__(self) -> None:
        super().__init__()
        self.one_turn = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._baseline = 0
        self._nothing_can_progress: Callable[[float | None], bool] | None = None
        self._stop_idle: Callable[[], None] | None = None

    def attach(
        self,
        loop: asyncio.AbstractEventLoop,
        nothing_can_progress: Callable[[float | None], bool],
        stop_idle: Callable[[], None],
    ) -> None:
        self._loop = loop
        # What the loop registered for itself (its self-pipe, which only another thread or a
        # signal handler writes to).
        self._baseline = len(self.get_map())
        self._nothing_can_progress = nothing_can_progress
        self._stop_idle = stop_idle

    def watched_files(self) -> bool:
        return len(self.get_map()) > self._baseline

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        check = self._nothing_can_progress
        if check is not None and (timeout is None or timeout > 0) and check(timeout):
            # A worker thread may have handed back a result just now: look before deciding.
            ready = super().select(0)
            if not ready:
                assert self._stop_idle is not None
                self._stop_idle()
                return []
        else:
            ready = super().select(timeout)
        if self.one_turn and self._loop is not None:
            self._loop.stop()
        return ready


class _TrackingExecutor(concurrent.futures.ThreadPoolExecutor):
    """The loop's default executor: knows whether work is in flight, which can still make
    progress. A job counts as done only after its result was handed to the loop, so the
    scheduler never stops between the two."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._busy = 0
        self._lock = threading.Lock()

    @property
    def busy(self) -> bool:
        return self._busy > 0

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        inner = super().submit(fn, *args, **kwargs)
        outer: concurrent.futures.Future[Any] = concurrent.futures.Future()
        with self._lock:
            self._busy += 1

        def relay(done: concurrent.futures.Future[Any]) -> None:
            try:
                if outer.done():
                    return
                if done.cancelled():
                    outer.cancel()
                elif done.exception() is not None:
                    outer.set_exception(done.exception())
                else:
                    outer.set_result(done.result())
            except concurrent.futures.InvalidStateError:
                pass  # cancelled from the loop meanwhile
            finally:
                with self._lock:
                    self._busy -= 1

        inner.add_done_callback(relay)
        outer.add_done_callback(lambda f: f.cancelled() and inner.cancel())
        return outer
