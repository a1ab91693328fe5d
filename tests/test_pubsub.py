"""cogen_aio.pubsub (cogen-api.md §9, §17; DESIGN.md's pubsub fixes; the history bound): from
asyncio, and long-polling WSGI requests behind a real socket."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from typing import Any, AsyncIterator, Callable, Generator, Iterator

import httpx
import pytest

import cogen_aio
from cogen_aio.coroutines import AddCoro, coroutine
from cogen_aio.ops import OperationTimeout, Signal, Sleep, WaitForSignal, start_operation
from cogen_aio.pubsub import (
    MessagesDropped,
    PSGet,
    PSPut,
    PSSubscribe,
    PSUnsubscribe,
    PublishSubscribeQueue,
)
from cogen_aio.priority import priority
from cogen_aio.scheduler import Scheduler
from memory import request, turns
from scheduling import run_with_watchdog

try:
    import uvloop
except ImportError:  # pragma: no cover - a test dependency where it builds
    uvloop = None

StartResponse = Callable[..., Any]
HANG = 5  # only to turn a hang into a failure


def spawn(coro: Any) -> asyncio.Task[Any]:
    return asyncio.ensure_future(coro)


# -- the result table (cogen-api.md §17) ---------------------------------------------------------


@pytest.mark.asyncio
async def test_subscribe_publish_fetch_and_unsubscribe_outcomes() -> None:
    ps = PublishSubscribeQueue()
    sub = ps.subscribe("k")
    assert isinstance(sub, PSSubscribe) and await sub is sub
    put = ps.publish("m1")
    assert isinstance(put, PSPut) and await put is put
    await ps.publish("m2")
    fetch = ps.fetch("k")
    assert isinstance(fetch, PSGet)
    assert await fetch == ["m1", "m2"]
    unsub = ps.unsubscribe("k")
    assert isinstance(unsub, PSUnsubscribe) and await unsub is unsub
    with pytest.raises(KeyError):
        await ps.unsubscribe("k")


@pytest.mark.asyncio
async def test_fetch_by_a_key_that_is_not_subscribed_raises_assertion_error_at_the_await() -> None:
    ps = PublishSubscribeQueue()
    op = ps.fetch("stranger")  # building it does not raise
    with pytest.raises(AssertionError):
        await op


@pytest.mark.asyncio
async def test_a_fresh_subscriber_gets_the_retained_history_and_resubscribing_restarts() -> None:
    ps = PublishSubscribeQueue()
    for i in range(3):
        await ps.publish(i)
    await ps.subscribe("late")
    assert await ps.fetch("late") == [0, 1, 2]
    await ps.subscribe("late")
    assert await ps.fetch("late") == [0, 1, 2]


@pytest.mark.asyncio
async def test_fetch_returns_a_fresh_list_every_time() -> None:
    """The original returned its own message list to a subscriber at index 0, so later
    publishes and compactions changed what the app had received."""
    ps = PublishSubscribeQueue()
    await ps.subscribe("a")
    await ps.subscribe("b")
    await ps.publish("x")
    got_a = await ps.fetch("a")
    got_b = await ps.fetch("b")
    assert got_a == got_b == ["x"] and got_a is not got_b
    got_a.append("mine")
    await ps.publish("y")
    ps.compact()
    assert got_b == ["x"] and ps.messages == ["y"]
    assert await ps.fetch("a") == ["y"]


@pytest.mark.asyncio
async def test_a_parked_fetch_gets_the_next_message_as_a_one_element_list() -> None:
    ps = PublishSubscribeQueue()
    await ps.subscribe("k")
    fetch = ps.fetch("k", timeout=HANG)
    waiter = spawn(fetch)
    await turns()
    assert ps.active_subscribers == {"k": [fetch]}
    await ps.publish("news")
    assert await waiter == ["news"]
    assert ps.active_subscribers == {}
    assert ps.subscribers == {"k": 1}


@pytest.mark.asyncio
async def test_fetchers_resume_in_order_before_the_publisher_continues() -> None:
    ps = PublishSubscribeQueue()
    order: list[Any] = []

    async def fetcher(key: str) -> None:
        await ps.subscribe(key)
        order.append((key, await ps.fetch(key)))

    tasks = [spawn(fetcher(f"f{i}")) for i in range(3)]
    while len(ps.active_subscribers) < 3:
        await asyncio.sleep(0)
    await ps.publish("m")
    order.append("publisher")
    await asyncio.gather(*tasks)
    assert order == [("f0", ["m"]), ("f1", ["m"]), ("f2", ["m"]), "publisher"]


@pytest.mark.asyncio
async def test_every_fetch_parked_under_one_key_wakes() -> None:
    """The original kept one parked fetch per key; an earlier one was stranded."""
    ps = PublishSubscribeQueue()
    await ps.subscribe("shared")
    waiters = [spawn(ps.fetch("shared")) for _ in range(2)]
    await turns()
    await ps.publish("both")
    assert await asyncio.wait_for(asyncio.gather(*waiters), HANG) == [["both"], ["both"]]
    assert ps.subscribers == {"shared": 1}


@pytest.mark.asyncio
async def test_fetch_timeout_raises_operation_timeout_and_leaves_no_waiter() -> None:
    ps = PublishSubscribeQueue()
    await ps.subscribe("k")
    fetch = ps.fetch("k", timeout=0.02)
    with pytest.raises(OperationTimeout) as caught:
        await fetch
    assert caught.value.args[0] is fetch
    assert ps.active_subscribers == {}
    await ps.publish("later")
    assert await ps.fetch("k") == ["later"]


@pytest.mark.asyncio
async def test_unsubscribe_fails_the_fetches_parked_under_the_key() -> None:
    ps = PublishSubscribeQueue()
    await ps.subscribe("k")
    waiter = spawn(ps.fetch("k"))
    await turns()
    await ps.unsubscribe("k")
    with pytest.raises(AssertionError):
        await asyncio.wait_for(waiter, HANG)
    await ps.publish("nobody")  # the original raised KeyError in the publisher here


@pytest.mark.asyncio
async def test_key_none_is_the_current_task() -> None:
    ps = PublishSubscribeQueue()

    async def owner() -> list[Any]:
        await ps.subscribe()
        await ps.publish("hi")
        return await ps.fetch()

    task = spawn(owner())
    assert await task == ["hi"]
    assert list(ps.subscribers) == [task]
    await ps.publish("more")
    assert await ps.fetch(task) == ["more"]  # the same subscription, named explicitly


# -- the original's tests (test_psqueue.py), on asyncio -------------------------------------------


@pytest.mark.asyncio
async def test_original_test_pubsub() -> None:
    ps = PublishSubscribeQueue()
    msgs: list[Any] = []

    async def foo() -> None:
        await ps.subscribe()
        while True:
            try:
                msgs.extend(await ps.fetch(timeout=0.1))
            except OperationTimeout:
                msgs.append("OK")
                await Signal("lazy")
                break

    async def lazy_foo() -> None:
        await ps.subscribe()
        await WaitForSignal("lazy")
        while True:
            try:
                msgs.extend(await ps.fetch(timeout=0.1))
            except OperationTimeout:
                break

    async def bar() -> None:
        for i in range(5):
            await ps.publish(i)

    await asyncio.wait_for(asyncio.gather(lazy_foo(), foo(), bar()), HANG)
    assert msgs == [0, 1, 2, 3, 4, "OK", 0, 1, 2, 3, 4]


@pytest.mark.asyncio
async def test_original_test_compact() -> None:
    ps = PublishSubscribeQueue()
    msgs: list[Any] = []

    async def lazy_foo() -> None:
        await WaitForSignal("lazy")
        await ps.subscribe()
        while True:
            try:
                msgs.extend(await ps.fetch(timeout=0.1))
            except OperationTimeout:
                break

    async def bar() -> None:
        for i in range(5):
            await ps.publish(i)
            if i == 2:
                assert ps.compact() == 3  # nobody subscribed: everything goes
                await Signal("lazy")

    await asyncio.wait_for(asyncio.gather(lazy_foo(), bar()), HANG)
    assert msgs == [3, 4]


@pytest.mark.asyncio
async def test_original_test_compact2() -> None:
    """The original added the subscriber after publishing 1, and the compaction after 2 ran
    before the new coroutine's first statement. On asyncio a task started there subscribes
    first, so the compaction drops nothing it has not read; started after it, it sees [3, 4]."""
    for start_after, expected in ((1, [0, 1, 2, 3, 4]), (2, [3, 4])):
        ps = PublishSubscribeQueue()
        msgs: list[Any] = []

        async def lazy_foo() -> None:
            await ps.subscribe()
            while True:
                try:
                    msgs.extend(await ps.fetch(timeout=0.1))
                except OperationTimeout:
                    break

        async def bar() -> asyncio.Task[Any]:
            task = None
            for i in range(5):
                await ps.publish(i)
                if i == 2:
                    ps.compact()
                if i == start_after:
                    task = spawn(lazy_foo())
            assert task is not None
            return task

        lazy = await bar()
        await asyncio.wait_for(lazy, HANG)
        assert msgs == expected


# -- fixed: compact() keeps everybody's place ------------------------------------------------------


@pytest.mark.asyncio
async def test_compact_rebases_subscribers_so_nobody_misses_a_message() -> None:
    """The original's probe: slow subscriber at index 3, compact removed 3, and the slow one
    never saw messages 3, 4, 5 (its index was not moved)."""
    ps = PublishSubscribeQueue()
    await ps.subscribe("slow")
    await ps.subscribe("fast")
    for i in range(3):
        await ps.publish(i)
    assert await ps.fetch("slow") == [0, 1, 2]
    for i in range(3, 6):
        await ps.publish(i)
    assert await ps.fetch("fast") == [0, 1, 2, 3, 4, 5]
    assert ps.compact() == 3
    assert ps.messages == [3, 4, 5]
    assert ps.subscribers == {"slow": 0, "fast": 3}
    assert await ps.fetch("slow") == [3, 4, 5]
    await ps.publish(6)
    assert await ps.fetch("fast") == [6]
    assert await ps.fetch("slow") == [6]
    assert ps.compact() == 4 and ps.messages == []


@pytest.mark.asyncio
async def test_compact_with_no_subscribers_drops_everything() -> None:
    ps = PublishSubscribeQueue()
    for i in range(4):
        await ps.publish(i)
    assert ps.compact() == 4 and ps.messages == []
    assert ps.compact() == 0


# -- the history bound ---------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_the_default_bound_and_none_for_unbounded() -> None:
    assert PublishSubscribeQueue().max_history == 1000
    ps = PublishSubscribeQueue(max_history=None)
    await ps.subscribe("idle")
    for i in range(2500):
        await ps.publish(i)
    assert len(ps.messages) == 2500
    assert await ps.fetch("idle") == list(range(2500))
    with pytest.raises(ValueError):
        PublishSubscribeQueue(max_history=0)


@pytest.mark.asyncio
async def test_read_messages_are_dropped_in_batches_once_over_the_bound() -> None:
    ps = PublishSubscribeQueue(max_history=16)
    await ps.subscribe("reader")
    sizes = []
    for i in range(40):
        await ps.publish(i)
        assert await ps.fetch("reader") == [i]
        sizes.append(len(ps.messages))
    assert max(sizes) == 16
    # At each trim everything but the message just published was read: it alone stays, and
    # the next trim is 16 publishes away.
    assert sizes[:34] == list(range(1, 17)) * 2 + [1, 2]


@pytest.mark.asyncio
async def test_a_subscriber_that_falls_behind_is_told_what_it_missed_never_skipped() -> None:
    ps = PublishSubscribeQueue(max_history=16)
    await ps.subscribe("keeps up")
    await ps.subscribe("behind")
    for i in range(17):
        await ps.publish(i)
        await ps.fetch("keeps up")
    # Over the bound with 17 unread: trimmed to 7/8 of it (14), dropping the 3 oldest.
    assert ps.messages == list(range(3, 17))
    with pytest.raises(MessagesDropped) as caught:
        await ps.fetch("behind")
    assert caught.value.count == 3 and caught.value.key == "behind"
    assert "3 message(s) were dropped" in str(caught.value)
    assert await ps.fetch("behind") == list(range(3, 17))  # continues with the oldest kept
    await ps.publish(17)
    assert await ps.fetch("behind") == [17]
    assert await ps.fetch("keeps up") == [17]


@pytest.mark.asyncio
async def test_a_laggard_accounts_for_every_message_across_many_trims() -> None:
    ps = PublishSubscribeQueue(max_history=10)
    await ps.subscribe("fast")
    await ps.subscribe("slow")
    received: list[int] = []
    missed = 0
    for i in range(200):
        await ps.publish(i)
        await ps.fetch("fast")
        assert len(ps.messages) <= 10
        if i % 37 == 0:
            try:
                received.extend(await ps.fetch("slow"))
            except MessagesDropped as exc:
                missed += exc.count
                received.extend(await ps.fetch("slow"))
    try:
        received.extend(await ps.fetch("slow"))
    except MessagesDropped as exc:
        missed += exc.count
        received.extend(await ps.fetch("slow"))
    assert received == sorted(set(received)) and received[-1] == 199
    assert len(received) + missed == 200


@pytest.mark.asyncio
async def test_a_fetch_parked_while_trimming_is_never_behind() -> None:
    ps = PublishSubscribeQueue(max_history=4)
    await ps.subscribe("parked")
    await ps.subscribe("idle")
    for i in range(4):
        await ps.publish(i)
    await ps.fetch("parked")
    waiter = spawn(ps.fetch("parked"))
    await turns()
    await ps.publish(4)  # trims the idle subscriber's oldest unread messages
    assert await waiter == [4]
    with pytest.raises(MessagesDropped) as caught:
        await ps.fetch("idle")
    assert caught.value.count == 1
    assert await ps.fetch("idle") == [1, 2, 3, 4]


@pytest.mark.asyncio
async def test_subscribers_keyed_by_a_finished_task_do_not_pin_history() -> None:
    ps = PublishSubscribeQueue()

    async def visitor() -> None:
        await ps.subscribe()  # key=None: this task

    task = spawn(visitor())
    await task
    await ps.publish("unread by the visitor")
    assert len(ps.subscribers) == 1
    del task
    gc.collect()
    assert ps.subscribers == {}
    assert ps.compact() == 1


# -- abandoned fetches leave nothing behind and lose nothing ---------------------------------------


@pytest.mark.asyncio
async def test_a_cancelled_parked_fetch_leaves_no_waiter() -> None:
    ps = PublishSubscribeQueue()
    await ps.subscribe("k")
    waiter = spawn(ps.fetch("k"))
    await turns()
    waiter.cancel()
    assert ps.active_subscribers == {}
    await ps.publish("kept")
    assert await ps.fetch("k") == ["kept"]


@pytest.mark.asyncio
async def test_messages_woken_into_a_fetch_abandoned_in_the_same_turn_stay_unread() -> None:
    ps = PublishSubscribeQueue()
    await ps.subscribe("k")
    waiter = spawn(ps.fetch("k"))
    await turns()
    start_operation(ps.publish("m"), asyncio.get_running_loop())  # the fetch has ["m"] ...
    waiter.cancel()  # ... and its task is cancelled before it resumed
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert await ps.fetch("k") == ["m"]


@pytest.mark.asyncio
async def test_an_abandoned_immediate_fetch_and_drop_report_are_given_back() -> None:
    loop = asyncio.get_running_loop()
    ps = PublishSubscribeQueue(max_history=2)
    await ps.subscribe("k")
    await ps.publish("a")
    future = start_operation(ps.fetch("k"), loop)
    assert future.done()
    future.cancel()  # how the WSGI runner drops an outcome (timeout, client gone)
    assert future.cancelled()
    assert await ps.fetch("k") == ["a"]
    for m in "bcd":
        await ps.publish(m)
    future = start_operation(ps.fetch("k"), loop)
    future.cancel()
    with pytest.raises(MessagesDropped):  # reported again, not lost
        await ps.fetch("k")


# -- through the server ----------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def serve(app: Callable[..., Any], **settings: Any) -> AsyncIterator[tuple[str, int]]:
    settings.setdefault("access_log", False)
    server = cogen_aio.Server(app, port=0, **settings)
    [(host, port)] = await server.start()
    try:
        yield host, port
    finally:
        await server.shutdown()


def long_poll_app(ps: PublishSubscribeQueue) -> Callable[..., Iterator[bytes]]:
    """/subscribe?key then /poll?key: the chat example's shape."""

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        key = environ["QUERY_STRING"]
        call = environ["cogen.call"]
        proxy = environ["cogen.wsgi"]
        start_response("200 OK", [("Content-Type", "text/plain")])
        if environ["PATH_INFO"] == "/subscribe":
            yield call(ps.subscribe)(key)
            yield b"subscribed"
            return
        yield call(ps.fetch)(key, timeout=float(environ.get("HTTP_X_TIMEOUT", HANG)))
        if isinstance(proxy.result, list):
            yield ", ".join(map(str, proxy.result)).encode()
        else:
            yield b"outcome: %s" % type(proxy.result).__name__.encode()

    return app


