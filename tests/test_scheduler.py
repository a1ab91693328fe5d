"""``Scheduler``: scripts that add coroutines and run them (cogen-api.md §2, §7), including the
original's test_sched cases and tutorial scripts, under its default LAST priority."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import textwrap
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Generator

import pytest

from cogen_aio.coroutines import AddCoro, CoroutineInstance, Join, coroutine
from cogen_aio.ops import OperationTimeout, Signal, Sleep, WaitForSignal
from cogen_aio.priority import priority
from cogen_aio.scheduler import Scheduler
from scheduling import run_with_watchdog

HANG = 10  # seconds: only to turn a hang into a failure
Coro = Generator[Any, Any, Any]  # a cogen coroutine's body




# -- the original's test_sched, LAST priority ----------------------------------------------------


def test_signal_order_is_the_original_last_priority_order() -> None:
    msgs: list[int] = []

    class X:
        pass

    x = X()  # any hashable names a signal; objects by identity

    @coroutine
    def signalee() -> Coro:
        msgs.append(1)
        yield WaitForSignal("test_sig")
        msgs.append(3)
        yield WaitForSignal(x)
        msgs.append(5)

    @coroutine
    def signaler() -> Coro:
        msgs.append(2)
        yield Signal("test_sig")
        msgs.append(4)
        yield Signal(x, recipients=1)
        msgs.append(6)

    sched = Scheduler(default_priority=priority.LAST)
    sched.add(signalee)
    sched.add(signaler)
    run_with_watchdog(sched)
    assert msgs == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize("prio", [priority.LAST, priority.CORO, priority.OP, priority.FIRST])
def test_add_coro_order(prio: int) -> None:
    # The original expected [1, 2, 3] under every priority; priorities are ignored here.
    msgs: list[Any] = []

    @coroutine
    def added(x: int) -> None:
        msgs.append(x)

    @coroutine
    def adder(c: Any) -> Coro:
        msgs.append(1)
        instance = yield AddCoro(c, args=(2,), prio=prio)
        msgs.append(3)
        msgs.append(instance.name)  # DESIGN.md: the instance, whatever the priority

    sched = Scheduler(default_priority=prio)
    sched.add(adder, args=(added,))
    run_with_watchdog(sched)
    assert msgs == [1, 2, 3, "added"]


def test_call_results_exceptions_and_nested_tracebacks() -> None:
    msgs: list[Any] = []
    captured: dict[str, str] = {}

    @coroutine
    def caller() -> Coro:
        msgs.append(1)
        ret = yield callee_1()
        msgs.append(ret)
        ret = yield callee_2()
        msgs.append(3 if ret is None else -1)
        try:
            yield callee_3()
        except Exception as e:
            msgs.append(4 if str(e) == "some_message" else -1)
        ret = yield callee_4()
        msgs.append(ret)
        try:
            yield callee_5()
        except Exception:
            captured["tb"] = traceback.format_exc()
        ret = yield callee_6(6)
        msgs.append(ret)

    @coroutine
    def callee_1() -> int:
        return 2

    @coroutine
    def callee_2() -> None:
        pass

    @coroutine
    def callee_3() -> Coro:
        yield
        raise Exception("some_message")

    @coroutine
    def callee_4() -> Coro:
        return (yield callee_4_1())

    @coroutine
    def callee_4_1() -> Coro:
        return (yield callee_4_2())

    @coroutine
    def callee_4_2() -> Coro:
        yield
        return 5

    @coroutine
    def callee_5() -> Coro:
        return (yield callee_5_1())

    @coroutine
    def callee_5_1() -> Coro:
        return (yield callee_5_2())

    @coroutine
    def callee_5_2() -> Coro:
        yield
        raise Exception("long_one")

    @coroutine
    def callee_6(x: int) -> int:
        return x

    sched = Scheduler()
    sched.add(caller)
    run_with_watchdog(sched)
    assert msgs == [1, 2, 3, 4, 5, 6]
    # The exception reaches the caller with every frame it went through.
    assert "return (yield callee_5_1())" in captured["tb"]
    assert "return (yield callee_5_2())" in captured["tb"]
    assert 'raise Exception("long_one")' in captured["tb"]


def test_join_results_of_added_coroutines(caplog: pytest.LogCaptureFixture) -> None:
    msgs: list[int] = []
    sched = Scheduler()
    failed: list[CoroutineInstance] = []

    @coroutine
    def caller() -> Coro:
        msgs.append(1)
        ret = yield Join(sched.add(callee_1))
        msgs.append(ret)
        ret = yield Join(sched.add(callee_2))
        msgs.append(3 if ret is None else -1)
        c = sched.add(callee_3)
        failed.append(c)
        ret = yield Join(c)
        msgs.append(4 if ret is None and str(c.exception[1]) == "some_message" else -1)

    @coroutine
    def callee_1() -> int:
        return 2

    @coroutine
    def callee_2() -> None:
        pass

    @coroutine
    def callee_3() -> Coro:
        yield
        raise Exception("some_message")

    sched.add(caller)
    with caplog.at_level(logging.ERROR, logger="cogen_aio.error"):
        run_with_watchdog(sched)
    assert msgs == [1, 2, 3, 4]
    # The original printed the joined coroutine's traceback to stderr; it is logged here.
    [record] = caplog.records
    assert "callee_3" in record.getMessage() and record.exc_info[0] is Exception


def test_round_robin_of_plain_yields() -> None:
    order: list[str] = []

    @coroutine
    def worker(name: str) -> Coro:
        for i in range(3):
            order.append(f"{name}{i}")
            yield

    sched = Scheduler()
    sched.add(worker, args=("a",))
    sched.add(worker, args=("b",))
    run_with_watchdog(sched)
    assert order == ["a0", "b0", "a1", "b1", "a2", "b2"]


# -- the tutorial scripts, as Python 3 scripts -------------------------------------------------

EVENTS_CALLS = """
from cogen_aio.coroutines import coroutine
from cogen_aio.scheduler import Scheduler

