"""The request body: wsgi.input (received whole first) and cogen.input (parked reads)."""

from __future__ import annotations

import logging
from typing import Any, Callable, Iterator

import pytest

from cogen_aio.ops import Sleep
from cogen_aio.wsgi.body import HIGH_WATER
from memory import Client, request, turns

pytestmark = pytest.mark.asyncio

StartResponse = Callable[..., Any]


def chunked(*pieces: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


def post(body: bytes = b"", headers: list[tuple[str, str]] | None = None) -> bytes:
    return request("POST", "/", headers or [], body)


def recorder(reads: Callable[[Any, list[Any]], None]) -> tuple[Callable[..., list[bytes]], list[Any]]:
    seen: list[Any] = []

    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        reads(environ["wsgi.input"], seen)
        seen.append(environ.get("CONTENT_LENGTH"))
        start_response("200 OK", [])
        return [b"ok"]

    return app, seen


# -- wsgi.input ----------------------------------------------------------------------------------


async def test_wsgi_input_read_readline_readlines_and_iteration() -> None:
    def reads(stream: Any, seen: list[Any]) -> None:
        seen.append(stream.read(3))
        seen.append(stream.readline())
        seen.append(stream.readline(2))
        seen.append(stream.readlines())
        seen.append(stream.read())
        seen.append(stream.readline())

    app, seen = recorder(reads)
    client = Client(app)
    await client.exchange(post(b"abcdef\nxyz\nlast\nend"))
    assert seen == [b"abc", b"def\n", b"xy", [b"z\n", b"last\n", b"end"], b"", b"", "19"]


async def test_wsgi_input_iteration_and_read_all() -> None:
    def reads(stream: Any, seen: list[Any]) -> None:
        seen.append(list(stream))

    app, seen = recorder(reads)
    await Client(app).exchange(post(b"one\ntwo\n"))
    assert seen == [[b"one\n", b"two\n"], "8"]

    def reads_all(stream: Any, seen: list[Any]) -> None:
        seen.append(stream.read())
        seen.append(stream.read(10))

    app, seen = recorder(reads_all)
    await Client(app).exchange(post(b"everything"))
    assert seen == [b"everything", b"", "10"]


async def test_wsgi_input_without_a_body_reads_empty() -> None:
    def reads(stream: Any, seen: list[Any]) -> None:
        seen.extend([stream.read(), stream.readline(), stream.readlines()])

    app, seen = recorder(reads)
    await Client(app).exchange(request())
    assert seen == [b"", b"", [], None]


async def test_chunked_request_body_is_decoded_and_gets_a_length() -> None:
    def reads(stream: Any, seen: list[Any]) -> None:
        seen.append(stream.read())

    app, seen = recorder(reads)
    client = Client(app)
    raw = request("POST", headers=[("Transfer-Encoding", "chunked")]) + chunked(b"hello ", b"world")
    await client.exchange(raw)
    assert seen == [b"hello world", "11"]


async def test_large_body_is_spooled_to_a_file() -> None:
    body = bytes(range(256)) * 40  # 10 KiB

    def reads(stream: Any, seen: list[Any]) -> None:
        seen.append(stream.read(100))
        seen.append(stream.readline())
        seen.append(len(stream.read()))

    app, seen = recorder(reads)
    client = Client(app, input_spool_size=1024)
    await client.exchange(post(body))
    first_newline = body.index(b"\n", 100) + 1
    assert seen[0] == body[:100]
    assert seen[1] == body[100:first_newline]
    assert seen[2] == len(body) - first_newline


async def test_body_over_the_limit_is_413() -> None:
    app, seen = recorder(lambda stream, seen: None)
    client = Client(app, limit_request_body=10)
    client.feed(post(b"x" * 11))
    reply = client.reply()
    assert reply.status == 413 and seen == []
    await client.wait_closed()


async def test_chunked_body_over_the_limit_is_413() -> None:
    app, seen = recorder(lambda stream, seen: None)
    client = Client(app, limit_request_body=10)
    client.feed(request("POST", headers=[("Transfer-Encoding", "chunked")]))
    client.feed(b"6\r\nxxxxxx\r\n")
    client.feed(b"6\r\nxxxxxx\r\n")
    assert client.reply().status == 413 and seen == []


async def test_app_is_called_once_the_body_is_complete() -> None:
    app, seen = recorder(lambda stream, seen: seen.append(stream.read()))
    client = Client(app)
    raw = post(b"0123456789")
    client.feed(raw[:-6])
    await turns()
    assert seen == []
    client.feed(raw[-6:])
    assert seen == [b"0123456789", "10"]


async def test_expect_100_continue_for_a_buffered_body() -> None:
    app, seen = recorder(lambda stream, seen: seen.append(stream.read()))
    client = Client(app)
    head = request("POST", headers=[("Expect", "100-continue"), ("Content-Length", "4")])
    client.feed(head)
    assert client.output == b"HTTP/1.1 100 Continue\r\n\r\n"
    client.feed(b"data")
    reply = client.reply("POST")
    assert reply.informational == [100] and reply.status == 200
    assert seen == [b"data", "4"]


async def test_body_timeout_is_408(error_log: pytest.LogCaptureFixture) -> None:
    app, seen = recorder(lambda stream, seen: None)
    client = Client(app, timeout_body=0.02)
    client.feed(post(b"0123456789")[:-3])
    await client.wait_closed(timeout=2)
    assert client.reply().status == 408 and seen == []


# -- cogen.input ----------------------------------------------------------------------------------


def reading_app(*steps: Callable[[dict[str, Any]], Any]) -> tuple[Callable[..., Any], list[Any]]:
    """An app that parks each step's read and records (result, exception class, read_count)."""
    seen: list[Any] = []

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[Any]:
        proxy = environ["cogen.wsgi"]
        seen.append(("content_length", proxy.content_length))
        for step in steps:
            yield step(environ["cogen.input"])
            exc = proxy.exception
            seen.append((proxy.result if exc is None else exc[0], proxy.read_count))
        start_response("200 OK", [])
        yield b"done"

    return app, seen


@pytest.mark.parametrize("stream_input", [False, True])
async def test_cogen_input_reads_are_bounded_by_the_body(stream_input: bool) -> None:
    app, seen = reading_app(
        lambda i: i.read(4),
        lambda i: i.readline(),
        lambda i: i.readline(3),
        lambda i: i.readlines(),
        lambda i: i.read(100),
        lambda i: i.read(),
        lambda i: i.readline(),
    )
    client = Client(app, stream_input=stream_input)
    await client.exchange(post(b"abcdef\nghijk\nlm\nno"))
    assert seen == [
        ("content_length", 18),
        (b"abcd", 4),
        (b"ef\n", 7),
        (b"ghi", 10),
        ([b"jk\n", b"lm\n", b"no"], 18),
        (b"", 18),
        (b"", 18),
        (b"", 18),
    ]


@pytest.mark.parametrize("stream_input", [False, True])
async def test_legacy_read_and_readline(stream_input: bool) -> None:
    app, seen = reading_app(
        lambda i: i.Read(3),
        lambda i: i.ReadLine(10),
        lambda i: i.ReadLine(3),
        lambda i: i.ReadLine(100),
        lambda i: i.Read(10),
    )
    client = Client(app, stream_input=stream_input)
    await client.exchange(post(b"abcde\nfghijkl\nz"))
    assert seen == [
        ("content_length", 15),
        (b"abc", 3),
        (b"de\n", 6),
        (OverflowError, 6),  # no newline within 3 bytes: an error; nothing is consumed
        (b"fghijkl\n", 14),
        (b"z", 15),
    ]


@pytest.mark.parametrize("length", [None, "0"])
async def test_content_length_is_none_when_absent_or_zero(length: str | None) -> None:
    app, seen = reading_app(lambda i: i.read(10))
    headers = [] if length is None else [("Content-Length", length)]
    await Client(app).exchange(request("POST", headers=headers))
    assert seen == [("content_length", None), (b"", 0)]


async def test_bodyless_requests_each_read_an_empty_body_of_their_own() -> None:
    """Requests without a body share one empty body: reads on several connections at once, and
    one after another on the same connection, each complete at once with nothing."""
    app, seen = reading_app(lambda i: i.read(), lambda i: i.readlines(), lambda i: i.readline(5))
    clients = [Client(app), Client(app)]
    for client in clients:
        client.feed(request())
    for client in clients:
        await client.wait(lambda client=client: client.replies())
    await clients[0].exchange(request())
    expected = [("content_length", None), (b"", 0), ([], 0), (b"", 0)]
    # The two concurrent requests' steps interleave; each gets the same outcomes.
    assert sorted(map(repr, seen)) == sorted(map(repr, expected * 3))
    assert seen[-4:] == expected


async def test_streamed_reads_wait_for_data_fed_after_the_app_parked() -> None:
    app, seen = reading_app(lambda i: i.read(6), lambda i: i.readline(), lambda i: i.read())
    client = Client(app, stream_input=True)
    client.feed(post(b"0123456789\nrest")[: -len(b"0123456789\nrest")])
    await turns()
    assert seen == [("content_length", 15)]  # called at once, parked on its first read
    for piece in (b"012", b"345", b"67", b"89\n", b"re", b"st"):
        client.feed(piece)
        await turns()
    await client.wait(lambda: client.replies("POST") and client.reply("POST").complete)
    assert seen[1:] == [(b"012345", 6), (b"6789\n", 11), (b"rest", 15)]


async def test_streamed_chunked_body() -> None:
    app, seen = reading_app(lambda i: i.readline(), lambda i: i.read())
    client = Client(app, stream_input=True)
    client.feed(request("POST", headers=[("Transfer-Encoding", "chunked")]))
    await turns()
    assert seen == [("content_length", None)]
    client.feed(b"4\r\nab\nc\r\n")
    await turns()
    client.feed(b"2\r\nde\r\n0\r\n\r\n")
    await client.wait(lambda: client.replies("POST") and client.reply("POST").complete)
    assert seen[1:] == [(b"ab\n", 3), (b"cde", 6)]


async def test_expect_100_continue_is_answered_at_the_first_read_not_before() -> None:
    started: list[bool] = []

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[Any]:
        started.append(True)
        yield environ["cogen.core"].events.Sleep(0.02)  # decide before asking for the body
        yield environ["cogen.input"].read(4)
        start_response("200 OK", [])
        yield environ["cogen.wsgi"].result

    client = Client(app, stream_input=True)
    client.feed(request("POST", headers=[("Expect", "100-continue"), ("Content-Length", "4")]))
    await turns()
    assert started == [True] and client.output == b""
    await client.wait_output(b"100 Continue")
    client.feed(b"body")
    await client.wait(lambda: client.replies("POST") and client.reply("POST").complete)
    reply = client.reply("POST")
    assert reply.informational == [100] and reply.body == b"body"


async def test_app_answering_without_reading_skips_100_continue_and_closes() -> None:
    """The client may never send a body it was not asked for (RFC 9110 §10.1.1): what follows
    could be that body or a new request, so the connection closes."""

    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        start_response("403 Forbidden", [])
        return [b"no"]

    client = Client(app, stream_input=True)
    client.feed(request("POST", headers=[("Expect", "100-continue"), ("Content-Length", "4")]))
    assert b"100 Continue" not in client.output
    reply = client.reply("POST")
    assert reply.status == 403 and reply.headers["connection"] == "close"
    assert client.closed


async def test_unread_body_is_drained_before_the_next_request() -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [])
        return [environ["REQUEST_METHOD"].encode()]

    client = Client(app, stream_input=True)
    client.feed(post(b"unread body")[:-4])
    client.feed(b"body" + request())
    await turns()
    assert [r.body for r in client.replies("POST", "GET")] == [b"POST", b"GET"]
    assert not client.closed


