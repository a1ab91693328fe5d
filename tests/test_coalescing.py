"""Responses leave once per turn of the loop (cogen_aio.coalescing), in order, and never later
than that turn, whatever closes or aborts the connection meanwhile."""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Iterator

import pytest

from cogen_aio import coalescing
from cogen_aio.ops import Signal, WaitForSignal
from memory import Client, parse, request

StartResponse = Callable[..., Any]


def hello(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [environ["PATH_INFO"].encode()]


@pytest.mark.asyncio
async def test_pipelined_responses_leave_together_in_order() -> None:
    client = Client(hello)
    client.feed(request(target="/a") + request(target="/b") + request(target="/c"))
    assert client.transport.writes == []
    await asyncio.sleep(0)
    [written] = client.transport.writes
    assert [reply.body for reply in parse(written, ("GET",) * 3)] == [b"/a", b"/b", b"/c"]


@pytest.mark.asyncio
async def test_each_turn_flushes_what_it_produced() -> None:
    client = Client(hello)
    client.feed(request(target="/first"))
    await asyncio.sleep(0)
    client.feed(request(target="/second"))
    await asyncio.sleep(0)
    first, second = client.transport.writes
    assert parse(first, ("GET",))[0].body == b"/first"
    assert parse(second, ("GET",))[0].body == b"/second"


@pytest.mark.asyncio
async def test_a_large_response_is_not_held() -> None:
    body = b"x" * coalescing.LIMIT

    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [])
        return [body]

    client = Client(app)
    client.feed(request())
    # Written from inside the request's handling, so flow control sees it at once.
    assert len(client.transport.writes) == 1
    assert client.reply().body == body


@pytest.mark.asyncio
async def test_held_bytes_go_before_a_large_write() -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [])
        return [b"x" * coalescing.LIMIT] if environ["PATH_INFO"] == "/big" else [b"small"]

    client = Client(app)
    client.feed(request(target="/small") + request(target="/big"))
    small, big = parse(b"".join(client.transport.writes), ("GET", "GET"))
    assert small.body == b"small" and big.body == b"x" * coalescing.LIMIT


@pytest.mark.asyncio
async def test_held_response_is_written_before_the_close() -> None:
    client = Client(hello)
    client.feed(request(target="/last", headers=[("Connection", "close")]))
    # Closing hands the held response to the transport first; nothing is written after.
    assert client.transport.closed
    [reply] = parse(b"".join(client.transport.writes), ("GET",), closed=True)
    assert reply.body == b"/last" and reply.headers["connection"] == "close"
    await asyncio.sleep(0)
    assert len(client.transport.writes) == 1


@pytest.mark.asyncio
async def test_error_response_follows_the_held_one() -> None:
    client = Client(hello)
    client.feed(request(target="/ok") + b"GET / HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n")
    ok, error = parse(b"".join(client.transport.writes), ("GET", "GET"), closed=True)
    assert ok.status == 200 and ok.body == b"/ok"
    assert error.status == 400


@pytest.mark.asyncio
async def test_a_vanished_client_gets_nothing_after_its_abort() -> None:
    client = Client(hello)
    client.feed(request())
    client.disconnect()
    await asyncio.sleep(0)
    assert client.transport.writes == []


@pytest.mark.asyncio
async def test_parked_requests_woken_together_leave_in_one_turn() -> None:
    def waiter(environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        environ["cogen.wsgi"].operation = WaitForSignal("news")
        yield b""
        start_response("200 OK", [])
        yield environ["cogen.wsgi"].result

    clients = [Client(waiter) for _ in range(3)]
    for client in clients:
        client.feed(request())
    await asyncio.sleep(0.01)
    assert all(client.transport.writes == [] for client in clients)

    await Signal("news", b"news")
    for _ in range(3):
        await asyncio.sleep(0)
    for client in clients:
        assert len(client.transport.writes) == 1
        assert client.reply().body == b"news"
