"""The in-memory transport: flow control, sendfile, a client that resets."""

from __future__ import annotations

import os
import tempfile
from typing import Any

import pytest

from cogen_aio.testing import wait_until

from .apps import StartResponse, app, closed

aio = pytest.mark.asyncio


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
    assert closed == ["/wait"]
