"""LiveServer: by hand (what a module-scoped fixture does), and through httpx."""

from __future__ import annotations

import os
from typing import Any

import pytest

from cogen_aio.testing import Client, LiveServer

from .apps import app

aio = pytest.mark.asyncio


@aio
async def test_live_server_as_context_manager(transport: str) -> None:
    async with LiveServer(app, transport=transport) as server:
        async with Client(server) as client:
            assert (await client.get("/")).body == b"GET /"
        assert server.url.startswith("http://")
    assert server.closed
    if transport == "unix":
        assert server.path is not None and not os.path.exists(server.path)


@aio
async def test_httpx_client_on_every_transport(cogen_httpx: Any, transport: str) -> None:
    client = await cogen_httpx(app, server_kwargs={"transport": transport})
    reply = await client.post("/x", content=b"!")
    assert reply.status_code == 200 and reply.text == "POST /x!"
