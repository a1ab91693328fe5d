"""Parked ``WaitForSignal`` waiters: who is registered where, when a waiter leaves, and what a
parked waiter costs in memory (ten thousand idle long-polls are ten thousand of them)."""

from __future__ import annotations

import asyncio
import tracemalloc
from typing import Any

import pytest

import cogen_aio
from cogen_aio import ops
from cogen_aio.ops import WaitForSignal, start_operation, waiting_count

try:
    import uvloop
except ImportError:  # pragma: no cover - a test dependency where it builds
    uvloop = None


# -- who is registered, and when a waiter leaves -----------------------------------------------


def hub() -> Any:
    return ops._hub(asyncio.get_running_loop())


@pytest.mark.asyncio
async def test_cancelled_waiters_leave_the_hub_at_once_even_on_names_never_signalled() -> None:
    loop = asyncio.get_running_loop()
    futures = [start_operation(WaitForSignal(("never", i)), loop) for i in range(1000)]
    futures += [start_operation(WaitForSignal("never"), loop) for _ in range(1000)]
    assert len(hub().waiting) == 1001
    for future in futures:
        future.cancel()
    # At once, not a turn later: nothing is left behind for names nobody will ever signal.
    assert hub().waiting == {}
    assert all(future.cancelled() for future in futures)


@pytest.mark.asyncio
async def test_a_waiter_resolved_by_someone_else_leaves_the_hub() -> None:
    loop = asyncio.get_running_loop()
    by_result = start_operation(WaitForSignal("elsewhere"), loop)
    by_exception = start_operation(WaitForSignal("elsewhere"), loop)
    stays = start_operation(WaitForSignal("elsewhere"), loop)
    by_result.set_result("mine")
    assert list(hub().waiting["elsewhere"]) == [by_exception, stays]
    by_exception.set_exception(ValueError("mine"))
    assert list(hub().waiting["elsewhere"]) == [stays]
    assert cogen_aio.signal("elsewhere", "signalled") == 1
    assert hub().waiting == {}
    assert by_result.result() == "mine" and stays.result() == "signalled"
    with pytest.raises(ValueError):
        by_exception.result()


@pytest.mark.asyncio
async def test_a_woken_waiter_that_waits_again_stays_registered() -> None:
    loop = asyncio.get_running_loop()
    again: list[asyncio.Future[Any]] = []
    first = start_operation(WaitForSignal("loop"), loop)
    first.add_done_callback(lambda _: again.append(start_operation(WaitForSignal("loop"), loop)))
    assert cogen_aio.signal("loop", 1) == 1
    await asyncio.sleep(0)
    assert first.result() == 1 and waiting_count("loop") == 1
    again[0].cancel()
    assert hub().waiting == {}


# -- memory --------------------------------------------------------------------------------------


def bytes_per_parked_waiter(loop: asyncio.AbstractEventLoop, runner_callback: bool) -> float:
    """What 2,000 WaitForSignal futures parked on one name add to the heap, per waiter."""
    count = 2000
    operations = [WaitForSignal("memory") for _ in range(count)]
    futures: list[asyncio.Future[Any]] = [None] * count  # type: ignore[list-item]
    start_operation(WaitForSignal("memory"), loop).cancel()  # the hub exists already

    def resume(future: asyncio.Future[Any]) -> None:
        pass

    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i, op in enumerate(operations):
            futures[i] = future = start_operation(op, loop)
            if runner_callback:
                future.add_done_callback(resume)  # as the WSGI runner does
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    for future in futures:
        future.cancel()
    return used / count


@pytest.mark.asyncio
@pytest.mark.parametrize("runner_callback", [False, True], ids=["alone", "with-runner-callback"])
async def test_a_parked_waiter_costs_a_future_and_its_list_entry(runner_callback: bool) -> None:
    # About 190 and 255 bytes on CPython 3.11 (a done callback per waiter made it 525 and 710:
    # its function, closure and copied context, and the runner's callback moved into a list).
    loop = asyncio.get_running_loop()
    limit = 350 if runner_callback else 280
    assert bytes_per_parked_waiter(loop, runner_callback) < limit
    await asyncio.sleep(0)
    assert hub().waiting == {}


# -- the same on uvloop ----------------------------------------------------------------------------

ON_UVLOOP = [
    test_cancelled_waiters_leave_the_hub_at_once_even_on_names_never_signalled,
    test_a_waiter_resolved_by_someone_else_leaves_the_hub,
    test_a_woken_waiter_that_waits_again_stays_registered,
]


@pytest.mark.skipif(uvloop is None, reason="uvloop is not installed")
@pytest.mark.parametrize("case", ON_UVLOOP, ids=lambda case: case.__name__[5:])
def test_on_uvloop(case: Any) -> None:
    loop = uvloop.new_event_loop()
    try:
        loop.run_until_complete(asyncio.wait_for(case(), 10))
    finally:
        loop.close()
