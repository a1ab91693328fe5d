"""Connection: raw bytes in and out, malformed requests, the server closing."""

from __future__ import annotations

from typing import Any

import pytest

from cogen_aio.testing import ServerDisconnected, build_request

from .apps import StartResponse, app

aio = pytest.mark.asyncio


@aio
async def test_raw_bytes_and_a_malformed_request(cogen_server: Any, transport: str) -> None:
    server = await cogen_server(app, transport=transport)
    conn = await server.connect()
    await conn.send(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
    reply = await conn.read_response()
    assert reply.status == 400 and b"Content-Length" in reply.body
    assert reply.raw.startswith(b"HTTP/1.1 400 ") and reply.raw.endswith(reply.body)
    assert await conn.read_to_eof() == b"" and conn.closed


def hello(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
    start_response("200 OK", [("Content-Length", "11")])
    return [b"hello world"]


@aio
async def test_reading_raw_bytes(cogen_server: Any) -> None:
    server = await cogen_server(hello, transport="memory")
    conn = await server.connect()
    await conn.send_request("GET", "/")
    assert (await conn.read_until(b"\r\n\r\n")).startswith(b"HTTP/1.1 200 OK\r\n")
    assert await conn.read_exactly(5) == b"hello"
    assert await conn.read_until(b"world") == b" world"
    await conn.send_request("GET", "/", {"Connection": "close"})
    received = b""
    while not conn.closed:
        received += await conn.receive()
    assert received.startswith(b"HTTP/1.1 200 OK\r\n") and received.endswith(b"\r\nhello world")
    assert await conn.receive() == b""
    with pytest.raises(ServerDisconnected):
        await conn.read_exactly(1)
    with pytest.raises(ServerDisconnected):
        await conn.read_until(b"\n")


@aio
async def test_server_closed_connection_is_reported(cogen_server: Any) -> None:
    server = await cogen_server(app, transport="memory", timeout_header=0.01)
    conn = await server.connect()
    await conn.wait_closed()
    with pytest.raises(ServerDisconnected):
        await conn.read_response()


def test_build_request_leaves_malformed_input_alone() -> None:
    assert build_request("GET", "/", version="1.0") == b"GET / HTTP/1.0\r\n\r\n"
    assert build_request("POST", "/", {"Host": "h"}, b"ab") == (
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nab"
    )
