"""cogen_aio.queue (cogen-api.md §8, §17; DESIGN.md's queue fixes): from asyncio, and parked by
WSGI apps behind a real socket."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, AsyncIterator, Callable, Generator, Iterator

import httpx
import pytest

import cogen_aio
from cogen_aio.coroutines import AddCoro, coroutine
from cogen_aio.coroutines import spawn as start_coroutine
from cogen_aio.ops import OperationTimeout, Signal, Sleep, WaitForSignal, start_operation
from cogen_aio.queue import Empty, Full, QDone, QGet, QJoin, QPut, Queue
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
async def test_put_gives_the_op_and_get_gives_the_items_in_order() -> None:
    q = Queue()
    put = q.put("a")
    assert isinstance(put, QPut)
    assert await put is put
    assert await q.put_nowait("b") is not None
    assert list(q.queue) == ["a", "b"] and q.qsize() == 2 and not q.empty() and not q.full()
    get = q.get()
    assert isinstance(get, QGet)
    assert await get == "a"
    assert await q.get_nowait() == "b"
    assert q.empty() and q.unfinished_tasks == 2


@pytest.mark.asyncio
async def test_nowait_on_full_and_empty_raise_at_the_await_not_at_the_call() -> None:
    q = Queue(1)
    await q.put(1)
    assert q.full()
    op = q.put_nowait(2)  # building it does not raise
    with pytest.raises(Full):
        await op
    with pytest.raises(Full):
        await q.put(2, block=False)
    assert list(q.queue) == [1] and q.unfinished_tasks == 1
    assert await q.get() == 1
    with pytest.raises(Empty):
        await q.get_nowait()
    with pytest.raises(Empty):
        await q.get(block=False)


@pytest.mark.asyncio
async def test_timeouts_raise_operation_timeout_not_empty_or_full() -> None:
    q = Queue(1)
    get = q.get(timeout=0.02)
    with pytest.raises(OperationTimeout) as caught:
        await get
    assert caught.value.args[0] is get
    assert q.waiting_gets == []

    await q.put("x")
    put = q.put("y", timeout=0.02)
    with pytest.raises(OperationTimeout) as caught:
        await put
    assert caught.value.args[0] is put
    assert q.waiting_puts == []


@pytest.mark.asyncio
async def test_task_done_counts_down_at_call_time_and_raises_value_error_there() -> None:
    q = Queue()
    await q.put(1)
    await q.put(2)
    assert q.unfinished_tasks == 2
    assert q.task_done() is None
    assert q.unfinished_tasks == 1
    done = q.task_done()
    assert isinstance(done, QDone) and q.unfinished_tasks == 0
    assert await done is done
    with pytest.raises(ValueError):
        q.task_done()
    assert q.unfinished_tasks == 0


@pytest.mark.asyncio
async def test_join_is_none_when_nothing_is_unfinished_else_the_join_op() -> None:
    q = Queue()
    assert q.join() is None
    await q.put(1)
    join = q.join()
    assert isinstance(join, QJoin)
    waiter = spawn(join)
    await turns()
    assert not waiter.done() and q.joinees == [join]
    assert await q.get() == 1
    q.task_done()  # not awaited: asyncio code may drop what task_done() returns
    assert await asyncio.wait_for(waiter, HANG) is join
    assert q.joinees == []


# -- ordering: the original's LAST priority -------------------------------------------------------


@pytest.mark.asyncio
async def test_put_hands_the_item_to_a_parked_getter_and_the_putter_continues_first() -> None:
    q = Queue()
    order: list[Any] = []

    async def getter(name: str) -> None:
        order.append((name, await q.get()))

    getters = [spawn(getter(f"g{i}")) for i in range(3)]
    await turns()
    assert len(q.waiting_gets) == 3
    await q.put("first")
    order.append("putter")
    await q.put("second")
    order.append("putter")
    await asyncio.wait_for(asyncio.gather(*getters[:2]), HANG)
    assert order == ["putter", ("g0", "first"), "putter", ("g1", "second")]
    assert list(q.queue) == [] and q.unfinished_tasks == 2
    getters[2].cancel()


@pytest.mark.asyncio
async def test_a_get_admits_parked_putters_in_order_and_the_getter_continues_first() -> None:
    q = Queue(2)
    await q.put(0)
    await q.put(1)
    order: list[Any] = []

    async def putter(item: int) -> None:
        await q.put(item)
        order.append(f"put {item}")

    putters = [spawn(putter(i)) for i in (2, 3)]
    await turns()
    assert [op.item for op in q.waiting_puts] == [2, 3]
    order.append(await q.get())
    assert list(q.queue) == [1, 2]  # the first putter's item moved in with the get
    order.append(await q.get())
    await asyncio.wait_for(asyncio.gather(*putters), HANG)
    assert order == [0, "put 2", 1, "put 3"]
    assert list(q.queue) == [2, 3] and q.unfinished_tasks == 4


@pytest.mark.asyncio
async def test_joiners_resume_after_the_caller_of_task_done_continues() -> None:
    q = Queue()
    await q.put(1)
    order: list[str] = []

    async def joiner(name: str) -> None:
        await q.join()
        order.append(name)

    joiners = [spawn(joiner(f"j{i}")) for i in range(2)]
    await turns()
    await q.get()
    done = q.task_done()
    assert done is not None
    assert await done is done
    order.append("worker")
    await asyncio.wait_for(asyncio.gather(*joiners), HANG)
    assert order == ["worker", "j0", "j1"]


# -- the original's tests (test_queue.py), on asyncio -------------------------------------------


@pytest.mark.asyncio
async def test_original_test_queue_producer_consumer() -> None:
    size = 20
    q = Queue(size)
    msgs: list[int] = []
    seen: dict[str, Any] = {}

    async def foo() -> None:
        for i in range(size):
            await q.put(i)
        try:
            await q.put_nowait("x")
        except Full:
            seen["thrown"] = True
        seen["queued"] = list(q.queue)
        await q.put(size)  # blocks until bar starts
        msgs.append(-1)

    async def bar() -> None:
        await Sleep(0.05)
        while True:
            try:
                msgs.append(await q.get(timeout=0.1))
            except OperationTimeout:
                msgs.append(-2)
                break

    await asyncio.wait_for(asyncio.gather(foo(), bar()), HANG)
    assert seen == {"thrown": True, "queued": list(range(size))}
    # The original (LAST) printed range(21) + [-1, -2] because a get that finds an item there
    # continues without a trip through the scheduler. Here every operation resumes through the
    # loop: the getter that made room continues first (0), then the putter it released (-1),
    # then the getter's next round.
    assert msgs == [0, -1] + list(range(1, size + 1)) + [-2]


@pytest.mark.asyncio
async def test_original_test_queue_timo() -> None:
    q = Queue(50)
    msgs: list[int] = []

    async def get() -> None:
        msgs.append(await q.get(timeout=0.1))
        msgs.append(await q.get(timeout=0.1))
        msgs.append(await q.get())

    async def put() -> None:
        await q.put(1)
        await Sleep(0.3)
        await q.put(2)

    getter = spawn(get())
    await asyncio.wait_for(put(), HANG)
    with pytest.raises(OperationTimeout):
        await getter  # killed by the second get's timeout
    assert msgs == [1]
    assert list(q.queue) == [2]


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5])
@pytest.mark.asyncio
async def test_original_test_join_three_workers_two_bosses(size: int) -> None:
    q = Queue(size)
    msgs: list[int] = []
    level = {"boss": 0, "worker": 0}

    async def worker() -> None:
        while True:
            try:
                await q.get(timeout=0.1)
            except OperationTimeout:
                break
            level["worker"] -= 1
            msgs.append(1)
            await Sleep(0.005)
            done = q.task_done()
            if done is not None:
                await done
        msgs.append(2)

    async def boss() -> None:
        for item in (1, 2, 3):
            level["boss"] += 1
            await q.put(item)
        msgs.append(1)
        join = q.join()
        if join is not None:
            await join
        msgs.append(2)

    await asyncio.wait_for(
        asyncio.gather(worker(), worker(), worker(), boss(), boss()), HANG
    )
    assert msgs == [1] * 8 + [2] * 5
    assert -level["worker"] == level["boss"] == 6
    assert q.unfinished_tasks == 0 and q.joinees == []


# -- fixed defects (cogen-api.md §8, §15.6) -------------------------------------------------------


@pytest.mark.asyncio
async def test_join_waiters_are_released_once_not_woken_again_later() -> None:
    """The original kept released joiners and woke them on every later zero count, even while
    they waited on something else (their WaitForSignal returned the QJoin)."""
    q = Queue()
    await q.put(1)
    outcomes: list[Any] = []

    async def joiner() -> None:
        outcomes.append(await q.join())
        outcomes.append(await WaitForSignal("after-join", timeout=HANG))

    task = spawn(joiner())
    await turns()
    await q.get()
    q.task_done()
    await turns()
    assert len(outcomes) == 1 and isinstance(outcomes[0], QJoin)
    await q.put(2)
    await q.get()
    done = q.task_done()
    assert done is not None
    await done
    await turns()
    assert len(outcomes) == 1  # still waiting for its signal
    assert await Signal("after-join", "signal") == 1
    await asyncio.wait_for(task, HANG)
    assert outcomes[1] == "signal"


@pytest.mark.asyncio
async def test_a_timed_out_blocked_put_does_not_inflate_the_task_count() -> None:
    """The original counted a blocked put when it parked and never took it back, so join()
    never returned after such a timeout."""
    q = Queue(1)
    await q.put("kept")
    with pytest.raises(OperationTimeout):
        await q.put("given up", timeout=0.02)
    assert q.unfinished_tasks == 1 and list(q.queue) == ["kept"]
    assert await q.get() == "kept"
    done = q.task_done()
    assert done is not None and q.unfinished_tasks == 0
    assert q.join() is None


@pytest.mark.asyncio
async def test_a_cancelled_blocked_put_leaves_nothing_behind() -> None:
    q = Queue(1)
    await q.put(1)
    task = spawn(q.put(2))
    await turns()
    assert len(q.waiting_puts) == 1
    task.cancel()
    assert q.waiting_puts == []  # at once, not a loop turn later
    assert await q.get() == 1
    assert list(q.queue) == [] and q.unfinished_tasks == 1


# -- abandoned waits neither lose nor duplicate items ---------------------------------------------


@pytest.mark.asyncio
async def test_a_cancelled_parked_get_leaves_no_getter_and_loses_nothing() -> None:
    q = Queue()
    task = spawn(q.get())
    await turns()
    assert len(q.waiting_gets) == 1
    task.cancel()
    assert q.waiting_gets == []
    await q.put("item")
    assert list(q.queue) == ["item"]


@pytest.mark.asyncio
async def test_an_item_handed_to_a_getter_cancelled_in_the_same_turn_goes_to_the_next() -> None:
    q = Queue()
    first = spawn(q.get())
    second = spawn(q.get())
    await turns()
    q_put = q.put("item")
    start_operation(q_put, asyncio.get_running_loop())  # the item is now reserved for `first`
    assert len(q.waiting_gets) == 1
    first.cancel()
    assert await asyncio.wait_for(second, HANG) == "item"
    with pytest.raises(asyncio.CancelledError):
        await first
    assert list(q.queue) == [] and q.unfinished_tasks == 1


@pytest.mark.asyncio
async def test_an_item_delivered_but_not_yet_read_comes_back_when_the_task_is_cancelled() -> None:
    q = Queue()
    getter = spawn(q.get())
    await turns()
    await q.put("item")  # the putter continues first: the getter has its item, not yet resumed
    assert not getter.done()
    getter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await getter
    assert list(q.queue) == ["item"]
    assert await q.get_nowait() == "item"


@pytest.mark.asyncio
async def test_an_abandoned_outcome_is_never_delivered_as_well() -> None:
    """How the WSGI runner and a timeout use an operation's future: cancel() after the outcome
    arrived, before it was read, takes it back; the future then reads as cancelled."""
    loop = asyncio.get_running_loop()
    q = Queue()
    await q.put("a")
    future = start_operation(q.get(), loop)
    assert future.done()
    assert future.cancel() is False
    assert future.cancelled()
    with pytest.raises(asyncio.CancelledError):
        future.result()
    assert list(q.queue) == ["a"]

    taken = start_operation(q.get(), loop)
    assert taken.result() == "a"
    taken.cancel()  # read already: nothing to take back
    assert list(q.queue) == [] and not taken.cancelled()


@pytest.mark.asyncio
async def test_a_put_abandoned_before_its_outcome_was_read_is_withdrawn() -> None:
    loop = asyncio.get_running_loop()
    q = Queue(1)
    await q.put("old")
    parked = start_operation(q.put("new"), loop)
    assert not parked.done()
    assert await q.get() == "old"  # room: "new" moves in, its putter resumes next turn
    assert list(q.queue) == ["new"] and q.unfinished_tasks == 2
    parked.cancel()  # e.g. its timeout fired in that same turn
    assert list(q.queue) == [] and q.unfinished_tasks == 1
    assert q.waiting_puts == []


@pytest.mark.asyncio
async def test_an_item_given_back_to_a_full_queue_goes_in_front_rather_than_being_lost() -> None:
    loop = asyncio.get_running_loop()
    q = Queue(1)
    await q.put("a")
    waiting_put = spawn(q.put("b"))
    await turns()
    got = start_operation(q.get(), loop)  # takes "a"; "b" moves in
    assert got.done() and list(q.queue) == ["b"]
    got.cancel()  # the getter went away before reading "a"
    assert list(q.queue) == ["a", "b"]  # one over maxsize for a while, nothing dropped
    assert q.unfinished_tasks == 2
    await asyncio.wait_for(waiting_put, HANG)
    assert [await q.get(), await q.get()] == ["a", "b"]


@pytest.mark.asyncio
async def test_a_timeout_never_takes_back_an_item_that_already_arrived() -> None:
    q = Queue()
    getter = spawn(q.get(timeout=0.05))
    await turns()
    await q.put("in time")
    assert await asyncio.wait_for(getter, HANG) == "in time"
    assert list(q.queue) == []


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


def outcome_name(environ: dict[str, Any]) -> bytes:
    return type(environ["cogen.wsgi"].result).__name__.encode()


@pytest.mark.asyncio
async def test_wsgi_get_parked_with_a_timeout_answers_with_the_timeout_outcome() -> None:
    q = Queue()
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield environ["cogen.call"](q.get)(timeout=0.2)
        proxy = environ["cogen.wsgi"]
        seen["result"], seen["exception"] = proxy.result, proxy.exception
        yield b"outcome: " + outcome_name(environ)

    async with serve(app) as (host, port):
        async with httpx.AsyncClient(timeout=HANG) as client:
            reply = await client.get(f"http://{host}:{port}/")
    assert reply.text == "outcome: OperationTimeout"
    assert isinstance(seen["result"].args[0], QGet)
    assert seen["exception"][0] is OperationTimeout
    assert q.waiting_gets == []


@pytest.mark.asyncio
async def test_wsgi_consumers_get_what_asyncio_code_puts_and_producers_feed_asyncio() -> None:
    jobs, results = Queue(), Queue(1)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [])
        if environ["PATH_INFO"] == "/consume":
            yield environ["cogen.call"](jobs.get)(timeout=HANG)
            job = environ["cogen.wsgi"].result
            yield b"job %s" % job.encode()
        else:
            yield environ["cogen.call"](results.put)(environ["QUERY_STRING"], timeout=HANG)
            yield b"put: " + outcome_name(environ)

    async with serve(app) as (host, port):
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=HANG) as client:
            consumers = [spawn(client.get("/consume")) for _ in range(3)]
            while len(jobs.waiting_gets) < 3:
                await asyncio.sleep(0.005)
            for name in ("a", "b", "c"):
                await jobs.put(name)
            bodies = sorted(reply.text for reply in await asyncio.gather(*consumers))
            assert bodies == ["job a", "job b", "job c"]

            await results.put("first")  # full: the request's put parks until we get
            producer = spawn(client.get("/produce?second"))
            while not results.waiting_puts:
                await asyncio.sleep(0.005)
            assert await results.get() == "first"
            assert (await producer).text == "put: QPut"
            assert await results.get() == "second"


@pytest.mark.asyncio
async def test_a_client_that_disconnects_while_parked_on_get_leaves_no_getter() -> None:
    q = Queue()
    closed: list[str] = []

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [])
        try:
            yield environ["cogen.call"](q.get)()
            yield b"got %r" % environ["cogen.wsgi"].result
        finally:
            closed.append("closed")

    async with serve(app) as (host, port):
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(request())
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HANG)  # parked: headers sent
        assert len(q.waiting_gets) == 1
        writer.close()
        await writer.wait_closed()
        deadline = asyncio.get_running_loop().time() + HANG
        while q.waiting_gets or not closed:
            assert asyncio.get_running_loop().time() < deadline, "the getter stayed parked"
            await asyncio.sleep(0.005)
        await q.put("for somebody else")
        assert list(q.queue) == ["for somebody else"]  # not swallowed by the gone client
        assert closed == ["closed"]


@pytest.mark.asyncio
async def test_shutdown_wakes_a_parked_get_and_leaves_no_getter() -> None:
    q = Queue()

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [])
        yield environ["cogen.call"](q.get)()
        yield b"outcome: " + outcome_name(environ)

    server = cogen_aio.Server(
        app, port=0, wake_parked_on_shutdown=True, timeout_graceful_shutdown=HANG,
        access_log=False,
    )
    [(host, port)] = await server.start()
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(request())
    await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HANG)
    assert len(q.waiting_gets) == 1
    await server.shutdown()
    data = await asyncio.wait_for(reader.read(), HANG)
    writer.close()
    assert b"outcome: ShuttingDown" in data
    assert q.waiting_gets == []


# -- cogen coroutines under the Scheduler (the original's test_queue.py as written) ----------------

Coro = Generator[Any, Any, Any]  # a cogen coroutine's body




def test_scheduler_test_queue() -> None:
    size = 20
    q = Queue(size)
    msgs: list[int] = []
    seen: dict[str, Any] = {}

    @coroutine
    def foo() -> Coro:
        for i in range(size):
            yield q.put(i)
        try:
            yield q.put_nowait("x")
        except Full:
            seen["thrown"] = True
        seen["queued"] = list(q.queue)
        yield q.put(size)
        msgs.append(-1)

    @coroutine
    def bar() -> Coro:
        yield Sleep(0.05)
        while True:
            try:
                msgs.append((yield q.get(timeout=0.1)))
            except OperationTimeout:
                msgs.append(-2)
                break

    @coroutine
    def wait() -> Coro:
        yield Sleep(0.1)

    sched = Scheduler()
    sched.add(foo)
    sched.add(wait)
    sched.add(bar)
    run_with_watchdog(sched)
    assert seen == {"thrown": True, "queued": list(range(size))}
    # See test_original_test_queue_producer_consumer for why -1 comes second.
    assert msgs == [0, -1] + list(range(1, size + 1)) + [-2]


def test_scheduler_test_queue_timo(error_log: pytest.LogCaptureFixture) -> None:
    q = Queue(50)
    msgs: list[int] = []

    @coroutine
    def get() -> Coro:
        msgs.append((yield q.get(timeout=0.1)))
        msgs.append((yield q.get(timeout=0.1)))
        msgs.append((yield q.get()))

    @coroutine
    def put() -> Coro:
        yield q.put(1)
        yield Sleep(0.3)
        yield q.put(2)

    sched = Scheduler()
    sched.add(put)
    sched.add(get)
    run_with_watchdog(sched)
    # The getter was killed by its second timeout; the original printed that to stderr.
    assert any(
        record.exc_info and record.exc_info[0] is OperationTimeout
        for record in error_log.records
    )
    assert msgs == [1]
    assert list(q.queue) == [2]


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5])
def test_scheduler_test_join(size: int) -> None:
    q = Queue(size)
    msgs: list[int] = []
    level = {"boss": 0, "worker": 0}

    @coroutine
    def worker(n: int) -> Coro:
        while True:
            try:
                yield q.get(timeout=0.1)
            except OperationTimeout:
                break
            level["worker"] -= 1
            msgs.append(1)
            yield Sleep(0.005)
            yield q.task_done()
        msgs.append(2)

    @coroutine
    def boss(n: int) -> Coro:
        for item in (1, 2, 3):
            level["boss"] += 1
            yield q.put(item)
        msgs.append(1)
        yield q.join()
        msgs.append(2)

    @coroutine
    def daemon() -> Coro:
        yield Sleep(0.05)

    sched = Scheduler()
    for n in (1, 2, 3):
        sched.add(worker, args=(n,))
    sched.add(boss, args=(-1,))
    sched.add(boss, args=(-2,))
    sched.add(daemon)
    run_with_watchdog(sched)
    assert msgs == [1] * 8 + [2] * 5
    assert -level["worker"] == level["boss"] == 6


def test_scheduler_put_to_a_parked_getter_the_putter_continues_first() -> None:
    q = Queue()
    order: list[Any] = []

    @coroutine
    def getter() -> Coro:
        order.append(("got", (yield q.get())))

    @coroutine
    def putter() -> Coro:
        yield q.put("item")
        order.append("putter continues")

    sched = Scheduler()
    sched.add(getter)
    sched.add(putter)
    run_with_watchdog(sched)
    assert order == ["putter continues", ("got", "item")]


def test_scheduler_join_waiters_are_not_woken_again() -> None:
    q = Queue()
    outcomes: list[Any] = []

    @coroutine
    def joiner() -> Coro:
        outcomes.append((yield q.join()))
        try:
            outcomes.append((yield WaitForSignal("later", timeout=0.2)))
        except OperationTimeout as exc:
            outcomes.append(exc)

    @coroutine
    def worker() -> Coro:
        for item in ("a", "b"):
            yield q.put(item)
            if item == "a":
                yield AddCoro(joiner)
                yield Sleep(0.01)
            yield q.get()
            yield q.task_done()
            yield Sleep(0.01)

    sched = Scheduler()
    sched.add(worker)
    run_with_watchdog(sched)
    assert isinstance(outcomes[0], QJoin)
    assert isinstance(outcomes[1], OperationTimeout)  # not the QJoin a second time


@pytest.mark.asyncio
async def test_a_cogen_coroutine_cancelled_right_after_an_immediate_get_gives_it_back() -> None:
    q = Queue()
    await q.put("item")
    got: list[Any] = []

    @coroutine
    def getter() -> Coro:
        got.append((yield q.get()))

    instance = start_coroutine(getter())
    while q.queue:
        await asyncio.sleep(0)
    # The get took the item; the coroutine's task is cancelled before it resumed with it.
    [task] = [t for t in asyncio.all_tasks() if t.get_name() == "cogen getter"]
    task.cancel()
    await asyncio.wait([task], timeout=HANG)
    assert got == [] and not instance.running
    assert list(q.queue) == ["item"]


# -- the same guarantees on uvloop (its transports; asyncio's futures and tasks) -------------------

ON_UVLOOP = [
    test_put_hands_the_item_to_a_parked_getter_and_the_putter_continues_first,
    test_an_item_handed_to_a_getter_cancelled_in_the_same_turn_goes_to_the_next,
    test_an_item_delivered_but_not_yet_read_comes_back_when_the_task_is_cancelled,
    test_an_abandoned_outcome_is_never_delivered_as_well,
    test_a_put_abandoned_before_its_outcome_was_read_is_withdrawn,
    test_wsgi_get_parked_with_a_timeout_answers_with_the_timeout_outcome,
    test_a_client_that_disconnects_while_parked_on_get_leaves_no_getter,
]


@pytest.mark.skipif(uvloop is None, reason="uvloop is not installed")
@pytest.mark.parametrize("case", ON_UVLOOP, ids=lambda case: case.__name__[5:])
def test_on_uvloop(case: Callable[[], Any]) -> None:
    loop = uvloop.new_event_loop()
    try:
        loop.run_until_complete(asyncio.wait_for(case(), HANG))
    finally:
        loop.close()
