"""The virtual clock, and the protocol's timers measured on it."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from cogen_aio.testing import VirtualClock, VirtualClockUnavailable, virtual_clock_loop

from .apps import app

aio = pytest.mark.asyncio


@aio
@pytest.mark.cogen(clock="virtual")
async def test_virtual_clock_runs_long_waits_at_once(cogen_client: Any, cogen_clock: Any) -> None:
    client = await cogen_client(app)
    assert client.server.transport == "memory"  # the clock's default
    started = time.monotonic()
    assert (await client.get("/sleep")).body == b"slept"
    assert (await client.get("/wait")).body == b"waiting\ntimeout"
    assert cogen_clock.elapsed == 60.0
    assert time.monotonic() - started < 2.0


@aio
@pytest.mark.cogen(clock="virtual", timeout_keep_alive=7)
async def test_virtual_clock_keep_alive_timeout_is_exact(
    cogen_server: Any, cogen_clock: Any
) -> None:
    server = await cogen_server(app)
    conn = await server.connect()
    await conn.request("GET", "/")
    answered = cogen_clock.time()
    await conn.wait_closed()
    assert cogen_clock.time() - answered == 7.0


@aio
@pytest.mark.cogen(clock="manual")
async def test_manual_clock_moves_only_when_told(cogen_client: Any, cogen_clock: Any) -> None:
    client = await cogen_client(app)
    poll = asyncio.ensure_future(client.get("/wait"))
    await client.server.wait_parked()
    await cogen_clock.advance(29.5)
    assert not poll.done() and len(client.server.parked_operations()) == 1
    await cogen_clock.advance(0.5)
    assert (await poll).body == b"waiting\ntimeout"


# The protocol's timers at their default settings (keep-alive 5 s, header 10 s), exact to the
# millisecond: what tests with tiny real timeouts and sleeps in between approximate.


@aio
@pytest.mark.cogen(clock="manual")
async def test_header_timer_is_not_extended_by_trickling_bytes(
    cogen_server: Any, cogen_clock: Any
) -> None:
    conn = await (await cogen_server(app)).connect()
    await conn.send(b"GET / HTTP/1.1\r\nHost: x\r\n")
    await cogen_clock.advance(9.999)
    await conn.send(b"X-Slow: 1\r\n")
    await cogen_clock.advance(0.001)
    assert (await conn.read_response()).status == 408


@aio
@pytest.mark.cogen(clock="manual")
async def test_keep_alive_timer_gives_way_to_the_header_timer(
    cogen_server: Any, cogen_clock: Any
) -> None:
    conn = await (await cogen_server(app)).connect()
    await conn.request("GET", "/")
    await cogen_clock.advance(4.999)
    await conn.send(b"GET /next HTTP/1.1\r\n")  # a new head: 10 s from now, not 0.001 s
    await cogen_clock.advance(9.998)
    await conn.send(b"Host: x\r\n\r\n")
    assert (await conn.read_response()).body == b"GET /next"
    await cogen_clock.advance(5)
    await conn.wait_closed()


@aio
@pytest.mark.cogen(clock="manual")
async def test_parked_requests_are_not_subject_to_read_timers(
    cogen_client: Any, cogen_clock: Any
) -> None:
    client = await cogen_client(app)
    async with client.stream("GET", "/wait") as response:
        await client.server.wait_parked()
        await cogen_clock.advance(29.999)
        assert len(client.server.connections) == 1
        await cogen_clock.advance(0.001)
        assert await response.read() == b"waiting\ntimeout"


@aio
async def test_advance_fires_timers_at_their_own_deadlines(cogen_clock: Any) -> None:
    loop = asyncio.get_running_loop()
    cogen_clock.auto = False
    seen: list[float] = []
    start = loop.time()

    def record(then: float | None = None) -> None:
        seen.append(loop.time() - start)
        if then is not None:
            loop.call_later(then, record)

    loop.call_later(2, record, 0.5)
    loop.call_later(1, record)
    loop.call_later(5, record)
    await cogen_clock.advance(3)
    assert seen == [1.0, 2.0, 2.5] and loop.time() - start == 3.0
    assert cogen_clock.next_timer() == 2.0


@aio
async def test_timers_fire_far_from_zero(cogen_clock: Any) -> None:
    # Near 1.7e7 s (a monotonic clock after months of uptime) asyncio's 1 ns resolution is
    # below a float's precision: a jump exactly to a deadline would never make its timer due.
    loop = asyncio.get_running_loop()
    cogen_clock._now = 1.7e7
    fired: list[float] = []
    loop.call_later(10, lambda: fired.append(loop.time()))
    await asyncio.sleep(20)  # auto: jumps to the timer, then to the sleep's end
    cogen_clock.auto = False
    loop.call_later(10, lambda: fired.append(loop.time()))
    await cogen_clock.advance(9.999)
    await cogen_clock.advance(0.001)
    assert len(fired) == 2 and fired[1] - fired[0] == pytest.approx(20, abs=1e-6)


@aio
async def test_asyncio_timeouts_follow_the_virtual_clock(cogen_clock: Any) -> None:
    queue: asyncio.Queue[int] = asyncio.Queue()
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(queue.get(), 3600)
    assert cogen_clock.elapsed == 3600.0


@aio
async def test_uninstall_keeps_the_remaining_delay() -> None:
    loop = asyncio.get_running_loop()
    try:
        clock = VirtualClock.install(auto=False)
    except VirtualClockUnavailable as exc:
        pytest.skip(str(exc))
    handle = loop.call_later(10, lambda: None)
    await clock.advance(4)
    clock.uninstall()
    assert VirtualClock.of(loop) is None
    assert 5.9 < handle.when() - loop.time() <= 6.0
    handle.cancel()


def test_virtual_clock_needs_a_selector_loop() -> None:
    uvloop = pytest.importorskip("uvloop")
    loop = uvloop.new_event_loop()
    try:
        with pytest.raises(VirtualClockUnavailable):
            VirtualClock.install(loop)
    finally:
        loop.close()


def test_virtual_clock_loop_factory() -> None:
    async def main() -> float:
        await asyncio.sleep(86400)
        return VirtualClock.of().elapsed  # type: ignore[union-attr]

    loop = virtual_clock_loop()
    try:
        assert loop.run_until_complete(main()) == 86400.0
    finally:
        loop.close()
