"""Slow, stalled and vanishing clients: every timer of a connection, and client disconnects."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

import pytest

from cogen_aio import ops

from .conftest import Recorder
from .wire import close, is_closed, read_head, read_response, read_to_eof, request, wait_for


async def served_meanwhile(running: Any) -> None:
    """Another client gets its answer while a slow one holds its connection."""
    reader, writer = await running.connect()
    writer.write(request(target="/other"))
    assert (await read_response(reader)).status == 200
    await close(writer)


@pytest.mark.asyncio
async def test_slowloris_head_gets_408_and_others_are_served(serve: Any, family: str) -> None:
    app = Recorder()
    running = await serve(app, family=family, timeout_header=0.5)
    reader, writer = await running.connect()
    writer.write(b"GET /slow HTTP/1.1\r\nHost: x\r\n")

    async def trickle() -> None:
        with contextlib.suppress(ConnectionError, OSError):
            for n in range(200):
                writer.write(b"X-%d: y\r\n" % n)
                await asyncio.sleep(0.05)

    trickling = asyncio.ensure_future(trickle())
    try:
        await served_meanwhile(running)
        response = await read_response(reader)
        assert response.status == 408
        assert response.header("connection") == "close"
        assert await is_closed(reader)
        assert [call["PATH_INFO"] for call in app.calls] == ["/other"]
    finally:
        trickling.cancel()
        with contextlib.suppress(BaseException):
            await trickling
        await close(writer)


@pytest.mark.asyncio
async def test_silent_connection_is_closed_without_a_response(serve: Any) -> None:
    running = await serve(Recorder(), timeout_header=0.3)
    reader, writer = await running.connect()
    assert await read_to_eof(reader) == b""
    await wait_for(lambda: not running.connections)
    await close(writer)


@pytest.mark.asyncio
async def test_idle_keep_alive_connection_is_closed(serve: Any, family: str) -> None:
    running = await serve(Recorder(), family=family, timeout_keep_alive=0.3)
    reader, writer = await running.connect()
    writer.write(request())
    assert (await read_response(reader)).status == 200
    # Nothing more is sent: the server closes quietly (RFC 9112 §9.5), no 408.
    assert await read_to_eof(reader) == b""
    await wait_for(lambda: not running.connections)
    await close(writer)


@pytest.mark.asyncio
async def test_keep_alive_timer_becomes_header_timer(serve: Any) -> None:
    """A second request that starts but never finishes is cut by the header timeout."""
    running = await serve(Recorder(), timeout_keep_alive=5, timeout_header=0.3)
    reader, writer = await running.connect()
    writer.write(request())
    assert (await read_response(reader)).status == 200
    writer.write(b"GET /half HTTP/1.1\r\n")
    response = await read_response(reader)
    assert response.status == 408
    await close(writer)


@pytest.mark.asyncio
@pytest.mark.parametrize("chunked", [False, True])
async def test_stalled_body_gets_408(serve: Any, family: str, chunked: bool) -> None:
    app = Recorder()
    running = await serve(app, family=family, timeout_body=0.3)
    reader, writer = await running.connect()
    if chunked:
        writer.write(request("POST", "/", [("Host", "x"), ("Transfer-Encoding", "chunked")],
                             b"a\r\n012"))
    else:
        writer.write(request("POST", "/", [("Host", "x"), ("Content-Length", "10")], b"012"))
    await served_meanwhile(running)
    response = await read_response(reader)
    assert response.status == 408
    assert response.header("connection") == "close"
    assert await is_closed(reader)
    assert [call["PATH_INFO"] for call in app.calls] == ["/other"]
    await close(writer)


@pytest.mark.asyncio
async def test_slow_but_moving_body_is_fine(serve: Any) -> None:
    """timeout_body is a gap between pieces, not a total."""
    app = Recorder()
    running = await serve(app, timeout_body=0.3)
    reader, writer = await running.connect()
    writer.write(request("POST", "/", [("Host", "x"), ("Content-Length", "8")]))
    for byte in b"abcdefgh":
        await asyncio.sleep(0.1)
        writer.write(bytes([byte]))
    assert (await read_response(reader)).status == 200
    assert app.last["body"] == b"abcdefgh"
    await close(writer)


@pytest.mark.asyncio
async def test_client_that_stops_reading_is_aborted(serve: Any, family: str, logs: Any) -> None:
    closed: list[bool] = []

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        if environ["PATH_INFO"] == "/other":
            start_response("200 OK", [])
            yield b"ok"
            return
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        block = b"x" * 65536
        try:
            while True:
                yield block
        finally:
            closed.append(True)

    running = await serve(app, family=family, timeout_write=0.3)
    reader, writer = await running.connect()
    sock = writer.get_extra_info("socket")
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    writer.write(request(target="/stream"))
    # Never read: the server's buffers fill, then the write deadline aborts the connection.
    await wait_for(lambda: closed)
    await served_meanwhile(running)
    await wait_for(lambda: len(running.connections) == 0)
    assert any("stopped reading" in message for message in logs.messages())
    await close(writer)


# -- the client goes away while its request is parked ---------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("how", ["close", "reset", "half-close"])
@pytest.mark.parametrize("headers_first", [False, True])
async def test_disconnect_while_parked_closes_the_app(
    serve: Any, family: str, how: str, headers_first: bool
) -> None:
    finished: list[str] = []
    name = f"parked-{how}-{headers_first}-{family}"

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        try:
            if headers_first:
                start_response("200 OK", [("Content-Type", "text/plain")])
            yield environ["cogen.core"].events.WaitForSignal(name)
            if not headers_first:
                start_response("200 OK", [])
            yield b"never sent"
        finally:
            finished.append("finally")

    running = await serve(app, family=family)
    reader, writer = await running.connect()
    writer.write(request())
    if headers_first:
        # The comet head goes out before the wait.
        assert (await read_head(reader)).status == 200
    await wait_for(lambda: running.server.parked_operations())
    assert ops.waiting_count(name) == 1
    if how == "half-close":
        writer.write_eof()
    elif how == "reset":
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        writer.transport.abort()
    else:
        writer.close()
    await wait_for(lambda: finished)
    assert finished == ["finally"]
    assert running.server.parked_operations() == []
    assert ops.waiting_count(name) == 0
    await wait_for(lambda: not running.connections)
    # A later signal finds nobody to wake.
    assert ops.signal(name, "late") == 0
    await close(writer)
