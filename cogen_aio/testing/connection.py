"""One client connection at the byte level, over a socket or the in-memory transport.

A :class:`Connection` sends bytes as given (malformed on purpose if need be) and reads them back
raw or parsed as responses. It reads and writes through a channel: :class:`StreamChannel` over a
socket, :class:`~cogen_aio.testing.memory.MemoryChannel` in memory.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable
from typing import Any, Callable, Mapping, Protocol

import h11

from ._typing import Body, CallTimeout, HeaderList
from .response import Response, ResponseParser, ServerDisconnected, StreamResponse
from .waiting import TIMEOUT, guard


def header_pairs(headers: HeaderList) -> list[tuple[str, str]]:
    """Headers given as a mapping or as pairs, as a list of (name, value) strings."""
    if isinstance(headers, Mapping):
        return [(str(k), str(v)) for k, v in headers.items()]
    return [(str(k), str(v)) for k, v in headers or ()]


def build_request(
    method: str = "GET",
    target: str = "/",
    headers: HeaderList = None,
    body: bytes = b"",
    version: str = "1.1",
) -> bytes:
    """The bytes of a request, written as given: nothing is validated, so it can be malformed on
    purpose. ``Host`` (HTTP/1.1) and ``Content-Length`` (when there is a body) are added unless
    ``headers`` has them."""
    pairs = header_pairs(headers)
    names = {name.lower() for name, _ in pairs}
    lines = [f"{method} {target} HTTP/{version}"]
    if "host" not in names and version == "1.1":
        lines.append("Host: testserver")
    lines.extend(f"{name}: {value}" for name, value in pairs)
    if body and "content-length" not in names and "transfer-encoding" not in names:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class Channel(Protocol):
    """The client's end of a connection, whatever carries it."""

    @property
    def eof(self) -> bool:
        """The server closed, and every byte it sent before was received."""

    @property
    def reset(self) -> bool:
        """The connection was reset rather than closed."""

    async def send(self, data: bytes) -> None: ...
    async def recv(self) -> bytes: ...
    def write_eof(self) -> None: ...
    def close_nowait(self) -> None: ...
    async def close(self) -> None: ...
    def abort(self) -> None: ...


