"""A one-way pipe between two coroutines (cogen-api.md §10)::

    @coroutine
    def consumer():
        it = yield Iterate(producer, args=(100,))
        while True:
            value = yield it                  # runs the producer until its next chunk
            if value is sentinel:
                break                         # the producer ended
            ...

    @coroutine
    def producer(n):
        for i in range(n):
            yield chunk(i)                    # hands i to the consumer; resumes on its next ask

The hand-off is direct, as in the original: ``yield it`` runs the producer in the consumer's step
(and in its task) until it yields a ``chunk``, waiting for whatever the producer waits for in
between; the chunk's value comes back at the consumer's yield and the producer stays suspended
until the consumer asks again. The producer's ``yield chunk(x)`` gives None.

``yield it.stop()`` ends the iteration: the consumer gets ``sentinel`` at once (and from every
later ``yield it``), then ``IterationStopped`` is thrown into the producer at its current yield so
its ``finally`` blocks run. A producer that lets ``IterationStopped`` escape is not reported as a
failure; one that never started is simply never run.

A ``chunk`` yielded outside an iteration (a coroutine that is not a producer, or a producer after
``stop()``) is a plain cooperative yield that gives None; the original crashed there.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from .coroutines import (
    STATE_FAILED,
    CoroutineInstance,
    InlineOperation,
    Outcome,
    _drive,
    _instantiate,
)
from .ops import DEFAULT_PRIORITY

__all__ = ["Iterate", "IterateToken", "IterationStopped", "chunk", "sentinel"]


class IterationStopped(Exception):
    """Thrown into a producer whose consumer called ``it.stop()``."""


class _Sentinel:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<end of iteration>"


#: What ``yield it`` gives once the producer ended (or the iteration was stopped).
sentinel: Any = _Sentinel()
end_sentinel = sentinel

# The iteration a producer belongs to, while it is one.
_iterations: weakref.WeakKeyDictionary[CoroutineInstance, IterateToken] = (
    weakref.WeakKeyDictionary()
)


class chunk(InlineOperation):  # noqa: N801 - the original's name
    """Yielded by a producer: hand ``value`` to the consumer."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        super().__init__(DEFAULT_PRIORITY)
        self.value = value

    def _inline(self, frames: list[CoroutineInstance], loop: asyncio.AbstractEventLoop) -> Any:
        producer = frames[-1] if frames else None
        token = _iterations.get(producer) if producer is not None else None
        if token is None or not token.pushed:
            return NotImplemented
        # Back to the consumer, which is the coroutine below; the producer stays suspended here.
        frames.pop()
        token.pushed = False
        producer._handoff = None  # type: ignore[union-attr]
        return self.value, None

    def _start(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[Any]:
        future = loop.create_future()
        future.set_result(None)
        return future


class IterateToken(InlineOperation):
    """What ``yield Iterate(...)`` gives: yield it for the next value; ``stop()`` to end."""

    __slots__ = ("sentinel", "producer", "pushed", "ended", "aborted")

    def __init__(self, producer: CoroutineInstance, end: Any) -> None:
        super().__init__(DEFAULT_PRIORITY)
        self.sentinel = end
        self.producer = producer
        #: The producer is running above its consumer right now.
        self.pushed = False
        self.ended = False
        self.aborted = False
        _iterations[producer] = self

    def stop(self) -> IterateToken:
        """``yield it.stop()``: end the iteration (see the module docstring)."""
        self.aborted = True
        return self

    def _inline(self, frames: list[CoroutineInstance], loop: asyncio.AbstractEventLoop) -> Any:
        if self.aborted and not self.ended:
            self.ended = True
            self._interrupt(loop)
        if self.ended:
            return self.sentinel, None
        if self.pushed:
            return None, RuntimeError("the producer is already being iterated")
        producer = self.producer
        if producer._started and not producer.running:
            self.ended = True
            return self.sentinel, None
        # Run the producer above the consumer until its next chunk (a first ask starts it).
        producer._started = True
        producer._handoff = self._finished
        self.pushed = True
        frames.append(producer)
        return None, None

    def _finished(self, producer: CoroutineInstance) -> Outcome:
        """The producer ended while running for its consumer: the consumer gets the sentinel."""
        self.pushed = False
        self.ended = True
        _iterations.pop(producer, None)
        if producer.state == STATE_FAILED:
            producer._report()  # the consumer only sees the end, so say why (as the original)
        return self.sentinel, None

    def _interrupt(self, loop: asyncio.AbstractEventLoop) -> None:
        producer = self.producer
        _iterations.pop(producer, None)
        if not producer._started or not producer.running:
            return
        # In a task of its own, queued now: the consumer continues first (it got the sentinel
        # within its step, as in the original), then the producer hears about the stop.
        producer._handoff = _stopped
        loop.create_task(_drive([producer], None, IterationStopped()))


def _stopped(producer: CoroutineInstance) -> Outcome:
    exception = producer.exception
    if exception is not None and not isinstance(
        exception[1], (IterationStopped, asyncio.CancelledError)
    ):
        producer._report()
    return None, None


class Iterate(InlineOperation):
    """``it = yield Iterate(producer, args, kwargs)``: prepare to iterate over what
    ``producer(*args, **kwargs)`` hands out with ``chunk``. The producer starts at the first
    ``yield it``. ``sentinel`` is what ``yield it`` gives once it ended."""

    __slots__ = ("coro", "args", "kwargs", "sentinel", "token")

    def __init__(
        self,
        coro: Any,
        args: tuple[Any, ...] | list[Any] = (),
        kwargs: dict[str, Any] | None = None,
        sentinel: Any = sentinel,
        prio: int = DEFAULT_PRIORITY,
    ) -> None:
        super().__init__(prio)
        self.coro = coro
        self.args = tuple(args or ())
        self.kwargs = dict(kwargs or {})
        self.sentinel = sentinel
        self.token: IterateToken | None = None

    def _inline(self, frames: list[CoroutineInstance], loop: asyncio.AbstractEventLoop) -> Any:
        if self.token is None:
            producer = _instantiate(self.coro, self.args, self.kwargs)
            if producer._started:
                raise RuntimeError(f"cannot iterate over {producer!r}: it already started")
            self.token = IterateToken(producer, self.sentinel)
        return self.token, None
