"""Long-poll fan-out on gevent.pywsgi, same paths and answers as bench/apps/longpoll.py
(run from the repository root: ``python -m bench.peers.gevent_longpoll --port 8000``).

Each poller waits on the current generation's gevent Event; a publish swaps in a
fresh generation, then sets the old one's event, so pollers that arrive after the
publish wait for the next one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from gevent.event import Event

from bench.peers.gevent_server import main

MESSAGE = b"published"


class Generation:
    def __init__(self) -> None:
        self.event = Event()
        self.waiting = 0
        self.message = b""


current = Generation()


def respond(start_response: Callable, status: str, body: bytes) -> list[bytes]:
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
    global current
    path = environ["PATH_INFO"]
    if path == "/poll":
        generation = current
        generation.waiting += 1
        generation.event.wait()
        return respond(start_response, "200 OK", generation.message)
    if path == "/publish":
        generation, current = current, Generation()
        generation.message = MESSAGE
        generation.event.set()
        return respond(start_response, "200 OK", str(generation.waiting).encode())
    return respond(start_response, "404 Not Found", b"not found")


if __name__ == "__main__":
    main(app, __doc__)