async def test_streamed_body_pauses_reading_above_the_high_water_mark() -> None:
    app, seen = reading_app(
        lambda i: i.read(10), lambda i: Sleep(0.05), lambda i: i.read()
    )
    client = Client(app, stream_input=True)
    size = HIGH_WATER * 3
    client.feed(post(b"x" * size)[:-size])
    await turns()
    client.feed(b"x" * (HIGH_WATER + 11))
    await turns()
    assert len(seen) == 2  # the first read is done, the app sleeps
    assert not client.transport.is_reading()  # nobody reads: stop taking more
    await client.wait(lambda: client.transport.is_reading())  # its next read resumes
    client.feed(b"x" * (size - HIGH_WATER - 11))
    await client.wait(lambda: client.replies("POST") and client.reply("POST").complete)
    assert seen[1] == (b"x" * 10, 10)
    assert seen[3] == (b"x" * (size - 10), size)


async def test_wsgi_input_with_stream_input_refuses_to_block() -> None:
    seen: list[str] = []

    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        try:
            environ["wsgi.input"].read()
        except BlockingIOError as exc:
            seen.append(str(exc))
        start_response("200 OK", [])
        return [b"ok"]

    client = Client(app, stream_input=True)
    client.feed(post(b"0123456789")[:-4])
    assert seen and "cogen.input" in seen[0]


