"""Response headers."""

from __future__ import annotations

from cogen_aio.testing import Headers


def test_headers_are_case_insensitive_and_keep_repeats() -> None:
    headers = Headers([("Set-Cookie", "a=1"), ("set-cookie", "b=2"), ("X-One", "1")])
    assert headers["SET-COOKIE"] == "a=1, b=2" and headers.getall("set-cookie") == ["a=1", "b=2"]
    assert list(headers) == ["set-cookie", "x-one"] and len(headers) == 2
    assert "x-one" in headers and headers.get("missing") is None
