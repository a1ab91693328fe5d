"""Persistent connections (RFC 9112 §9.3) and pipelining (§9.3.2) over real sockets."""

from __future__ import annotations

import asyncio
import http.client
from typing import Any

import pytest

from .conftest import Recorder
from .wire import close, is_closed, read_response, request, wait_for


def path_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [environ["PATH_INFO"].encode("latin-1")]


@pytest.mark.asyncio
async def test_http11_is_persistent_by_default(serve: Any, family: str) -> None:
    app = Recorder()
    running = await serve(app, family=family)
    reader, writer = await running.connect()
    for _ in range(3):
        writer.write(request())
        response = await read_response(reader)
        assert response.status == 200
        assert response.header("connection") is None
        assert response.body == b"ok"
    assert len(app.calls) == 3
    assert len(running.connections) == 1
    await close(writer)


@pytest.mark.asyncio
async def test_http10_keep_alive_is_honoured_and_announced(serve: Any, family: str) -> None:
    running = await serve(path_app, family=family)
    reader, writer = await running.connect()
    for path in ("/one", "/two"):
        writer.write(request(target=path, headers=[("Connection", "Keep-Alive")],
                             version="HTTP/1.0"))
        response = await read_response(reader)
        assert response.status == 200
        assert response.header("connection") == "keep-alive"
        assert response.body == path.encode()
    await close(writer)


@pytest.mark.asyncio
async def test_http10_streamed_body_without_length_closes(serve: Any) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [])
        yield b"part one, "
        yield b"part two"

    running = await serve(app)
    reader, writer = await running.connect()
    writer.write(request(headers=[("Connection", "keep-alive")], version="HTTP/1.0"))
    response = await read_response(reader)
    # RFC 9112 §6.3: no chunked coding for a 1.0 client, so the end of the body is the close.
    assert response.header("connection") == "close"
    assert response.header("transfer-encoding") is None
    assert response.body == b"part one, part two"
    await close(writer)


@pytest.mark.asyncio
@pytest.mark.parametrize("value", ["close", "Close", "CLOSE", "keep-alive, close", "foo ,CLOSE"])
async def test_connection_close_is_case_insensitive(serve: Any, value: str) -> None:
    app = Recorder()
    running = await serve(app)
    reader, writer = await running.connect()
    writer.write(request(headers=[("Host", "x"), ("Connection", value)]))
    response = await read_response(reader)
    assert response.status == 200
    assert response.header("connection") == "close"
    assert await is_closed(reader)
    assert app.last["HTTP_CONNECTION"] == value
    await close(writer)


@pytest.mark.asyncio
async def test_http10_without_keep_alive_closes(serve: Any, family: str) -> None:
    running = await serve(Recorder(), family=family)
    reader, writer = await running.connect()
    writer.write(request(headers=[], version="HTTP/1.0"))
    response = await read_response(reader)
    assert response.status == 200
    assert response.header("connection") == "close"
    assert await is_closed(reader)
    await close(writer)


@pytest.mark.asyncio
async def test_httpx_reuses_one_connection(serve: Any, family: str) -> None:
    app = Recorder()
    running = await serve(app, family=family)
    async with running.client() as client:
        for _ in range(5):
            response = await client.get("/")
            assert response.status_code == 200
            assert response.text == "ok"
    assert len(app.calls) == 5
    assert len({call["REMOTE_PORT"] for call in app.calls}) == 1


@pytest.mark.asyncio(loop_factories=["asyncio"])
async def test_http_client_keep_alive_and_post(serve: Any) -> None:
    app = Recorder()
    running = await serve(app)
    host, port = running.address

    def talk() -> list[tuple[int, bytes, str | None]]:
        conn = http.client.HTTPConnection(host, port, timeout=10)
        try:
            results = []
            for body in (b"first", b"second"):
                conn.request("POST", "/submit?x=1", body=body,
                             headers={"Content-Type": "text/plain"})
                response = conn.getresponse()
                results.append((response.status, response.read(), response.getheader("Date")))
            return results
        finally:
            conn.close()

    results = await asyncio.wait_for(asyncio.to_thread(talk), 10)
    assert [(status, body) for status, body, _ in results] == [(200, b"ok"), (200, b"ok")]
    assert all(date for _, _, date in results)
    assert [call["body"] for call in app.calls] == [b"first", b"second"]
    assert app.last["QUERY_STRING"] == "x=1"
    assert app.calls[0]["REMOTE_PORT"] == app.calls[1]["REMOTE_PORT"]


# -- pipelining ---------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_pipelined_requests_answer_in_order(serve: Any, family: str) -> None:
    running = await serve(path_app, family=family)
    reader, writer = await running.connect()
    writer.write(b"".join(request(target=f"/{n}") for n in range(5)))
    bodies = [(await read_response(reader)).body for _ in range(5)]
    assert bodies == [b"/0", b"/1", b"/2", b"/3", b"/4"]
    await close(writer)


@pytest.mark.asyncio
async def test_pipelined_parked_request_keeps_its_turn(serve: Any, family: str) -> None:
    events: list[str] = []

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        path = environ["PATH_INFO"]
        events.append(f"start {path}")
        if path == "/slow":
            environ["cogen.core"].events.Sleep(0.05)
            yield b""
        start_response("200 OK", [("Content-Type", "text/plain")])
        events.append(f"end {path}")
        yield path.encode()

    running = await serve(app, family=family)
    reader, writer = await running.connect()
    writer.write(request(target="/a") + request(target="/slow") + request(target="/b"))
    bodies = [(await read_response(reader)).body for _ in range(3)]
    assert bodies == [b"/a", b"/slow", b"/b"]
    # One request at a time per connection: /b is not started while /slow is parked.
    assert events == ["start /a", "end /a", "start /slow", "end /slow", "start /b", "end /b"]
    await close(writer)


@pytest.mark.asyncio
async def test_pipelined_bodies_stay_with_their_requests(serve: Any) -> None:
    app = Recorder()
    running = await serve(app)
    reader, writer = await running.connect()
    chunked = [("Host", "x"), ("Transfer-Encoding", "chunked")]
    writer.write(
        request("POST", "/one", [("Host", "x"), ("Content-Length", "3")], b"abc")
        + request("POST", "/two", chunked, b"4\r\nGET \r\n0\r\n\r\n")
        + request("GET", "/three")
    )
    for _ in range(3):
        assert (await read_response(reader)).status == 200
    assert [(c["PATH_INFO"], c["body"]) for c in app.calls] == [
        ("/one", b"abc"), ("/two", b"GET "), ("/three", b"")
    ]
    await close(writer)


@pytest.mark.asyncio
async def test_pipelined_requests_after_close_are_ignored(serve: Any) -> None:
    app = Recorder()
    running = await serve(app)
    reader, writer = await running.connect()
    writer.write(request(headers=[("Host", "x"), ("Connection", "close")])
                 + request(target="/never"))
    response = await read_response(reader)
    assert response.header("connection") == "close"
    assert await is_closed(reader)
    assert [c["PATH_INFO"] for c in app.calls] == ["/"]
    await close(writer)


@pytest.mark.asyncio
async def test_many_pipelined_requests_in_one_write(serve: Any) -> None:
    running = await serve(path_app)
    reader, writer = await running.connect()
    count = 200
    writer.write(b"".join(request(target=f"/{n}") for n in range(count)))
    bodies = [(await read_response(reader)).body for _ in range(count)]
    assert bodies == [f"/{n}".encode() for n in range(count)]
    await wait_for(lambda: all(c.exchange is None for c in running.connections))
    await close(writer)