@coroutine
def foo():
    print('foo')
    result = yield bar("ham")
    print(result)

@coroutine
def bar(what):
    print('bar')
    raise StopIteration("spam, %s and eggs" % what)

sched = Scheduler()
sched.add(foo)
sched.run()
"""

# The original slept 3 s and waited 2 s for the last signal; the times are shorter here.
EVENTS_SIG = """
from cogen_aio.coroutines import coroutine
from cogen_aio.scheduler import Scheduler
from cogen_aio import ops as events

@coroutine
def foo():
    yield events.Signal("bar", 'spam')
    yield events.Signal("bar", 'ham')
    yield events.Signal("bar", 'eggs')
    yield events.Sleep(0.3)

@coroutine
def bar():
    print((yield events.WaitForSignal("bar")))
    print((yield events.WaitForSignal("bar")))
    print((yield events.WaitForSignal("bar")))
    try:
        print((yield events.WaitForSignal("bar", timeout=0.2)))
    except events.OperationTimeout:
        print('No more stuff !')

sched = Scheduler()
sched.add(bar)
sched.add(foo)
sched.run()
"""


def run_script(source: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(source))
    return subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=True
    )


def test_tutorial_events_calls(tmp_path: Path) -> None:
    done = run_script(EVENTS_CALLS, tmp_path)
    assert done.stdout.splitlines() == ["foo", "bar", "spam, ham and eggs"]
    # ``raise StopIteration(value)`` still gives the value, with advice to use ``return``.
    assert "DeprecationWarning" in done.stderr and "use 'return value'" in done.stderr


def test_tutorial_events_sig(tmp_path: Path) -> None:
    done = run_script(EVENTS_SIG, tmp_path)
    # Under LAST the waiter re-registers before each next signal, so none is lost (§5).
    assert done.stdout.splitlines() == ["spam", "ham", "eggs", "No more stuff !"]
    assert done.stderr == ""


# -- when run() returns ------------------------------------------------------------------------


def test_run_returns_when_nothing_can_progress_and_cancels_the_stuck() -> None:
    events: list[str] = []

    @coroutine
    def stuck() -> Coro:
        try:
            yield WaitForSignal("nobody-sends-this")
            events.append("woke")
        finally:
            events.append("finally")

    @coroutine
    def finishes() -> Coro:
        yield Sleep(0.01)
        events.append("finished")

    sched = Scheduler()
    parked = sched.add(stuck)
    sched.add(finishes)
    run_with_watchdog(sched)
    # The original returned leaving it suspended; here it is cancelled so its cleanup runs.
    assert events == ["finished", "finally"]
    assert parked.state == CoroutineInstance.STATE_FAILED
    assert isinstance(parked.exception[1], asyncio.CancelledError)
    assert sched.loop is None


def test_run_does_not_wait_for_timers_of_operations_that_completed() -> None:
    @coroutine
    def waiter() -> Coro:
        # Its 30 s deadline timer is cancelled when the signal arrives, but stays in the loop.
        return (yield WaitForSignal("soon", timeout=30))

    @coroutine
    def signaller() -> Coro:
        yield Signal("soon", "value")

    sched = Scheduler()
    waiting = sched.add(waiter)
    sched.add(signaller)
    started = time.monotonic()
    run_with_watchdog(sched)
    assert waiting.result == "value"
    assert time.monotonic() - started < HANG  # it did not sit out the dead timer


def test_run_with_nothing_added_returns() -> None:
    sched = Scheduler()
    run_with_watchdog(sched)
    assert sched.loop is None


def test_work_in_the_default_executor_counts_as_progress() -> None:
    release = threading.Event()

    def blocking() -> str:
        release.wait(HANG)
        return "from the thread"

    @coroutine
    def offload() -> Coro:
        loop = asyncio.get_running_loop()
        threading.Timer(0.05, release.set).start()
        # Nothing else is pending while the thread works: the scheduler must not stop.
        return (yield loop.run_in_executor(None, blocking))

    sched = Scheduler()
    instance = sched.add(offload)
    run_with_watchdog(sched)
    assert instance.result == "from the thread"


def test_sockets_count_as_progress() -> None:
    async def echo_roundtrip() -> bytes:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(await reader.readexactly(4))
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        host, port = server.sockets[0].getsockname()[:2]
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"ping")
        data = await reader.read()
        writer.close()
        server.close()
        await server.wait_closed()
        return data

    @coroutine
    def client() -> Coro:
        return (yield echo_roundtrip())

    sched = Scheduler()
    instance = sched.add(client)
    run_with_watchdog(sched)
    assert instance.result == b"ping"


# -- add, default_timeout, iter_run, shutdown ----------------------------------------------------


def test_add_from_inside_running_coroutines() -> None:
    sched = Scheduler()
    handled: list[Any] = []

    @coroutine
    def handler(conn: str, addr: tuple[str, int]) -> Coro:
        yield
        handled.append((conn, addr))

    @coroutine
    def acceptor() -> Coro:
        for n in range(3):
            # As the original echo servers do: no yield needed to add a coroutine.
            instance = sched.add(handler, args=(f"conn{n}", ("127.0.0.1", n)))
            assert isinstance(instance, CoroutineInstance)
            yield

    sched.add(acceptor)
    run_with_watchdog(sched)
    assert handled == [(f"conn{n}", ("127.0.0.1", n)) for n in range(3)]


def test_default_timeout_applies_to_operations_given_none() -> None:
    outcomes: list[str] = []

    @coroutine
    def waits() -> Coro:
        try:
            yield WaitForSignal("default-timeout")
        except OperationTimeout as exc:
            outcomes.append(type(exc.args[0]).__name__)
        yield Sleep(0.05)  # longer than the default: a sleep is not cut short
        outcomes.append("slept")
        try:
            yield WaitForSignal("own-timeout", timeout=0.01)
        except OperationTimeout:
            outcomes.append("own")

    sched = Scheduler(default_timeout=0.02)
    sched.add(waits)
    run_with_watchdog(sched)
    assert outcomes == ["WaitForSignal", "slept", "own"]


def test_iter_run_yields_once_per_loop_turn() -> None:
    order: list[str] = []

    @coroutine
    def worker() -> Coro:
        for i in range(3):
            order.append(f"w{i}")
            yield

    sched = Scheduler()
    sched.add(worker)
    snapshots = []
    for _ in sched.iter_run():
        snapshots.append(list(order))
        assert len(snapshots) < 100
    # The first turn only creates the generator (as in the original), then one step a turn.
    assert snapshots[:4] == [[], ["w0"], ["w0", "w1"], ["w0", "w1", "w2"]]
    assert order == ["w0", "w1", "w2"] and sched.loop is None


def test_shutdown_stops_after_the_current_turn() -> None:
    sched = Scheduler()
    turns: list[int] = []
    cleaned: list[str] = []

    @coroutine
    def spinner() -> Coro:
        try:
            n = 0
            while True:
                n += 1
                turns.append(n)
                yield
        finally:
            cleaned.append("spinner")

    @coroutine
    def stopper() -> Coro:
        for _ in range(3):
            yield
        sched.shutdown()
        turns.append(-1)  # the current step still completes

    sched.add(spinner)
    sched.add(stopper)
    run_with_watchdog(sched)
    # At most the spinner's step already queued in that turn runs after the shutdown call.
    assert -1 in turns and len(turns[turns.index(-1) + 1 :]) <= 1
    assert cleaned == ["spinner"]


def test_constructor_accepts_and_ignores_the_original_arguments() -> None:
    sched = Scheduler(
        proactor=object(),
        default_priority=priority.FIRST,
        default_timeout=None,
        proactor_resolution=0.01,
        proactor_greedy=True,
        ops_greedy=False,
        proactor_multiplex_first=True,
        proactor_default_size=100,
    )
    assert sched.default_priority == priority.FIRST
    with pytest.warns(UserWarning, match="reactor"):
        Scheduler(reactor="epoll")


def test_uncaught_exceptions_are_logged_and_run_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    done: list[str] = []

    @coroutine
    def bad() -> Coro:
        yield
        raise ValueError("killed")

    @coroutine
    def good() -> Coro:
        for _ in range(3):
            yield
        done.append("good")

    sched = Scheduler()
    sched.add(bad)
    sched.add(good)
    with caplog.at_level(logging.ERROR, logger="cogen_aio.error"):
        run_with_watchdog(sched)
    assert done == ["good"]
    [record] = caplog.records
    assert "bad" in record.getMessage() and "killed" in "".join(
        traceback.format_exception(*record.exc_info)
    )


def test_keyboard_interrupt_propagates_out_of_run() -> None:
    @coroutine
    def interrupted() -> Coro:
        yield
        raise KeyboardInterrupt

    sched = Scheduler()
    sched.add(interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_with_watchdog(sched)
    assert sched.loop is None


def test_run_twice_uses_a_fresh_loop_each_time() -> None:
    results: list[int] = []

    @coroutine
    def job(x: int) -> Coro:
        yield Sleep(0)
        results.append(x)

    sched = Scheduler()
    sched.add(job, args=(1,))
    run_with_watchdog(sched)
    sched.add(job, args=(2,))
    run_with_watchdog(sched)
    assert results == [1, 2]


@pytest.mark.asyncio
async def test_run_refuses_a_running_loop_and_add_starts_on_it() -> None:
    sched = Scheduler()

    @coroutine
    def job() -> Coro:
        yield
        return "ran on the caller's loop"

    with pytest.raises(RuntimeError, match="running event loop"):
        sched.run()
    instance = sched.add(job)
    assert await asyncio.wait_for(instance, HANG) == "ran on the caller's loop"
