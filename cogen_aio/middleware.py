"""The two middlewares of the original ``cogen.web.async`` (cogen-api.md §13), on Python 3.

:class:`SynchronousInputMiddleware` reads the request body through ``environ['cogen.input']`` (parking
one read per yield) and gives the wrapped app an ordinary ``wsgi.input``. With the server's default
buffering the body is already here and each read completes on the next loop turn; with
``stream_input`` it is what lets a plain WSGI app run anyway.

:class:`LazyStartResponseMiddleware` holds the wrapped app's ``start_response`` back until its first
non-empty chunk, so that a middleware outside it (a session middleware adding a cookie in its own
``start_response``) still sees what the app decided while it was parked.

Both pass every chunk through, empty ones included: empty chunks are the park points of the parking
contract (DESIGN.md), and a middleware that swallowed them would stall the app.
"""

from __future__ import annotations

import io
import logging
from typing import Any, Callable, Iterable, Iterator

__all__ = [
    "SynchronousInputMiddleware",
    "sync_input",
    "LazyStartResponseMiddleware",
    "lazy_sr",
]

error_log = logging.getLogger("cogen_aio.error")

Environ = dict[str, Any]
StartResponse = Callable[..., Callable[[bytes], Any]]
WSGIApp = Callable[[Environ, StartResponse], Iterable[Any]]


def _is_body(chunk: Any) -> bool:
    """A chunk that is response body. Empty chunks and None are park points, and an operation or
    awaitable yielded directly is parked too: neither commits the response."""
    return isinstance(chunk, (bytes, str, bytearray, memoryview)) and len(chunk) > 0


def _close(iterable: Any) -> None:
    close = getattr(iterable, "close", None)
    if close is not None:
        close()


class SynchronousInputMiddleware:
    """Read the whole request body asynchronously, then call ``app`` with it as ``wsgi.input``.

    The body is read ``buffer_length`` bytes at a time (a string is accepted: Paste passes options
    as strings). Reading stops at the declared length, at ``b""`` (the end of the body) or at a
    failed read (logged; the app gets what arrived). ``CONTENT_LENGTH`` is set to the declared
    length as the original did (``'0'`` without a body), or to the bytes read for a chunked body,
    which the original did not read at all. The app's iterable is closed exactly once, also when
    the response is abandoned early (the original only closed it after a full iteration).
    """

    def __init__(self, app: WSGIApp, global_conf: dict[str, Any] | None = None,
                 buffer_length: int | str = 1024) -> None:
        self.app = app
        self.buffer_length = int(buffer_length)
        if self.buffer_length < 1:
            raise ValueError(f"buffer_length must be at least 1, got {buffer_length!r}")

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterator[Any]:
        proxy = environ["cogen.wsgi"]
        cogen_input = environ["cogen.input"]
        declared = proxy.content_length or 0
        # Without a Content-Length the body can only be chunked (RFC 9112 §6.3); then read until the
        # end of the body, which ``cogen.input`` reports as b"".
        until_end = not declared and "HTTP_TRANSFER_ENCODING" in environ
        buffer = io.BytesIO()
        remaining = declared
        while remaining or until_end:
            size = min(remaining, self.buffer_length) if remaining else self.buffer_length
            yield cogen_input.read(size)
            result = proxy.result
            if proxy.exception is not None or isinstance(result, BaseException):
                error_log.warning(
                    "%s %s: reading the request body failed after %d bytes",
                    environ.get("REQUEST_METHOD"),
                    environ.get("RAW_URI", environ.get("PATH_INFO")),
                    buffer.tell(),
                    exc_info=proxy.exception or result,
                )
                break
            if not result:
                break
            buffer.write(result)
            remaining = max(remaining - len(result), 0)
        buffer.seek(0)
        environ["wsgi.input"] = buffer
        environ["CONTENT_LENGTH"] = str(declared if declared else buffer.getbuffer().nbytes)

        iterable = self.app(environ, start_response)
        try:
            # Not ``yield from``: it would close a generator app itself on the way out, and the
            # close() below would be a second one.
            for chunk in iterable:
                yield chunk
        finally:
            # Runs on normal end, on an exception and when the server closes this generator
            # (client gone, shutdown): close() exactly once in every case (PEP 3333).
            _close(iterable)


sync_input = SynchronousInputMiddleware


class _LazyResponse:
    """One request's held-back ``start_response``: state per request, never per middleware (the
    original kept it on the middleware and leaked headers between concurrent requests, §15.10)."""

    __slots__ = ("real_start_response", "status", "headers", "exc_info", "buffer", "real_write")

    def __init__(self, real_start_response: StartResponse) -> None:
        self.real_start_response = real_start_response
        self.status: str | None = None
        self.headers: list[tuple[str, str]] = []
        self.exc_info: Any = None
        self.buffer: list[bytes] = []
        self.real_write: Callable[[bytes], Any] | None = None

    def start_response(self, status: str, headers: list[tuple[str, str]],
                       exc_info: Any = None) -> Callable[[bytes], Any]:
        if self.real_write is not None:
            # Headers already handed on: the server decides (PEP 3333: re-raise if they were sent,
            # replace them otherwise).
            return self.real_start_response(status, headers, exc_info)
        # Not handed on yet: a later call replaces the earlier one, as in the original.
        self.status = status
        self.headers = headers
        self.exc_info = exc_info
        self.buffer = []
        return self.write

    def write(self, data: bytes) -> None:
        if self.real_write is not None:
            # The original dropped writes made after the first chunk; hand them on.
            self.real_write(data)
        elif data:
            self.buffer.append(data)

    def start(self) -> None:
        """Call the real ``start_response`` and replay what was written meanwhile."""
        if self.real_write is not None or self.status is None:
            return
        exc_info, self.exc_info = self.exc_info, None
        real_write = self.real_start_response(self.status, self.headers, exc_info)
        self.real_write = real_write
        buffered, self.buffer = self.buffer, []
        for data in buffered:
            real_write(data)


class LazyStartResponseMiddleware:
    """Delay the app's ``start_response`` until its first non-empty chunk.

    The real ``start_response`` is called when the first non-empty chunk comes by, or when the
    iterator ends if none did. Meanwhile the app gets a ``write`` that buffers; the buffer is written
    (through the real ``write``) just before that chunk. Every chunk is passed on, empty ones
    included. The wrapped iterable is closed exactly once (the original never closed it).
    """

    def __init__(self, app: WSGIApp, global_conf: dict[str, Any] | None = None) -> None:
        self.app = app

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterator[Any]:
        response = _LazyResponse(start_response)
        iterable = self.app(environ, response.start_response)
        try:
            for chunk in iterable:
                if response.real_write is None and _is_body(chunk):
                    response.start()
                yield chunk
            response.start()
        finally:
            _close(iterable)


lazy_sr = LazyStartResponseMiddleware
