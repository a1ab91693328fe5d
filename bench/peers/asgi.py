"""ASGI peers for uvicorn (run from the repository root, e.g.
``python -m uvicorn bench.peers.asgi:hello --http httptools --loop uvloop --lifespan off``).

``hello``: a raw ASGI hello world (not WSGI), the 13-byte body with Content-Length.
``longpoll``: raw ASGI long-poll, same paths and answers as bench/apps/longpoll.py; each poller
awaits the current generation's asyncio.Event, a publish swaps in a fresh generation and sets the
old one's event.
``wsgi_hello``: bench/apps/hello.py through a2wsgi's WSGIMiddleware (WSGI in a thread pool).
"""

from __future__ import annotations

import asyncio

from bench.apps.hello import BODY
from bench.apps.hello import app as _wsgi_hello

HELLO_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(BODY)).encode())],
}
HELLO_BODY = {"type": "http.response.body", "body": BODY}


async def hello(scope: dict, receive, send) -> None:
    await send(HELLO_START)
    await send(HELLO_BODY)


class Generation:
    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.waiting = 0
        self.message = b""


current: Generation | None = None


async def _respond(send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def longpoll(scope: dict, receive, send) -> None:
    global current
    if current is None:
        current = Generation()
    path = scope["path"]
    if path == "/poll":
        generation = current
        generation.waiting += 1
        await generation.event.wait()
        await _respond(send, 200, generation.message)
    elif path == "/publish":
        generation, current = current, Generation()
        generation.message = b"published"
        generation.event.set()
        await _respond(send, 200, str(generation.waiting).encode())
    else:
        await _respond(send, 404, b"not found")


def _a2wsgi():
    from a2wsgi import WSGIMiddleware

    return WSGIMiddleware(_wsgi_hello)


wsgi_hello = _a2wsgi()
