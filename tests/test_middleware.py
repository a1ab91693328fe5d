"""SynchronousInputMiddleware and LazyStartResponseMiddleware (cogen-api.md §13, §15.10), through the
real server over real sockets, alone and between real middleware (WebOb, Beaker)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from typing import Any, AsyncIterator, Callable, Iterator

import httpx
import pytest
import webob
from beaker.middleware import SessionMiddleware

import cogen_aio
from cogen_aio.middleware import (
    LazyStartResponseMiddleware,
    SynchronousInputMiddleware,
    lazy_sr,
    sync_input,
)
from cogen_aio.ops import Sleep, WaitForSignal, signal

HANG = 10.0
StartResponse = Callable[..., Any]


@contextlib.asynccontextmanager
async def serving(app: Any, **settings: Any) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    settings.setdefault("access_log", False)
    server = cogen_aio.Server(app, port=0, **settings)
    [(host, port)] = await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=HANG) as client:
            yield client, (host, port)
    finally:
        await asyncio.wait_for(server.shutdown(timeout=1.0), HANG)


async def until(predicate: Callable[[], bool]) -> None:
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.005)

    await asyncio.wait_for(poll(), HANG)


class Closing:
    """A response iterable that counts its close() calls (PEP 3333: exactly once)."""

    def __init__(self, chunks: Iterator[Any]) -> None:
        self.chunks = chunks
        self.closed = 0

    def __iter__(self) -> Iterator[Any]:
        return self.chunks

    def close(self) -> None:
        self.closed += 1


def echo_app(seen: dict[str, Any]) -> Callable[..., Any]:
    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        seen["CONTENT_LENGTH"] = environ["CONTENT_LENGTH"]
        seen["body"] = body = environ["wsgi.input"].read()
        seen["read_count"] = environ["cogen.wsgi"].read_count
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return [body]

    return app


# -- SynchronousInputMiddleware ------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("stream_input", [False, True])
async def test_sync_input_gives_the_app_the_whole_body(stream_input: bool) -> None:
    seen: dict[str, Any] = {}
    payload = bytes(range(256)) * 40  # 10240 bytes, read 1000 at a time
    app = SynchronousInputMiddleware(echo_app(seen), {}, buffer_length="1000")
    async with serving(app, stream_input=stream_input) as (client, _):
        reply = await client.post("/", content=payload)
    assert reply.status_code == 200
    assert reply.content == payload
    assert seen["body"] == payload
    assert seen["CONTENT_LENGTH"] == "10240"
    assert seen["read_count"] == 10240


@pytest.mark.asyncio
async def test_sync_input_reads_a_body_that_trickles_in() -> None:
    seen: dict[str, Any] = {}
    async with serving(sync_input(echo_app(seen), buffer_length=7), stream_input=True) as (_, addr):
        reader, writer = await asyncio.open_connection(*addr)
        writer.write(b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 26\r\n\r\n")
        for piece in (b"abcdefghij", b"klmnopq", b"rstuvwxyz"):
            await writer.drain()
            await asyncio.sleep(0.02)
            writer.write(piece)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HANG)
        body = await asyncio.wait_for(reader.readexactly(26), HANG)
        writer.close()
    assert head.startswith(b"HTTP/1.1 200 ")
    assert body == seen["body"] == b"abcdefghijklmnopqrstuvwxyz"
    assert seen["CONTENT_LENGTH"] == "26"


@pytest.mark.asyncio
async def test_sync_input_without_a_body_sets_content_length_0() -> None:
    seen: dict[str, Any] = {}
    async with serving(sync_input(echo_app(seen))) as (client, _):
        reply = await client.get("/")
    assert reply.status_code == 200 and reply.content == b""
    assert seen["CONTENT_LENGTH"] == "0"  # as the original did
    assert seen["body"] == b""


@pytest.mark.asyncio
async def test_sync_input_reads_a_chunked_body_to_its_end() -> None:
    seen: dict[str, Any] = {}

    async def pieces() -> AsyncIterator[bytes]:
        for piece in (b"first ", b"second ", b"third"):
            yield piece

    async with serving(sync_input(echo_app(seen), buffer_length=4), stream_input=True) as (client, _):
        reply = await client.post("/", content=pieces())
    assert reply.content == b"first second third"
    assert seen["CONTENT_LENGTH"] == str(len(b"first second third"))


@pytest.mark.asyncio
async def test_sync_input_stops_at_a_failed_read_and_logs_it(error_log: Any) -> None:
    seen: dict[str, Any] = {}
    app = sync_input(echo_app(seen), buffer_length=4)
    async with serving(app, stream_input=True, timeout_body=0.2) as (_, addr):
        reader, writer = await asyncio.open_connection(*addr)
        writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly-this")
        await writer.drain()
        await until(lambda: "body" in seen)
        await asyncio.wait_for(reader.read(), HANG)  # the server gives up on this connection
        writer.close()
    assert seen["body"] == b"only-this"
    assert seen["CONTENT_LENGTH"] == "100"  # the declared length, as in the original
    failures = [r for r in error_log.records if "reading the request body failed" in r.getMessage()]
    assert len(failures) == 1 and failures[0].exc_info is not None


@pytest.mark.asyncio
async def test_sync_input_passes_empty_chunks_so_the_app_can_park() -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        body = environ["wsgi.input"].read()
        start_response("200 OK", [])
        yield environ["cogen.core"].events.WaitForSignal("mw-go", timeout=5)
        yield body + b" " + environ["cogen.wsgi"].result

    async with serving(sync_input(app)) as (client, _):
        request = asyncio.ensure_future(client.post("/", content=b"got"))
        await until(lambda: cogen_aio.ops.waiting_count("mw-go") == 1)
        signal("mw-go", b"signal")
        reply = await request
    assert reply.content == b"got signal"


@pytest.mark.asyncio
async def test_sync_input_closes_the_app_once_when_it_completes() -> None:
    made: list[Closing] = []

    def app(environ: dict[str, Any], start_response: StartResponse) -> Closing:
        start_response("200 OK", [])
        made.append(Closing(iter([b"a", b"", b"b"])))
        return made[-1]

    async with serving(sync_input(app)) as (client, _):
        assert (await client.get("/")).content == b"ab"
    assert made[0].closed == 1


@pytest.mark.asyncio
async def test_sync_input_closes_the_app_once_when_the_client_leaves() -> None:
    made: list[Closing] = []

    def chunks(environ: dict[str, Any]) -> Iterator[bytes]:
        yield b"waiting\n"
        yield environ["cogen.core"].events.WaitForSignal("never", timeout=-1)
        yield b"unreachable"

    def app(environ: dict[str, Any], start_response: StartResponse) -> Closing:
        start_response("200 OK", [])
        made.append(Closing(chunks(environ)))
        return made[-1]

    async with serving(sync_input(app)) as (_, addr):
        reader, writer = await asyncio.open_connection(*addr)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await asyncio.wait_for(reader.readuntil(b"waiting\n"), HANG)
        writer.close()
        await until(lambda: bool(made) and made[0].closed > 0)
        await asyncio.sleep(0.05)
    # The original closed the app only after iterating it to the end: never, here.
    assert made[0].closed == 1


@pytest.mark.asyncio
async def test_sync_input_closes_the_app_once_when_it_raises(error_log: Any) -> None:
    made: list[Closing] = []

    def chunks() -> Iterator[bytes]:
        yield b""
        raise RuntimeError("boom")

    def app(environ: dict[str, Any], start_response: StartResponse) -> Closing:
        made.append(Closing(chunks()))
        return made[-1]

    async with serving(sync_input(app)) as (client, _):
        reply = await client.get("/")
    assert reply.status_code == 500
    assert made[0].closed == 1


@pytest.mark.asyncio
@pytest.mark.parametrize("middleware", [sync_input, lazy_sr])
async def test_a_generator_app_is_closed_once_when_the_client_leaves(middleware: Any) -> None:
    closes: list[str] = []

    class CountingGenerator:
        """A generator whose close() calls are counted."""

        def __init__(self, environ: dict[str, Any]) -> None:
            self.gen = self.run(environ)

        def run(self, environ: dict[str, Any]) -> Iterator[Any]:
            yield b"partial\n"
            yield environ["cogen.core"].events.WaitForSignal("never-gen", timeout=-1)

        def __iter__(self) -> Iterator[Any]:
            return self  # its own iterator, as a generator is

        def __next__(self) -> Any:
            return next(self.gen)

        def close(self) -> None:
            closes.append("close")
            self.gen.close()

    def app(environ: dict[str, Any], start_response: StartResponse) -> CountingGenerator:
        start_response("200 OK", [])
        return CountingGenerator(environ)

    async with serving(middleware(app)) as (_, addr):
        reader, writer = await asyncio.open_connection(*addr)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await asyncio.wait_for(reader.readuntil(b"partial\n"), HANG)
        writer.close()
        await until(lambda: bool(closes))
        await asyncio.sleep(0.05)
    assert closes == ["close"]


def test_sync_input_buffer_length() -> None:
    assert SynchronousInputMiddleware(echo_app({}), {}, "64").buffer_length == 64
    assert sync_input is SynchronousInputMiddleware
    with pytest.raises(ValueError):
        SynchronousInputMiddleware(echo_app({}), {}, "0")


# -- LazyStartResponseMiddleware -----------------------------------------------------------------


def tagging_app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
    """Start a response tagged with the request path, park until signalled, then answer."""
    path = environ["PATH_INFO"]
    start_response("200 OK", [("X-Req", path), ("Content-Type", "text/plain")])
    yield environ["cogen.core"].events.WaitForSignal("lazy-" + path, timeout=5)
    yield ("body of " + path).encode()


@pytest.mark.asyncio
async def test_lazy_sr_keeps_headers_per_request_under_concurrency() -> None:
    app = LazyStartResponseMiddleware(tagging_app, {})
    async with serving(app) as (client, _):
        paths = [f"/r{i}" for i in range(6)]
        requests = [asyncio.ensure_future(client.get(path)) for path in paths]
        await until(lambda: all(cogen_aio.ops.waiting_count("lazy-" + p) == 1 for p in paths))
        # Wake them in the reverse order they started: the last start_response is someone else's.
        for path in reversed(paths):
            signal("lazy-" + path)
            await asyncio.sleep(0)
        replies = await asyncio.gather(*requests)
    for path, reply in zip(paths, replies):
        # The original kept status and headers on the middleware: every request got the last
        # request's X-Req (cogen-api.md §15.10).
        assert reply.headers.get_list("x-req") == [path]
        assert reply.text == "body of " + path


@pytest.mark.asyncio
async def test_lazy_sr_sends_no_headers_while_parked() -> None:
    async def head_within(addr: Any, path: str, seconds: float) -> bytes:
        reader, writer = await asyncio.open_connection(*addr)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        try:
            return await asyncio.wait_for(reader.read(100), seconds)
        except asyncio.TimeoutError:
            return b""
        finally:
            writer.close()

    async with serving(lazy_sr(tagging_app)) as (_, addr):
        # Without the middleware the server commits the headers at the first park point.
        assert await head_within(addr, "/x", 0.2) == b""

    async with serving(tagging_app) as (_, addr):
        assert (await head_within(addr, "/y", HANG)).startswith(b"HTTP/1.1 200 OK")


@pytest.mark.asyncio
async def test_lazy_sr_lets_an_outer_session_middleware_add_its_cookie() -> None:
    """The chat example's stack: Beaker's SessionMiddleware outside lazy_sr. The app only touches
    the session after it was parked; Beaker adds the cookie in its start_response wrapper."""

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield environ["cogen.core"].events.Sleep(0.01)
        session = environ["beaker.session"]
        session["nick"] = environ["QUERY_STRING"]
        session.save()
        yield b"hello " + environ["QUERY_STRING"].encode()

    def stack(inner: Any) -> Any:
        return SessionMiddleware(inner, type="memory", key="sid", secret="s")

    async with serving(stack(lazy_sr(app))) as (client, _):
        reply = await client.get("/?ann")
        assert reply.text == "hello ann"
        assert "sid" in reply.cookies
        # The session really is there on the next request.
        again = await client.get("/?bob")
        assert again.status_code == 200

    async with serving(stack(app)) as (client, _):
        reply = await client.get("/?ann")
    assert reply.text == "hello ann"
    assert "set-cookie" not in reply.headers  # headers went out at the park point


@pytest.mark.asyncio
async def test_webob_request_app_behind_both_middlewares_with_streamed_input() -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        request = webob.Request(environ)
        name = request.POST["name"]
        start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
        yield environ["cogen.core"].events.Sleep(0.01)
        environ["beaker.session"]["name"] = name
        environ["beaker.session"].save()
        yield f"hi {name} ({request.content_length} bytes)".encode()

    stack = SessionMiddleware(lazy_sr(sync_input(app, buffer_length=5)), type="memory", key="k")
    async with serving(stack, stream_input=True) as (client, _):
        reply = await client.post("/", data={"name": "zoë", "pad": "x" * 50})
    sent = len("name=zo%C3%AB&pad=" + "x" * 50)
    assert reply.text == f"hi zoë ({sent} bytes)"
    assert "k" in reply.cookies


@pytest.mark.asyncio
async def test_lazy_sr_replays_write_data_before_the_first_chunk() -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        write = start_response("200 OK", [])
        write(b"one,")
        yield b""
        write(b"two,")
        yield b"three,"
        write(b"four,")  # the original dropped writes made after the first chunk
        yield b"five"

    async with serving(lazy_sr(app)) as (client, _):
        reply = await client.get("/")
    assert reply.content == b"one,two,three,four,five"


@pytest.mark.asyncio
async def test_lazy_sr_starts_at_the_end_when_only_empty_chunks_came() -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[Any]:
        write = start_response("204 No Content", [("X-Done", "yes")])
        yield b""
        yield None
        yield environ["cogen.core"].events.Sleep(0.01)

    def writing(environ: dict[str, Any], start_response: StartResponse) -> Iterator[Any]:
        write = start_response("200 OK", [])
        yield b""
        write(b"written")  # replayed when the real start_response is finally called

    async with serving(lazy_sr(app)) as (client, _):
        reply = await client.get("/")
        assert reply.status_code == 204 and reply.headers["x-done"] == "yes"
    async with serving(lazy_sr(writing)) as (client, _):
        assert (await client.get("/")).content == b"written"


@pytest.mark.asyncio
async def test_lazy_sr_does_not_start_on_an_operation_yielded_directly() -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[Any]:
        headers = [("X-First", "1")]
        start_response("200 OK", headers)
        yield Sleep(0.01)  # truthy, but a park point, not body
        headers.append(("X-Later", "2"))
        yield b"body"

    async with serving(lazy_sr(app)) as (client, _):
        reply = await client.get("/")
    assert reply.headers["x-later"] == "2" and reply.content == b"body"


@pytest.mark.asyncio
async def test_lazy_sr_exc_info_before_the_start_replaces_the_response(error_log: Any) -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [("X-Ok", "1")])
        yield b""
        try:
            raise ValueError("late failure")
        except ValueError:
            start_response("503 Service Unavailable", [("X-Err", "1")], sys.exc_info())
        yield b"sorry"

    async with serving(lazy_sr(app)) as (client, _):
        reply = await client.get("/")
    assert reply.status_code == 503
    assert reply.headers.get("x-err") == "1" and "x-ok" not in reply.headers
    assert reply.content == b"sorry"


@pytest.mark.asyncio
async def test_lazy_sr_closes_the_app_once_also_when_the_client_leaves() -> None:
    made: list[Closing] = []

    def chunks(environ: dict[str, Any]) -> Iterator[Any]:
        yield environ["cogen.core"].events.WaitForSignal("never-lazy", timeout=-1)
        yield b"unreachable"

    def app(environ: dict[str, Any], start_response: StartResponse) -> Closing:
        start_response("200 OK", [])
        made.append(Closing(chunks(environ)))
        return made[-1]

    async with serving(lazy_sr(app)) as (client, addr):
        assert made == []
        reader, writer = await asyncio.open_connection(*addr)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        await until(lambda: cogen_aio.ops.waiting_count("never-lazy") == 1)
        writer.close()
        await until(lambda: made[0].closed > 0)
        await asyncio.sleep(0.05)
        assert made[0].closed == 1

        done: list[Closing] = []

        def quick(environ: dict[str, Any], start_response: StartResponse) -> Closing:
            start_response("200 OK", [])
            done.append(Closing(iter([b"", b"x"])))
            return done[-1]

    async with serving(lazy_sr(quick)) as (client, _):
        assert (await client.get("/")).content == b"x"
    assert done[0].closed == 1


def test_lazy_sr_alias_and_paste_signature() -> None:
    assert lazy_sr is LazyStartResponseMiddleware
    assert LazyStartResponseMiddleware(tagging_app, {"here": "/"}).app is tagging_app
