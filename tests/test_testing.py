"""cogen_aio.testing: the live server on each transport, the client, the virtual clock, sync_app.

These tests use the kit's own pytest fixtures (cogen_client, cogen_server, cogen_clock).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from typing import Any, Callable, Iterator

import pytest
import webtest

import cogen_aio
from cogen_aio.ops import Call, Sleep, WaitForSignal
from cogen_aio.testing import (
    Client,
    Headers,
    LiveServer,
    ServerDisconnected,
    VirtualClock,
    VirtualClockUnavailable,
    build_request,
    sync_app,
    virtual_clock_loop,
    wait_until,
)

aio = pytest.mark.asyncio
StartResponse = Callable[..., Any]
closed: list[str] = []


def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[Any]:
    """/wait parks on the "news" signal (30 s), /sleep sleeps, /big streams 1 MiB, else echo."""
    path = environ["PATH_INFO"]
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
    try:
        if path == "/wait":
            yield b"waiting\n"
            yield WaitForSignal("news", timeout=30)
            result = environ["cogen.wsgi"].result
            yield b"timeout" if isinstance(result, Exception) else result.encode()
        elif path == "/sleep":
            yield Sleep(float(environ["QUERY_STRING"] or 30))
            yield b"slept"
        elif path == "/big":
            for _ in range(64):
                yield b"x" * 16384
        elif path == "/forever":
            yield WaitForSignal("nobody", timeout=-1)
        else:
            yield environ["REQUEST_METHOD"].encode() + b" " + path.encode()
            yield environ["wsgi.input"].read()
    finally:
        closed.append(path)


@pytest.fixture(autouse=True)
def _forget_closed() -> Iterator[None]:
    closed.clear()
    yield


@pytest.fixture(params=["tcp", "unix", "memory"])
def transport(request: pytest.FixtureRequest) -> str:
    return request.param


# -- the server and the client, on every transport ------------------------------------------------


@aio
async def test_requests_reuse_one_keep_alive_connection(cogen_client: Any, transport: str) -> None:
    client = await cogen_client(app, server_kwargs={"transport": transport})
    first = await client.get("/a")
    second = await client.post("/b", body=b"payload")
    assert (first.status, first.body) == (200, b"GET /a")
    assert second.body == b"POST /bpayload" and second.keep_alive
    assert first.headers["content-type"] == "text/plain; charset=utf-8"
    assert first.text == "GET /a"
    assert len(client.server.connections) == 1 and client.server.requests == 2


@aio
async def test_long_poll_streams_and_wakes(cogen_client: Any, transport: str) -> None:
    client = await cogen_client(app, server_kwargs={"transport": transport})
    async with client.stream("GET", "/wait") as response:
        assert response.status == 200
        assert await response.next_chunk() == b"waiting\n"  # before the wait, as its own chunk
        [op] = await client.server.wait_parked()
        assert isinstance(op, WaitForSignal) and op.name == "news"
        assert cogen_aio.signal("news", "hello") == 1
        assert await response.read() == b"hello"
    assert response.chunks == [b"waiting\n", b"hello"] and response.keep_alive


@aio
async def test_leaving_a_stream_early_closes_the_generator(
    cogen_client: Any, transport: str
) -> None:
    client = await cogen_client(app, server_kwargs={"transport": transport})
    async with client.stream("GET", "/wait") as response:
        await response.next_chunk()
        await client.server.wait_parked()
    await wait_until(lambda: closed == ["/wait"])
    await client.server.wait_idle()
    assert client.server.parked_operations() == []


@aio
async def test_pipelined_requests_come_back_in_order(cogen_client: Any, transport: str) -> None:
    client = await cogen_client(app, server_kwargs={"transport": transport})
    replies = await client.pipeline(("GET", "/1"), ("HEAD", "/2"), build_request("GET", "/3"))
    assert [r.body for r in replies] == [b"GET /1", b"", b"GET /3"]
    assert [r.status for r in replies] == [200, 200, 200] and replies[2].keep_alive


@aio
async def test_raw_bytes_and_a_malformed_request(cogen_server: Any, transport: str) -> None:
    server = await cogen_server(app, transport=transport)
    conn = await server.connect()
    await conn.send(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
    reply = await conn.read_response()
    assert reply.status == 400 and b"Content-Length" in reply.body
    assert reply.raw.startswith(b"HTTP/1.1 400 ") and reply.raw.endswith(reply.body)
    assert await conn.read_to_eof() == b"" and conn.closed


@aio
async def test_expect_100_continue(cogen_client: Any, transport: str) -> None:
    client = await cogen_client(app, server_kwargs={"transport": transport})
    reply = await client.put("/up", body=b"data", headers={"Expect": "100-continue"})
    assert reply.informational == [100] and reply.body == b"PUT /updata"


@aio
async def test_chunked_request_body_from_an_async_iterable(cogen_client: Any) -> None:
    async def parts() -> Any:
        for part in (b"one ", b"two"):
            await asyncio.sleep(0)
            yield part

    client = await cogen_client(app, server_kwargs={"transport": "memory"})
    reply = await client.post("/", body=parts())
    assert reply.body == b"POST /one two"


@aio
async def test_httpx_client_on_every_transport(cogen_httpx: Any, transport: str) -> None:
    client = await cogen_httpx(app, server_kwargs={"transport": transport})
    reply = await client.post("/x", content=b"!")
    assert reply.status_code == 200 and reply.text == "POST /x!"


@aio
async def test_a_request_on_a_connection_the_server_closed_is_sent_again(
    cogen_client: Any, transport: str
) -> None:
    client = await cogen_client(
        app, server_kwargs={"transport": transport, "timeout_keep_alive": 0.05}
    )
    await client.get("/")
    await client.server.wait_idle()  # closed for idleness; the client has not noticed yet
    assert (await client.get("/again")).body == b"GET /again"


@aio
async def test_server_closed_connection_is_reported(cogen_server: Any) -> None:
    server = await cogen_server(app, transport="memory", timeout_header=0.01)
    conn = await server.connect()
    await conn.wait_closed()
    with pytest.raises(ServerDisconnected):
        await conn.read_response()


def test_headers_are_case_insensitive_and_keep_repeats() -> None:
    headers = Headers([("Set-Cookie", "a=1"), ("set-cookie", "b=2"), ("X-One", "1")])
    assert headers["SET-COOKIE"] == "a=1, b=2" and headers.getall("set-cookie") == ["a=1", "b=2"]
    assert list(headers) == ["set-cookie", "x-one"] and len(headers) == 2
    assert "x-one" in headers and headers.get("missing") is None


def test_build_request_leaves_malformed_input_alone() -> None:
    assert build_request("GET", "/", version="1.0") == b"GET / HTTP/1.0\r\n\r\n"
    assert build_request("POST", "/", {"Host": "h"}, b"ab") == (
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nab"
    )


class Subclassed(Client):
    async def echo(self, text: str) -> str:
        return (await self.post("/", body=text)).text


@pytest.fixture
def cogen_client_cls() -> type[Client]:
    return Subclassed


@pytest.fixture
def cogen_app() -> Any:
    return app


@aio
async def test_client_class_and_app_fixtures(cogen_client: Any) -> None:
    client = await cogen_client()
    assert isinstance(client, Subclassed)
    assert await client.echo("hi") == "POST /hi"


# -- the in-memory transport's flow control -------------------------------------------------------


@aio
async def test_memory_transport_applies_back_pressure(cogen_server: Any) -> None:
    server = await cogen_server(app, transport="memory")
    conn = await server.connect()
    await conn.send_request("GET", "/big")
    [protocol] = server.connections
    await wait_until(lambda: protocol.write_paused)  # the client does not read: buffer full
    reply = await conn.read_response()
    assert len(reply.body) == 64 * 16384 and not protocol.write_paused


@aio
async def test_memory_transport_sendfile_fallback(cogen_client: Any) -> None:
    with tempfile.NamedTemporaryFile(delete=False) as file:
        file.write(b"f" * 300000)
    try:

        def files(environ: dict[str, Any], start_response: StartResponse) -> Any:
            start_response("200 OK", [])
            return environ["wsgi.file_wrapper"](open(file.name, "rb"))

        client = await cogen_client(files, server_kwargs={"transport": "memory"})
        reply = await client.get("/")
        assert reply.body == b"f" * 300000 and reply.headers["content-length"] == "300000"
    finally:
        os.unlink(file.name)


@aio
async def test_client_reset_reaches_the_app(cogen_server: Any) -> None:
    server = await cogen_server(app, transport="memory")
    conn = await server.connect()
    await conn.send_request("GET", "/wait")
    await server.wait_parked()
    conn.abort()
    await wait_until(lambda: closed == ["/wait"])


# -- the virtual clock ----------------------------------------------------------------------------


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
async def test_hang_guard_uses_real_time_under_the_virtual_clock(
    cogen_server: Any, cogen_clock: Any
) -> None:
    server = await cogen_server(app)
    conn = await server.connect()
    await conn.send_request("GET", "/forever")
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await conn.read_response(timeout=0.2)
    assert 0.15 < time.monotonic() - started < 2.0


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


# -- sync_app and WebTest -------------------------------------------------------------------------


def test_webtest_drives_a_parking_app() -> None:
    with sync_app(app, clock=True) as wsgi:
        testapp = webtest.TestApp(wsgi)
        assert testapp.get("/sleep").text == "slept"
        reply = testapp.post("/form", {"a": "1"}, extra_environ={"REMOTE_USER": "bob"})
        assert reply.body == b"POST /forma=1"
        assert testapp.get("/wait").text == "waiting\ntimeout"
        clock = VirtualClock.of(wsgi.loop)
        assert clock is not None and clock.elapsed == 60.0


def test_sync_app_passes_the_caller_environ_through() -> None:
    def who(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        seen = (environ.get("REMOTE_USER"), environ["QUERY_STRING"], environ.get("HTTP_X_ONE"))
        return [repr(seen).encode()]

    with sync_app(who) as wsgi:
        reply = webtest.TestApp(wsgi).get(
            "/?q=1", headers={"X-One": "1"}, extra_environ={"REMOTE_USER": "ann"}
        )
    assert reply.text == "('ann', 'q=1', '1')"


def test_sync_app_run_reaches_the_private_loop() -> None:
    queue: asyncio.Queue[str] = asyncio.Queue()

    def consumer(environ: dict[str, Any], start_response: StartResponse) -> Iterator[Any]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield Call(queue.get)
        yield environ["cogen.wsgi"].result.encode()

    with sync_app(consumer) as wsgi:
        wsgi.run(queue.put("queued"))
        assert webtest.TestApp(wsgi).get("/").text == "queued"


def test_sync_app_raises_the_app_errors() -> None:
    def broken(environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b""
        raise LookupError("late")

    def early(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        raise LookupError("early")

    with sync_app(broken) as wsgi, pytest.raises(LookupError, match="late"):
        webtest.TestApp(wsgi).get("/")
    with sync_app(broken, raise_errors=False) as wsgi, pytest.raises(ServerDisconnected):
        webtest.TestApp(wsgi).get("/")  # headers were sent, then the connection was cut
    with sync_app(early, raise_errors=False) as wsgi:
        assert webtest.TestApp(wsgi).get("/", expect_errors=True).status_int == 500


@aio
async def test_sync_app_refuses_a_running_loop() -> None:
    with sync_app(app) as wsgi, pytest.raises(RuntimeError, match="cogen_client"):
        wsgi.run(asyncio.sleep(0))


# -- LiveServer by hand (what a module-scoped fixture does) ---------------------------------------


@aio
async def test_live_server_as_context_manager(transport: str) -> None:
    async with LiveServer(app, transport=transport) as server:
        async with Client(server) as client:
            assert (await client.get("/")).body == b"GET /"
        assert server.url.startswith("http://")
    assert server.closed
    if transport == "unix":
        assert server.path is not None and not os.path.exists(server.path)
