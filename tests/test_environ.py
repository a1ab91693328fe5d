"""The PEP 3333 environ as an app sees it, and wsgi.errors."""

from __future__ import annotations

import logging
from typing import Any, Callable

import pytest

from memory import PEER, SOCK, Client, request

pytestmark = pytest.mark.asyncio

StartResponse = Callable[..., Any]


def capture(seen: list[dict[str, Any]]) -> Callable[..., list[bytes]]:
    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        seen.append(dict(environ))
        start_response("200 OK", [])
        return [b"ok"]

    return app


async def test_full_environ() -> None:
    seen: list[dict[str, Any]] = []
    client = Client(capture(seen))
    client.feed(
        request(
            "POST",
            "/a%20b/c?x=1&y=%20",
            [("Content-Type", "text/plain"), ("X-Custom", "v"), ("Accept", "a"), ("Accept", "b")],
            b"body",
        )
    )
    [environ] = seen
    assert environ["REQUEST_METHOD"] == "POST"
    assert environ["SCRIPT_NAME"] == ""
    assert environ["PATH_INFO"] == "/a b/c"
    assert environ["QUERY_STRING"] == "x=1&y=%20"
    assert environ["RAW_URI"] == "/a%20b/c?x=1&y=%20"
    assert environ["CONTENT_TYPE"] == "text/plain"
    assert environ["CONTENT_LENGTH"] == "4"
    assert environ["SERVER_NAME"] == SOCK[0] and environ["SERVER_PORT"] == str(SOCK[1])
    assert environ["REMOTE_ADDR"] == PEER[0] and environ["REMOTE_PORT"] == str(PEER[1])
    assert environ["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert environ["HTTP_HOST"] == "test"
    assert environ["HTTP_X_CUSTOM"] == "v"
    assert environ["HTTP_ACCEPT"] == "a, b"
    assert "HTTP_CONTENT_TYPE" not in environ and "HTTP_CONTENT_LENGTH" not in environ
    assert environ["wsgi.version"] == (1, 0)
    assert environ["wsgi.url_scheme"] == "http"
    assert environ["wsgi.multithread"] is False
    assert environ["wsgi.multiprocess"] is False
    assert environ["wsgi.run_once"] is False
    for method in ("read", "readline", "readlines", "__iter__"):
        assert callable(getattr(environ["wsgi.input"], method))
    for method in ("write", "writelines", "flush"):
        assert callable(getattr(environ["wsgi.errors"], method))
    assert callable(environ["wsgi.file_wrapper"])
    for key in ("cogen.wsgi", "cogen.core", "cogen.call", "cogen.yield", "cogen.input"):
        assert key in environ
    for key, value in environ.items():
        if "." not in key:
            assert type(value) is str, key
    assert environ["SERVER_SOFTWARE"].startswith("cogen_aio/")


async def test_get_without_body_has_no_content_type_and_no_length() -> None:
    seen: list[dict[str, Any]] = []
    Client(capture(seen)).feed(request())
    [environ] = seen
    assert "CONTENT_TYPE" not in environ
    assert environ.get("CONTENT_LENGTH", "") == ""
    assert environ["PATH_INFO"] == "/" and environ["QUERY_STRING"] == ""


async def test_each_request_gets_its_own_environ() -> None:
    seen: list[dict[str, Any]] = []
    client = Client(capture(seen))
    client.feed(request(target="/one", headers=[("X-A", "1")]) + request(target="/two"))
    first, second = seen
    assert first["PATH_INFO"] == "/one" and second["PATH_INFO"] == "/two"
    assert "HTTP_X_A" not in second
    assert first["cogen.wsgi"] is not second["cogen.wsgi"]


async def test_root_path_becomes_script_name() -> None:
    seen: list[dict[str, Any]] = []
    Client(capture(seen), root_path="/app").feed(request(target="/app/page"))
    [environ] = seen
    assert environ["SCRIPT_NAME"] == "/app" and environ["PATH_INFO"] == "/page"


async def test_absolute_form_target() -> None:
    seen: list[dict[str, Any]] = []
    Client(capture(seen)).feed(request(target="http://example.com:81/p?q"))
    [environ] = seen
    assert environ["HTTP_HOST"] == "example.com:81"
    assert environ["PATH_INFO"] == "/p" and environ["QUERY_STRING"] == "q"


async def test_non_ascii_path_is_latin1_bytes_in_a_str() -> None:
    seen: list[dict[str, Any]] = []
    Client(capture(seen)).feed(request(target="/caf%C3%A9"))
    [environ] = seen
    assert environ["PATH_INFO"].encode("latin-1").decode("utf-8") == "/café"


async def test_wsgi_errors_writes_reach_the_logger_line_by_line(
    error_log: pytest.LogCaptureFixture,
) -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        errors = environ["wsgi.errors"]
        errors.write("line one\nline ")
        errors.write("two\n")
        errors.writelines(["three\n", "partial"])
        errors.flush()
        start_response("200 OK", [])
        return [b"ok"]

    Client(app).feed(request())
    lines = [
        r.getMessage()
        for r in error_log.records
        if r.name == "cogen_aio.error" and r.levelno == logging.ERROR
    ]
    assert lines == ["line one", "line two", "three", "partial"]


async def test_cogen_wsgi_fields_at_the_start() -> None:
    seen: list[dict[str, Any]] = []
    Client(capture(seen)).feed(request("POST", body=b"12345"))
    proxy = seen[0]["cogen.wsgi"]
    assert proxy.content_length == 5
    assert proxy.read_count == 0
    assert proxy.operation is None and proxy.result is None and proxy.exception is None
