"""A FIFO queue whose methods return operations (cogen-api.md §8).

Every method that can wait returns an operation: a cogen coroutine yields it, a WSGI app parks it
(``yield environ['cogen.call'](q.get)(timeout=5)``), asyncio code awaits it::

    q = Queue(20)
    await q.put(item)                  # the outcome is the QPut operation itself
    item = await q.get(timeout=1)      # raises OperationTimeout after 1 s (not Empty)

What the original did and this module keeps: ``put`` hands the item straight to a parked getter;
a full queue parks ``put`` (or fails it with ``Full`` at the yield when ``block`` is false);
an empty one parks ``get`` (or fails it with ``Empty``); a timeout gives ``OperationTimeout``, not
``Full``/``Empty`` (which the original's docstrings promised); ``task_done()`` counts down at call
time and raises ``ValueError`` there; ``join()`` and ``task_done()`` return None when there is
nothing to wait for.

What is fixed (DESIGN.md): join waiters are released once, not woken again the next time the count
reaches zero; a put that gives up waiting never counts as an unfinished task; and a wait that is
abandoned (timeout, client gone, task cancelled, server shutdown) leaves no waiter behind and
neither loses nor duplicates an item, even when the abandoned wait had already been handed its item
in the same loop turn: a getter's item goes to the next getter or back to the front of the queue;
a putter's item is taken out again while it is still queued (once a getter has it, the put stands).

Ordering is the original's LAST priority: the one who issued the operation continues first, and
the getters or putters it released resume after it, in the order they started waiting.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any, Callable

from .ops import DEFAULT_PRIORITY, Operation, TimedOperation

__all__ = ["Queue", "Full", "Empty", "QGet", "QPut", "QDone", "QJoin"]


class Full(Exception):
    """``put(..., block=False)`` or ``put_nowait`` on a full queue (raised at the yield)."""


class Empty(Exception):
    """``get(block=False)`` or ``get_nowait`` on an empty queue (raised at the yield)."""


# -- the future behind every queue and pubsub wait ---------------------------------------------


class Handoff(asyncio.Future):  # type: ignore[type-arg]
    """The future of a queue or pubsub operation, able to take its outcome back.

    Whoever waits on an operation cancels its future when it stops waiting: the WSGI runner on a
    timeout, a disconnect or shutdown; an asyncio task when it is cancelled. A plain future would
    ignore that cancel once it has an outcome, and an item already handed to the waiter would be
    lost. Here ``on_abandon`` runs on such a cancel as long as nobody has read the outcome
    (``result()``/``exception()``, which the runner and asyncio's tasks call when they resume the
    waiter): the item goes back to the queue, the fetched messages become unread again. From then
    on the future reads as cancelled, so the outcome cannot be delivered as well.

    ``on_abandon`` also runs for a cancel while the future is pending, which is where waiter-list
    entries are removed: at once, not a loop turn later as done-callbacks would.
    """

    __slots__ = ("on_abandon", "_taken", "_abandoned")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop=loop)
        self.on_abandon: Callable[[], None] | None = None
        self._taken = False
        self._abandoned = False

    def cancel(self, msg: Any = None) -> bool:
        if not self.done():
            super().cancel(msg)
            self._abandon()
            return True
        if not (self._taken or self._abandoned):
            self._abandoned = True
            if not super().cancelled():
                super().exception()  # retrieved: no "exception was never retrieved" log
            self._abandon()
        return False

    def _abandon(self) -> None:
        callback, self.on_abandon = self.on_abandon, None
        if callback is not None:
            callback()

    def cancelled(self) -> bool:
        return self._abandoned or super().cancelled()

    def result(self) -> Any:
        if self._abandoned:
            raise asyncio.CancelledError()
        self._taken = True
        self.on_abandon = None
        return super().result()

    def exception(self) -> BaseException | None:  # type: ignore[override]
        if self._abandoned:
            raise asyncio.CancelledError()
        self._taken = True
        self.on_abandon = None
        return super().exception()


def resolved(loop: asyncio.AbstractEventLoop, value: Any = None) -> Handoff:
    future = Handoff(loop)
    future.set_result(value)
    return future


def failed(loop: asyncio.AbstractEventLoop, exc: BaseException) -> Handoff:
    future = Handoff(loop)
    future.set_exception(exc)
    return future


def _set_result(future: Handoff, value: Any) -> None:
    if not future.done():
        future.set_result(value)


# -- operations ----------------------------------------------------------------------------------


class QGet(TimedOperation):
    """``q.get()``: the outcome is the item. ``Empty`` at the yield if the queue is empty and
    ``block`` is false; ``OperationTimeout`` when the timeout passes first."""

    __slots__ = ("queue", "block")

    def __init__(self, queue: Queue, block: bool = True, **kws: Any) -> None:
        super().__init__(**kws)
        self.queue = queue
        self.block = block

    def _start(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[Any]:
        return self.queue._start_get(self, loop)


class QPut(TimedOperation):
    """``q.put(item)``: the outcome is the operation itself. ``Full`` at the yield if the queue is
    full and ``block`` is false; ``OperationTimeout`` when the timeout passes first."""

    __slots__ = ("queue", "item", "block")

    def __init__(self, queue: Queue, item: Any, block: bool = True, **kws: Any) -> None:
        super().__init__(**kws)
        self.queue = queue
        self.item = item
        self.block = block

    def _start(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[Any]:
        return self.queue._start_put(self, loop)


class QDone(Operation):
    """Returned by ``task_done()`` when the count of unfinished tasks reaches zero; the outcome is
    the operation itself. The join waiters were released by that ``task_done()`` call already,
    so asyncio code that does not await ``task_done()`` (it is None most of the time) still
    releases them; they resume after whoever yields this operation, as in the original."""

    __slots__ = ("queue",)

    def __init__(self, queue: Queue, prio: int = DEFAULT_PRIORITY) -> None:
        super().__init__(prio)
        self.queue = queue

    def _start(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[Any]:
        if self.queue.unfinished_tasks == 0:
            self.queue._release_joiners()  # built by hand, not by task_done()
        return resolved(loop, self)


class QJoin(Operation):
    """Returned by ``join()`` while tasks are unfinished; the outcome, once every task is done,
    is the operation itself. Never times out (the original's join was not a timed operation)."""

    __slots__ = ("queue",)

    def __init__(self, queue: Queue, prio: int = DEFAULT_PRIORITY) -> None:
        super().__init__(prio)
        self.queue = queue

    def _start(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[Any]:
        return self.queue._start_join(self, loop)


# -- the queue -------------------------------------------------------------------------------------


class Queue:
    """A FIFO queue for cogen coroutines, WSGI apps and asyncio code (cogen-api.md §8).

    ``maxsize <= 0`` means unbounded. ``queue`` is the deque of items; ``unfinished_tasks`` counts
    items put and not yet marked done with ``task_done()`` (an item counts from the moment it
    enters the queue or reaches a getter, never while its put is still waiting for room).

    From asyncio: ``join()`` and ``task_done()`` return None when there is nothing to wait for, as
    in the original, so await what they return only when it is not None::

        if (waiter := q.join()) is not None:
            await waiter
    """

    def __init__(self, maxsize: int = 0) -> None:
        self.maxsize = maxsize
        self.queue: collections.deque[Any] = collections.deque()
        self.unfinished_tasks = 0
        # Parked operations in the order they started waiting. Entries are removed the moment a
        # wait is abandoned (see Handoff), so a disconnected client never receives an item.
        self._getters: dict[Handoff, QGet] = {}
        self._putters: dict[Handoff, QPut] = {}
        self._joiners: dict[Handoff, QJoin] = {}

    def __repr__(self) -> str:
        return (
            f"<Queue maxsize={self.maxsize} qsize={len(self.queue)} "
            f"unfinished={self.unfinished_tasks} getters={len(self._getters)} "
            f"putters={len(self._putters)} joiners={len(self._joiners)}>"
        )

    # -- the original's methods ------------------------------------------------------------------

    def put(self, item: Any, block: bool = True, **kws: Any) -> QPut:
        """Put ``item`` in the queue; kws: ``timeout``, ``weak_timeout``, ``prio``."""
        return QPut(self, item, block, **kws)

    def put_nowait(self, item: Any) -> QPut:
        return QPut(self, item, False)

    def get(self, block: bool = True, **kws: Any) -> QGet:
        """Take the first item; kws: ``timeout``, ``weak_timeout``, ``prio``."""
        return QGet(self, block, **kws)

    def get_nowait(self) -> QGet:
        return QGet(self, False)

    def task_done(self, **kws: Any) -> QDone | None:
        """Mark one item as processed. Counts down now (``ValueError`` now if called more times
        than items were put); returns a :class:`QDone` when the count reaches zero, else None."""
        if self.unfinished_tasks <= 0:
            raise ValueError("task_done() called too many times")
        self.unfinished_tasks -= 1
        if self.unfinished_tasks:
            return None
        self._release_joiners()
        return QDone(self, **kws)

    def join(self) -> QJoin | None:
        """None if every item put was marked done, else an operation that waits for that."""
        if self.unfinished_tasks:
            return QJoin(self)
        return None

    def qsize(self) -> int:
        return len(self.queue)

    def empty(self) -> bool:
        return not self.queue

    def full(self) -> bool:
        return 0 < self.maxsize <= len(self.queue)

    # -- introspection ---------------------------------------------------------------------------

    @property
    def waiting_gets(self) -> list[QGet]:
        """The parked ``get`` operations, oldest first."""
        return list(self._getters.values())

    @property
    def waiting_puts(self) -> list[QPut]:
        """The parked ``put`` operations, oldest first."""
        return list(self._putters.values())

    @property
    def joinees(self) -> list[QJoin]:
        """The parked ``join`` operations."""
        return list(self._joiners.values())

    # -- how the operations run --------------------------------------------------------------------

    def _start_get(self, op: QGet, loop: asyncio.AbstractEventLoop) -> Handoff:
        if self.queue:
            item = self.queue.popleft()
            future = resolved(loop, item)
            future.on_abandon = lambda: self._give_back(item)
            self._admit_putters()
            return future
        if not op.block:
            return failed(loop, Empty())
        future = Handoff(loop)
        self._getters[future] = op
        future.on_abandon = lambda: self._getters.pop(future, None)
        return future

    def _start_put(self, op: QPut, loop: asyncio.AbstractEventLoop) -> Handoff:
        if self.full():
            if not op.block:
                return failed(loop, Full())
            future = Handoff(loop)
            self._putters[future] = op
            future.on_abandon = lambda: self._putters.pop(future, None)
            return future
        item = op.item
        self.unfinished_tasks += 1
        if self._getters:
            self._hand_to_getter(item)
        else:
            self.queue.append(item)
        future = resolved(loop, op)
        future.on_abandon = lambda: self._withdraw(item)
        return future

    def _start_join(self, op: QJoin, loop: asyncio.AbstractEventLoop) -> Handoff:
        if not self.unfinished_tasks:
            return resolved(loop, op)
        future = Handoff(loop)
        self._joiners[future] = op
        future.on_abandon = lambda: self._joiners.pop(future, None)
        return future

    def _hand_to_getter(self, item: Any) -> None:
        """Give ``item`` to the oldest parked getter. It is resolved on the next loop turn, so
        whoever put the item continues first (the original's LAST order, cogen-api.md §8); until
        then the item is reserved for it and comes back if that getter goes away."""
        future, _ = _pop_first(self._getters)
        future.on_abandon = lambda: self._give_back(item)
        future.get_loop().call_soon(self._deliver, future, item)

    def _deliver(self, future: Handoff, item: Any) -> None:
        # A getter that went away meanwhile has given the item back already (its on_abandon);
        # one that stays keeps it reserved until it reads it (see Handoff).
        if not future.done():
            future.set_result(item)

    def _give_back(self, item: Any) -> None:
        """An item handed to a getter that went away: the next getter gets it, else it returns
        to the front of the queue (even if that makes the queue one over ``maxsize`` for a while:
        an item is never dropped to respect the bound)."""
        if self._getters:
            self._hand_to_getter(item)
        else:
            self.queue.appendleft(item)

    def _admit_putters(self) -> None:
        """Room was made: move parked putters' items in, in order. The putters resume on the next
        turn, after the getter that made room (LAST order)."""
        while self._putters and not self.full():
            future, op = _pop_first(self._putters)
            item = op.item
            self.queue.append(item)
            self.unfinished_tasks += 1
            future.on_abandon = lambda item=item: self._withdraw(item)  # type: ignore[misc]
            future.get_loop().call_soon(_set_result, future, op)

    def _withdraw(self, item: Any) -> None:
        """A put whose waiter went away before reading its outcome is undone while its item is
        still in the queue (a retry must not duplicate it). Once a getter took it, it stands."""
        queue = self.queue
        for index in range(len(queue) - 1, -1, -1):
            if queue[index] is item:
                del queue[index]
                break
        else:
            return
        self.unfinished_tasks -= 1
        if not self.unfinished_tasks:
            self._release_joiners()
        self._admit_putters()

    def _release_joiners(self) -> None:
        """The count reached zero: release the join waiters parked now, once (the original kept
        them and woke them again on every later zero). They resume on the next turn, after the
        caller of ``task_done()`` continues, as with the original's LAST priority."""
        if not self._joiners:
            return
        joiners, self._joiners = self._joiners, {}
        for future, op in joiners.items():
            future.on_abandon = None
            future.get_loop().call_soon(_set_result, future, op)


def _pop_first(waiters: dict[Handoff, Any]) -> tuple[Handoff, Any]:
    future = next(iter(waiters))
    return future, waiters.pop(future)

