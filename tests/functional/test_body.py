"""Request bodies over real sockets: chunked decoding, 100-continue, unread bodies, limits."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from .conftest import Recorder
from .wire import HANG, close, is_closed, read_head, read_response, read_to_eof, request

CHUNKED = [("Host", "x"), ("Transfer-Encoding", "chunked")]


async def send_slowly(writer: asyncio.StreamWriter, pieces: list[bytes]) -> None:
    for piece in pieces:
        writer.write(piece)
        await writer.drain()
        await asyncio.sleep(0.01)


# -- chunked request bodies ---------------------------------------------------------------------


@pytest.mark.asyncio
async def test_chunked_body_is_decoded_for_the_app(serve: Any, family: str) -> None:
    app = Recorder()
    running = await serve(app, family=family)
    reader, writer = await running.connect()
    body = b"5\r\nhello\r\n1;name=value;other\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: yes\r\n\r\n"
    writer.write(request("POST", "/upload", CHUNKED, body))
    response = await read_response(reader)
    assert response.status == 200
    seen = app.last
    assert seen["body"] == b"hello world"
    assert seen["CONTENT_LENGTH"] == "11"
    assert seen["wsgi.input_terminated"] is True
    assert seen["HTTP_TRANSFER_ENCODING"] == "chunked"
    assert "HTTP_X_TRAILER" not in seen  # trailers are not merged into the environ
    # The connection is still good.
    writer.write(request())
    assert (await read_response(reader)).status == 200
    await close(writer)


@pytest.mark.asyncio
async def test_chunked_body_split_across_packets(serve: Any) -> None:
    app = Recorder()
    running = await serve(app)
    reader, writer = await running.connect()
    raw = request("POST", "/", CHUNKED, b"a\r\n0123456789\r\n3\r\nabc\r\n0\r\n\r\n")
    await send_slowly(writer, [raw[i : i + 7] for i in range(0, len(raw), 7)])
    assert (await read_response(reader)).status == 200
    assert app.last["body"] == b"0123456789abc"
    assert app.last["CONTENT_LENGTH"] == "13"
    await close(writer)


@pytest.mark.asyncio
async def test_large_chunked_body_is_spooled_and_read_whole(serve: Any) -> None:
    app = Recorder()
    running = await serve(app, input_spool_size=1000)
    reader, writer = await running.connect()
    payload = bytes(range(256)) * 400  # 100 KiB, above the spool size
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(payload[i : i + 3000]), payload[i : i + 3000])
        for i in range(0, len(payload), 3000)
    )
    writer.write(request("POST", "/", CHUNKED, chunks + b"0\r\n\r\n"))
    assert (await read_response(reader)).status == 200
    assert app.last["body"] == payload
    assert app.last["CONTENT_LENGTH"] == str(len(payload))
    await close(writer)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "size_line",
    [b"0x5", b"-1", b"+5", b"5 5", b"1" * 21, b"zz", b""],
    ids=["0x-prefix", "negative", "plus", "space-inside", "21-hex-digits", "not-hex", "empty"],
)
async def test_bad_chunk_size_is_refused(serve: Any, size_line: bytes) -> None:
    app = Recorder()
    running = await serve(app)
    reader, writer = await running.connect()
    writer.write(request("POST", "/", CHUNKED, size_line + b"\r\nhello\r\n0\r\n\r\n"))
    response = await read_response(reader)
    assert response.status == 400
    assert response.header("connection") == "close"
    assert await is_closed(reader)
    assert not app.called
    await close(writer)


# -- Expect: 100-continue -------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("stream_input", [False, True])
async def test_expect_100_continue(serve: Any, family: str, stream_input: bool) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        if stream_input:
            environ["cogen.input"].read()
            yield b""
            body = environ["cogen.wsgi"].result
        else:
            body = environ["wsgi.input"].read()
        start_response("200 OK", [])
        yield b"got " + body

    running = await serve(app, family=family, stream_input=stream_input)
    reader, writer = await running.connect()
    writer.write(request("PUT", "/", [("Host", "x"), ("Content-Length", "5"),
                                      ("Expect", "100-continue")]))
    # Byte-exact: the interim response, and nothing more until the body is sent.
    interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HANG)
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    writer.write(b"hello")
    response = await read_response(reader)
    assert response.status == 200
    assert response.body == b"got hello"
    # Persistent afterwards.
    writer.write(request(target="/again", headers=[("Host", "x"), ("Content-Length", "2")],
                         body=b"hi"))
    assert (await read_response(reader)).body == b"got hi"
    await close(writer)


@pytest.mark.asyncio
async def test_expect_100_continue_too_large_gets_413_without_100(serve: Any) -> None:
    app = Recorder()
    running = await serve(app, limit_request_body=100)
    reader, writer = await running.connect()
    writer.write(request("POST", "/", [("Host", "x"), ("Content-Length", "101"),
                                       ("Expect", "100-continue")]))
    response = await read_head(reader)
    assert response.status == 413
    assert response.header("connection") == "close"
    assert await read_to_eof(reader) == b"Content Too Large\n"
    assert not app.called
    await close(writer)


@pytest.mark.asyncio
async def test_expect_100_continue_answered_without_reading_closes(serve: Any) -> None:
    """The app answers without wanting the body: no 100 is sent, and since the client may then
    never send the body, the connection cannot be reused (RFC 9110 §10.1.1)."""
    app = Recorder(read_body=False)
    running = await serve(app, stream_input=True)
    reader, writer = await running.connect()
    writer.write(request("PUT", "/", [("Host", "x"), ("Content-Length", "5"),
                                      ("Expect", "100-continue")]))
    response = await read_head(reader)
    assert response.status == 200
    assert response.header("connection") == "close"
    assert await read_to_eof(reader) == b"ok"
    await close(writer)


# -- unread bodies --------------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_unread_body_is_drained_not_parsed(serve: Any, family: str, framing: str) -> None:
    app = Recorder(read_body=False)
    running = await serve(app, family=family, stream_input=True)
    reader, writer = await running.connect()
    # The body looks like a request: it must never be parsed as one.
    smuggled = request("GET", "/smuggled") * 50
    if framing == "chunked":
        body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(smuggled), smuggled)
        headers = CHUNKED
    else:
        body = smuggled
        headers = [("Host", "x"), ("Content-Length", str(len(smuggled)))]
    writer.write(request("POST", "/first", headers, body) + request("GET", "/second"))
    first = await read_response(reader)
    second = await read_response(reader)
    assert (first.status, second.status) == (200, 200)
    assert [call["PATH_INFO"] for call in app.calls] == ["/first", "/second"]
    await close(writer)


@pytest.mark.asyncio
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_huge_unread_body_closes_the_connection(serve: Any, framing: str) -> None:
    app = Recorder(read_body=False)
    running = await serve(app, stream_input=True)
    reader, writer = await running.connect()
    size = 8 * 1024 * 1024
    block = b"x" * 65536
    if framing == "chunked":
        writer.write(request("POST", "/", CHUNKED))
        block = b"%x\r\n%s\r\n" % (len(block), block)
    else:
        writer.write(request("POST", "/", [("Host", "x"), ("Content-Length", str(size))]))

    async def upload() -> None:
        with contextlib.suppress(ConnectionError, OSError):
            for _ in range(size // 65536):
                writer.write(block)
                await writer.drain()

    uploading = asyncio.ensure_future(upload())
    try:
        response = await read_response(reader)
        assert response.status == 200
        if framing == "content-length":
            # Known in advance to be more than is worth draining: announced.
            assert response.header("connection") == "close"
        # The server stops reading (it does not swallow 8 MiB to keep the connection), and
        # the response arrived whole before that.
        assert response.body == b"ok"
        assert await is_closed(reader)
        assert len(app.calls) == 1
    finally:
        uploading.cancel()
        with contextlib.suppress(BaseException):
            await uploading
        await close(writer)


# -- limits ---------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_content_length_over_limit_is_413(serve: Any, family: str) -> None:
    app = Recorder()
    running = await serve(app, family=family, limit_request_body=1000)
    reader, writer = await running.connect()
    writer.write(request("POST", "/", [("Host", "x"), ("Content-Length", "1001")], b"x" * 1001))
    response = await read_response(reader)
    assert response.status == 413
    assert response.header("connection") == "close"
    assert response.body == b"Content Too Large\n"
    assert await is_closed(reader)
    assert not app.called
    await close(writer)


@pytest.mark.asyncio
async def test_chunked_body_over_limit_is_413(serve: Any, family: str) -> None:
    app = Recorder()
    running = await serve(app, family=family, limit_request_body=1000)
    reader, writer = await running.connect()
    chunk = b"x" * 600
    writer.write(request("POST", "/", CHUNKED, b"258\r\n%s\r\n258\r\n%s\r\n0\r\n\r\n"
                         % (chunk, chunk)))
    response = await read_response(reader)
    assert response.status == 413
    assert response.header("connection") == "close"
    assert await is_closed(reader)
    assert not app.called
    await close(writer)


@pytest.mark.asyncio
async def test_huge_chunk_size_hits_the_body_limit(serve: Any) -> None:
    """16 hex digits parse as a size (h11 takes up to 20); the body limit still holds."""
    app = Recorder()
    running = await serve(app, limit_request_body=1000)
    reader, writer = await running.connect()
    writer.write(request("POST", "/", CHUNKED, b"ffffffffffffffff\r\n" + b"x" * 1500))
    response = await read_response(reader)
    assert response.status == 413
    assert await is_closed(reader)
    assert not app.called
    await close(writer)


@pytest.mark.asyncio
async def test_chunked_body_over_limit_read_by_streaming_app(serve: Any) -> None:
    outcome: list[Any] = []

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        environ["cogen.input"].read()
        yield b""
        outcome.append(environ["cogen.wsgi"].result)
        start_response("200 OK", [])
        yield b"done"

    running = await serve(app, limit_request_body=1000, stream_input=True)
    reader, writer = await running.connect()
    writer.write(request("POST", "/", CHUNKED, b"800\r\n" + b"x" * 2048 + b"\r\n0\r\n\r\n"))
    response = await read_response(reader)
    assert response.status == 200
    assert response.header("connection") == "close"
    assert isinstance(outcome[0], Exception)
    assert "larger than 1000" in str(outcome[0])
    await close(writer)


@pytest.mark.asyncio
@pytest.mark.parametrize("in_pieces", [False, True])
async def test_long_request_line_is_414(serve: Any, in_pieces: bool) -> None:
    app = Recorder()
    running = await serve(app, h11_max_incomplete_event_size=1024)
    reader, writer = await running.connect()
    raw = request(target="/" + "a" * 2000)
    if in_pieces:
        await send_slowly(writer, [raw[:600], raw[600:1400], raw[1400:]])
    else:
        writer.write(raw)
    response = await read_response(reader)
    assert response.status == 414
    assert response.header("connection") == "close"
    assert await is_closed(reader)
    assert not app.called
    await close(writer)


@pytest.mark.asyncio
@pytest.mark.parametrize("in_pieces", [False, True])
async def test_long_headers_are_431(serve: Any, in_pieces: bool) -> None:
    app = Recorder()
    running = await serve(app, h11_max_incomplete_event_size=1024)
    reader, writer = await running.connect()
    raw = request(headers=[("Host", "x")] + [(f"X-H{n}", "v" * 50) for n in range(40)])
    if in_pieces:
        await send_slowly(writer, [raw[i : i + 500] for i in range(0, len(raw), 500)])
    else:
        writer.write(raw)
    response = await read_response(reader)
    assert response.status == 431
    assert response.header("connection") == "close"
    assert await is_closed(reader)
    assert not app.called
    await close(writer)


@pytest.mark.asyncio
async def test_limit_concurrency_answers_503(serve: Any, family: str) -> None:
    app = Recorder()
    running = await serve(app, family=family, limit_concurrency=1)
    reader1, writer1 = await running.connect()
    writer1.write(request(target="/first"))
    assert (await read_response(reader1)).status == 200
    # The first connection stays open (keep-alive): a second one is over the limit.
    reader2, writer2 = await running.connect()
    writer2.write(request(target="/second"))
    response = await read_response(reader2)
    assert response.status == 503
    assert response.header("connection") == "close"
    assert await is_closed(reader2)
    # The first client is still served.
    writer1.write(request(target="/third"))
    assert (await read_response(reader1)).status == 200
    assert [call["PATH_INFO"] for call in app.calls] == ["/first", "/third"]
    await close(writer1)
    await close(writer2)


@pytest.mark.asyncio
@pytest.mark.parametrize("ending", ["eof", "bad-chunk"])
async def test_broken_unread_body_gets_no_second_response(serve: Any, ending: str) -> None:
    """The response is complete; a client that then gives up on the rest of its body, or sends
    broken framing in it, gets a close, not a second, unsolicited response."""
    app = Recorder(read_body=False)
    running = await serve(app, stream_input=True)
    reader, writer = await running.connect()
    if ending == "eof":
        writer.write(request("POST", "/", [("Host", "x"), ("Content-Length", "100")], b"x" * 10))
    else:
        writer.write(request("POST", "/", CHUNKED, b"5\r\nhello\r\n"))
    response = await read_response(reader)
    assert response.status == 200
    if ending == "eof":
        writer.write_eof()
    else:
        writer.write(b"zz\r\nbroken\r\n")
    assert await read_to_eof(reader) == b""
    assert len(app.calls) == 1
    await close(writer)
