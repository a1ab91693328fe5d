"""Client: keep-alive reuse, streaming, pipelining, 100-continue, retries, subclasses."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import cogen_aio
from cogen_aio.ops import WaitForSignal
from cogen_aio.testing import Client, build_request, wait_until

from .apps import app, closed

aio = pytest.mark.asyncio


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
async def test_a_request_on_a_connection_the_server_closed_is_sent_again(
    cogen_client: Any, transport: str
) -> None:
    client = await cogen_client(
        app, server_kwargs={"transport": transport, "timeout_keep_alive": 0.05}
    )
    await client.get("/")
    await client.server.wait_idle()  # closed for idleness; the client has not noticed yet
    assert (await client.get("/again")).body == b"GET /again"


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
