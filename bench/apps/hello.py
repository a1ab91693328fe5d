"""Hello world: the smallest complete WSGI response (13-byte body with Content-Length)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

BODY = b"Hello, world!"
HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))]


def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
    start_response("200 OK", list(HEADERS))
    return [BODY]
