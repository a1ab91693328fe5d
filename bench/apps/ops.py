"""One request that parks ``n`` operations that complete at once (``GET /ops?n=1000``).

Each ``Sleep(0)`` is parked through ``environ["cogen.core"]`` and awaited by the server at the
empty chunk, the cogen idiom; the answer is the count. ``n=0`` is the same request without
operations, the baseline that the round trip is measured against.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator


def app(environ: dict, start_response: Callable) -> Iterator[bytes]:
    query = environ.get("QUERY_STRING", "")
    n = int(query[2:]) if query.startswith("n=") else 0
    sleep = environ["cogen.core"].events.Sleep
    for _ in range(n):
        sleep(0)
        yield b""
    body = str(n).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    yield body
