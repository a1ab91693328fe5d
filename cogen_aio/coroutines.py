"""cogen coroutines on asyncio: generators that yield operations (cogen-api.md §5–6).

A cogen coroutine is a generator function decorated with :func:`coroutine`. Calling it returns a
:class:`CoroutineInstance` that has not started; it runs once it is yielded by another coroutine,
added (``yield AddCoro(c)``, ``Scheduler.add(c)``, :func:`spawn`), parked by a WSGI app, or
awaited from asyncio code. Each value the generator yields is what it waits for::

    @coroutine
    def worker(name):
        value = yield WaitForSignal(name, timeout=5)   # an operation: its result comes back
        page = yield fetch(value)                      # another coroutine: called, result back
        data = yield some_asyncio_coroutine()          # any asyncio awaitable
        yield                                          # let everything runnable go first
        return page, data

A started coroutine runs as one asyncio task. The task steps the generator, and the coroutines it
calls (``yield other()``) run in the same task, one above the other, as in the original. A failure
is thrown back into the generator at the yield that waited for it.

Ordering is the loop's FIFO, which is the original's ``LAST`` priority (DESIGN.md): whoever issues
an operation resumes through the loop, behind what the operation woke. Like the original
(cogen-api.md §2), a generator coroutine's first step only creates the generator and goes to the
back of the queue before its body runs; a decorated plain function runs at once.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import traceback
import types
import warnings
import weakref
from typing import Any, Awaitable, Callable, Generator

from . import context
from .ops import (
    DEFAULT_PRIORITY,
    Operation,
    OperationTimeout,
    TimedOperation,
    _default_timeouts,
    deadline_of,
    outcome_now,
    parkable,
    start_operation,
)

__all__ = [
    "coroutine",
    "coro",
    "debug_coroutine",
    "debug_coro",
    "Coroutine",
    "DebugCoroutine",
    "CoroutineInstance",
    "CoroutineException",
    "local",
    "AddCoro",
    "Join",
    "spawn",
]

error_log = logging.getLogger("cogen_aio.error")
#: ``debug_coroutine`` instances log every resume and every yielded operation here, at DEBUG.
debug_log = logging.getLogger("cogen_aio.debug")

Outcome = tuple[Any, "BaseException | None"]


class CoroutineException(Exception):
    """Carries an exception triple ``(type, value, traceback)``; the original passed failures
    between coroutines in it. Kept for code that catches or builds it; nothing raises it."""

    def __str__(self) -> str:
        if len(self.args) == 3:
            return "".join(traceback.format_exception(*self.args))
        return super().__str__()


# -- the coroutine object -----------------------------------------------------------------------

STATE_NEED_INIT, STATE_RUNNING, STATE_COMPLETED, STATE_FAILED, STATE_FINALIZED = range(5)
_STATE_NAMES = ("NOTSTARTED", "RUNNING", "COMPLETED", "FAILED", "FINALIZED")
_DONE: Any = object()  # what a step returns when the coroutine finished instead of yielding


def _is_generator(obj: Any) -> bool:
    return inspect.isgenerator(obj) or (
        hasattr(obj, "send") and hasattr(obj, "throw") and not inspect.iscoroutine(obj)
    )


def _delegate(awaitable: Any) -> Generator[Any, Any, Any]:
    """A generator that waits for one thing and returns its result: lets the driver step an
    asyncio coroutine object or any awaitable as a cogen coroutine."""
    return (yield awaitable)


class InlineOperation(Operation):
    """An operation the driver performs within the yielding coroutine's step: calling another
    coroutine, and the pipe's hand-offs (:mod:`cogen_aio.pipe`). No trip through the loop.

    ``_inline(frames, loop)`` may push coroutines onto ``frames`` (the stack of coroutines being
    stepped in this task, the yielding one on top) or pop the top one, and returns the
    ``(value, exception)`` to resume the new top with, or ``NotImplemented`` to be started like
    any other operation. Used anywhere else (a WSGI app parks one, asyncio code awaits it), the
    same hand-off runs in a task of its own.
    """

    __slots__ = ()

    def _inline(self, frames: list[CoroutineInstance], loop: asyncio.AbstractEventLoop) -> Any:
        return NotImplemented

    def _start(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[Any]:
        frames: list[CoroutineInstance] = []
        outcome = self._inline(frames, loop)
        if outcome is NotImplemented:
            raise TypeError(f"{self!r} can only be yielded by a cogen coroutine")
        if not frames:
            return _resolved(loop, *outcome)
        future = loop.create_future()
        task = loop.create_task(_drive(frames, *outcome))

        def relay(task: asyncio.Task[Outcome]) -> None:
            if future.done():
                return
            if task.cancelled():
                future.cancel()
            else:
                _settle(future, *task.result())

        task.add_done_callback(relay)
        future.add_done_callback(lambda f: f.cancelled() and task.cancel())
        return future


class CoroutineInstance(InlineOperation):
    """One run of a cogen coroutine: a generator (or a plain function) and its outcome.

    Yielded by a cogen coroutine, an instance that has not started is *called*: it runs right
    there and its result comes back at the yield, or its exception is raised there with its
    traceback. An instance that already started (or finished) is *joined*, like :class:`Join`.
    Awaited from asyncio code it is started if needed; ``await`` gives its result or raises its
    exception.

    Attributes (as in the original): ``state`` (``STATE_NEED_INIT``, ``STATE_RUNNING``,
    ``STATE_COMPLETED``, ``STATE_FAILED``, or ``STATE_FINALIZED`` once the result was handed to a
    caller or joiner), ``running`` (state before COMPLETED), ``result``, ``exception`` (the
    ``(type, value, traceback)`` triple of a failure, else None), ``name``, ``debug``.

    Results: ``return value`` gives ``value``; a generator that ends without a value gives None
    (the original gave ``()``; both are false); a decorated plain function gives its return value.
    ``raise StopIteration(value)``, the Python 2 idiom, becomes a RuntimeError under PEP 479; it is
    recognised, gives ``value`` and warns once (DeprecationWarning) to use ``return value``.
    """

    STATE_NEED_INIT = STATE_NEED_INIT
    STATE_RUNNING = STATE_RUNNING
    STATE_COMPLETED = STATE_COMPLETED
    STATE_FAILED = STATE_FAILED
    STATE_FINALIZED = STATE_FINALIZED
    _state_names = _STATE_NAMES

    __slots__ = (
        "coro",
        "f_args",
        "f_kws",
        "name",
        "state",
        "result",
        "exception",
        "debug",
        "caller",
        "lastop",
        "_started",
        "_task",
        "_awaiters",
        "_joiners",
        "_handoff",
    )

    def __init__(self, coro: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(DEFAULT_PRIORITY)
        if _is_generator(coro):
            code = getattr(coro, "gi_code", None)
            self.name: str = code.co_name if code is not None else type(coro).__name__
        elif callable(coro):
            self.name = getattr(coro, "__name__", None) or type(coro).__name__
        else:
            raise ValueError("Bad generator")
        self.coro = coro
        self.f_args = args
        self.f_kws = kwargs
        # Even one built around a generator object is "not started": only a driver steps it.
        self.state = STATE_NEED_INIT
        self.result: Any = None
        self.exception: tuple[type[BaseException], BaseException, Any] | None = None
        self.debug = False
        #: The coroutine that called this one (``yield this()``) while that call runs.
        self.caller: CoroutineInstance | None = None
        self.lastop: Any = None
        self._started = False
        self._task: asyncio.Task[None] | None = None
        self._awaiters: list[asyncio.Future[Any]] = []
        self._joiners: list[asyncio.Future[Any]] = []
        # Set by whoever pushed this coroutine when it is not a plain call (the pipe): decides
        # what the coroutine below receives when this one finishes.
        self._handoff: Callable[[CoroutineInstance], Outcome] | None = None

    @property
    def running(self) -> bool:
        return self.state < STATE_COMPLETED

    def __repr__(self) -> str:
        return (
            f"<{self.name} {type(self).__name__} at 0x{id(self):08X} "
            f"state: {_STATE_NAMES[self.state]}>"
        )

    __str__ = __repr__

    # -- being waited for ----------------------------------------------------------------------

    def _inline(self, frames: list[CoroutineInstance], loop: asyncio.AbstractEventLoop) -> Any:
        if self._started:
            if self in frames:
                return None, RuntimeError(f"{self!r} cannot wait for itself")
            return NotImplemented  # joined: started like any other operation
        # A call: this coroutine runs now, above its caller, in the caller's task.
        self._started = True
        caller = frames[-1] if frames else None
        self.caller = caller
        if caller is not None and caller.debug:
            self.debug = True  # as in the original, a debugged coroutine's callees are too
        frames.append(self)
        return None, None

    def _start(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[Any]:
        # Parked by a WSGI app or started by an operation such as ``Call``: not started yet means
        # a call (result or exception), otherwise a join (result, or None if it failed).
        if not self._started:
            self._spawn(loop)
            return self._awaiter(loop, owned=True)
        return self._joiner(loop)

    def __await__(self) -> Generator[Any, None, Any]:
        return self._await().__await__()

    async def _await(self) -> Any:
        loop = asyncio.get_running_loop()
        owned = not self._started
        if owned:
            self._spawn(loop)
        return await self._awaiter(loop, owned)

    def _spawn(self, loop: asyncio.AbstractEventLoop) -> asyncio.Task[None]:
        self._started = True
        task = self._task = loop.create_task(_run(self), name=f"cogen {self.name}")
        return task

    def _awaiter(self, loop: asyncio.AbstractEventLoop, owned: bool) -> asyncio.Future[Any]:
        """A future for the outcome: the result, or the exception."""
        future = loop.create_future()
        if self.state >= STATE_COMPLETED:
            self._settle_awaiter(future)
        else:
            self._awaiters.append(future)
            if owned:
                # Whoever started it by waiting for it stops it by no longer waiting (a client
                # that went away, an asyncio caller that was cancelled), as with ``await coro()``.
                future.add_done_callback(self._awaiter_done)
        return future

    def _awaiter_done(self, future: asyncio.Future[Any]) -> None:
        if future.cancelled() and self.running:
            self._cancel()

    def _joiner(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[Any]:
        """A future for what :class:`Join` gives: the result, or None if it failed."""
        future = loop.create_future()
        if self.state >= STATE_COMPLETED:
            future.set_result(self._handed_result())
        else:
            self._joiners.append(future)
            future.add_done_callback(self._forget_joiner)
        return future

    def _forget_joiner(self, future: asyncio.Future[Any]) -> None:
        if future.cancelled():  # timed out or abandoned: no longer a joiner
            try:
                self._joiners.remove(future)
            except ValueError:
                pass

    def _handed_result(self) -> Any:
        if self.state == STATE_FAILED:
            return None
        self.state = STATE_FINALIZED
        return self.result

    def _settle_awaiter(self, future: asyncio.Future[Any]) -> None:
        if self.state == STATE_FAILED:
            assert self.exception is not None
            _settle(future, None, self.exception[1])
        else:
            future.set_result(self._handed_result())

    def _cancel(self) -> None:
        task = self._task
        if task is not None and not task.done():
            task.cancel()

    # -- stepping (called by the driver) ---------------------------------------------------

    def _init(self) -> bool:
        """The first step. Returns True when there is a generator to step (the driver gives the
        loop a turn first), False when the coroutine already finished (a plain function)."""
        target = self.coro
        if not _is_generator(target):
            try:  # the driver made this coroutine the owner (context.current_owner)
                target = target(*self.f_args, **self.f_kws)
            except StopIteration as stop:  # Python 2 style result from a plain function
                _warn_stop_iteration(self, stop)
                self._complete(stop.args[0] if stop.args else None)
                return False
            except (KeyboardInterrupt, SystemExit) as exc:
                self._fail(exc)
                raise
            except BaseException as exc:
                self._fail(exc)
                return False
            if inspect.iscoroutine(target):  # ``@coroutine`` on an ``async def`` function
                target = _delegate(target)
            elif not _is_generator(target):
                self._complete(target)
                return False
        self.f_args = ()
        self.f_kws = {}
        self.coro = target
        self.state = STATE_RUNNING
        return True

    def _step(self, value: Any, exc: BaseException | None) -> Any:
        """Resume the generator with ``value`` or throw ``exc`` in; return what it yields, or
        ``_DONE`` once it finished (state, result and exception are then set).

        The driver has made this coroutine the owner (``context.current_owner``) already."""
        if self.debug:
            if exc is not None:
                debug_log.debug("Running %r with exception %r", self, exc, exc_info=exc)
            else:
                debug_log.debug("Running %r with %r", self, value)
        try:
            if exc is not None:
                op = self.coro.throw(exc)
            else:
                op = self.coro.send(value)
        except StopIteration as stop:
            self._complete(stop.value)
            return _DONE
        except RuntimeError as error:
            cause = error.__cause__
            if isinstance(cause, StopIteration) and "StopIteration" in str(error):
                # PEP 479 turned ``raise StopIteration(value)`` into this; the generator is
                # finished, so the value is its result (cogen-api.md §16).
                _warn_stop_iteration(self, cause)
                self._complete(cause.args[0] if cause.args else None)
            else:
                self._fail(error)
            return _DONE
        except (KeyboardInterrupt, SystemExit) as error:
            self._fail(error)
            raise
        except BaseException as error:
            self._fail(error)
            return _DONE
        self.lastop = op
        if self.debug:
            debug_log.debug("%r yields %r", self, op)
        return op

    def _complete(self, result: Any) -> None:
        self.state = STATE_COMPLETED
        self.result = result

    def _fail(self, exc: BaseException) -> None:
        self.state = STATE_FAILED
        self.result = None
        self.exception = (type(exc), exc, exc.__traceback__)

    def _hand_down(self, has_caller: bool) -> Outcome:
        """Finished: wake whoever waits and say what the coroutine below receives."""
        handoff = self._handoff
        self.caller = None
        if handoff is not None:
            self._handoff = None
            self._notify()
            return handoff(self)
        delivered = has_caller or any(not f.done() for f in self._awaiters)
        self._notify()
        if self.state == STATE_FAILED:
            assert self.exception is not None
            exc = self.exception[1]
            if not delivered and not isinstance(exc, asyncio.CancelledError):
                self._report()
            return None, exc
        if has_caller:
            self.state = STATE_FINALIZED
        return self.result, None

    def _notify(self) -> None:
        awaiters, self._awaiters = self._awaiters, []
        joiners, self._joiners = self._joiners, []
        for future in awaiters:
            if not future.done():
                self._settle_awaiter(future)
        for future in joiners:
            if not future.done():
                future.set_result(self._handed_result())

    def _report(self) -> None:
        """Log a failure nobody receives (the original printed it to stderr and went on)."""
        error_log.error(
            "Exception happened during processing of coroutine %r; it was killed (last op: %r)",
            self,
            self.lastop,
            exc_info=self.exception,
        )


_warned_locations: set[tuple[str, int]] = set()


def _warn_stop_iteration(instance: CoroutineInstance, stop: StopIteration) -> None:
    tb = stop.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        filename, lineno, module = "<unknown>", 0, None
    else:
        frame = tb.tb_frame
        filename, lineno = frame.f_code.co_filename, tb.tb_lineno
        module = frame.f_globals.get("__name__")
    if (filename, lineno) in _warned_locations:
        return
    _warned_locations.add((filename, lineno))
    # Attributed to the coroutine's own module, so a legacy script run as ``__main__`` shows it
    # under Python's default warning filters.
    warnings.warn_explicit(
        f"coroutine {instance.name!r} returned its result with 'raise StopIteration(value)'; "
        "use 'return value' (PEP 479)",
        DeprecationWarning,
        filename,
        lineno,
        module=module,
    )


# -- the driver ------------------------------------------------------------------------------


async def _run(root: CoroutineInstance) -> None:
    """The task of a started coroutine."""
    try:
        await _drive([root])
    except (KeyboardInterrupt, SystemExit):
        # These leave the loop (asyncio re-raises them from the task); the copy the task keeps
        # is not a failure somebody forgot to look at.
        task = asyncio.current_task()
        if task is not None:
            task.add_done_callback(lambda t: t.exception())
        raise
    exception = root.exception
    if exception is not None and isinstance(exception[1], asyncio.CancelledError):
        raise asyncio.CancelledError()  # so that ``task.cancelled()`` says what happened


async def _drive(
    frames: list[CoroutineInstance], value: Any = None, exc: BaseException | None = None
) -> Outcome:
    """Step the coroutine on top of ``frames`` (resuming it with ``value`` or ``exc``) and
    whatever it calls, until the stack is empty. Returns what the last one handed down."""
    loop = asyncio.get_running_loop()
    # The coroutine on top of the stack is the owner (``local``; tasks its operations start
    # inherit it) while it steps and while what it yielded starts. The driver is all that runs
    # in its task's context (the task's own copy), so the owner changes only when the top of the
    # stack does, instead of being set and reset around every step and every start (four
    # context-variable changes per yield); the task's own value is put back at the end.
    owner: CoroutineInstance | None = None
    token = None
    while frames:
        instance = frames[-1]
        if instance is not owner:
            owner = instance
            if token is None:
                token = context.enter(instance)
            else:
                context.enter(instance)
        if instance.state == STATE_NEED_INIT:
            if exc is not None:
                # Thrown into a coroutine that never ran (cancelled before its first step):
                # it fails with that exception without running, like a fresh generator.
                instance._fail(exc)
                op = _DONE
            elif instance._init():
                # The original's first step only creates the generator and puts the coroutine
                # at the back of the queue before any of its body runs (cogen-api.md §2).
                value, exc = await _pause()
                continue
            else:
                op = _DONE
        else:
            op = instance._step(value, exc)
        if op is _DONE:
            frames.pop()
            value, exc = instance._hand_down(bool(frames))
            continue
        if op is None:
            # A plain ``yield``: behind everything already runnable (round robin).
            value, exc = await _pause()
        elif isinstance(op, InlineOperation):
            try:
                outcome = op._inline(frames, loop)
            except Exception as error:
                outcome = None, error
            if outcome is NotImplemented:
                value, exc = await _perform(instance, op, loop)
            else:
                value, exc = outcome
        else:
            value, exc = await _perform(instance, op, loop)
    if token is not None:
        # Put back on the way out through here only: an exception leaving the driver ends its
        # task, and the task's context with it (and the close of an abandoned task's coroutine
        # may run in another context, where the reset would fail).
        context.leave(token)
    return value, exc


# ``_pause`` and ``_read_after_turn`` are generator-based coroutines (``types.coroutine``): their
# bare ``yield`` reaches the task, which reschedules itself with one ``loop.call_soon``. That is
# what ``await asyncio.sleep(0)`` does underneath, without its two coroutine objects; a legacy
# coroutine pays this trip on every yield.


@types.coroutine
def _pause(
    value: Any = None, error: BaseException | None = None
) -> Generator[None, None, Outcome]:
    """One trip through the loop; resume with ``value`` or ``error``, or the cancel that came
    in between."""
    try:
        yield
    except asyncio.CancelledError as cancelled:
        return None, cancelled
    return value, error


@types.coroutine
def _read_after_turn(future: asyncio.Future[Any]) -> Generator[None, None, Outcome]:
    """One trip through the loop, then the outcome of ``future``, which is resolved already."""
    try:
        yield
    except asyncio.CancelledError as cancelled:
        # Cancelled before reading the outcome: an operation that can take it back (a queue's
        # item) does so on this cancel; for any other future it is a no-op.
        future.cancel()
        return None, cancelled
    return _outcome(future)


def _perform(
    instance: CoroutineInstance, op: Any, loop: asyncio.AbstractEventLoop
) -> Awaitable[Outcome]:
    """Start what ``instance`` yielded and return what to await for the outcome (with its
    timeout). A plain function, so an operation that completes at once costs the driver one
    small generator and no coroutine object."""
    if not parkable(op):
        # The original crashed the whole scheduler here; only this coroutine hears about it.
        return _pause(
            None,
            TypeError(
                f"coroutine {instance.name!r} yielded {op!r}: expected an operation, a "
                "coroutine, an awaitable or None"
            ),
        )
    try:
        value = outcome_now(op, loop)
        if value is not NotImplemented:
            # Completed within its start: whoever issues an operation resumes through the loop,
            # behind what it woke; no future is needed to carry the value across.
            return _pause(value)
        future = start_operation(op, loop)
    except Exception as error:
        return _pause(None, error)
    if future.done():
        # Whoever issues an operation resumes through the loop, behind what it woke.
        return _read_after_turn(future)
    return _wait(op, future, loop)


async def _wait(op: Any, future: asyncio.Future[Any], loop: asyncio.AbstractEventLoop) -> Outcome:
    """Wait for the pending outcome of ``op`` with its deadline (or the loop's default)."""
    deadline = deadline_of(op, loop, _default_timeouts.get(loop))
    timer = None
    expired = False
    if deadline is not None:

        def expire() -> None:
            nonlocal expired
            if not future.done():
                expired = True
                future.cancel()  # undoes the operation's registration

        timer = loop.call_at(deadline, expire)
    try:
        return await future, None
    except asyncio.CancelledError as cancelled:
        if expired:
            return None, OperationTimeout(op)
        return None, cancelled
    except Exception as error:
        return None, error
    finally:
        if timer is not None:
            timer.cancel()


def _outcome(future: asyncio.Future[Any]) -> Outcome:
    if future.cancelled():
        return None, asyncio.CancelledError()
    error = future.exception()
    if error is not None:
        return None, error
    return future.result(), None


def _settle(future: asyncio.Future[Any], value: Any, exc: BaseException | None) -> None:
    if exc is None:
        future.set_result(value)
    elif isinstance(exc, asyncio.CancelledError):
        future.cancel()
    else:
        future.set_exception(exc)


def _resolved(
    loop: asyncio.AbstractEventLoop, value: Any = None, exc: BaseException | None = None
) -> asyncio.Future[Any]:
    future = loop.create_future()
    _settle(future, value, exc)
    return future


# -- decorators ------------------------------------------------------------------------------


class Coroutine:
    """``@coroutine``: calling the decorated function returns a :class:`CoroutineInstance` that
    has not started. Works on generator functions, plain functions (the body runs at the first
    step, its return value is the result), ``async def`` functions, and methods."""

    def __init__(
        self, func: Callable[..., Any], constructor: type[CoroutineInstance] = CoroutineInstance
    ) -> None:
        self.wrapped_func = func
        self.constructor = constructor
        functools.update_wrapper(self, func)

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        return type(self)(self.wrapped_func.__get__(instance, owner), self.constructor)

    def __call__(self, *args: Any, **kwargs: Any) -> CoroutineInstance:
        return self.constructor(self.wrapped_func, *args, **kwargs)

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"<{name} constructor at 0x{id(self):08X} wrapping {self.wrapped_func!r}>"


class DebugCoroutine(Coroutine):
    """``@debug_coroutine``: as :class:`Coroutine`, and every resume (with the value or exception
    sent in) and every yielded operation is logged at DEBUG on ``cogen_aio.debug``. The original
    printed them to stdout."""

    def __call__(self, *args: Any, **kwargs: Any) -> CoroutineInstance:
        instance = super().__call__(*args, **kwargs)
        instance.debug = True
        return instance


coroutine = coro = Coroutine
debug_coroutine = debug_coro = DebugCoroutine


def _instantiate(target: Any, args: Any = (), kwargs: Any = None) -> CoroutineInstance:
    """What ``AddCoro``, ``Scheduler.add`` and ``spawn`` accept: a decorated coroutine (called
    with the arguments), an instance, a generator, an asyncio coroutine, or a plain callable
    returning one of those (a bare generator function included)."""
    args = tuple(args or ())
    kwargs = dict(kwargs or {})
    if isinstance(target, CoroutineInstance):
        if args or kwargs:
            raise TypeError("arguments given for a coroutine instance that already has them")
        return target
    if isinstance(target, Coroutine):
        instance = target(*args, **kwargs)
        assert isinstance(instance, CoroutineInstance)
        return instance
    if callable(target) and not _is_generator(target) and not inspect.isawaitable(target):
        if inspect.iscoroutinefunction(target):
            return CoroutineInstance(target, *args, **kwargs)
        target = target(*args, **kwargs)
        if isinstance(target, CoroutineInstance):
            return target
        args, kwargs = (), {}
    if _is_generator(target):
        return CoroutineInstance(target)
    if inspect.isawaitable(target):
        return CoroutineInstance(_delegate(target))
    raise TypeError(f"cannot run {target!r} as a coroutine")


def spawn(coro: Any) -> CoroutineInstance:
    """Start a cogen coroutine as a task on the running loop, from asyncio code; returns it.

    ``await`` the instance later for its result; an exception nobody awaits is logged on
    ``cogen_aio.error``. An instance that already started is returned as it is."""
    instance = _instantiate(coro)
    if not instance._started:
        instance._spawn(asyncio.get_running_loop())
    return instance


# -- operations ------------------------------------------------------------------------------


class AddCoro(Operation):
    """Start another coroutine beside the current one. ``yield AddCoro(c, args=(1,))`` gives back
    the new :class:`CoroutineInstance` (the original gave it only with the CORO priority bit,
    None otherwise; DESIGN.md). The adder resumes through the loop: a decorated plain function
    has run by then, a generator's body starts after (its first step only creates the generator,
    cogen-api.md §2)."""

    __slots__ = ("coro", "args", "kwargs")

    def __init__(
        self,
        coro: Any,
        args: tuple[Any, ...] | list[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        prio: int = DEFAULT_PRIORITY,
    ) -> None:
        super().__init__(prio)
        self.coro = coro
        self.args = tuple(args or ())
        self.kwargs = kwargs or {}

    def _start(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[Any]:
        instance = _instantiate(self.coro, self.args, self.kwargs)
        if not instance._started:
            instance._spawn(loop)
        return _resolved(loop, instance)


class Join(TimedOperation):
    """Wait for a coroutine to finish: its result, or None if it failed (its ``exception`` keeps
    the triple). A coroutine that already finished gives its result at once. Every joiner wakes,
    in the order they started waiting. With a timeout (or a default one), ``OperationTimeout``.

    The original's Join waited on itself when given a timeout and raised AssertionError for a
    finished coroutine (cogen-api.md §15); both are fixed (DESIGN.md).
    """

    __slots__ = ("coro",)

    def __init__(
        self,
        coro: CoroutineInstance,
        timeout: Any = None,
        weak_timeout: bool = True,
        prio: int = DEFAULT_PRIORITY,
    ) -> None:
        super().__init__(timeout, weak_timeout, prio)
        self.coro = coro

    def _start(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[Any]:
        target = self.coro
        if not isinstance(target, CoroutineInstance):
            raise TypeError(f"Join expects a coroutine instance, not {type(target).__name__}")
        return target._joiner(loop)


# -- local -----------------------------------------------------------------------------------


class local:  # noqa: N801 - the original's name
    """Attributes private to whoever is running: the cogen coroutine being stepped (a coroutine
    called with ``yield sub()`` has its own), the WSGI request being stepped, else the asyncio
    task; code outside any of them shares one slot (cogen-api.md §6).

    The original keyed it on the connection's coroutine inside its WSGI server, so keep-alive
    requests on one connection shared values; here each request has its own.
    """

    __slots__ = ("_cogen_owned", "_cogen_pinned", "_cogen_outside", "__weakref__")

    def __init__(self) -> None:
        object.__setattr__(self, "_cogen_owned", weakref.WeakKeyDictionary())
        # Owners that cannot be weakly referenced are held until they are gone from here.
        object.__setattr__(self, "_cogen_pinned", {})
        object.__setattr__(self, "_cogen_outside", {})

    def _values(self, create: bool) -> tuple[dict[str, Any] | None, Any]:
        owner = context.current_owner()
        if owner is None:
            return self._cogen_outside, owner
        try:
            values = self._cogen_owned.get(owner)
            if values is None and create:
                values = self._cogen_owned[owner] = {}
        except TypeError:
            entry = self._cogen_pinned.get(id(owner))
            values = entry[1] if entry is not None and entry[0] is owner else None
            if values is None and create:
                values = {}
                self._cogen_pinned[id(owner)] = (owner, values)
        return values, owner

    def __getattr__(self, name: str) -> Any:
        values, owner = self._values(create=False)
        try:
            return values[name]  # type: ignore[index]
        except (KeyError, TypeError):
            raise AttributeError(f"No variable {name!r} defined for {_describe(owner)}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        values, _ = self._values(create=True)
        values[name] = value  # type: ignore[index]

    def __delattr__(self, name: str) -> None:
        values, owner = self._values(create=False)
        try:
            del values[name]  # type: ignore[union-attr]
        except (KeyError, TypeError):
            raise AttributeError(f"No variable {name!r} defined for {_describe(owner)}") from None

    def __repr__(self) -> str:
        values, _ = self._values(create=False)
        return f"<cogen local at 0x{id(self):X} {values or {}!r}>"


def _describe(owner: Any) -> str:
    return "code outside any coroutine" if owner is None else repr(owner)