@pytest.mark.asyncio
async def test_parked_long_polls_all_answer_when_an_asyncio_task_publishes() -> None:
    ps = PublishSubscribeQueue()
    keys = [f"client{i}" for i in range(8)]
    async with serve(long_poll_app(ps)) as (host, port):
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=HANG) as client:
            for key in keys:
                assert (await client.get(f"/subscribe?{key}")).text == "subscribed"
            polls = [spawn(client.get(f"/poll?{key}")) for key in keys]
            while len(ps.active_subscribers) < len(keys):
                await asyncio.sleep(0.005)

            async def publisher() -> None:
                await ps.publish("hello everyone")

            await spawn(publisher())
            replies = await asyncio.gather(*polls)
            assert [r.text for r in replies] == ["hello everyone"] * len(keys)
            # Whatever was published while nobody polled is there on the next poll.
            await ps.publish("second")
            await ps.publish("third")
            reply = await client.get(f"/poll?{keys[0]}")
            assert reply.text == "second, third"


@pytest.mark.asyncio
async def test_a_long_poll_timeout_and_an_unsubscribed_poll_answer_with_their_outcome() -> None:
    ps = PublishSubscribeQueue()
    async with serve(long_poll_app(ps)) as (host, port):
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=HANG) as client:
            await client.get("/subscribe?k")
            reply = await client.get("/poll?k", headers={"X-Timeout": "0.1"})
            assert reply.text == "outcome: OperationTimeout"
            assert (await client.get("/poll?nobody")).text == "outcome: AssertionError"
    assert ps.active_subscribers == {}


