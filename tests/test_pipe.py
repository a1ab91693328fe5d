"""``Iterate``/``chunk``: a producer coroutine handing values to a consumer (cogen-api.md §10)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable, Generator

import httpx
import pytest

import cogen_aio
from cogen_aio.coroutines import AddCoro, CoroutineInstance, coroutine
from cogen_aio.ops import Signal, Sleep, WaitForSignal
from cogen_aio.pipe import Iterate, IterateToken, IterationStopped, chunk, sentinel
from cogen_aio.scheduler import Scheduler

HANG = 10  # seconds: only to turn a hang into a failure
Coro = Generator[Any, Any, Any]  # a cogen coroutine's body
StartResponse = Callable[..., Any]


@coroutine
def sig1(name: str) -> Coro:
    yield Signal(name)


# -- the original's test_pipe --------------------------------------------------------------------


def test_iter() -> None:
    msgs: list[Any] = []
    put = msgs.append

    @coroutine
    def iterable() -> Coro:
        put("started")
        assert not (yield chunk(1))
        assert not (yield chunk(2))
        assert not (yield chunk(3))
        yield WaitForSignal("test_sig")
        put("sig")
        assert not (yield chunk(None))
        assert not (yield chunk(sentinel))  # a producer can end the iteration early
        yield WaitForSignal("test_sig2")
        put("sig2")  # never: nobody asks for more, nobody signals

    @coroutine
    def iterator() -> Coro:
        it = yield Iterate(iterable)
        while True:
            val = yield it
            if val is sentinel:
                put("end")
                break
            put(val)
            if val == 3:
                # Under LAST, the producer parks on its signal before sig1's body runs.
                yield AddCoro(sig1, args=("test_sig",))

    sched = Scheduler()
    sched.add(iterator)
    sched.run()
    assert msgs == ["started", 1, 2, 3, "sig", None, "end"]


def test_iter_stop() -> None:
    msgs: list[Any] = []
    put = msgs.append

    @coroutine
    def iterable() -> Coro:
        try:
            put("started")
            assert not (yield chunk(1))
            yield WaitForSignal("test_sig")
            put("sig")
            assert not (yield chunk(None))
        except IterationStopped:
            put("raised")

    @coroutine
    def iterator() -> Coro:
        it = yield Iterate(iterable)
        while True:
            val = yield it
            if val is sentinel:
                put("end")
                break
            put(val)
            if val == 1:
                yield AddCoro(sig1, args=("test_sig",))
                assert (yield it.stop()) is sentinel

    sched = Scheduler()
    sched.add(iterator)
    sched.run()
    # The consumer gets the sentinel within its step; the producer hears about it after.
    assert msgs == ["started", 1, "end", "raised"]


# -- more behaviour ----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_producer_end_gives_the_sentinel_for_good() -> None:
    end = object()

    @coroutine
    def producer(n: int) -> Coro:
        for i in range(n):
            yield Sleep(0.001)  # waits between chunks happen in the consumer's task
            yield chunk(i * i)
        return "producer result"

    @coroutine
    def consumer() -> Coro:
        it = yield Iterate(producer, args=(4,), sentinel=end)
        assert isinstance(it, IterateToken)
        values = []
        while (value := (yield it)) is not end:
            values.append(value)
        again = yield it
        return values, again is end

    assert await asyncio.wait_for(consumer(), HANG) == ([0, 1, 4, 9], True)


@pytest.mark.asyncio
async def test_a_failing_producer_ends_the_iteration_and_is_logged(
    error_log: pytest.LogCaptureFixture,
) -> None:
    @coroutine
    def producer() -> Coro:
        yield chunk("first")
        raise ValueError("producer broke")

    @coroutine
    def consumer() -> Coro:
        it = yield Iterate(producer)
        return (yield it), (yield it)

    first, second = await asyncio.wait_for(consumer(), HANG)
    assert first == "first" and second is sentinel
    [record] = [r for r in error_log.records if r.levelno >= logging.ERROR]
    assert "producer" in record.getMessage() and record.exc_info[0] is ValueError


@pytest.mark.asyncio
async def test_stop_runs_the_producers_cleanup_without_reporting_an_error(
    error_log: pytest.LogCaptureFixture,
) -> None:
    cleaned: list[str] = []

    @coroutine
    def producer() -> Coro:
        try:
            for i in range(100):
                yield chunk(i)
        finally:
            cleaned.append("finally")

    @coroutine
    def consumer() -> Coro:
        it = yield Iterate(producer)
        first = yield it
        yield it.stop()
        return first

    assert await asyncio.wait_for(consumer(), HANG) == 0
    await asyncio.sleep(0.01)
    assert cleaned == ["finally"]
    assert not [r for r in error_log.records if r.levelno >= logging.ERROR]


@pytest.mark.asyncio
async def test_stopping_before_the_first_value_never_runs_the_producer() -> None:
    ran: list[str] = []

    @coroutine
    def producer() -> Coro:
        ran.append("producer")
        yield chunk(1)

    @coroutine
    def consumer() -> Coro:
        it = yield Iterate(producer)
        return (yield it.stop()), (yield it)

    assert await asyncio.wait_for(consumer(), HANG) == (sentinel, sentinel)
    await asyncio.sleep(0.01)
    assert ran == []


@pytest.mark.asyncio
async def test_a_chunk_outside_an_iteration_is_a_plain_yield() -> None:
    @coroutine
    def not_a_producer() -> Coro:
        return (yield chunk("nobody listens"))

    assert await asyncio.wait_for(not_a_producer(), HANG) is None


@pytest.mark.asyncio
async def test_asyncio_code_iterates_with_await() -> None:
    @coroutine
    def producer() -> Coro:
        for word in ("a", "b"):
            yield Sleep(0.001)
            yield chunk(word)

    it = await Iterate(producer)
    assert [await it, await it, await it] == ["a", "b", sentinel]


@pytest.mark.asyncio
async def test_a_wsgi_app_streams_what_a_producer_hands_out() -> None:
    @coroutine
    def producer(n: int) -> Coro:
        for i in range(n):
            yield Sleep(0.001)
            yield chunk(b"line %d\n" % i)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Coro:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield environ["cogen.yield"](Iterate(producer, args=(3,)))
        it = environ["cogen.wsgi"].result
        while True:
            yield it  # an operation yielded directly is parked the same way
            value = environ["cogen.wsgi"].result
            if value is sentinel:
                break
            yield value
        yield b"done"

    server = cogen_aio.Server(app, port=0, access_log=False)
    [(host, port)] = await server.start()
    try:
        async with httpx.AsyncClient(timeout=HANG) as client:
            reply = await client.get(f"http://{host}:{port}/")
        assert reply.text == "line 0\nline 1\nline 2\ndone"
    finally:
        await server.shutdown()


def test_the_instance_types() -> None:
    @coroutine
    def producer() -> Coro:
        yield chunk(1)

    token = IterateToken(producer(), sentinel)
    assert token.stop() is token and token.aborted
    assert isinstance(token.producer, CoroutineInstance)
    assert repr(sentinel) == "<end of iteration>"
