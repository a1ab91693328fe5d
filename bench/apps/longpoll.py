"""Long-poll fan-out written in the cogen idiom.

``GET /poll`` parks until a publish and answers with the published message.
``POST /publish`` wakes every parked poller and answers with how many were woken.
The two branches are the cogen idiom exactly as legacy apps write it: park an
operation through ``environ["cogen.core"]``, yield an empty chunk, read the
outcome from ``environ["cogen.wsgi"].result``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator


def app(environ: dict, start_response: Callable) -> Iterator[bytes]:
    path = environ["PATH_INFO"]
    if path == "/poll":
        environ["cogen.core"].events.WaitForSignal("news", timeout=-1)  # parks the op, returns ""
        yield b""                                                        # the server awaits it here
        message = environ["cogen.wsgi"].result                          # the signal's value
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(message)))])
        yield message
    elif path == "/publish":
        environ["cogen.core"].events.Signal("news", b"published")
        yield b""
        woken = environ["cogen.wsgi"].result                            # number of waiters woken
        body = str(woken).encode()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        yield body
    else:
        start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "9")])
        yield b"not found"