@pytest.mark.asyncio
async def test_a_long_poll_abandoned_by_its_client_leaves_no_waiter_and_loses_nothing() -> None:
    ps = PublishSubscribeQueue()
    async with serve(long_poll_app(ps)) as (host, port):
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=HANG) as client:
            await client.get("/subscribe?k")
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(request(target="/poll?k"))
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HANG)
        assert list(ps.active_subscribers) == ["k"]
        writer.close()
        await writer.wait_closed()
        deadline = asyncio.get_running_loop().time() + HANG
        while ps.active_subscribers:
            assert asyncio.get_running_loop().time() < deadline, "the fetch stayed parked"
            await asyncio.sleep(0.005)
        await ps.publish("after the client left")
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=HANG) as client:
            assert (await client.get("/poll?k")).text == "after the client left"


@pytest.mark.asyncio
async def test_key_none_in_a_wsgi_app_is_the_request() -> None:
    ps = PublishSubscribeQueue()
    seen: list[Any] = []

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [])
        call = environ["cogen.call"]
        if environ["PATH_INFO"] == "/first":
            yield call(ps.subscribe)()
            yield call(ps.publish)("own")
        yield call(ps.fetch)()
        seen.append(environ["cogen.wsgi"].result)
        yield b"ok"

    async with serve(app) as (host, port):
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=HANG) as client:
            assert (await client.get("/first")).text == "ok"
            assert (await client.get("/second")).text == "ok"  # same keep-alive connection
    assert seen[0] == ["own"]
    # The original keyed on the connection coroutine, so the second request would have shared
    # the first one's subscription; here it is a different subscriber, and not subscribed.
    assert isinstance(seen[1], AssertionError)


