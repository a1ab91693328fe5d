"""The app the kit's tests serve, and what it saw closed."""

from __future__ import annotations

from typing import Any, Callable, Iterator

from cogen_aio.ops import Sleep, WaitForSignal

StartResponse = Callable[..., Any]
#: PATH_INFO of each request whose generator was closed, in order.
closed: list[str] = []


def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[Any]:
    """/wait parks on the "news" signal (30 s), /sleep sleeps, /big streams 1 MiB, else echo."""
    path = environ["PATH_INFO"]
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
    try:
        if path == "/wait":
            yield b"waiting\n"
            yield WaitForSignal("news", timeout=30)
            result = environ["cogen.wsgi"].result
            yield b"timeout" if isinstance(result, Exception) else result.encode()
        elif path == "/sleep":
            yield Sleep(float(environ["QUERY_STRING"] or 30))
            yield b"slept"
        elif path == "/big":
            for _ in range(64):
                yield b"x" * 16384
        elif path == "/forever":
            yield WaitForSignal("nobody", timeout=-1)
        else:
            yield environ["REQUEST_METHOD"].encode() + b" " + path.encode()
            yield environ["wsgi.input"].read()
    finally:
        closed.append(path)
