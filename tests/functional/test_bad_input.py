"""Malformed requests: a short plain-text 4xx/5xx, ``connection: close``, the socket closed, and
the app never called. Also what a failing app turns into on the wire."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from .conftest import Recorder
from .wire import close, is_closed, read_response, read_to_eof, request

CASES = {
    # name: (raw request, status)
    "missing-host-1.1": (b"GET / HTTP/1.1\r\n\r\n", 400),
    "two-hosts": (b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400),
    "host-with-space": (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
    "host-with-slash": (b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
    "host-with-userinfo": (b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400),
    "cl-and-te": (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    "te-and-cl": (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                  b"Content-Length: 5\r\n\r\n0\r\n\r\n", 400),
    "conflicting-cl": (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                       b"Content-Length: 6\r\n\r\nhello!", 400),
    "duplicate-cl": (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                     b"content-length: 5\r\n\r\nhello", 400),
    "cl-list": (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello", 400),
    "cl-folded": (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n ,5\r\n\r\nhello", 400),
    "cl-negative": (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -5\r\n\r\n", 400),
    "cl-hex": (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\nhello", 400),
    "bare-cr-in-header": (b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\rc\r\n\r\n", 400),
    "bare-cr-in-request-line": (b"GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    "nul-in-target": (b"GET /a\x00b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    "nul-in-header": (b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x00c\r\n\r\n", 400),
    "bel-in-header": (b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x07c\r\n\r\n", 400),
    "del-in-header": (b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x7fc\r\n\r\n", 400),
    "space-in-header-name": (b"GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n", 400),
    "space-before-colon": (b"GET / HTTP/1.1\r\nHost: a\r\nName : x\r\n\r\n", 400),
    "no-colon": (b"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400),
    "fold-first-line": (b"GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400),
    "fragment": (b"GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    "relative-target": (b"GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    "asterisk-not-options": (b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    "lowercase-http": (b"GET / http/1.1\r\nHost: a\r\n\r\n", 400),
    "two-spaces": (b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    "te-on-http10": (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    "two-content-types": (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Type: a/b\r\n"
                          b"Content-Type: c/d\r\nContent-Length: 0\r\n\r\n", 400),
    "unsupported-te": (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
    "te-gzip-chunked": (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n"
                        b"\r\n0\r\n\r\n", 501),
    "two-te": (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501),
    "connect": (b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 501),
    "http2": (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
    "http37": (b"GET / HTTP/3.7\r\nHost: a\r\n\r\n", 505),
    "http09-style": (b"GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505),
    "h2-preface": (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
}


@pytest.mark.asyncio
@pytest.mark.parametrize("name", list(CASES))
async def test_bad_request_is_refused(serve: Any, name: str) -> None:
    raw, status = CASES[name]
    app = Recorder()
    running = await serve(app)
    reader, writer = await running.connect()
    # A valid request pipelined after the bad one must not be served either.
    writer.write(raw + request(target="/after"))
    response = await read_response(reader)
    assert response.status == status
    assert response.header("connection") == "close"
    assert response.header("content-type") == "text/plain; charset=utf-8"
    text = response.body.decode()
    assert text.endswith("\n") and len(text) < 120 and "Traceback" not in text
    assert await read_to_eof(reader) == b""
    assert not app.called
    await close(writer)


@pytest.mark.asyncio
async def test_bad_request_over_unix_socket(serve: Any) -> None:
    app = Recorder()
    running = await serve(app, family="unix")
    reader, writer = await running.connect()
    writer.write(CASES["duplicate-cl"][0])
    response = await read_response(reader)
    assert response.status == 400
    assert response.body == b"Bad Request: more than one Content-Length header\n"
    assert await is_closed(reader)
    assert not app.called
    await close(writer)


@pytest.mark.asyncio
async def test_rejections_are_logged(serve: Any, logs: Any) -> None:
    running = await serve(Recorder())
    reader, writer = await running.connect()
    writer.write(CASES["cl-and-te"][0])
    assert (await read_response(reader)).status == 400
    await close(writer)
    assert any("400" in m and "Transfer-Encoding" in m for m in logs.messages(level=logging.INFO))


@pytest.mark.asyncio
async def test_error_after_a_good_request_keeps_the_first_response(serve: Any) -> None:
    app = Recorder()
    running = await serve(app)
    reader, writer = await running.connect()
    writer.write(request(target="/good") + b"GET /bad\x01 HTTP/1.1\r\nHost: a\r\n\r\n")
    first = await read_response(reader)
    second = await read_response(reader)
    assert (first.status, second.status) == (200, 400)
    assert [call["PATH_INFO"] for call in app.calls] == ["/good"]
    await close(writer)


# -- a failing app ---------------------------------------------------------------------------------


def failing_app(environ: dict[str, Any], start_response: Any) -> Any:
    if environ["PATH_INFO"] == "/late":
        start_response("200 OK", [])
        yield b"partial"
        yield b""  # park point: the head and "partial" go out
    raise RuntimeError("secret detail")


@pytest.mark.asyncio
@pytest.mark.parametrize("debug", [False, True])
async def test_app_error_before_any_byte_is_500(serve: Any, logs: Any, debug: bool) -> None:
    running = await serve(failing_app, debug=debug)
    reader, writer = await running.connect()
    writer.write(request(target="/early"))
    response = await read_response(reader)
    assert response.status == 500
    assert response.header("connection") == "close"
    if debug:
        assert "secret detail" in response.text and "Traceback" in response.text
    else:
        assert response.body == b"Internal Server Error\n"
    assert await is_closed(reader)
    errors = [r for r in logs.records if r.name == "cogen_aio.error" and r.exc_info]
    assert errors and "secret detail" in str(errors[0].exc_info[1])
    await close(writer)


@pytest.mark.asyncio
async def test_app_error_after_bytes_sent_truncates(serve: Any, logs: Any) -> None:
    running = await serve(failing_app)
    reader, writer = await running.connect()
    writer.write(request(target="/late"))
    data = await read_to_eof(reader)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert b"transfer-encoding: chunked" in head
    # The chunked body never ends with its last-chunk: the client sees the truncation.
    assert body == b"7\r\npartial\r\n"
    await close(writer)


@pytest.mark.asyncio
async def test_shutdown_does_not_wait_for_lingering_connections(serve: Any, logs: Any) -> None:
    """After an error response the server keeps reading (and discarding) for a while so the
    client gets the response rather than a reset; a shutdown does not wait for that."""
    running = await serve(Recorder())
    reader, writer = await running.connect()
    writer.write(CASES["fragment"][0])
    assert (await read_response(reader)).status == 400
    assert len(running.connections) == 1  # lingering: the client has not closed yet
    await running.server.shutdown(timeout=0.5)
    assert not running.connections
    assert not any("grace period over" in m for m in logs.messages())
    await close(writer)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (CASES["unsupported-te"][0],
         b"Not Implemented: Only Transfer-Encoding: chunked is supported\n"),
        (CASES["space-in-header-name"][0], b"Bad Request: illegal header line\n"),
        (CASES["missing-host-1.1"][0], b"Bad Request: Missing mandatory Host: header\n"),
    ],
)
async def test_reason_is_whole_and_never_echoes_the_request(
    serve: Any, raw: bytes, text: bytes
) -> None:
    running = await serve(Recorder())
    reader, writer = await running.connect()
    writer.write(raw)
    response = await read_response(reader)
    assert response.body == text
    await close(writer)
