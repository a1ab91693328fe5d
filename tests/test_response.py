"""Response heads: status and header validation, server-made responses, the Date cache."""

from __future__ import annotations

import email.utils

import pytest

from cogen_aio.response import DateCache, check_status, encode_header, simple_response
from memory import parse


@pytest.mark.parametrize("status", ["200 OK", "404 Not Found", "599 Whatever it is", "204"])
def test_valid_status(status: str) -> None:
    assert check_status(status) == status.encode("latin-1")


@pytest.mark.parametrize("status", ["OK", "20 OK", "200OK", "200 OK\r\nX: y", "099 Low"])
def test_invalid_status(status: str) -> None:
    with pytest.raises(ValueError):
        check_status(status)


def test_status_must_be_a_str() -> None:
    with pytest.raises(TypeError):
        check_status(b"200 OK")


def test_encode_header() -> None:
    assert encode_header("X-Thing", " value ") == (b"X-Thing", b"value")
    assert encode_header(b"X-Legacy", b"bytes") == (b"X-Legacy", b"bytes")
    assert encode_header("X-Latin", "caf\xe9") == (b"X-Latin", b"caf\xe9")


@pytest.mark.parametrize(
    "name, value, error",
    [
        ("Bad Name", "v", ValueError),
        ("X", "a\r\nInjected: 1", ValueError),
        ("X", "a\nb", ValueError),
        ("X", "nul\x00", ValueError),
        ("X", 5, TypeError),
        ("X", "snow\u2603", UnicodeEncodeError),
    ],
)
def test_invalid_headers(name: object, value: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        encode_header(name, value)


def test_simple_response_is_well_framed() -> None:
    raw = simple_response(400, "Bad Request: nope")
    [reply] = parse(raw, closed=True)
    assert reply.status == 400
    assert reply.body == b"Bad Request: nope\n"
    assert reply.headers["connection"] == "close"
    assert reply.headers["content-type"].startswith("text/plain")
    [kept] = parse(simple_response(503, "", keep_alive=True))
    assert kept.body == b"" and "connection" not in kept.headers


def test_date_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("cogen_aio.response.time.time", lambda: 1_700_000_000.25)
    cache = DateCache()
    line = cache.line()
    assert line.startswith(b"date: ") and line.endswith(b" GMT\r\n")
    assert email.utils.parsedate_to_datetime(line[6:-2].decode()) is not None
    assert line == b"date: Tue, 14 Nov 2023 22:13:20 GMT\r\n"
    assert cache.line() is line  # formatted at most once a second


def test_response_head_is_remembered_and_errors_are_not() -> None:
    from cogen_aio.response import _heads, response_head

    headers = [("Content-Type", "text/plain"), ("Content-Length", "5"), ("Connection", "close")]
    first = response_head("200 OK", headers)
    assert first.declared_length == 5 and first.close and first.status_code == 200
    assert first.header_block == b"Content-Type: text/plain\r\n"
    assert response_head("200 OK", list(headers)) is first
    with pytest.raises(ValueError):
        response_head("200 OK", [("Bad Name", "x")])
    assert ("200 OK", ("Bad Name", "x")) not in _heads
    # Unhashable items are validated all the same.
    assert response_head("204 No Content", [["X-A", "1"]]).header_block == b"X-A: 1\r\n"