# -- cogen coroutines under the Scheduler (the original's test_psqueue.py as written) --------------

Coro = Generator[Any, Any, Any]  # a cogen coroutine's body




def test_scheduler_test_pubsub() -> None:
    q = PublishSubscribeQueue()
    msgs: list[Any] = []

    @coroutine
    def foo() -> Coro:
        yield q.subscribe()
        while True:
            try:
                val = yield q.fetch(timeout=0.1)
                msgs.extend(val)
            except OperationTimeout:
                msgs.append("OK")
                yield Signal("lazy")
                break

    @coroutine
    def lazy_foo() -> Coro:
        yield q.subscribe()
        yield WaitForSignal("lazy")
        while True:
            try:
                val = yield q.fetch(timeout=0.1)
                msgs.extend(val)
            except OperationTimeout:
                break

    @coroutine
    def bar() -> Coro:
        for i in range(5):
            yield q.publish(i)

    sched = Scheduler()
    sched.add(lazy_foo)
    sched.add(foo)
    sched.add(bar)
    run_with_watchdog(sched)
    assert msgs == [0, 1, 2, 3, 4, "OK", 0, 1, 2, 3, 4]


def test_scheduler_test_compact() -> None:
    q = PublishSubscribeQueue()
    msgs: list[Any] = []

    @coroutine
    def lazy_foo() -> Coro:
        yield WaitForSignal("lazy")
        yield q.subscribe()
        while True:
            try:
                val = yield q.fetch(timeout=0.1)
                msgs.extend(val)
            except OperationTimeout:
                break

    @coroutine
    def bar() -> Coro:
        for i in range(5):
            yield q.publish(i)
            if i == 2:
                q.compact()
                yield Signal("lazy")

    sched = Scheduler()
    sched.add(lazy_foo)
    sched.add(bar)
    run_with_watchdog(sched)
    assert msgs == [3, 4]


