"""An in-memory transport and a client that drives one ``HttpProtocol`` with raw bytes.

Tests run in the real running loop, so parked operations, timers and ``call_soon`` hops really
happen; only the socket is replaced. Responses are parsed with h11 as a client, which checks the
framing (Content-Length, chunked, close-delimited) the way a strict client would.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import h11

from cogen_aio.config import Config
from cogen_aio.protocol import HttpProtocol
from cogen_aio.server import ServerState

PEER = ("127.0.0.1", 50123)
SOCK = ("127.0.0.1", 8000)
#: The ``http`` setting of a ``Client`` not given one (the ``http_parser`` fixture sets it).
DEFAULT_HTTP = "h11"


class MemoryTransport(asyncio.Transport):
    """Records what the protocol writes; closing reports ``connection_lost`` on the next turn,
    as the loop's own transports do."""

    def __init__(self, loop: asyncio.AbstractEventLoop, protocol: asyncio.Protocol) -> None:
        super().__init__()
        self.loop = loop
        self.protocol = protocol
        self.writes: list[bytes] = []
        self.reading = True
        self.closed = False
        self.aborted = False
        self.eof_written = False
        self._full = False
        self._lost = False
        #: When set, writes fill a pretend send buffer: above this many bytes the transport
        #: reports ``pause_writing`` from inside ``write()``, as real transports do.
        self.high_water: int | None = None
        self.buffered = 0

    # -- writing -----------------------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.closed:
            raise AssertionError("write() on a closed transport")
        if self.eof_written:
            raise AssertionError("write() after write_eof()")
        self.writes.append(bytes(data))
        if self.high_water is not None:
            self.buffered += len(data)
            if self.buffered > self.high_water:
                self.full = True

    def drain(self) -> None:
        """The peer read everything: the send buffer is empty again."""
        self.buffered = 0
        self.full = False

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview]) -> None:
        for data in list_of_data:
            self.write(data)

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof_written = True

    @property
    def full(self) -> bool:
        return self._full

    @full.setter
    def full(self, value: bool) -> None:
        """Pretend the send buffer went above (True) or below (False) its high-water mark."""
        if value and not self._full:
            self._full = True
            self.protocol.pause_writing()
        elif not value and self._full:
            self._full = False
            self.protocol.resume_writing()

    def get_write_buffer_size(self) -> int:
        return 1 << 20 if self._full else 0

    # -- reading -----------------------------------------------------------------------------

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def is_reading(self) -> bool:
        return self.reading and not self.closed

    # -- closing -----------------------------------------------------------------------------

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.loop.call_soon(self._lose)

    def abort(self) -> None:
        self.aborted = True
        self.close()

    def _lose(self) -> None:
        if not self._lost:
            self._lost = True
            self.protocol.connection_lost(None)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": PEER, "sockname": SOCK, "socket": None}.get(name, default)


@dataclass
class Reply:
    """One parsed response."""

    status: int
    headers: dict[str, str]
    body: bytes
    complete: bool = True
    informational: list[int] = field(default_factory=list)
    raw_headers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def keep_alive(self) -> bool:
        return "close" not in self.headers.get("connection", "").lower()


def parse(data: bytes, methods: Sequence[str] = ("GET",), closed: bool = False) -> list[Reply]:
    """Parse ``data`` as the responses to requests with ``methods`` (in order), as a client.

    ``closed``: the server closed the connection after ``data`` (lets close-delimited bodies end
    and reports truncated ones as incomplete). Unparsed bytes left over are an error.
    """
    conn = h11.Connection(h11.CLIENT)
    conn.receive_data(data)
    if closed:
        conn.receive_data(b"")
    replies: list[Reply] = []
    for method in methods:
        if conn.our_state is not h11.IDLE:
            break
        conn.send(h11.Request(method=method, target="/", headers=[("Host", "t")]))
        conn.send(h11.EndOfMessage())
        reply: Reply | None = None
        informational: list[int] = []
        body = bytearray()
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError:
                if reply is not None:
                    reply.body = bytes(body)
                    reply.complete = False
                    replies.append(reply)
                return replies
            if isinstance(event, h11.InformationalResponse):
                informational.append(event.status_code)
            elif isinstance(event, h11.Response):
                raw = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in event.headers]
                headers: dict[str, str] = {}
                for name, value in raw:
                    headers[name] = headers[name] + ", " + value if name in headers else value
                reply = Reply(event.status_code, headers, b"", True, informational, raw)
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                assert reply is not None
                reply.body = bytes(body)
                replies.append(reply)
                break
            elif event is h11.NEED_DATA or isinstance(event, h11.ConnectionClosed):
                if reply is not None:
                    reply.body = bytes(body)
                    reply.complete = False
                    replies.append(reply)
                return replies
            else:  # pragma: no cover - h11.PAUSED cannot happen mid-response
                raise AssertionError(f"unexpected {event!r}")
        if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            conn.start_next_cycle()
        else:
            break
    leftover, _ = conn.trailing_data
    assert not leftover, f"unparsed bytes after the responses: {leftover[:200]!r}"
    return replies


