"""The WSGI runner (PEP 3333): start_response, write, framing, close(), errors, file_wrapper."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import warnings
from typing import Any, Callable, Iterator
from wsgiref.validate import validator

import pytest

import cogen_aio
from cogen_aio.config import Config
from cogen_aio.server import ServerState
from memory import Client, parse, request, respond, turns

try:
    import uvloop
except ImportError:  # pragma: no cover - not installed / Windows
    uvloop = None  # type: ignore[assignment]

StartResponse = Callable[..., Any]


def hello(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


class Tracked:
    """A response iterable that counts ``close()`` calls."""

    def __init__(self, chunks: Iterator[Any]) -> None:
        self.chunks = chunks
        self.closed = 0

    def __iter__(self) -> Tracked:
        return self

    def __next__(self) -> Any:
        return next(self.chunks)

    def close(self) -> None:
        self.closed += 1
        close = getattr(self.chunks, "close", None)
        if close is not None:
            close()


def records(caplog: pytest.LogCaptureFixture, level: int = logging.WARNING) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "cogen_aio.error" and r.levelno >= level
    ]


# -- the simple path -------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_hello_is_one_write_with_content_length() -> None:
    client = Client(hello)
    client.feed(request())
    # Held until the loop's turn ends (cogen_aio.coalescing), then one write.
    assert client.transport.writes == []
    await asyncio.sleep(0)
    assert len(client.transport.writes) == 1
    reply = client.reply()
    assert reply.status == 200
    assert reply.body == b"hello"
    assert reply.headers["content-length"] == "5"
    assert "date" in reply.headers and reply.headers["server"].startswith("cogen_aio/")
    assert not client.closed


@pytest.mark.asyncio
async def test_app_date_and_server_headers_are_kept_and_settings_turn_ours_off() -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [("Server", "mine"), ("Date", "yesterday")])
        return []

    client = Client(app)
    client.feed(request())
    reply = client.reply()
    assert reply.headers["server"] == "mine" and reply.headers["date"] == "yesterday"
    assert reply.headers["content-length"] == "0"

    client = Client(hello, server_header=False, date_header=False)
    client.feed(request())
    assert "server" not in client.reply().headers and "date" not in client.reply().headers


@pytest.mark.asyncio
async def test_several_chunks_are_chunked_and_leave_in_one_write() -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [])
        return [b"a", b"bc", b"def"]

    client = Client(app)
    client.feed(request())
    client.end_turn()
    assert len(client.transport.writes) == 1
    reply = client.reply()
    assert reply.headers["transfer-encoding"] == "chunked"
    assert reply.body == b"abcdef"


@pytest.mark.asyncio
async def test_empty_chunks_are_never_written() -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> list[Any]:
        start_response("200 OK", [])
        return [b"a", b"", None, "", b"b"]

    client = Client(app)
    reply = await client.exchange(request())
    assert reply.body == b"ab"
    assert b"\r\n0\r\n\r\n" not in client.output[: -len(b"0\r\n\r\n")]


@pytest.mark.asyncio
async def test_http10_response_without_length_is_close_delimited() -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [])
        yield b"one"
        yield b"two"

    client = Client(app)
    client.feed(request(version="1.0"))
    await client.wait_closed()
    reply = client.reply()
    assert reply.body == b"onetwo"
    assert "transfer-encoding" not in reply.headers
    assert reply.headers["connection"] == "close"


@pytest.mark.asyncio
async def test_http10_keep_alive_with_content_length() -> None:
    client = Client(hello)
    client.feed(request(version="1.0", headers=[("Connection", "Keep-Alive")]))
    client.feed(request(version="1.0", headers=[("Connection", "keep-alive")]))
    await turns()
    replies = client.replies("GET", "GET")
    assert [r.body for r in replies] == [b"hello", b"hello"]
    assert replies[0].headers["connection"] == "keep-alive"
    assert not client.closed


# -- start_response ------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_exc_info_before_headers_replaces_status_and_headers() -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        write = start_response("200 OK", [("X-First", "1"), ("Content-Length", "100")])
        write(b"first body")  # held, not sent: it belongs to the replaced response
        try:
            raise ValueError("late failure")
        except ValueError:
            start_response("503 Oops", [("X-Second", "2")], sys.exc_info())
        return [b"sorry"]

    client = Client(app)
    client.feed(request())
    reply = client.reply()
    assert reply.status == 503
    assert "x-first" not in reply.headers
    assert reply.headers["x-second"] == "2"
    assert reply.body == b"sorry"
    assert b"X-First" not in client.output and b"first body" not in client.output


@pytest.mark.asyncio
async def test_exc_info_after_headers_reraises_and_truncates(
    error_log: pytest.LogCaptureFixture,
) -> None:
    seen: list[BaseException] = []

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [])
        yield b"partial"
        yield b""  # headers and the first chunk go out here
        try:
            raise KeyError("boom")
        except KeyError:
            try:
                start_response("500 Oops", [], sys.exc_info())
            except KeyError as exc:
                seen.append(exc)
                raise

    client = Client(app)
    client.feed(request())
    await client.wait_closed()
    assert len(seen) == 1 and isinstance(seen[0], KeyError)
    reply = client.reply()
    assert reply.status == 200 and reply.body == b"partial" and not reply.complete
    assert any("Exception in the app" in m for m in records(error_log, logging.ERROR))


@pytest.mark.asyncio
async def test_second_start_response_without_exc_info_is_an_error() -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [])
        start_response("201 Created", [])
        return [b"x"]

    client = Client(app)
    client.feed(request())
    reply = client.reply()
    assert reply.status == 500 and reply.headers["connection"] == "close"
    await client.wait_closed()


@pytest.mark.parametrize(
    "status, headers",
    [
        ("OK 200", []),
        ("200 OK", [("Bad Name", "x")]),
        ("200 OK", [("X-Split", "a\r\nSet-Cookie: evil=1")]),
        ("200 OK", [("Content-Length", "abc")]),
        (b"200 OK", []),
    ],
)
@pytest.mark.asyncio
async def test_invalid_status_or_headers_give_500(status: Any, headers: Any) -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        start_response(status, headers)
        return [b"x"]

    client = Client(app)
    client.feed(request())
    assert client.reply().status == 500
    assert b"evil" not in client.output


@pytest.mark.asyncio
async def test_hop_by_hop_headers_from_the_app_are_dropped_and_logged(
    error_log: pytest.LogCaptureFixture,
) -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [("Transfer-Encoding", "chunked"), ("Connection", "close")])
        return [b"body"]

    client = Client(app)
    client.feed(request())
    reply = client.reply()
    assert reply.body == b"body" and reply.headers["content-length"] == "4"
    assert reply.headers["connection"] == "close"  # the app asked to close: honoured
    assert any("hop-by-hop" in m for m in records(error_log))
    await client.wait_closed()


# -- write() -------------------------------------------------------------------------------------


def writer_app(content_length: str | None) -> Callable[..., Iterator[bytes]]:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        headers = [] if content_length is None else [("Content-Length", content_length)]
        write = start_response("200 OK", headers)
        write(b"a")
        yield b"b"
        write(b"c")
        yield b""
        write(b"d")
        yield b"e"
        write(b"")
        write(bytearray(b"f"))

    return app


@pytest.mark.asyncio
@pytest.mark.parametrize("content_length", [None, "6"])
async def test_write_is_framed_and_ordered_with_chunks(content_length: str | None) -> None:
    client = Client(writer_app(content_length))
    reply = await client.exchange(request())
    assert reply.body == b"abcdef"
    if content_length is None:
        assert reply.headers["transfer-encoding"] == "chunked"
    else:
        assert reply.headers["content-length"] == "6"
    assert not client.closed


@pytest.mark.asyncio
async def test_write_from_a_callback_while_parked_is_sent_at_once() -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        write = start_response("200 OK", [])
        loop = asyncio.get_running_loop()
        loop.call_later(0.01, write, b"from a callback;")
        yield environ["cogen.core"].events.WaitForSignal("written")
        yield b"done"

    client = Client(app)
    client.feed(request())
    await client.wait_output(b"from a callback;")
    assert cogen_aio.signal("written") == 1  # still parked when the data went out
    await client.wait(lambda: client.reply().complete)
    assert client.reply().body == b"from a callback;done"


@pytest.mark.asyncio
async def test_write_from_a_list_app() -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [])(b"written")
        return []

    client = Client(app)
    client.feed(request())
    assert client.reply().body == b"written"
    assert client.reply().headers["content-length"] == "7"


# -- close() exactly once ------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_close_called_once_on_normal_end() -> None:
    tracked: list[Tracked] = []

    def app(environ: dict[str, Any], start_response: StartResponse) -> Tracked:
        start_response("200 OK", [])
        tracked.append(Tracked(iter([b"a", b"b"])))
        return tracked[0]

    client = Client(app)
    client.feed(request())
    await client.wait(lambda: client.replies() and client.reply().complete)
    assert tracked[0].closed == 1


@pytest.mark.asyncio
async def test_close_called_once_when_the_app_raises_mid_iteration(
    error_log: pytest.LogCaptureFixture,
) -> None:
    tracked: list[Tracked] = []

    def chunks() -> Iterator[bytes]:
        yield b"first"
        yield b""
        raise RuntimeError("mid-iteration")

    def app(environ: dict[str, Any], start_response: StartResponse) -> Tracked:
        start_response("200 OK", [])
        tracked.append(Tracked(chunks()))
        return tracked[0]

    client = Client(app)
    client.feed(request())
    await client.wait_closed()
    assert tracked[0].closed == 1
    reply = client.reply()
    assert reply.body == b"first" and not reply.complete
    messages = [r for r in error_log.records if r.levelno == logging.ERROR]
    assert messages and messages[0].exc_info is not None


@pytest.mark.asyncio
async def test_close_called_once_when_start_response_raises() -> None:
    closed: list[bool] = []

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        try:
            start_response("bogus", [])
            yield b"never"
        finally:
            closed.append(True)

    client = Client(app)
    client.feed(request())
    assert client.reply().status == 500
    assert closed == [True]


@pytest.mark.asyncio
async def test_close_called_once_when_the_client_goes_while_parked() -> None:
    tracked: list[Tracked] = []
    finally_ran: list[str] = []

    def body(environ: dict[str, Any]) -> Iterator[Any]:
        try:
            yield environ["cogen.core"].events.WaitForSignal("never-sent")
            yield b"unreachable"
        finally:
            finally_ran.append("finally")

    def app(environ: dict[str, Any], start_response: StartResponse) -> Tracked:
        start_response("200 OK", [])
        tracked.append(Tracked(body(environ)))
        return tracked[0]

    client = Client(app)
    client.feed(request())
    await turns()
    assert cogen_aio.ops.waiting_count("never-sent") == 1
    client.disconnect()
    await client.wait_lost()
    assert finally_ran == ["finally"]
    assert tracked[0].closed == 1
    assert cogen_aio.ops.waiting_count("never-sent") == 0


@pytest.mark.asyncio
async def test_close_called_once_on_server_shutdown() -> None:
    closed: list[str] = []

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [])
        try:
            yield environ["cogen.core"].events.WaitForSignal("shutdown-test")
        finally:
            closed.append("closed")

    server = cogen_aio.Server(app, port=0, timeout_graceful_shutdown=0.05, access_log=False)
    [(host, port)] = await server.start()
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(request())
    await reader.readuntil(b"\r\n\r\n")  # headers are sent at the park point
    assert len(server.parked_operations()) == 1
    await server.shutdown()
    assert closed == ["closed"]
    assert await reader.read() == b""  # cut off: no chunked terminator
    writer.close()


@pytest.mark.asyncio
async def test_close_exception_is_logged_not_fatal(error_log: pytest.LogCaptureFixture) -> None:
    class BadClose:
        def __iter__(self) -> Iterator[bytes]:
            return iter([b"ok"])

        def close(self) -> None:
            raise OSError("close failed")

    def app(environ: dict[str, Any], start_response: StartResponse) -> BadClose:
        start_response("200 OK", [])
        return BadClose()

    client = Client(app)
    client.feed(request())
    assert client.reply().body == b"ok"
    assert any("close()" in m for m in records(error_log, logging.ERROR))


# -- errors ----------------------------------------------------------------------------------------


def failing(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
    raise ZeroDivisionError("secret detail")


@pytest.mark.asyncio
async def test_error_before_any_byte_is_a_generic_500(error_log: pytest.LogCaptureFixture) -> None:
    client = Client(failing)
    client.feed(request())
    reply = client.reply()
    assert reply.status == 500
    assert reply.body == b"Internal Server Error\n"
    assert b"secret detail" not in client.output
    [record] = [r for r in error_log.records if r.levelno == logging.ERROR]
    assert record.exc_info is not None and record.exc_info[0] is ZeroDivisionError
    assert "GET /" in record.getMessage()
    await client.wait_closed()


@pytest.mark.asyncio
async def test_debug_puts_the_traceback_in_the_500() -> None:
    [reply] = parse(respond(failing, request(), debug=True), closed=True)
    assert reply.status == 500
    assert b"Traceback" in reply.body and b"ZeroDivisionError: secret detail" in reply.body


@pytest.mark.asyncio
async def test_error_after_start_response_but_before_bytes_is_a_500() -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [("X-App", "1")])
        yield b"held"  # the first chunk is held until the next one: nothing sent yet
        raise ValueError

    client = Client(app)
    client.feed(request())
    reply = client.reply()
    assert reply.status == 500 and "x-app" not in reply.headers
    assert b"held" not in client.output


@pytest.mark.asyncio
async def test_app_returning_without_start_response(error_log: pytest.LogCaptureFixture) -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        return []

    client = Client(app)
    client.feed(request())
    assert client.reply().status == 500
    assert any("without calling start_response" in m for m in records(error_log, logging.ERROR))


@pytest.mark.asyncio
async def test_body_before_start_response_is_a_500() -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        return [b"too early"]

    client = Client(app)
    client.feed(request())
    assert client.reply().status == 500


@pytest.mark.asyncio
async def test_non_bytes_chunk_is_an_error() -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> list[Any]:
        start_response("200 OK", [])
        return [b"ok", 42]

    client = Client(app)
    client.feed(request())
    await turns()
    assert client.reply().status == 500


# -- str chunks, Content-Length mismatches, bodiless responses --------------------------------------


@pytest.mark.asyncio
async def test_str_chunks_are_utf8_with_one_warning_per_request(
    error_log: pytest.LogCaptureFixture,
) -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> list[Any]:
        start_response("200 OK", [])
        return ["héllo ", "wörld", b"!"]

    client = Client(app)
    client.feed(request())
    client.feed(request())
    await turns()
    replies = client.replies("GET", "GET")
    assert [r.body for r in replies] == ["héllo wörld!".encode()] * 2
    warned = [m for m in records(error_log) if "str chunks" in m]
    assert len(warned) == 2


@pytest.mark.asyncio
async def test_content_length_shorter_than_body(error_log: pytest.LogCaptureFixture) -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [("Content-Length", "3")])
        return [b"abcdef"]

    client = Client(app)
    client.feed(request())
    client.feed(request())  # never answered: the connection closes after the first
    await client.wait_closed()
    [reply] = client.replies("GET", "GET")
    assert reply.body == b"abc" and reply.headers["connection"] == "close"
    assert any("more than its Content-Length" in m for m in records(error_log))


@pytest.mark.asyncio
async def test_content_length_shorter_than_streamed_body(
    error_log: pytest.LogCaptureFixture,
) -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Length", "4")])
        yield b"ab"
        yield b""
        yield b"cdef"
        yield b"gh"

    client = Client(app)
    client.feed(request())
    await client.wait_closed()
    assert client.reply().body == b"abcd"
    assert len([m for m in records(error_log) if "Content-Length" in m]) == 1


@pytest.mark.asyncio
@pytest.mark.parametrize("chunks", [[b"abc"], [b"ab", b"c"], []])
async def test_content_length_longer_than_body_aborts(
    chunks: list[bytes], error_log: pytest.LogCaptureFixture
) -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [("Content-Length", "10")])
        return chunks

    client = Client(app)
    client.feed(request())
    await client.wait_closed()
    reply = client.reply()
    assert reply.body == b"".join(chunks) and not reply.complete
    assert any("3 of the 10" in m or "0 of the 10" in m for m in records(error_log, logging.ERROR))


@pytest.mark.asyncio
async def test_head_has_no_body_and_keeps_the_connection() -> None:
    client = Client(hello)
    client.feed(request("HEAD"))
    client.feed(request("GET"))
    await turns()
    head, get = client.replies("HEAD", "GET")
    assert head.body == b"" and get.body == b"hello"
    assert b"hello" not in client.output.split(b"\r\n\r\n")[1]
    assert not client.closed


@pytest.mark.asyncio
async def test_head_with_content_length_keeps_it() -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [("Content-Length", "5")])
        return [b"hello"]

    client = Client(app)
    client.feed(request("HEAD"))
    reply = client.reply("HEAD")
    assert reply.headers["content-length"] == "5" and reply.body == b""
    assert client.output.endswith(b"\r\n\r\n")


@pytest.mark.asyncio
@pytest.mark.parametrize("status", ["204 No Content", "304 Not Modified"])
async def test_204_and_304_carry_no_body(status: str, error_log: pytest.LogCaptureFixture) -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        start_response(status, [])
        return [b"dropped"]

    client = Client(app)
    client.feed(request())
    client.feed(request())
    await turns()
    first, second = client.replies("GET", "GET")
    assert first.body == second.body == b""
    assert "transfer-encoding" not in first.headers
    assert b"dropped" not in client.output
    assert any("dropped" in m for m in records(error_log))


@pytest.mark.asyncio
async def test_204_never_carries_content_length() -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        start_response("204 No Content", [("Content-Length", "0")])
        return []

    client = Client(app)
    client.feed(request())
    assert "content-length" not in client.reply().headers


# -- wsgiref.validate ------------------------------------------------------------------------------


def validated_get(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


def validated_post(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    data = environ["wsgi.input"].read(length)
    environ["wsgi.errors"].write("read %d bytes\n" % len(data))
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return [data.upper()]


def validated_stream(environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    for i in range(3):
        yield b"line %d\n" % i
        yield b""  # park point: gives the loop a turn


@pytest.mark.parametrize(
    "app, raw, body",
    [
        (validated_get, request(), b"ok"),
        (validated_post, request("POST", body=b"payload"), b"PAYLOAD"),
        (validated_stream, request(), b"line 0\nline 1\nline 2\n"),
    ],
)
@pytest.mark.asyncio
async def test_wsgiref_validator_passes(app: Any, raw: bytes, body: bytes) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = Client(validator(app))
        reply = await client.exchange(raw)
        await turns()
    assert reply.status == 200 and reply.body == body
    assert [str(w.message) for w in caught] == []


# -- wsgi.file_wrapper -----------------------------------------------------------------------------


def file_app(path: str, content_length: str | None = None) -> Callable[..., Any]:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Any:
        headers = [("Content-Type", "application/octet-stream")]
        if content_length is not None:
            headers.append(("Content-Length", content_length))
        start_response("200 OK", headers)
        return environ["wsgi.file_wrapper"](open(path, "rb"), 4096)

    return app


@pytest.fixture
def data_file(tmp_path: Any) -> tuple[str, bytes]:
    data = os.urandom(200_000)
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    return str(path), data


@pytest.mark.asyncio
async def test_file_wrapper_falls_back_to_reading_in_memory(data_file: tuple[str, bytes]) -> None:
    path, data = data_file
    client = Client(file_app(path))
    reply = await client.exchange(request())
    assert reply.body == data and reply.headers["content-length"] == str(len(data))
    assert not client.closed


@pytest.mark.asyncio
async def test_file_wrapper_respects_a_shorter_content_length(
    data_file: tuple[str, bytes], error_log: pytest.LogCaptureFixture
) -> None:
    path, data = data_file
    client = Client(file_app(path, "1000"))
    reply = await client.exchange(request())
    assert reply.body == data[:1000]
    assert not records(error_log)


@pytest.mark.asyncio
async def test_file_wrapper_without_fileno_is_iterated_in_hex_chunks() -> None:
    import io

    def app(environ: dict[str, Any], start_response: StartResponse) -> Any:
        start_response("200 OK", [])
        return environ["wsgi.file_wrapper"](io.BytesIO(b"x" * 100), 30)

    client = Client(app)
    reply = await client.exchange(request())
    assert reply.body == b"x" * 100
    assert b"\r\n1e\r\n" in client.output and b"0x" not in client.output


@pytest.mark.asyncio
async def test_file_wrapper_head_sends_no_body(data_file: tuple[str, bytes]) -> None:
    path, data = data_file
    client = Client(file_app(path))
    client.feed(request("HEAD"))
    await turns()
    reply = client.reply("HEAD")
    assert reply.body == b"" and reply.headers["content-length"] == str(len(data))
    assert client.output.endswith(b"\r\n\r\n")


@pytest.mark.asyncio
async def test_file_wrapper_closes_the_file(data_file: tuple[str, bytes]) -> None:
    path, _ = data_file
    files: list[Any] = []

    def app(environ: dict[str, Any], start_response: StartResponse) -> Any:
        start_response("200 OK", [])
        files.append(open(path, "rb"))
        return environ["wsgi.file_wrapper"](files[0])

    client = Client(app)
    await client.exchange(request())
    assert files[0].closed


async def _fetch(host: str, port: int, raw: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(raw)
    data = await reader.read()
    writer.close()
    return data


async def _sendfile_over_socket(path: str, data: bytes) -> list[int]:
    loop = asyncio.get_running_loop()
    calls: list[int] = []
    if isinstance(loop, asyncio.BaseEventLoop):
        real = loop.sendfile

        async def counting(transport: Any, file: Any, offset: int = 0, count: Any = None) -> int:
            sent = await real(transport, file, offset, count)
            calls.append(sent)
            return sent

        loop.sendfile = counting  # type: ignore[method-assign]
    server = cogen_aio.Server(file_app(path), port=0, access_log=False)
    [(host, port)] = await server.start()
    try:
        close = [("Connection", "close")]
        raw = await _fetch(host, port, request(headers=close))
        [reply] = parse(raw, ("GET",), closed=True)
        assert reply.headers["content-length"] == str(len(data))
        assert reply.body == data
        raw = await _fetch(host, port, request("HEAD", headers=close))
        [reply] = parse(raw, ("HEAD",), closed=True)
        assert reply.headers["content-length"] == str(len(data)) and reply.body == b""
        assert raw.endswith(b"\r\n\r\n")
    finally:
        await server.shutdown()
    return calls


def test_file_wrapper_sendfile_over_a_real_socket_asyncio(data_file: tuple[str, bytes]) -> None:
    path, data = data_file
    with asyncio.Runner() as runner:
        calls = runner.run(_sendfile_over_socket(path, data))
    assert calls == [len(data)]  # loop.sendfile sent the GET's body; HEAD sent nothing


@pytest.mark.skipif(uvloop is None, reason="uvloop is not installed")
def test_file_wrapper_over_a_real_socket_uvloop(data_file: tuple[str, bytes]) -> None:
    path, data = data_file
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        calls = runner.run(_sendfile_over_socket(path, data))
    # uvloop has no loop.sendfile: the body arrived intact (checked inside) by plain writes.
    assert calls == []


# -- the server state helper -----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_client_helper_builds_its_own_state() -> None:
    state = ServerState(hello, Config(access_log=False), asyncio.get_running_loop())
    first, second = Client(hello, state=state), Client(hello, state=state)
    first.feed(request())
    second.feed(request())
    assert state.requests == 2 and len(state.connections) == 2


@pytest.mark.asyncio
async def test_client_gone_during_sendfile_closes_the_file(
    tmp_path: Any, error_log: pytest.LogCaptureFixture
) -> None:
    import socket

    path = tmp_path / "big.bin"
    path.write_bytes(b"z" * (32 << 20))
    files: list[Any] = []

    def app(environ: dict[str, Any], start_response: StartResponse) -> Any:
        start_response("200 OK", [])
        files.append(open(path, "rb"))
        return environ["wsgi.file_wrapper"](files[-1])

    server = cogen_aio.Server(app, port=0, access_log=False)
    [(host, port)] = await server.start()
    try:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(request())
        await reader.readexactly(1000)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        writer.transport.abort()  # a reset, with most of the file unsent
        deadline = asyncio.get_running_loop().time() + 5
        while server.connections or not files[0].closed:
            assert asyncio.get_running_loop().time() < deadline, "sendfile never noticed"
            await asyncio.sleep(0.01)
    finally:
        await server.shutdown()
    assert not [r for r in error_log.records if r.levelno >= logging.ERROR]