def test_scheduler_test_compact2() -> None:
    """The original's adder continued at once (CORO bit) and compacted before the new coroutine
    subscribed, so it saw [3, 4]. Here the adder resumes through the loop, the new coroutine
    subscribes first, and compaction keeps what it has not read: it sees everything."""
    q = PublishSubscribeQueue()
    msgs: list[Any] = []

    @coroutine
    def lazy_foo() -> Coro:
        yield q.subscribe()
        while True:
            try:
                val = yield q.fetch(timeout=0.1)
                msgs.extend(val)
            except OperationTimeout:
                break

    @coroutine
    def bar() -> Coro:
        for i in range(5):
            yield q.publish(i)
            if i == 1:
                yield AddCoro(lazy_foo, prio=priority.CORO)
            if i == 2:
                q.compact()

    sched = Scheduler()
    sched.add(bar)
    run_with_watchdog(sched)
    assert msgs == [0, 1, 2, 3, 4]


def test_scheduler_key_none_is_the_coroutine_and_a_finished_one_does_not_pin_history() -> None:
    q = PublishSubscribeQueue()
    got: list[Any] = []

    @coroutine
    def visitor() -> Coro:
        yield q.subscribe()
        got.append((yield q.fetch()))

    @coroutine
    def publisher() -> Coro:
        yield Sleep(0.01)
        yield q.publish("hello")
        yield q.publish("unread by anyone")

    sched = Scheduler()
    instance = sched.add(visitor)
    sched.add(publisher)
    run_with_watchdog(sched)
    assert got == [["hello"]]
    assert list(q.subscribers) == [instance]
    del instance
    gc.collect()
    assert q.subscribers == {} and q.compact() == 2


