"""Operations awaited from asyncio code (the same objects WSGI apps park)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime
import threading
import time
from typing import Any

import pytest

import cogen_aio
from cogen_aio import ops
from cogen_aio.ops import (
    Call,
    Operation,
    OperationTimeout,
    Signal,
    Sleep,
    WaitForSignal,
    start_operation,
    waiting_count,
)

pytestmark = pytest.mark.asyncio


async def test_wait_for_signal_timeout_raises_operation_timeout() -> None:
    op = WaitForSignal("x", timeout=0.05)
    started = time.monotonic()
    with pytest.raises(OperationTimeout) as caught:
        await op
    assert 0.04 <= time.monotonic() - started < 1
    assert caught.value.args[0] is op and caught.value.message is op
    assert caught.value.operation is op
    assert "WaitForSignal" in str(caught.value) and "name='x'" in str(caught.value)
    assert waiting_count("x") == 0


async def test_signal_returns_the_number_woken_and_its_value_reaches_them() -> None:
    waiters = [asyncio.ensure_future(WaitForSignal("s")) for _ in range(3)]
    await asyncio.sleep(0)
    assert waiting_count("s") == 3
    assert await Signal("s", "value") == 3
    assert [await w for w in waiters] == ["value"] * 3
    assert await Signal("s") == 0


async def test_waiters_resume_in_order_before_the_signaller() -> None:
    order: list[str] = []

    async def waiter(name: str) -> None:
        await WaitForSignal("order")
        order.append(name)

    tasks = [asyncio.ensure_future(waiter(f"w{i}")) for i in range(3)]
    await asyncio.sleep(0)
    await Signal("order")
    order.append("signaller")
    assert order == ["w0", "w1", "w2", "signaller"]
    await asyncio.gather(*tasks)


async def test_repeated_signals_reach_a_waiter_that_re_registers() -> None:
    """The original lost the second signal under its default priority; here the waiter resumes
    (and waits again) before the signaller's next Signal."""
    received: list[int] = []

    async def waiter() -> None:
        for _ in range(3):
            received.append(await WaitForSignal("again"))

    task = asyncio.ensure_future(waiter())
    await asyncio.sleep(0)
    for i in range(3):
        assert await Signal("again", i) == 1
    await task
    assert received == [0, 1, 2]


async def test_signals_are_not_latched() -> None:
    assert cogen_aio.signal("latch", 1) == 0
    with pytest.raises(OperationTimeout):
        await WaitForSignal("latch", timeout=0.01)


async def test_recipients_waits_for_enough_waiters() -> None:
    signaller = asyncio.ensure_future(Signal("quorum", "go", recipients=2))
    first = asyncio.ensure_future(WaitForSignal("quorum"))
    await asyncio.sleep(0.01)
    assert not signaller.done() and not first.done()
    second = asyncio.ensure_future(WaitForSignal("quorum"))
    assert await signaller == 2
    assert await first == "go" and await second == "go"


async def test_a_cancelled_waiter_does_not_count_as_a_recipient() -> None:
    gone = asyncio.ensure_future(WaitForSignal("r"))
    await asyncio.sleep(0)
    gone.cancel()
    assert waiting_count("r") == 0  # at once, not a turn later
    signaller = asyncio.ensure_future(Signal("r", recipients=1))
    await asyncio.sleep(0.01)
    assert not signaller.done()
    stays = asyncio.ensure_future(WaitForSignal("r"))
    assert await signaller == 1
    assert await stays is None


async def test_signal_and_signal_threadsafe_functions() -> None:
    loop = asyncio.get_running_loop()
    waiter = asyncio.ensure_future(WaitForSignal("fn"))
    await asyncio.sleep(0)
    assert cogen_aio.signal("fn", "direct") == 1
    assert await waiter == "direct"

    waiter = asyncio.ensure_future(WaitForSignal("fn"))
    await asyncio.sleep(0)
    result: list[int] = []
    thread = threading.Thread(
        target=lambda: result.append(cogen_aio.signal_threadsafe(loop, "fn", "thread").result(5))
    )
    thread.start()
    assert await waiter == "thread"
    await asyncio.sleep(0.01)
    thread.join(5)
    assert result == [1]


async def test_signal_names_are_any_hashable() -> None:
    key = object()
    waiter = asyncio.ensure_future(WaitForSignal(key))
    await asyncio.sleep(0)
    assert cogen_aio.signal(object()) == 0
    assert cogen_aio.signal(key, 5) == 1
    assert await waiter == 5


# -- Sleep -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, None, -1, datetime.timedelta(0)])
async def test_sleep_zero_gives_others_a_turn(value: Any) -> None:
    order: list[str] = []

    async def other() -> None:
        order.append("other")

    task = asyncio.ensure_future(other())
    assert await Sleep(value) is None
    order.append("sleeper")
    assert order == ["other", "sleeper"]
    await task


@pytest.mark.parametrize(
    "value",
    [0.02, datetime.timedelta(milliseconds=20)],
)
async def test_sleep_durations(value: Any) -> None:
    started = time.monotonic()
    assert await Sleep(value) is None
    assert 0.015 <= time.monotonic() - started < 1


async def test_sleep_until_an_absolute_datetime() -> None:
    started = time.monotonic()
    await Sleep(datetime.datetime.now() + datetime.timedelta(milliseconds=20))
    assert 0.01 <= time.monotonic() - started < 1


async def test_sleep_is_not_subject_to_the_default_timeout() -> None:
    loop = asyncio.get_running_loop()
    ops.set_default_timeout(loop, 0.01)
    try:
        await Sleep(0.03)
        with pytest.raises(OperationTimeout):
            await WaitForSignal("default")
    finally:
        ops.set_default_timeout(loop, None)