async def test_client_gone_mid_body_fails_nothing_into_the_app() -> None:
    events: list[str] = []

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[Any]:
        try:
            yield environ["cogen.input"].read(10)
            events.append("resumed")
        finally:
            events.append("closed")

    client = Client(app, stream_input=True)
    client.feed(post(b"0123456789")[:-6])
    await turns()
    client.disconnect()
    await client.wait_lost()
    assert events == ["closed"]


async def test_streamed_body_timeout_gives_the_read_an_error_outcome(
    error_log: pytest.LogCaptureFixture,
) -> None:
    app, seen = reading_app(lambda i: i.read(10), lambda i: i.read(10))
    client = Client(app, stream_input=True, timeout_body=0.02)
    client.feed(post(b"0123456789")[:-6])
    await client.wait(lambda: len(seen) == 3, timeout=2)
    assert seen[1] == (b"0123", 4)  # what did arrive is not lost
    assert seen[2][0].__name__ == "BodyIncomplete"
    await client.wait_closed()
    assert client.reply("POST").headers["connection"] == "close"
    assert not [r for r in error_log.records if r.levelno >= logging.ERROR]


async def test_second_concurrent_read_is_an_error_outcome() -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[Any]:
        body = environ["cogen.input"]
        first = body.read(4)
        yield first
        start_response("200 OK", [])
        yield b"%r" % (environ["cogen.wsgi"].result,)

    client = Client(app, stream_input=True)
    reply = await client.exchange(post(b"abcd"), "POST")
    assert reply.body == b"b'abcd'"