def test_scheduler_a_laggard_coroutine_is_told_what_it_missed() -> None:
    q = PublishSubscribeQueue(max_history=8)
    got: list[Any] = []

    @coroutine
    def laggard() -> Coro:
        yield q.subscribe("slow")
        yield WaitForSignal("catch up")
        try:
            yield q.fetch("slow")
        except MessagesDropped as exc:
            got.append(("missed", exc.count))
        got.append((yield q.fetch("slow")))

    @coroutine
    def publisher() -> Coro:
        for i in range(10):
            yield q.publish(i)
        yield Signal("catch up")

    sched = Scheduler()
    sched.add(laggard)
    sched.add(publisher)
    run_with_watchdog(sched)
    # Nine messages went over the bound of 8: trimmed to 7/8 of it, dropping the two oldest.
    assert got == [("missed", 2), [2, 3, 4, 5, 6, 7, 8, 9]]


# -- the same guarantees on uvloop ----------------------------------------------------------------

ON_UVLOOP = [
    test_fetchers_resume_in_order_before_the_publisher_continues,
    test_messages_woken_into_a_fetch_abandoned_in_the_same_turn_stay_unread,
    test_an_abandoned_immediate_fetch_and_drop_report_are_given_back,
    test_parked_long_polls_all_answer_when_an_asyncio_task_publishes,
    test_a_long_poll_abandoned_by_its_client_leaves_no_waiter_and_loses_nothing,
]


@pytest.mark.skipif(uvloop is None, reason="uvloop is not installed")
@pytest.mark.parametrize("case", ON_UVLOOP, ids=lambda case: case.__name__[5:])
def test_on_uvloop(case: Callable[[], Any]) -> None:
    loop = uvloop.new_event_loop()
    try:
        loop.run_until_complete(asyncio.wait_for(case(), HANG))
    finally:
        loop.close()


@pytest.mark.asyncio
async def test_a_finished_request_does_not_keep_its_key_none_subscription() -> None:
    ps = PublishSubscribeQueue()

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [])
        yield environ["cogen.call"](ps.subscribe)()
        yield b"subscribed"

    async with serve(app) as (host, port):
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=HANG) as client:
            assert (await client.get("/")).text == "subscribed"
    await ps.publish("nobody will read this")
    gc.collect()
    assert ps.subscribers == {}
    assert ps.compact() == 1