# -- timeouts ------------------------------------------------------------------------------------


async def test_deadline_is_computed_at_construction() -> None:
    op = WaitForSignal("early", timeout=0.05)
    await asyncio.sleep(0.04)
    started = time.monotonic()
    with pytest.raises(OperationTimeout):
        await op
    assert time.monotonic() - started < 0.04


async def test_minus_one_never_times_out_even_with_a_default() -> None:
    loop = asyncio.get_running_loop()
    ops.set_default_timeout(loop, 0.01)
    try:
        waiter = asyncio.ensure_future(WaitForSignal("never", timeout=-1))
        await asyncio.sleep(0.03)
        assert not waiter.done()
        cogen_aio.signal("never", "late")
        assert await waiter == "late"
    finally:
        ops.set_default_timeout(loop, None)


async def test_timedelta_and_datetime_timeouts() -> None:
    with pytest.raises(OperationTimeout):
        await WaitForSignal("td", timeout=datetime.timedelta(milliseconds=10))
    with pytest.raises(OperationTimeout):
        await WaitForSignal(
            "dt", timeout=datetime.datetime.now() + datetime.timedelta(milliseconds=10)
        )


async def test_operation_built_without_a_loop_measures_from_its_start() -> None:
    op = await asyncio.to_thread(WaitForSignal, "thread-built", 0.02)
    started = time.monotonic()
    with pytest.raises(OperationTimeout):
        await op
    assert time.monotonic() - started >= 0.015


# -- Call and start_operation -------------------------------------------------------------------


async def test_call_awaits_coroutine_functions_futures_and_coroutines() -> None:
    async def add(a: int, b: int = 0) -> int:
        await asyncio.sleep(0)
        return a + b

    loop = asyncio.get_running_loop()
    future = loop.create_future()
    loop.call_soon(future.set_result, "future")
    assert await Call(add, (1,), {"b": 2}) == 3
    assert await Call(add(5)) == 5
    assert await Call(future) == "future"
    assert await Call(lambda: add(7)) == 7


async def test_call_timeout_cancels_the_work() -> None:
    cancelled: list[bool] = []

    async def slow() -> None:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    with pytest.raises(OperationTimeout):
        await Call(slow, timeout=0.01)
    await asyncio.sleep(0)
    assert cancelled == [True]


async def test_call_propagates_the_failure_to_asyncio_code() -> None:
    async def fails() -> None:
        raise KeyError("k")

    with pytest.raises(KeyError):
        await Call(fails)


async def test_start_operation_accepts_thread_pool_futures() -> None:
    loop = asyncio.get_running_loop()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = start_operation(pool.submit(lambda: "threaded"), loop)
        assert await future == "threaded"


async def test_start_operation_rejects_other_objects() -> None:
    with pytest.raises(TypeError, match="cannot park int"):
        start_operation(42, asyncio.get_running_loop())
    assert not ops.parkable(b"bytes") and ops.parkable(Sleep(0))


async def test_cancelling_an_awaiting_task_unregisters_the_waiter() -> None:
    task = asyncio.ensure_future(WaitForSignal("cancel-me", timeout=5))
    await asyncio.sleep(0)
    assert waiting_count("cancel-me") == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert waiting_count("cancel-me") == 0


async def test_custom_operation_subclass() -> None:
    class Ticket(Operation):
        __slots__ = ("value",)

        def __init__(self, value: str) -> None:
            super().__init__()
            self.value = value

        def _start(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[Any]:
            future = loop.create_future()
            loop.call_later(0.001, future.set_result, self.value.upper())
            return future

    assert await Ticket("done") == "DONE"
    assert repr(Ticket("x")) == "<Ticket value='x', prio=-1>"


async def test_signal_operation_repr_lists_its_fields() -> None:
    assert repr(Signal("n", 1, recipients=2)) == (
        "<Signal name='n', value=1, recipients=2, prio=-1>"
    )


async def test_priorities_are_accepted_and_ignored() -> None:
    waiter = asyncio.ensure_future(WaitForSignal("prio", prio=3))
    await asyncio.sleep(0)
    assert await Signal("prio", "p", prio=1) == 1
    assert await waiter == "p"


# -- operations that complete within their start -------------------------------------------------


@pytest.mark.parametrize("value", [0, None, -1, 0.0, datetime.timedelta(0)])
async def test_a_cooperative_sleep_completes_within_its_start(value: Any) -> None:
    # What a legacy coroutine's driver and ``await`` use instead of a future resolved at once;
    # the caller still resumes through the loop (test_sleep_zero_gives_others_a_turn).
    loop = asyncio.get_running_loop()
    assert Sleep(value)._outcome_now(loop) is None
    future = Sleep(value)._start(loop)
    assert future.done() and future.result() is None


async def test_a_real_sleep_and_a_wait_do_not_complete_within_their_start() -> None:
    loop = asyncio.get_running_loop()
    assert Sleep(0.5)._outcome_now(loop) is NotImplemented
    assert WaitForSignal("not-started")._outcome_now(loop) is NotImplemented
    assert Operation()._outcome_now(loop) is NotImplemented
    assert waiting_count("not-started") == 0  # NotImplemented: nothing was done


async def test_a_signal_completes_within_its_start_unless_it_waits_for_recipients() -> None:
    loop = asyncio.get_running_loop()
    waiter = asyncio.ensure_future(WaitForSignal("now"))
    await asyncio.sleep(0)
    assert Signal("now", recipients=2)._outcome_now(loop) is NotImplemented
    assert not waiter.done()  # it did nothing
    assert Signal("now", "v")._outcome_now(loop) == 1
    assert await waiter == "v"
    assert Signal("now")._outcome_now(loop) == 0

