"""The ported examples of the original documentation, served for real."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from examples import hello, read_input, wait_signal


@pytest.mark.asyncio
async def test_hello(cogen_client: Any) -> None:
    client = await cogen_client(hello.app)
    reply = await client.get("/")
    assert (reply.status, reply.text) == (200, "Hello, world!")
    assert reply.headers["content-length"] == "13"


@pytest.mark.asyncio
async def test_wait_signal_wakes_the_waiter_with_the_escaped_path(cogen_client: Any) -> None:
    waiter = await cogen_client(wait_signal.app)
    sender = await cogen_client(waiter.server)
    async with waiter.stream("GET", "/wait") as response:
        # The first line reaches the browser before the wait (headers and chunk sent at the park).
        assert await response.next_chunk() == b"I'm waiting for some signal<br>"
        await waiter.server.wait_parked()
        sent = await sender.get("/send/hello")
        assert sent.text == "Woke 1 waiter(s) with &#x27;/hello&#x27;"
        rest = await response.read()
    assert rest.endswith(b"Someone signaled me with this message: &#x27;/hello&#x27;")


@pytest.mark.asyncio
@pytest.mark.cogen(clock="virtual")
async def test_wait_signal_times_out_after_five_seconds(cogen_client: Any, cogen_clock: Any) -> None:
    client = await cogen_client(wait_signal.app)
    reply = await client.get("/wait")
    assert reply.text == "I'm waiting for some signal<br>Your time is up !"
    assert cogen_clock.elapsed == pytest.approx(5)


@pytest.mark.asyncio
@pytest.mark.parametrize("stream_input", [False, True])
async def test_read_input_reads_the_whole_body_in_parked_reads(
    cogen_client: Any, stream_input: bool
) -> None:
    body = bytes(range(256)) * 100  # 25,600 bytes: four 8 KiB reads and the empty one
    client = await cogen_client(read_input.app, server_kwargs={"stream_input": stream_input})
    reply = await client.post("/", body=body)
    assert reply.text == "read 25600 bytes in 5 parked reads"


@pytest.mark.asyncio
async def test_read_input_with_a_body_sent_in_pieces(cogen_client: Any) -> None:
    async def pieces() -> Any:
        for _ in range(3):
            yield b"x" * 5000
            await asyncio.sleep(0.01)

    client = await cogen_client(read_input.app, server_kwargs={"stream_input": True})
    reply = await client.post("/", body=pieces())
    assert reply.text.startswith("read 15000 bytes in ")
