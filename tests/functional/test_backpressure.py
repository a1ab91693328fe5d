"""Flow control both ways: a slow reader does not make the server buffer the whole response, and
an app that does not read its upload makes the server stop reading the socket."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from cogen_aio import ops

from .wire import HANG, close, read_head, read_response, request, wait_for

MB = 1024 * 1024


@pytest.mark.asyncio
async def test_slow_reader_bounds_the_write_buffer(serve: Any, family: str) -> None:
    total = 50 * MB
    produced = 0

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        nonlocal produced
        start_response("200 OK", [("Content-Length", str(total))])
        block = b"z" * 65536
        while produced < total:
            produced += len(block)
            yield block

    running = await serve(app, family=family)
    reader, writer = await running.connect()
    writer.write(request())
    head = await read_head(reader)
    assert head.header("content-length") == str(total)
    (conn,) = running.connections
    received = 0
    largest_buffer = 0
    ahead = 0
    while received < total:
        data = await asyncio.wait_for(reader.read(256 * 1024), HANG)
        assert data
        received += len(data)
        if conn.transport is not None:
            largest_buffer = max(largest_buffer, conn.transport.get_write_buffer_size())
        ahead = max(ahead, produced - received)
        await asyncio.sleep(0.002)  # a reader slower than the producer
    assert received == total
    # The server holds at most a few flushes beyond the transport's high-water mark, and the
    # app is never more than that plus the kernel's socket buffers ahead of the client: the rest
    # of the 50 MB waits in the app until the client catches up.
    assert largest_buffer < 2 * MB
    assert ahead < 16 * MB
    await close(writer)


@pytest.mark.asyncio
async def test_unread_upload_pauses_reading(serve: Any, family: str) -> None:
    name = f"go-{family}"

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        # Park without reading the body.
        yield environ["cogen.core"].events.WaitForSignal(name)
        total = 0
        while True:
            environ["cogen.input"].read(65536)
            yield b""
            chunk = environ["cogen.wsgi"].result
            if not chunk:
                break
            total += len(chunk)
        start_response("200 OK", [])
        yield str(total).encode()

    size = 20 * MB
    running = await serve(app, family=family, stream_input=True)
    reader, writer = await running.connect()
    writer.write(request("POST", "/", [("Host", "x"), ("Content-Length", str(size))]))

    async def upload() -> None:
        block = b"u" * 65536
        for _ in range(size // len(block)):
            writer.write(block)
            await writer.drain()

    uploading = asyncio.ensure_future(upload())
    try:
        await wait_for(lambda: running.server.parked_operations())
        (conn,) = running.connections
        await wait_for(lambda: not conn.transport.is_reading())
        # Paused at the high-water mark: the server holds a bounded part of the upload.
        assert conn.body.available() < 1 * MB
        await asyncio.sleep(0.05)
        assert not conn.transport.is_reading()
        assert not uploading.done()  # the client is blocked by TCP flow control
        assert ops.signal(name) == 1
        await asyncio.wait_for(uploading, HANG)
        response = await read_response(reader)
        assert response.status == 200
        assert response.body == str(size).encode()
    finally:
        uploading.cancel()
        with contextlib.suppress(BaseException):
            await uploading
        await close(writer)
