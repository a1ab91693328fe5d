"""One HTTP/1.1 connection over the in-memory transport: cycles, pipelining, flow control, limits
(the timers are in test_protocol_timers.py).

Every test runs once per request parser (the ``http_parser`` fixture): the connection logic, and
what is accepted or refused, must not depend on it.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Iterator

import pytest

import cogen_aio
from cogen_aio import ops
from cogen_aio.ops import WaitForSignal
from cogen_aio.protocol import PIPELINE_BUFFER
from memory import Client, request, turns

pytestmark = [pytest.mark.asyncio, pytest.mark.usefixtures("http_parser")]

StartResponse = Callable[..., Any]


def echo_path(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [environ["PATH_INFO"].encode()]


def slow_or_fast(environ: dict[str, Any], start_response: StartResponse) -> Iterator[Any]:
    start_response("200 OK", [])
    if environ["PATH_INFO"] == "/slow":
        yield WaitForSignal("slow")
    yield environ["PATH_INFO"].encode()


# -- request cycles ------------------------------------------------------------------------------


async def test_keep_alive_cycles() -> None:
    client = Client(echo_path)
    for i in range(3):
        reply = await client.exchange(request(target=f"/{i}"))
        assert reply.body == f"/{i}".encode() and reply.keep_alive
    assert client.state.requests == 3 and not client.closed


async def test_connection_close_is_honoured_whatever_its_case() -> None:
    client = Client(echo_path)
    client.feed(request(headers=[("Connection", "Close")]) + request(target="/ignored"))
    await client.wait_lost()
    [reply] = client.replies("GET", "GET")
    assert reply.headers["connection"] == "close"


async def test_http10_closes_by_default() -> None:
    client = Client(echo_path)
    client.feed(request(version="1.0"))
    await client.wait_lost()
    assert client.reply().headers["connection"] == "close"


async def test_pipelined_requests_are_answered_in_order() -> None:
    client = Client(slow_or_fast)
    client.feed(request(target="/slow"))
    await turns()
    assert client.transport.is_reading()  # parked, nothing buffered: still watching the socket
    client.feed(request(target="/fast") + request(target="/fast2"))
    # A few requests waiting their turn: reading goes on so a departure is noticed.
    assert client.transport.is_reading()
    await turns()
    assert b"/fast" not in client.output
    assert cogen_aio.signal("slow") == 1
    await client.wait(lambda: len(client.replies("GET", "GET", "GET")) == 3)
    assert [r.body for r in client.replies("GET", "GET", "GET")] == [b"/slow", b"/fast", b"/fast2"]
    assert client.transport.is_reading()


async def test_reading_pauses_when_much_is_pipelined_behind_a_parked_request() -> None:
    client = Client(slow_or_fast)
    client.feed(request(target="/slow"))
    await turns()
    backlog = b"".join(request(target=f"/fast{i}") for i in range(PIPELINE_BUFFER // 30))
    assert len(backlog) > PIPELINE_BUFFER
    client.feed(backlog)
    assert not client.transport.is_reading()
    assert cogen_aio.signal("slow") == 1
    count = 1 + PIPELINE_BUFFER // 30
    await client.wait(lambda: len(client.replies(*["GET"] * count)) == count)
    assert client.transport.is_reading()


async def test_a_client_leaving_with_requests_pipelined_behind_a_parked_one_is_noticed() -> None:
    closed: list[str] = []

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[Any]:
        start_response("200 OK", [])
        try:
            yield WaitForSignal("never")
        finally:
            closed.append(environ["PATH_INFO"])

    client = Client(app)
    client.feed(request(target="/parked") + request(target="/behind"))
    await turns()
    client.eof()
    await turns()
    assert closed == ["/parked"]
    assert ops.waiting_count("never") == 0


async def test_pipelined_burst_in_one_read() -> None:
    client = Client(echo_path)
    client.feed(b"".join(request(target=f"/{i}") for i in range(5)))
    await turns()
    assert [r.body for r in client.replies(*["GET"] * 5)] == [f"/{i}".encode() for i in range(5)]


async def test_request_split_byte_by_byte() -> None:
    client = Client(echo_path)
    for byte in request(target="/split", body=b"xy"):
        client.feed(bytes([byte]))
    assert client.reply().body == b"/split"


async def test_eof_while_a_request_is_in_flight_is_a_disconnect() -> None:
    closed: list[str] = []

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[Any]:
        start_response("200 OK", [])
        try:
            yield WaitForSignal("eof")
        finally:
            closed.append("closed")

    client = Client(app)
    client.feed(request())
    await turns()
    # Returning a false value from eof_received tells the transport to close itself.
    assert not client.protocol.eof_received()
    client.transport.close()
    await client.wait_lost()
    assert closed == ["closed"] and ops.waiting_count("eof") == 0


async def test_eof_between_requests_closes() -> None:
    client = Client(echo_path)
    await client.exchange(request())
    client.eof()
    await client.wait_closed()
    assert client.closed


# -- flow control --------------------------------------------------------------------------------


async def test_write_flow_control_pauses_the_app() -> None:
    produced: list[int] = []

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [])
        for i in range(8):
            produced.append(i)
            yield b"x" * 40_000

    client = Client(app)
    client.transport.full = True
    client.feed(request())
    await turns()
    assert produced == []  # the send buffer is full: nothing is produced
    client.transport.high_water = 100_000
    client.transport.drain()
    await client.wait(lambda: client.transport.full)
    await turns()
    stopped_at = len(produced)
    assert 0 < stopped_at < 8  # stopped producing when the buffer filled up
    while not (client.replies() and client.reply().complete):
        client.transport.drain()
        await turns()
    assert produced == list(range(8)) and len(client.reply().body) == 320_000


# -- bad requests --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, status",
    [
        (b"NOT A REQUEST\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n\r\n", 400),  # no Host
        (b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"GET /#frag HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ],
)
async def test_malformed_requests_get_400_and_close(raw: bytes, status: int) -> None:
    seen: list[str] = []

    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        seen.append("called")
        start_response("200 OK", [])
        return []

    client = Client(app)
    client.feed(raw + request())
    await client.wait_closed()
    reply = client.reply()
    assert reply.status == status and reply.headers["connection"] == "close"
    assert seen == []
    assert b"Traceback" not in client.output


async def test_body_larger_than_the_limit_is_413() -> None:
    client = Client(echo_path, limit_request_body=100)
    client.feed(request("POST", headers=[("Content-Length", "101")]))
    await client.wait_closed()
    assert client.reply().status == 413


async def test_long_request_line_is_414() -> None:
    client = Client(echo_path, h11_max_incomplete_event_size=1024)
    client.feed(b"GET /" + b"a" * 2000)
    await client.wait_closed()
    assert client.reply().status == 414


async def test_large_headers_are_431() -> None:
    client = Client(echo_path, h11_max_incomplete_event_size=1024)
    client.feed(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 2000)
    await client.wait_closed()
    assert client.reply().status == 431


async def test_large_head_arriving_whole_is_refused_too() -> None:
    client = Client(echo_path, h11_max_incomplete_event_size=1024)
    client.feed(request(headers=[("X-Big", "a" * 2000)]))
    await client.wait_closed()
    assert client.reply().status == 431


async def test_unsupported_http_version_is_505() -> None:
    client = Client(echo_path)
    client.feed(b"GET / HTTP/2.0\r\nHost: x\r\n\r\n")
    await client.wait_closed()
    assert client.reply().status in (400, 505)


async def test_error_responses_linger_before_closing() -> None:
    client = Client(echo_path)
    client.feed(b"NOT A REQUEST\r\n\r\n")
    assert client.transport.eof_written and not client.transport.closed
    client.feed(b"more garbage is discarded")
    assert len(client.replies()) == 1


async def test_limit_concurrency_answers_503() -> None:
    first = Client(slow_or_fast, limit_concurrency=1)
    second = Client(slow_or_fast, state=first.state)
    first.feed(request(target="/slow"))
    second.feed(request(target="/fast"))
    assert second.reply().status == 503
    cogen_aio.signal("slow")
    await first.wait(lambda: first.replies() and first.reply().complete)


# -- logging and shutdown ------------------------------------------------------------------------


async def test_access_log_line(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="cogen_aio.access"):
        client = Client(echo_path, access_log=True)
        client.feed(request(target="/logged?q=1"))
    [record] = [r for r in caplog.records if r.name == "cogen_aio.access"]
    assert '"GET /logged?q=1 HTTP/1.1" 200 7' in record.getMessage()


async def test_shutdown_closes_an_idle_connection_and_finishes_a_busy_one() -> None:
    idle = Client(echo_path)
    await idle.exchange(request())
    idle.protocol.shutdown()
    await idle.wait_lost()

    busy = Client(slow_or_fast)
    busy.feed(request(target="/slow"))
    await turns()
    busy.protocol.shutdown()
    assert not busy.closed
    cogen_aio.signal("slow")
    await busy.wait_lost()
    reply = busy.reply()
    assert reply.body == b"/slow" and reply.complete  # headers went out before the shutdown


async def test_connections_are_registered_and_released() -> None:
    client = Client(echo_path)
    assert client.state.connections == {client.protocol}
    client.disconnect()
    await client.wait_lost()
    assert client.state.connections == set()


async def test_unread_body_beyond_the_drain_limit_closes() -> None:
    from cogen_aio.protocol import DRAIN_LIMIT

    client = Client(echo_path, stream_input=True)
    size = DRAIN_LIMIT * 2
    client.feed(request("POST", headers=[("Content-Length", str(size))]))
    assert client.reply("POST").body == b"/"
    for _ in range(0, DRAIN_LIMIT + 65536, 65536):
        if client.closed:
            break
        client.feed(b"x" * 65536)
    await client.wait_closed()


# -- what the parser decides, the same with either ---------------------------------------------


async def test_upgrade_offer_is_answered_as_a_plain_request_then_closed() -> None:
    """No protocol switch is supported: the app answers the request as any other, and since
    the client may already be speaking the protocol it offered, nothing after it is read."""
    client = Client(echo_path)
    client.feed(
        request(headers=[("Connection", "Upgrade"), ("Upgrade", "websocket")])
        + request(target="/after")
    )
    await client.wait_lost()
    [reply] = client.replies("GET", "GET")
    assert reply.status == 200 and reply.body == b"/"


async def test_request_pipelined_behind_connection_close_is_never_served() -> None:
    """RFC 9112 §9.6: no further request is processed after one with Connection: close, even
    while that one is still parked."""
    client = Client(slow_or_fast)
    close = request(target="/slow", headers=[("Connection", "close")])
    client.feed(close + request(target="/fast"))
    await turns()
    assert cogen_aio.signal("slow") == 1
    await client.wait_lost()
    [reply] = client.replies("GET", "GET")
    assert reply.body == b"/slow" and reply.headers["connection"] == "close"


async def test_http10_keep_alive_pipelining() -> None:
    client = Client(echo_path)
    client.feed(
        request(target="/1", headers=[("Connection", "keep-alive")], version="1.0")
        + request(target="/2", version="1.0")
    )
    await client.wait_lost()
    first, second = client.replies("GET", "GET")
    assert (first.body, first.headers["connection"]) == (b"/1", "keep-alive")
    assert (second.body, second.headers["connection"]) == (b"/2", "close")


async def test_chunked_body_with_trailers_split_byte_by_byte() -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [])
        return [environ["wsgi.input"].read(), environ.get("HTTP_X_TRAILER", "-").encode()]

    client = Client(app)
    raw = request(
        "POST",
        headers=[("Transfer-Encoding", "chunked")],
        body=b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n",
    )
    for byte in raw:
        client.feed(bytes([byte]))
    await client.wait(lambda: client.replies("POST") and client.reply("POST").complete)
    assert client.reply("POST").body == b"abcde-"
    assert not client.closed