class StreamChannel:
    """A channel over a socket (TCP or UNIX), through asyncio's streams."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.eof = False
        self.reset = False

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def recv(self) -> bytes:
        if self.eof:
            return b""
        try:
            data = await self.reader.read(65536)
        except (ConnectionResetError, BrokenPipeError):
            data = b""
            self.reset = True
        if not data:
            self.eof = True
        return data

    def write_eof(self) -> None:
        if self.writer.can_write_eof() and not self.writer.is_closing():
            self.writer.write_eof()

    def close_nowait(self) -> None:
        self.writer.close()

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass

    def abort(self) -> None:
        self.writer.transport.abort()


class Connection:
    """One client connection to a :class:`~cogen_aio.testing.LiveServer`, at the byte level.

    ``send`` raw bytes, read them back raw (``receive``, ``read_until``, ``read_to_eof``) or parsed
    as responses (``read_response``; h11 checks the framing as a strict client would). Responses
    must be read in order; every read fails with ``TimeoutError`` after ``timeout`` real seconds.
    """

    def __init__(
        self, channel: Channel, *, host: str = "testserver", timeout: float | None = TIMEOUT
    ) -> None:
        self._channel = channel
        self._buffer = bytearray()  # received, not read yet
        self.host = host
        self.timeout = timeout

    # -- bytes -----------------------------------------------------------------------------------

    async def send(self, data: bytes) -> None:
        """Send raw bytes."""
        await guard(self._channel.send(data), self.timeout, "sending")

    async def send_request(
        self,
        method: str = "GET",
        target: str = "/",
        headers: HeaderList = None,
        body: bytes = b"",
        version: str = "1.1",
    ) -> None:
        """Send a request built by :func:`build_request` (not validated: may be malformed)."""
        await self.send(build_request(method, target, headers, body, version))

    async def receive(self, timeout: CallTimeout = False) -> bytes:
        """The bytes available now, waiting for some if there are none; ``b""`` at EOF."""
        return await self._read(
            lambda: len(self._buffer) or None, "receiving", timeout, until_eof=True
        )

    async def read_until(self, needle: bytes, timeout: CallTimeout = False) -> bytes:
        """Everything up to and including ``needle``."""

        def end() -> int | None:
            at = self._buffer.find(needle)
            return None if at < 0 else at + len(needle)

        return await self._read(end, f"reading until {needle!r}", timeout)

    async def read_exactly(self, count: int, timeout: CallTimeout = False) -> bytes:
        """The next ``count`` bytes."""

        def end() -> int | None:
            return count if len(self._buffer) >= count else None

        return await self._read(end, f"reading {count} bytes", timeout)

    async def read_to_eof(self, timeout: CallTimeout = False) -> bytes:
        """Everything until the server closes (or resets) the connection."""
        what = "reading until the server closes"
        return await self._read(lambda: None, what, timeout, until_eof=True)

    async def wait_closed(self, timeout: CallTimeout = False) -> bytes:
        """Until the server closes; returns what arrived before (usually nothing)."""
        return await self.read_to_eof(timeout)

    async def _read(
        self,
        end: Callable[[], int | None],
        what: str,
        timeout: CallTimeout,
        until_eof: bool = False,
    ) -> bytes:
        """Take the buffer up to ``end()``, receiving until it says where; at EOF take all of it
        (``until_eof``) or fail."""

        async def read() -> bytes:
            while (stop := end()) is None:
                if not await self._fill():
                    if until_eof:
                        stop = len(self._buffer)
                        break
                    got = bytes(self._buffer)
                    raise ServerDisconnected(f"{what}: the server closed; got {got!r}")
            data = bytes(self._buffer[:stop])
            del self._buffer[:stop]
            return data

        return await guard(read(), self._timeout(timeout), what)

    async def _fill(self) -> bool:
        """Receive more into the buffer; False at EOF."""
        data = await self._channel.recv()
        self._buffer += data
        return bool(data)

    @property
    def closed(self) -> bool:
        """The server closed its side (EOF seen) and every byte before it was read."""
        return self._channel.eof and not self._buffer

    @property
    def reset(self) -> bool:
        """The connection was reset (aborted) rather than closed."""
        return self._channel.reset

    def write_eof(self) -> None:
        """Half-close: the server sees end of input; the response can still be read."""
        self._channel.write_eof()

    async def close(self) -> None:
        """Close the client's end, as a client that goes away does."""
        await self._channel.close()

    def abort(self) -> None:
        """Reset the connection (the server sees ``connection_lost`` with an error)."""
        self._channel.abort()

    def _timeout(self, timeout: CallTimeout) -> float | None:
        return self.timeout if timeout is False else timeout

    def _reusable(self) -> bool:
        """Nothing unread and the server has not closed: the connection can take a request."""
        return not self._channel.eof and not self._buffer

    # -- responses -------------------------------------------------------------------------------

    async def read_response(self, method: str = "GET", timeout: CallTimeout = False) -> Response:
        """Parse the next response on the connection; ``method`` is the request's (HEAD responses
        have no body)."""
        parser = ResponseParser(method, self.host, fake_request=True)
        stream = await self._head(parser, method, [], self._timeout(timeout))
        return await stream.read_response(self._timeout(timeout))

    async def read_responses(self, *methods: str) -> list[Response]:
        """One response per method, in order (pipelining)."""
        return [await self.read_response(method) for method in methods or ("GET",)]

    async def request(
        self,
        method: str = "GET",
        target: str = "/",
        *,
        headers: HeaderList = None,
        body: Body = None,
        timeout: CallTimeout = False,
    ) -> Response:
        """Send a request and read its whole response."""
        stream = await self.start(method, target, headers=headers, body=body, timeout=timeout)
        return await stream.read_response(self._timeout(timeout))

    async def start(
        self,
        method: str = "GET",
        target: str = "/",
        *,
        headers: HeaderList = None,
        body: Body = None,
        timeout: CallTimeout = False,
    ) -> StreamResponse:
        """Send a request and return once the response head arrived; the body is read from the
        :class:`StreamResponse` as it comes. With ``Expect: 100-continue`` the body is sent only
        after ``100 Continue`` (and not at all if the final response comes first)."""
        limit = self._timeout(timeout)
        pairs = header_pairs(headers)
        names = {name.lower() for name, _ in pairs}
        if "host" not in names:
            pairs.insert(0, ("Host", self.host))
        framed = bool(names & {"content-length", "transfer-encoding"})
        if isinstance(body, str):
            body = body.encode("utf-8")
        if isinstance(body, (bytes, bytearray)):
            # RFC 9110 §8.6: a method that expects content says how much, even none.
            if (body or method in ("POST", "PUT", "PATCH")) and not framed:
                pairs.append(("Content-Length", str(len(body))))
        elif body is not None and not framed:
            pairs.append(("Transfer-Encoding", "chunked"))
        parser = ResponseParser(method, self.host, fake_request=False)
        client = parser.h11
        await self.send(client.send(h11.Request(method=method, target=target, headers=pairs)))
        informational: list[int] = []
        expect = any(n.lower() == "expect" and v.lower() == "100-continue" for n, v in pairs)
        if expect and client.our_state is h11.SEND_BODY:
            event = await guard(self._next_event(parser), limit, "waiting for 100 Continue")
            if isinstance(event, h11.Response):
                # A final answer instead: the body is not sent, so the connection is not reused.
                return StreamResponse(self, parser, method, event, informational)
            if isinstance(event, h11.InformationalResponse):
                informational.append(event.status_code)
        if client.our_state is h11.SEND_BODY:
            await self._send_body(client, body)
        return await self._head(parser, method, informational, limit)

    async def _send_body(self, client: h11.Connection, body: Body) -> None:
        async def send(chunk: bytes | str) -> None:
            if isinstance(chunk, str):
                chunk = chunk.encode("utf-8")
            await self.send(client.send(h11.Data(data=chunk)))  # h11 skips empty chunks

        if isinstance(body, (bytes, bytearray)):  # (start() encoded a str)
            body = [bytes(body)]
        if isinstance(body, AsyncIterable):
            async for chunk in body:
                await send(chunk)
        else:
            for item in body or ():
                await send(item)
        await self.send(client.send(h11.EndOfMessage()))

    async def _head(
        self, parser: ResponseParser, method: str, informational: list[int], limit: float | None
    ) -> StreamResponse:
        async def head() -> StreamResponse:
            while True:
                event = await self._next_event(parser)
                if isinstance(event, h11.InformationalResponse):
                    informational.append(event.status_code)
                    continue
                if isinstance(event, h11.ConnectionClosed):
                    raise ServerDisconnected("the server closed the connection without responding")
                assert isinstance(event, h11.Response), event
                return StreamResponse(self, parser, method, event, informational)

        try:
            return await guard(head(), limit, "waiting for the response head")
        except h11.RemoteProtocolError:
            if self._channel.eof:
                raise ServerDisconnected(
                    "the server closed the connection in the middle of a response head"
                ) from None
            raise

    async def _next_event(self, parser: ResponseParser) -> Any:
        """The parser's next event, receiving as needed; at EOF h11 decides whether the
        response was complete (close-delimited) or cut short."""
        while True:
            if self._buffer:
                data = bytes(self._buffer)
                self._buffer.clear()
                parser.fed.append(data)
                parser.h11.receive_data(data)
            event = parser.h11.next_event()
            if event is not h11.NEED_DATA:
                return event
            if self._channel.eof:
                if parser.eof:
                    raise ServerDisconnected("the server closed the connection")
                parser.eof = True
                parser.h11.receive_data(b"")
                continue
            await self._fill()