async def test_read_all_of_a_large_streamed_body_arriving_in_pieces() -> None:
    """A read that needs more than the high-water mark keeps the socket read until it is done."""
    app, seen = reading_app(lambda i: i.read())
    client = Client(app, stream_input=True, timeout_body=1)
    size = HIGH_WATER * 4
    client.feed(post(b"y" * size)[:-size])
    await turns()
    for _ in range(size // 8192):
        assert client.transport.is_reading()
        client.feed(b"y" * 8192)
    await client.wait(lambda: client.replies("POST") and client.reply("POST").complete)
    assert seen[1] == (b"y" * size, size)


async def test_broken_chunked_framing_mid_stream_fails_the_read_and_closes() -> None:
    app, seen = reading_app(lambda i: i.read(3), lambda i: i.read())
    client = Client(app, stream_input=True)
    client.feed(request("POST", headers=[("Transfer-Encoding", "chunked")]) + b"3\r\nabc\r\n")
    await turns()
    client.feed(b"zz\r\nnot a chunk\r\n" + request())
    await client.wait_closed()
    assert seen[1] == (b"abc", 3)
    assert seen[2][0].__name__ == "BodyIncomplete"
    [reply] = client.replies("POST", "GET")  # the smuggled GET never reaches the app
    assert reply.headers["connection"] == "close"
