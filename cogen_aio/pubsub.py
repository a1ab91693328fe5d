"""Publish/subscribe with retained history (cogen-api.md §9).

Subscribers fetch everything published since their last fetch; a fetch with nothing unread parks
until the next publish. The methods return operations, so the same queue serves cogen coroutines,
WSGI apps and asyncio code::

    ps = PublishSubscribeQueue()
    await ps.subscribe("alice")
    await ps.publish("hello")                       # outcome: the PSPut operation
    assert await ps.fetch("alice") == ["hello"]

    # a long-poll WSGI app
    yield environ["cogen.call"](ps.fetch)(key, timeout=30)
    messages = environ["cogen.wsgi"].result           # a list, or the timeout / error instance

As in the original: a new subscriber starts at the oldest retained message, so its first fetch
returns the retained history, including what was published before it subscribed; a parked fetch
is resumed by the next publish with a one-element list; a fetch by a key that is not subscribed
gets ``AssertionError`` at the yield, ``unsubscribe`` of an unknown key ``KeyError``.

Fixed (DESIGN.md): every fetch returns a fresh list (never the queue's own); ``compact()`` keeps
each subscriber's place, so none loses a message; several fetches parked under one key all wake
(the original stranded all but the last). A fetch abandoned before its messages were read (timeout
in the same turn, client gone, task cancelled) leaves them unread.

New: the retained history is bounded (``max_history``, default 1000 messages, ``None`` for no
bound). When a publish takes the history past the bound, the messages every subscriber has read
are dropped; if that is not enough, the oldest unread ones are dropped too, down to 7/8 of the
bound, so the next trim is at least ``max_history // 8`` publishes away (trimming looks at every
subscriber, so it runs in batches, not on each publish). A subscriber that lost unread messages
this way is told: its next fetch raises :class:`MessagesDropped` (``count`` = how many it missed)
at the yield, and the fetch after that continues from the oldest retained message.

``key=None`` means whoever is running when the operation is built (``context.current_owner()``):
the cogen coroutine, the WSGI request being stepped (the original used the connection coroutine,
so keep-alive requests shared a subscription; here each request is its own subscriber), or the
asyncio task. Such owner subscriptions are held weakly where the owner allows it (asyncio tasks,
cogen coroutines), so an owner that is gone stops pinning history. Explicit keys (a session id, a
user name) are held until ``unsubscribe``; a subscriber that never comes back pins at most
``max_history`` messages, and is told what it missed if it does return.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any, Iterator

from . import context
from .ops import DEFAULT_PRIORITY, Operation, TimedOperation
from .queue import Handoff, failed, resolved

__all__ = [
    "PublishSubscribeQueue",
    "PSPut",
    "PSGet",
    "PSSubscribe",
    "PSUnsubscribe",
    "MessagesDropped",
]

#: Default bound on the retained history, in messages.
DEFAULT_MAX_HISTORY = 1000


class MessagesDropped(Exception):
    """Raised at a fetch by a subscriber that fell so far behind that messages it had not read
    were dropped to keep the history within ``max_history``. ``count`` is how many it missed;
    its next fetch continues with the oldest message still retained."""

    def __init__(self, count: int, key: Any = None) -> None:
        super().__init__(count, key)

    @property
    def count(self) -> int:
        return self.args[0]

    @property
    def key(self) -> Any:
        return self.args[1]

    def __str__(self) -> str:
        return (
            f"{self.count} message(s) were dropped before subscriber {self.key!r} read them "
            "(the history is bounded by max_history)"
        )


class _Subscriber:
    """Where a subscriber is: the absolute number of the next message it has not read.

    Numbers count every message ever published, so dropping old messages never moves anyone
    (the original stored list indexes and ``compact()`` made them point past unread messages).
    """

    __slots__ = ("position",)

    def __init__(self, position: int) -> None:
        self.position = position


def _resolve_key(key: Any, owner: Any) -> tuple[Any, bool]:
    """(the subscription key, whether it is an owner rather than an explicit key)."""
    if key is not None:
        return key, False
    if owner is None:
        owner = context.current_owner()
    return owner, True


# -- operations ------------------------------------------------------------------------------------


class PSPut(Operation):
    """``publish(message)``: the outcome is the operation itself. ``key`` is accepted and unused,
    as in the original."""

    __slots__ = ("queue", "message", "key")

    def __init__(
        self, queue: PublishSubscribeQueue, message: Any, key: Any = None,
        prio: int = DEFAULT_PRIORITY,
    ) -> None:
        super().__init__(prio)
        self.queue = queue
        self.message = message
        self.key = key

    def _start(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[Any]:
        self.queue._publish(self.message)
        return resolved(loop, self)


class PSGet(TimedOperation):
    """``fetch()``: the outcome is a list of the unread messages. ``AssertionError`` if the key is
    not subscribed, ``MessagesDropped`` if unread messages were dropped, ``OperationTimeout``."""

    __slots__ = ("queue", "key", "_owner")

    def __init__(self, queue: PublishSubscribeQueue, key: Any = None, **kws: Any) -> None:
        super().__init__(**kws)
        self.queue = queue
        self.key = key
        # key=None is whoever builds the operation (a cogen app builds it in its own step).
        self._owner = context.current_owner() if key is None else None

    def _start(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[Any]:
        return self.queue._start_fetch(self, _resolve_key(self.key, self._owner)[0], loop)


class _KeyedOperation(Operation):
    """An operation on one subscriber: ``key=None`` is whoever builds it."""

    __slots__ = ("queue", "key", "_owner")

    def __init__(
        self, queue: PublishSubscribeQueue, key: Any = None, prio: int = DEFAULT_PRIORITY
    ) -> None:
        super().__init__(prio)
        self.queue = queue
        self.key = key
        self._owner = context.current_owner() if key is None else None


class PSSubscribe(_KeyedOperation):
    """``subscribe()``: the outcome is the operation itself. (Re)starts the subscriber at the
    oldest retained message."""

    __slots__ = ()

    def _start(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[Any]:
        self.queue._subscribe(*_resolve_key(self.key, self._owner))
        return resolved(loop, self)


class PSUnsubscribe(_KeyedOperation):
    """``unsubscribe()``: the outcome is the operation itself; ``KeyError`` if not subscribed.
    Fetches parked under the key get the ``AssertionError`` of a fetch by a non-subscriber."""

    __slots__ = ()

    def _start(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[Any]:
        key, _ = _resolve_key(self.key, self._owner)
        if not self.queue._unsubscribe(key):
            return failed(loop, KeyError(key))
        return resolved(loop, self)


# -- the queue -------------------------------------------------------------------------------------


class PublishSubscribeQueue:
    """Publish/subscribe with a bounded retained history (see the module docstring)."""

    def __init__(self, max_history: int | None = DEFAULT_MAX_HISTORY) -> None:
        if max_history is not None and max_history < 1:
            raise ValueError("max_history must be a positive number of messages, or None")
        self.max_history = max_history
        self._messages: list[Any] = []
        self._head = 0  # the absolute number of self._messages[0]
        self._subscribers: dict[Any, _Subscriber] = {}
        self._owned: weakref.WeakKeyDictionary[Any, _Subscriber] = weakref.WeakKeyDictionary()
        # Parked fetches, oldest first: future -> (subscriber, key, op).
        self._waiting: dict[Handoff, tuple[_Subscriber, Any, PSGet]] = {}

    def __repr__(self) -> str:
        return (
            f"<PublishSubscribeQueue messages={len(self._messages)} "
            f"subscribers={len(self._subscribers) + len(self._owned)} "
            f"waiting={len(self._waiting)}>"
        )

    # -- the original's methods ------------------------------------------------------------------

    def publish(self, message: Any, key: Any = None, **kws: Any) -> PSPut:
        """Append ``message`` and wake every parked fetch with ``[message]``."""
        return PSPut(self, message, key, **kws)

    def subscribe(self, key: Any = None, **kws: Any) -> PSSubscribe:
        return PSSubscribe(self, key, **kws)

    def unsubscribe(self, key: Any = None, **kws: Any) -> PSUnsubscribe:
        return PSUnsubscribe(self, key, **kws)

    def fetch(self, key: Any = None, **kws: Any) -> PSGet:
        """All unread messages as a new list, parking until a publish if there are none;
        kws: ``timeout``, ``weak_timeout``, ``prio``."""
        return PSGet(self, key, **kws)

    def compact(self) -> int:
        """Drop the messages every subscriber has read (all of them if nobody is subscribed) and
        return how many were dropped. Synchronous, not an operation."""
        end = self._end
        low = min((sub.position for sub in self._all_subscribers()), default=end)
        return self._drop_before(max(low, self._head))

    # -- introspection ---------------------------------------------------------------------------

    @property
    def messages(self) -> list[Any]:
        """A copy of the retained history, oldest first."""
        return list(self._messages)

    @property
    def subscribers(self) -> dict[Any, int]:
        """key -> index in :attr:`messages` of the subscriber's next unread message (negative:
        that many messages were dropped before it read them; its next fetch says so)."""
        head = self._head
        result = {key: sub.position - head for key, sub in self._subscribers.items()}
        result.update((key, sub.position - head) for key, sub in self._owned.items())
        return result

    @property
    def active_subscribers(self) -> dict[Any, list[PSGet]]:
        """key -> the fetches parked under it."""
        result: dict[Any, list[PSGet]] = {}
        for _, key, op in self._waiting.values():
            result.setdefault(key, []).append(op)
        return result

    # -- how the operations run --------------------------------------------------------------------

    @property
    def _end(self) -> int:
        return self._head + len(self._messages)

    def _all_subscribers(self) -> Iterator[_Subscriber]:
        yield from self._subscribers.values()
        yield from self._owned.values()

    def _lookup(self, key: Any) -> _Subscriber | None:
        sub = self._subscribers.get(key)
        if sub is None and len(self._owned):
            try:
                sub = self._owned.get(key)
            except TypeError:  # not weakly referenceable, so not in there
                pass
        return sub

    def _subscribe(self, key: Any, is_owner: bool) -> None:
        sub = self._lookup(key)
        if sub is not None:
            sub.position = self._head
            return
        sub = _Subscriber(self._head)
        if is_owner and key is not None:
            try:
                self._owned[key] = sub
                return
            except TypeError:
                pass  # e.g. an object without __weakref__: held like an explicit key
        self._subscribers[key] = sub

    def _unsubscribe(self, key: Any) -> bool:
        sub = self._subscribers.pop(key, None)
        if sub is None:
            try:
                sub = self._owned.pop(key, None)
            except TypeError:
                sub = None
        if sub is None:
            return False
        stranded = [future for future, (waiting, _, _) in self._waiting.items() if waiting is sub]
        for future in stranded:
            del self._waiting[future]
            future.on_abandon = None
            future.set_exception(_not_subscribed(key))
        return True

    def _start_fetch(self, op: PSGet, key: Any, loop: asyncio.AbstractEventLoop) -> Handoff:
        sub = self._lookup(key)
        if sub is None:
            return failed(loop, _not_subscribed(key))
        head = self._head
        position = sub.position
        if position < head:
            sub.position = head
            future = failed(loop, MessagesDropped(head - position, key))
        elif position < self._end:
            future = resolved(loop, self._messages[position - head :])
            sub.position = self._end
        else:
            future = Handoff(loop)
            self._waiting[future] = (sub, key, op)
            future.on_abandon = lambda: self._waiting.pop(future, None)
            return future
        # Not read after all (the waiter went away in the same turn): unread again, or the
        # drop is reported again.
        future.on_abandon = lambda: _rewind(sub, position)
        return future

    def _publish(self, message: Any) -> None:
        number = self._end
        self._messages.append(message)
        if self._waiting:
            # Parked fetchers resume in the order they parked, before the publisher continues
            # (the original's LAST priority, cogen-api.md §9).
            waiting, self._waiting = self._waiting, {}
            for future, (sub, _, _) in waiting.items():
                future.set_result([message])
                if sub.position == number:
                    sub.position = number + 1
                future.on_abandon = lambda sub=sub: _rewind(sub, number)  # type: ignore[misc]
        limit = self.max_history
        if limit is not None and len(self._messages) > limit:
            self._trim(limit)

    def _trim(self, limit: int) -> None:
        end = self._end
        low = min((sub.position for sub in self._all_subscribers()), default=end)
        # Keep at most 7/8 of the bound, so the next trim is limit // 8 publishes away.
        keep = limit - limit // 8
        self._drop_before(max(low, end - keep, self._head))

    def _drop_before(self, number: int) -> int:
        removed = number - self._head
        if removed > 0:
            del self._messages[:removed]
            self._head = number
        return max(removed, 0)


def _rewind(sub: _Subscriber, position: int) -> None:
    if sub.position > position:
        sub.position = position


def _not_subscribed(key: Any) -> AssertionError:
    return AssertionError(f"fetch() for {key!r}, which is not subscribed")