def request(
    method: str = "GET",
    target: str = "/",
    headers: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
    version: str = "1.1",
) -> bytes:
    """A raw request; adds Host (1.1) and Content-Length (when there is a body) unless given."""
    names = {name.lower() for name, _ in headers}
    lines = [f"{method} {target} HTTP/{version}"]
    if "host" not in names and version == "1.1":
        lines.append("Host: test")
    lines.extend(f"{name}: {value}" for name, value in headers)
    if body and "content-length" not in names and "transfer-encoding" not in names:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class Client:
    """One connection to a server, in memory: feed bytes, read what the server wrote."""

    def __init__(self, app: Callable[..., Any], state: ServerState | None = None, **settings: Any):
        loop = asyncio.get_running_loop()
        settings.setdefault("access_log", False)
        settings.setdefault("http", DEFAULT_HTTP)
        self.state = state or ServerState(app, Config(**settings), loop)
        self.loop = loop
        self.protocol = HttpProtocol(self.state)
        self.transport = MemoryTransport(loop, self.protocol)
        self.protocol.connection_made(self.transport)
        self._taken = 0

    @property
    def config(self) -> Config:
        return self.state.config

    def feed(self, data: bytes) -> None:
        self.protocol.data_received(data)

    def eof(self) -> None:
        """The peer half-closes; as asyncio's transports do, close unless the protocol keeps it."""
        if not self.protocol.eof_received():
            self.transport.close()

    def disconnect(self) -> None:
        """The peer is gone (reset): the loop reports ``connection_lost``."""
        self.transport.abort()

    @property
    def output(self) -> bytes:
        self.end_turn()
        return b"".join(self.transport.writes)

    def end_turn(self) -> None:
        """What the loop does at the end of its turn: hand held-back response bytes to the
        transport (cogen_aio.coalescing), so a check right after ``feed`` sees them."""
        self.protocol.flush()

    @property
    def closed(self) -> bool:
        """The server will send nothing more: it closed, or half-closed to linger."""
        return self.transport.closed or self.transport.eof_written

    def take(self) -> bytes:
        """What was written since the last ``take``."""
        self.end_turn()
        writes = self.transport.writes
        data = b"".join(writes[self._taken :])
        self._taken = len(writes)
        return data

    def replies(self, *methods: str) -> list[Reply]:
        return parse(self.output, methods or ("GET",), closed=self.closed)

    def reply(self, method: str = "GET") -> Reply:
        [reply] = parse(self.output, (method,), closed=self.closed)
        return reply

    async def wait(self, predicate: Callable[[], Any], timeout: float = 5.0) -> None:
        """Let the loop run until ``predicate()`` holds (fails after ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting; output so far: {self.output!r}")
            await asyncio.sleep(0.001)

    async def wait_output(self, needle: bytes, timeout: float = 5.0) -> None:
        await self.wait(lambda: needle in self.output, timeout)

    async def wait_closed(self, timeout: float = 5.0) -> None:
        await self.wait(lambda: self.closed, timeout)

    async def wait_lost(self, timeout: float = 5.0) -> None:
        """Until ``connection_lost`` ran (closing is reported on the next turn)."""
        await self.wait(lambda: self.transport._lost, timeout)

    async def exchange(self, data: bytes, method: str = "GET", timeout: float = 5.0) -> Reply:
        """Send one request and wait for its complete response."""
        start = len(self.output)
        self.feed(data)

        def done() -> bool:
            replies = parse(self.output[start:], (method,), closed=self.closed)
            return bool(replies) and (replies[0].complete or self.closed)

        await self.wait(done, timeout)
        [reply] = parse(self.output[start:], (method,), closed=self.closed)
        return reply


def respond(app: Callable[..., Any], data: bytes, **settings: Any) -> bytes:
    """Feed ``data`` to a new connection and return what was written synchronously (enough for
    an app that does not park). Needs a running loop."""
    client = Client(app, **settings)
    client.feed(data)
    return client.output


async def turns(n: int = 5) -> None:
    """Let the loop run ``n`` iterations."""
    for _ in range(n):
        await asyncio.sleep(0)
