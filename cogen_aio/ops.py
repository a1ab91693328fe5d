"""Operations: what a cogen-style app parks and the server awaits.

An operation is a small object describing a wait (a timer, a signal, any asyncio awaitable). A WSGI
app parks one in ``environ['cogen.wsgi']`` (through ``environ['cogen.core']``, ``['cogen.call']`` or
``['cogen.yield']``) and yields an empty chunk; the server starts it on the loop and resumes the app
with the outcome. The same objects are awaitable from asyncio code::

    value = await WaitForSignal("news", timeout=5)     # raises OperationTimeout after 5 s

Timeouts follow the original cogen: a positive number of seconds (or a ``timedelta``, or an absolute
``datetime``) is measured from when the operation is *built*; ``None`` or ``0`` means "the server's
default operation timeout" (``op_timeout``, none unless configured); ``-1`` means never.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime
import inspect
import weakref
from typing import Any, Awaitable, Callable, Generator, Hashable

__all__ = [
    "Operation",
    "TimedOperation",
    "Sleep",
    "WaitForSignal",
    "Signal",
    "Call",
    "OperationTimeout",
    "ShuttingDown",
    "signal",
    "signal_threadsafe",
    "start_operation",
]

#: Accepted and ignored: ordering is the loop's FIFO (see DESIGN.md, "priorities").
DEFAULT_PRIORITY = -1


class OperationTimeout(Exception):
    """An operation did not complete before its deadline. ``args[0]`` is the operation."""

    @property
    def message(self) -> Any:
        # Python 2 code reads ``exc.message``; the original put the operation there.
        return self.args[0] if self.args else None

    @property
    def operation(self) -> Any:
        return self.args[0] if self.args else None


class ShuttingDown(Exception):
    """The outcome of a parked operation when the server shuts down with
    ``wake_parked_on_shutdown``: the app can answer its long-poll normally."""


def _seconds_or_deadline(timeout: Any) -> tuple[float | None, bool]:
    """Normalise a cogen timeout to (seconds, is_absolute)."""
    if isinstance(timeout, datetime.datetime):
        return (timeout - datetime.datetime.now(timeout.tzinfo)).total_seconds(), True
    if isinstance(timeout, datetime.timedelta):
        return timeout.total_seconds(), False
    if timeout is None:
        return None, False
    return float(timeout), False


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class Operation:
    """Base of every operation. Subclasses implement :meth:`_start`.

    ``_start(loop)`` begins the wait and returns a future for its outcome. Cancelling that future
    must undo any registration (a waiter list entry, a timer): the server cancels it when the client
    goes away, when the deadline passes and on shutdown.
    """

    __slots__ = ("prio", "__weakref__")

    def __init__(self, prio: int = DEFAULT_PRIORITY) -> None:
        self.prio = prio

    def _start(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[Any]:
        raise NotImplementedError

    def _outcome_now(self, loop: asyncio.AbstractEventLoop) -> Any:
        """Perform an operation that completes within its start, and return its outcome.

        For an operation that completes at once with nothing to give back if its waiter stops
        waiting before it reads the outcome (a cooperative ``Sleep(0)``, a ``Signal``): a waiter
        that only needs the value saves the future ``_start`` would resolve at once. It still
        resumes through the loop, one turn, as with that future. Anything else returns
        ``NotImplemented`` and has done nothing; then call ``_start``. (A subclass that changes
        what ``_start`` does changes this too, or resets it to ``Operation._outcome_now``.)
        """
        return NotImplemented

    def _deadline(self, loop: asyncio.AbstractEventLoop, default: float | None) -> float | None:
        """Absolute loop time at which the operation times out, or None."""
        return None

    def __await__(self) -> Generator[Any, None, Any]:
        return _await_operation(self).__await__()

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{name}={getattr(self, name, None)!r}"
            for cls in type(self).__mro__
            for name in getattr(cls, "__slots__", ())
            if not name.startswith("_")
        )
        return f"<{type(self).__name__} {fields}>"


class TimedOperation(Operation):
    """An operation with a cogen-style timeout (see the module docstring)."""

    __slots__ = ("timeout", "weak_timeout", "_fixed_deadline")

    def __init__(
        self, timeout: Any = None, weak_timeout: bool = True, prio: int = DEFAULT_PRIORITY
    ) -> None:
        # Operation.__init__ inlined, and the operations built most often call this one directly
        # rather than through super(): a legacy coroutine builds an operation for every yield,
        # and a super() call with keyword arguments costs as much as the rest of the build.
        self.prio = prio
        self.timeout = timeout
        # Accepted for compatibility; the original never honoured it (cogen-api.md §4).
        self.weak_timeout = weak_timeout
        self._fixed_deadline: float | None = None
        if timeout and timeout != -1:
            seconds, absolute = _seconds_or_deadline(timeout)
            loop = _running_loop()
            # The original computed the deadline when the operation was built; keep that when a
            # loop is running, otherwise it is computed when the operation starts.
            if loop is not None and seconds is not None:
                self._fixed_deadline = loop.time() + seconds

    def _deadline(self, loop: asyncio.AbstractEventLoop, default: float | None) -> float | None:
        timeout = self.timeout
        if timeout == -1 or (isinstance(timeout, (int, float)) and timeout < 0):
            return None
        if not timeout:
            return None if default is None else loop.time() + default
        if self._fixed_deadline is not None:
            return self._fixed_deadline
        seconds, _ = _seconds_or_deadline(timeout)
        return loop.time() + (seconds or 0.0)


async def _await_operation(op: Operation) -> Any:
    """``await op``: the operation's timeout (or the loop's default) raises OperationTimeout.

    An operation resolved at once still resumes through the loop, behind what it woke (a Signal's
    waiters run before the signaller continues), as in the WSGI runner. A deadline never takes
    back an outcome that already arrived, and an awaiting task that is cancelled cancels the
    operation's future, which gives back anything it was handed (a queue item, say).
    """
    loop = asyncio.get_running_loop()
    value = op._outcome_now(loop)
    if value is not NotImplemented:
        await asyncio.sleep(0)
        return value
    future = op._start(loop)
    try:
        if future.done():
            await asyncio.sleep(0)
            return future.result()
        deadline = op._deadline(loop, _default_timeouts.get(loop))
        if deadline is None:
            return await future
        expired = False

        def expire() -> None:
            nonlocal expired
            if not future.done():
                expired = True
                future.cancel()

        timer = loop.call_at(deadline, expire)
        try:
            return await future
        except asyncio.CancelledError:
            if expired:
                raise OperationTimeout(op) from None
            raise
        finally:
            timer.cancel()
    except BaseException:
        future.cancel()  # a no-op once the outcome was read
        raise


# The server registers its ``op_timeout`` here so asyncio code awaiting operations on its loop
# gets the same default as parked operations.
_default_timeouts: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, float | None] = (
    weakref.WeakKeyDictionary()
)


def set_default_timeout(loop: asyncio.AbstractEventLoop, timeout: float | None) -> None:
    _default_timeouts[loop] = timeout


def _resolved(loop: asyncio.AbstractEventLoop, value: Any = None) -> asyncio.Future[Any]:
    future = loop.create_future()
    future.set_result(value)
    return future


class Sleep(TimedOperation):
    """Resume after ``val`` seconds (a number, ``timedelta`` or absolute ``datetime``).

    ``Sleep(0)``, ``Sleep(None)`` and negative values are a cooperative yield: the caller resumes
    after everything already runnable on the loop (the original never resumed them).
    """

    __slots__ = ()

    def __init__(self, val: Any) -> None:
        TimedOperation.__init__(self, val)  # not super(): see TimedOperation.__init__

    def _yields(self) -> bool:
        """A zero, ``None`` or negative duration: a cooperative yield."""
        timeout = self.timeout
        return not timeout or (isinstance(timeout, (int, float)) and timeout < 0)

    def _outcome_now(self, loop: asyncio.AbstractEventLoop) -> Any:
        # Completed now: whoever waits on an operation resumes through the loop (the WSGI
        # runner's done-callback, a coroutine's or an awaiter's trip for a resolved one), which
        # is the one turn a cooperative yield gives everybody else.
        return None if self._yields() else NotImplemented

    def _start(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[Any]:
        future = loop.create_future()
        if self._yields():
            future.set_result(None)  # see _outcome_now
            return future
        # The duration is computed like a timeout (from construction), but it is the outcome.
        wake_at = TimedOperation._deadline(self, loop, None)
        timer = loop.call_at(wake_at, _set_result_unless_done, future, None)  # type: ignore[arg-type]
        future.add_done_callback(lambda _: timer.cancel())
        return future

    def _deadline(self, loop: asyncio.AbstractEventLoop, default: float | None) -> float | None:
        # A sleep cannot time out, and the server's default operation timeout never cuts it
        # short: its end is its result, not a failure.
        return None


def _set_result_unless_done(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


class _SignalWaiter(asyncio.Future):  # type: ignore[type-arg]
    """The future of a parked ``WaitForSignal``: it leaves its hub's list the moment it is
    resolved by anybody but the hub (a cancel: a timeout, a client gone, a cancelled task).

    A done callback would do the same a turn later, but it costs every parked waiter a function
    (or partial) object, its arguments and a copied ``contextvars.Context``, and it moves the
    next callback added (the WSGI runner's) into a list: it more than doubled what a parked
    waiter costs, where these two slots take 16 bytes (tests/test_ops_waiters.py measures it).

    Every way out of the pending state is covered, so no entry outlives its waiter, whatever
    name it waits on: ``cancel``, ``set_result`` and ``set_exception`` forget the waiter here,
    and the hub resolves waiters through the base class only after dropping the name's whole
    list (``wake``).
    """

    __slots__ = ("_hub", "_name")

    _hub: _SignalHub
    _name: Hashable

    def cancel(self, msg: Any = None) -> bool:
        if not super().cancel(msg):
            return False
        self._hub._forget(self._name, self)
        return True

    def set_result(self, result: Any) -> None:
        super().set_result(result)
        self._hub._forget(self._name, self)

    def set_exception(self, exception: Any) -> None:
        super().set_exception(exception)
        self._hub._forget(self._name, self)


#: How the hub resolves a waiter it already dropped from its lists (no ``_forget`` then).
_resolve_waiter = asyncio.Future.set_result


class _SignalHub:
    """Who waits on which signal name, on one loop. Waiters wake in the order they started."""

    __slots__ = ("waiting", "pending")

    def __init__(self) -> None:
        self.waiting: dict[Hashable, dict[asyncio.Future[Any], None]] = {}
        # Signals with ``recipients=N`` that wait for N waiters: name -> [(future, value, N)].
        self.pending: dict[Hashable, list[tuple[asyncio.Future[Any], Any, int]]] = {}

    def wait(self, loop: asyncio.AbstractEventLoop, name: Hashable) -> asyncio.Future[Any]:
        """A future that ``wake(name, value)`` resolves with ``value``."""
        future = _SignalWaiter(loop=loop)
        future._hub = self
        future._name = name
        waiters = self.waiting.get(name)
        if waiters is None:
            waiters = self.waiting[name] = {}
        waiters[future] = None
        if name in self.pending:
            # On the next turn, once the new waiter is fully parked: it must resume before
            # the signaller, like the waiters that came before it.
            loop.call_soon(self._fire_pending, name)
        return future

    def _forget(self, name: Hashable, future: asyncio.Future[Any]) -> None:
        waiters = self.waiting.get(name)
        if waiters is not None:
            waiters.pop(future, None)
            if not waiters:
                del self.waiting[name]

    def wake(self, name: Hashable, value: Any) -> int:
        waiters = self.waiting.pop(name, None)
        if not waiters:
            return 0
        woken = 0
        for future in waiters:
            if not future.done():
                _resolve_waiter(future, value)  # the list is dropped already: no _forget
                woken += 1
        return woken

    def count(self, name: Hashable) -> int:
        # A cancelled or timed-out waiter has left the list already (_SignalWaiter.cancel), so
        # it no longer counts as a recipient; the check is only a guard.
        return sum(1 for future in self.waiting.get(name, ()) if not future.done())

    def signal(
        self, loop: asyncio.AbstractEventLoop, name: Hashable, value: Any, recipients: int
    ) -> asyncio.Future[Any]:
        future = loop.create_future()
        if recipients and self.count(name) < recipients:
            self.pending.setdefault(name, []).append((future, value, recipients))
            future.add_done_callback(lambda f: self._drop_pending(name, f))
        else:
            future.set_result(self.wake(name, value))  # as Signal._outcome_now
        return future

    def _fire_pending(self, name: Hashable) -> None:
        for future, value, recipients in list(self.pending.get(name, ())):
            if future.done():
                continue
            if self.count(name) >= recipients:
                future.set_result(self.wake(name, value))

    def _drop_pending(self, name: Hashable, future: asyncio.Future[Any]) -> None:
        entries = self.pending.get(name)
        if entries is None:
            return
        entries[:] = [entry for entry in entries if entry[0] is not future]
        if not entries:
            del self.pending[name]


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _SignalHub] = (
    weakref.WeakKeyDictionary()
)


# The hub found last and a weak reference to its loop, checked first: a WeakKeyDictionary lookup
# costs as much as the rest of a Signal, and a process nearly always runs one loop. This keeps
# the last hub, never its loop: a hub only refers to its loop through waiters still parked there
# (which keep the dictionary's entry, and the loop, as they always did).
_last_hub: tuple[Callable[[], Any], _SignalHub | None] = (lambda: None, None)


def _hub(loop: asyncio.AbstractEventLoop) -> _SignalHub:
    global _last_hub
    loop_ref, hub = _last_hub
    if loop_ref() is loop and hub is not None:
        return hub
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = _SignalHub()
    _last_hub = (weakref.ref(loop), hub)
    return hub


def waiting_count(name: Hashable, loop: asyncio.AbstractEventLoop | None = None) -> int:
    """How many operations wait on signal ``name`` on ``loop`` (the running loop by default)."""
    return _hub(loop or asyncio.get_running_loop()).count(name)


class WaitForSignal(TimedOperation):
    """Wait until someone signals ``name``; the outcome is the signal's value.

    Signals are not latched: a signal sent while nobody waits is lost.
    """

    __slots__ = ("name",)

    def __init__(
        self,
        name: Hashable,
        timeout: Any = None,
        weak_timeout: bool = True,
        prio: int = DEFAULT_PRIORITY,
    ) -> None:
        TimedOperation.__init__(self, timeout, weak_timeout, prio)  # see there: not super()
        self.name = name

    def _start(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[Any]:
        return _hub(loop).wait(loop, self.name)


class Signal(Operation):
    """Wake every operation waiting on ``name`` with ``value``; the outcome is how many woke.

    With ``recipients=N`` the signaller waits until at least N waiters are present, then wakes all.
    Woken waiters run before the signaller continues, in the order they started waiting.
    """

    __slots__ = ("name", "value", "recipients")

    def __init__(
        self,
        name: Hashable,
        value: Any = None,
        recipients: int = 0,
        prio: int = DEFAULT_PRIORITY,
    ) -> None:
        self.prio = prio  # Operation.__init__ inlined (see TimedOperation.__init__)
        self.name = name
        self.value = value
        self.recipients = recipients

    def _outcome_now(self, loop: asyncio.AbstractEventLoop) -> Any:
        # Waking needs nothing from the waker's side once it is done; only a signal still
        # waiting for its recipients needs a future.
        hub = _hub(loop)
        if self.recipients and hub.count(self.name) < self.recipients:
            return NotImplemented
        return hub.wake(self.name, self.value)

    def _start(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[Any]:
        return _hub(loop).signal(loop, self.name, self.value, self.recipients)


def signal(name: Hashable, value: Any = None) -> int:
    """Wake the waiters on ``name`` from asyncio code running on the server's loop.

    Returns the number of waiters woken; they resume on the loop's next turns.
    """
    return _hub(asyncio.get_running_loop()).wake(name, value)


def signal_threadsafe(
    loop: asyncio.AbstractEventLoop, name: Hashable, value: Any = None
) -> concurrent.futures.Future[int]:
    """Signal ``name`` on ``loop`` from another thread; the future gives the number woken."""
    result: concurrent.futures.Future[int] = concurrent.futures.Future()

    def deliver() -> None:
        try:
            result.set_result(_hub(loop).wake(name, value))
        except BaseException as exc:  # pragma: no cover - wake() does not raise
            result.set_exception(exc)

    loop.call_soon_threadsafe(deliver)
    return result


class Call(TimedOperation):
    """Await any awaitable, or call ``target(*args, **kwargs)`` and await what it returns.

    ``target`` may be a coroutine function, a function returning an awaitable, a coroutine object,
    a future or a task. The outcome is the awaited result.
    """

    __slots__ = ("target", "args", "kwargs")

    def __init__(
        self,
        target: Any,
        args: tuple[Any, ...] | list[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        timeout: Any = None,
        prio: int = DEFAULT_PRIORITY,
    ) -> None:
        TimedOperation.__init__(self, timeout, True, prio)  # see there: not super()
        self.target = target
        self.args = tuple(args or ())
        self.kwargs = kwargs or {}

    def _start(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[Any]:
        target = self.target
        if callable(target) and not inspect.isawaitable(target):
            target = target(*self.args, **self.kwargs)
        return start_operation(target, loop)


def start_operation(obj: Any, loop: asyncio.AbstractEventLoop) -> asyncio.Future[Any]:
    """Start whatever a cogen app parked and return a future for its outcome.

    Accepts an :class:`Operation` or any awaitable (coroutine, future, task, object with
    ``__await__``). Anything else raises ``TypeError``.
    """
    if isinstance(obj, Operation):
        return obj._start(loop)
    if isinstance(obj, asyncio.Future):
        return obj
    if isinstance(obj, concurrent.futures.Future):
        # Work handed to a thread or process pool.
        return asyncio.wrap_future(obj, loop=loop)
    if inspect.isawaitable(obj):
        return asyncio.ensure_future(obj, loop=loop)
    raise TypeError(
        f"cannot park {type(obj).__name__!s} object: expected an operation or an awaitable"
    )


def outcome_now(obj: Any, loop: asyncio.AbstractEventLoop) -> Any:
    """Perform ``obj`` if it is an operation that completes within its start (``Sleep(0)``, a
    ``Signal``) and return its outcome; otherwise ``NotImplemented``, having done nothing (then
    call :func:`start_operation`). Whoever waits still resumes through the loop, one turn."""
    if isinstance(obj, Operation):
        return obj._outcome_now(loop)
    return NotImplemented


def parkable(obj: Any) -> bool:
    """Whether :func:`start_operation` accepts ``obj``."""
    return isinstance(obj, (Operation, asyncio.Future, concurrent.futures.Future)) or (
        inspect.isawaitable(obj)
    )


def deadline_of(obj: Any, loop: asyncio.AbstractEventLoop, default: float | None) -> float | None:
    """The absolute deadline of a parked object: its own timeout, or ``default`` for awaitables."""
    if isinstance(obj, Operation):
        return obj._deadline(loop, default)
    return None if default is None else loop.time() + default


AwaitableFactory = Callable[..., Awaitable[Any]]
