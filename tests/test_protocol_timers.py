"""The connection's timers (header, keep-alive, write) at their default durations, on a virtual
clock over the in-memory transport: each test finishes at once and asserts the exact (virtual)
time at which the server acted.

Every test runs once per request parser (the ``http_parser`` fixture), passed to the server as
its ``http`` setting.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable, Iterator

import pytest

import cogen_aio
from cogen_aio.ops import WaitForSignal
from cogen_aio.testing import CogenServerFactory, LiveServer, VirtualClock

pytestmark = [pytest.mark.asyncio, pytest.mark.cogen(transport="memory", clock="virtual")]

StartResponse = Callable[..., Any]

#: The defaults, spelled out: the tests assert times derived from them.
KEEP_ALIVE = 5
HEADER = 10
WRITE = 60


def echo_path(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [environ["PATH_INFO"].encode()]


def slow_or_fast(environ: dict[str, Any], start_response: StartResponse) -> Iterator[Any]:
    start_response("200 OK", [])
    if environ["PATH_INFO"] == "/slow":
        yield WaitForSignal("slow")
    yield environ["PATH_INFO"].encode()


@pytest.fixture
def serve(cogen_server: CogenServerFactory, http_parser: str) -> Callable[..., Any]:
    """``await serve(app, **settings)``: a memory-transport server with the parser under test."""

    async def start(app: Any, **settings: Any) -> LiveServer:
        settings.setdefault("timeout_keep_alive", KEEP_ALIVE)
        settings.setdefault("timeout_header", HEADER)
        return await cogen_server(app, http=http_parser, **settings)

    return start


async def test_idle_new_connection_is_closed_by_the_header_timer(
    serve: Callable[..., Any], cogen_clock: VirtualClock, error_log: pytest.LogCaptureFixture
) -> None:
    server = await serve(echo_path)
    conn = await server.connect()
    assert await conn.wait_closed() == b""  # closed without a word
    assert cogen_clock.elapsed == HEADER
    assert not conn.reset
    assert not any(r.levelno >= logging.INFO for r in error_log.records)


async def test_slow_request_head_gets_408(
    serve: Callable[..., Any], cogen_clock: VirtualClock, error_log: pytest.LogCaptureFixture
) -> None:
    server = await serve(echo_path)
    conn = await server.connect()
    await conn.send(b"GET / HTTP/1.1\r\nHost: x\r\n")
    await asyncio.sleep(HEADER / 2)
    await conn.send(b"X-Slow: 1\r\n")  # trickling bytes does not extend the deadline
    reply = await conn.read_response()
    assert reply.status == 408
    assert cogen_clock.elapsed == HEADER
    assert await conn.wait_closed() == b""
    assert conn.closed and cogen_clock.elapsed == HEADER
    assert any(
        r.getMessage().startswith("408 Request Timeout: the request head") for r in error_log.records
    )


async def test_keep_alive_timeout_closes_an_idle_connection(
    serve: Callable[..., Any], cogen_clock: VirtualClock
) -> None:
    server = await serve(echo_path)
    conn = await server.connect()
    reply = await conn.request("GET", "/")
    assert reply.status == 200 and reply.keep_alive
    await asyncio.sleep(KEEP_ALIVE - 0.5)
    assert not conn.closed
    assert await conn.wait_closed() == b""  # the one response, nothing after it
    assert cogen_clock.elapsed == KEEP_ALIVE
    assert server.requests == 1


async def test_keep_alive_timer_is_replaced_by_the_header_timer_on_new_bytes(
    serve: Callable[..., Any], cogen_clock: VirtualClock
) -> None:
    server = await serve(echo_path)
    conn = await server.connect()
    assert (await conn.request("GET", "/")).body == b"/"
    await conn.send(b"GET /next HTTP/1.1\r\n")
    await asyncio.sleep(KEEP_ALIVE + 2)  # past the keep-alive timeout, within the header timeout
    assert not conn.closed
    await conn.send(b"Host: x\r\n\r\n")
    reply = await conn.read_response()
    assert reply.body == b"/next" and reply.keep_alive
    assert cogen_clock.elapsed == KEEP_ALIVE + 2
    assert server.requests == 2
    # The new request's own keep-alive timer then closes the connection.
    assert await conn.wait_closed() == b""
    assert cogen_clock.elapsed == 2 * KEEP_ALIVE + 2


async def test_parked_request_is_not_subject_to_read_timers(
    serve: Callable[..., Any], cogen_clock: VirtualClock
) -> None:
    server = await serve(slow_or_fast)
    conn = await server.connect()
    await conn.send_request("GET", "/slow")
    await server.wait_parked()
    await asyncio.sleep(3 * HEADER)  # well past both read timeouts
    assert not conn.closed
    assert cogen_aio.signal("slow") == 1
    reply = await conn.read_response()
    assert reply.complete and reply.body == b"/slow"
    assert cogen_clock.elapsed == 3 * HEADER


async def test_parked_request_on_a_kept_alive_connection_has_no_header_timer(
    serve: Callable[..., Any], cogen_clock: VirtualClock
) -> None:
    server = await serve(slow_or_fast)
    conn = await server.connect()
    first = await conn.request("GET", "/fast")
    assert first.complete
    await conn.send_request("GET", "/slow")  # the whole head in one write: parked at once
    await server.wait_parked()
    await asyncio.sleep(3 * HEADER)
    assert not conn.closed
    assert cogen_aio.signal("slow") == 1
    second = await conn.read_response()
    assert [first.complete, second.complete] == [True] * 2
    assert second.body == b"/slow"
    assert cogen_clock.elapsed == 3 * HEADER


async def test_write_timeout_aborts_a_client_that_stops_reading(
    serve: Callable[..., Any], cogen_clock: VirtualClock, error_log: pytest.LogCaptureFixture
) -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [])
        while True:
            yield b"x" * 70_000

    server = await serve(app, timeout_write=WRITE)
    conn = await server.connect()
    await conn.send_request()
    # The client reads nothing: the send buffer stays full until the write timer fires.
    await server.wait_idle()
    assert conn.reset  # aborted, not closed
    assert cogen_clock.elapsed == WRITE
    assert any(
        r.getMessage() == "closing a connection whose client stopped reading"
        for r in error_log.records
    )
