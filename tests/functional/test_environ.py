"""What the app sees (PEP 3333 environ) and what bodies responses carry, over real sockets."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Recorder
from .wire import close, read_response, request


async def exchange(running: Any, raw: bytes, *, head: bool = False) -> Any:
    reader, writer = await running.connect()
    try:
        writer.write(raw)
        return await read_response(reader, head=head)
    finally:
        await close(writer)


# -- HEAD, 204, 304 --------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_head_has_get_headers_and_no_body(serve: Any, family: str) -> None:
    app = Recorder(body=b"hello world", headers=[("Content-Type", "text/plain"),
                                                  ("X-Custom", "1")])
    running = await serve(app, family=family)
    reader, writer = await running.connect()
    writer.write(request("GET", "/") + request("HEAD", "/") + request("GET", "/after"))
    get = await read_response(reader)
    head = await read_response(reader, head=True)
    # If the HEAD response carried body bytes, this would read them as a status line.
    after = await read_response(reader)
    assert get.body == b"hello world"
    assert head.status == 200
    assert after.status == 200 and after.body == b"hello world"
    assert [call["REQUEST_METHOD"] for call in app.calls] == ["GET", "HEAD", "GET"]
    assert head.header("content-length") == "11"
    assert [h for h in head.headers if h[0] != "date"] == [
        h for h in get.headers if h[0] != "date"
    ]
    await close(writer)


@pytest.mark.asyncio
async def test_head_announces_the_get_content_length(serve: Any) -> None:
    running = await serve(Recorder(body=b"hello world"))
    head = await exchange(running, request("HEAD", "/"), head=True)
    assert head.header("content-length") == "11"


@pytest.mark.asyncio
async def test_head_of_streamed_response_sends_no_body(serve: Any) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"one"
        yield b"two"

    running = await serve(app)
    reader, writer = await running.connect()
    writer.write(request("HEAD", "/") + request("GET", "/"))
    head = await read_response(reader, head=True)
    get = await read_response(reader)
    assert head.status == 200
    assert get.body == b"onetwo"
    assert get.header("transfer-encoding") == "chunked"
    await close(writer)


@pytest.mark.asyncio
@pytest.mark.parametrize("status", ["204 No Content", "304 Not Modified"])
async def test_no_body_statuses_drop_the_body(serve: Any, status: str, logs: Any) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response(status, [("ETag", '"x"')])
        yield b"this must not be sent"

    running = await serve(app)
    reader, writer = await running.connect()
    writer.write(request(target="/first") + request(target="/second"))
    for _ in range(2):
        response = await read_response(reader)
        assert response.status == int(status[:3])
        assert response.header("transfer-encoding") is None
        assert response.header("etag") == '"x"'
    assert response.header("content-length") is None
    assert any("was dropped" in message for message in logs.messages())
    await close(writer)


# -- request targets ------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_absolute_form_target(serve: Any) -> None:
    app = Recorder()
    running = await serve(app)
    response = await exchange(
        running,
        request(target="http://example.com:8080/a/b?x=1", headers=[("Host", "ignored.test")]),
    )
    assert response.status == 200
    seen = app.last
    assert seen["PATH_INFO"] == "/a/b"
    assert seen["QUERY_STRING"] == "x=1"
    assert seen["HTTP_HOST"] == "example.com:8080"
    assert seen["RAW_URI"] == "http://example.com:8080/a/b?x=1"
    assert seen["wsgi.url_scheme"] == "http"


@pytest.mark.asyncio
async def test_encoded_slash_is_decoded_in_path_info_only(serve: Any) -> None:
    app = Recorder()
    running = await serve(app)
    await exchange(running, request(target="/a%2Fb/c?q=%2F"))
    seen = app.last
    assert seen["PATH_INFO"] == "/a/b/c"
    assert seen["RAW_URI"] == seen["REQUEST_URI"] == "/a%2Fb/c?q=%2F"
    assert seen["QUERY_STRING"] == "q=%2F"


@pytest.mark.asyncio
async def test_utf8_path_is_latin1_bytes_in_a_str(serve: Any) -> None:
    app = Recorder()
    running = await serve(app)
    await exchange(running, request(target="/caf%C3%A9/%E2%82%AC%20x"))
    path = app.last["PATH_INFO"]
    assert path == "/caf\xc3\xa9/\xe2\x82\xac x"
    assert path.encode("latin-1").decode("utf-8") == "/café/€ x"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("target", "script_name", "path_info"),
    [("/app/x/y", "/app", "/x/y"), ("/app", "/app", ""), ("/app/", "/app", "/")],
)
async def test_root_path(serve: Any, target: str, script_name: str, path_info: str) -> None:
    app = Recorder()
    running = await serve(app, root_path="/app")
    await exchange(running, request(target=target))
    assert app.last["SCRIPT_NAME"] == script_name
    assert app.last["PATH_INFO"] == path_info


@pytest.mark.asyncio
async def test_environ_basics(serve: Any, family: str) -> None:
    app = Recorder()
    running = await serve(app, family=family)
    await exchange(running, request("POST", "/p?a=b", [("Host", "h.test:81"),
                                                       ("Content-Type", "text/x"),
                                                       ("Content-Length", "3"),
                                                       ("X-Forwarded-For", "1.2.3.4"),
                                                       ("X_Forwarded_For", "6.6.6.6"),
                                                       ("Cookie", "a=1"), ("Cookie", "b=2")],
                                   b"abc"))
    seen = app.last
    assert seen["REQUEST_METHOD"] == "POST"
    assert seen["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert seen["CONTENT_TYPE"] == "text/x"
    assert seen["CONTENT_LENGTH"] == "3"
    assert seen["HTTP_HOST"] == "h.test:81"
    assert seen["HTTP_X_FORWARDED_FOR"] == "1.2.3.4"  # the underscore spelling is dropped
    assert seen["HTTP_COOKIE"] == "a=1; b=2"
    assert seen["SCRIPT_NAME"] == ""
    assert seen["wsgi.version"] == (1, 0)
    assert seen["wsgi.url_scheme"] == "http"
    assert seen["wsgi.input_terminated"] is True
    assert seen["wsgi.multithread"] is False and seen["wsgi.run_once"] is False
    assert seen["body"] == b"abc"
    if family == "tcp":
        assert seen["REMOTE_ADDR"] == "127.0.0.1"
        assert seen["SERVER_PORT"] == str(running.address[1])
        assert int(seen["REMOTE_PORT"]) > 0
    else:
        assert seen["REMOTE_ADDR"] == "localhost"
        assert seen["SERVER_NAME"] == "localhost"
