"""How a started operation waits on the event loop: the per-operation waiter, the check for
loops without readiness callbacks, and the future plumbing the operations share."""

from __future__ import annotations

import asyncio
import weakref
from typing import TYPE_CHECKING, Any, Callable

from .errors import _translate

if TYPE_CHECKING:
    from .operations import SocketOperation

#: The two queues of a :class:`~cogen_aio.sockets.Socket`, indexed by an operation's direction.
_READ, _WRITE = 0, 1
#: ``_step`` made progress and wants to be called again before waiting.
_AGAIN: Any = object()
#: The read buffer does not satisfy the operation yet.
_MORE: Any = object()

#: Loops without ``add_reader``/``add_writer`` (the Windows proactor): waits go through the
#: loop's ``sock_*`` coroutines instead.
_no_readiness: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()


def _readiness(loop: asyncio.AbstractEventLoop) -> bool:
    if loop in _no_readiness:
        return False
    proactor = getattr(asyncio, "proactor_events", None)
    if proactor is not None and isinstance(loop, proactor.BaseProactorEventLoop):
        _no_readiness.add(loop)
        return False
    return True


class _Waiter:
    """One started socket operation: its future, and its fallback task if it has one."""

    __slots__ = ("op", "loop", "future", "task")

    def __init__(self, op: SocketOperation, loop: asyncio.AbstractEventLoop) -> None:
        self.op = op
        self.loop = loop
        self.future: asyncio.Future[Any] = loop.create_future()
        self.task: asyncio.Task[Any] | None = None

    def attempt(self) -> bool:
        """Run the operation's system calls until it completes or would block.

        Returns True once the future is resolved, False if it has to wait.
        """
        future = self.future
        if future.done():
            return True
        op = self.op
        raw = op.sock._fd
        try:
            outcome = op._step(raw)
            while outcome is _AGAIN:
                outcome = op._step(raw)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError as exc:
            future.set_exception(_translate(exc))
        except Exception as exc:
            future.set_exception(exc)
        else:
            future.set_result(outcome)
        return True

    def fall_back(self) -> None:
        """Wait through the loop's ``sock_*`` coroutines (loops without readiness callbacks)."""
        task = self.task = self.loop.create_task(self.op._fallback(self.loop))
        task.add_done_callback(self._relay)

    def _relay(self, task: asyncio.Task[Any]) -> None:
        future = self.future
        if future.done():
            return
        if task.cancelled():
            future.cancel()
            return
        exc = task.exception()
        if exc is None:
            future.set_result(task.result())
        else:
            future.set_exception(exc)


def _chain(
    inner: asyncio.Future[Any],
    outer: asyncio.Future[Any],
    finish: Callable[[Any], Any] | None = None,
) -> None:
    """Resolve ``outer`` with ``inner``'s outcome (mapped through ``finish``); cancelling
    ``outer`` cancels ``inner``, which undoes its registration."""

    def relay(done: asyncio.Future[Any]) -> None:
        if outer.done():
            return
        if done.cancelled():
            outer.cancel()
            return
        exc = done.exception()
        if exc is not None:
            outer.set_exception(exc)
            return
        try:
            result = done.result() if finish is None else finish(done.result())
        except Exception as error:
            outer.set_exception(error)
        else:
            outer.set_result(result)

    inner.add_done_callback(relay)
    outer.add_done_callback(lambda _: inner.cancel())


def _resolved(loop: asyncio.AbstractEventLoop, value: Any) -> asyncio.Future[Any]:
    future = loop.create_future()
    future.set_result(value)
    return future
